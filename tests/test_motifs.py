import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from motifkit._motifs_kernels import splat_patches, splat_patches_reference
from motifkit.errors import MotifkitError, NotEnoughDataError, ParameterError
from motifkit.motifs import (
    MotifLabeler,
    class_averages,
    label_motifs,
    reconstruct,
    reconstruction_residual,
    relabel_by_size,
)


def _blobs(seed=0, sizes=(400, 200, 40), spread=0.3):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    points = np.vstack([rng.normal(c, spread, (n, 2)) for c, n in zip(centres, sizes)])
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return points, truth


def test_density_labels_recover_clusters_including_small_one():
    points, truth = _blobs()
    labeler = MotifLabeler(min_cluster_size=15).fit(points)
    assert labeler.n_motifs_ == 3
    assert adjusted_rand_score(truth, labeler.labels_) > 0.98
    # sorted by size: motif 0 is the biggest
    assert list(labeler.counts_) == sorted(labeler.counts_, reverse=True)
    assert (labeler.labels_ >= 0).all()


def test_noise_points_are_attached_and_counted():
    points, _ = _blobs()
    outliers = np.array([[20.0, 20.0], [-15.0, 3.0]])
    labeler = MotifLabeler(min_cluster_size=15).fit(np.vstack([points, outliers]))
    assert labeler.n_noise_reassigned_ >= 2
    assert (labeler.labels_ >= 0).all()
    kept = MotifLabeler(min_cluster_size=15, assign_noise=False).fit(np.vstack([points, outliers]))
    assert (kept.labels_[-2:] == -1).all()


def test_raster_method_matches_reference_behaviour_on_easy_data():
    points, truth = _blobs(spread=0.2)
    labels = label_motifs(points, method="raster", raster_size=128, dilation=2)
    assert adjusted_rand_score(truth, labels) > 0.98


def test_labeler_bad_input():
    with pytest.raises(ParameterError):
        MotifLabeler().fit(np.zeros((10, 3)))
    with pytest.raises(ParameterError):
        MotifLabeler().fit(np.full((10, 2), np.nan))
    with pytest.raises(NotEnoughDataError):
        MotifLabeler(min_cluster_size=50).fit(np.random.default_rng(0).random((20, 2)))
    with pytest.raises(MotifkitError, match="method"):
        MotifLabeler(method="kmeans").fit(np.random.default_rng(0).random((20, 2)))


def test_relabel_by_size_orders_by_population():
    labels = np.array([5, 5, 2, 2, 2, -1, 7])
    np.testing.assert_array_equal(relabel_by_size(labels), [1, 1, 0, 0, 0, -1, 2])


def test_class_averages_are_means():
    rng = np.random.default_rng(0)
    patches = rng.random((30, 5, 5)).astype(np.float32)
    labels = rng.integers(0, 3, 30)
    averages = class_averages(patches, labels)
    for k in range(3):
        np.testing.assert_allclose(averages[k], patches[labels == k].mean(axis=0), rtol=1e-5)


def test_splat_kernel_matches_numpy_reference():
    rng = np.random.default_rng(1)
    averages = rng.random((3, 7, 7)).astype(np.float32)
    window = rng.random((7, 7)).astype(np.float32)
    positions = rng.uniform(-2, 34, (25, 2))
    labels = rng.integers(0, 3, 25)
    fast = splat_patches(30, 32, positions, labels, averages, window)
    slow = splat_patches_reference(30, 32, positions, labels, averages, window)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_reconstruction_places_motifs_at_subpixel_columns():
    # Isolated columns (spacing > patch): the reconstruction must equal each motif's shape
    # evaluated at the pixel's offset from its sub-pixel column centre.
    size, spacing, sigma = 9, 10.0, 1.5
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    shapes = [np.exp(-(xx**2 + yy**2) / (2 * sigma**2)), 0.5 * np.exp(-(xx**2 + yy**2) / (2 * (2 * sigma) ** 2))]
    rng = np.random.default_rng(2)
    grid = np.stack(np.meshgrid(np.arange(8, 60, spacing), np.arange(8, 60, spacing)), -1).reshape(-1, 2)
    positions = grid + rng.uniform(-0.45, 0.45, grid.shape)
    labels = rng.integers(0, 2, len(positions))
    averages = np.stack(shapes).astype(np.float32)
    recon, weight = reconstruct((70, 70), positions, labels, averages, return_weight=True)
    assert recon.shape == (70, 70) and recon.dtype == np.float32
    errors = []
    for (x, y), label in zip(positions, labels):
        for py in range(int(np.ceil(y - 3)), int(np.floor(y + 3)) + 1):
            for px in range(int(np.ceil(x - 3)), int(np.floor(x + 3)) + 1):
                r2 = (px - x) ** 2 + (py - y) ** 2
                s = sigma if label == 0 else 2 * sigma
                amplitude = 1.0 if label == 0 else 0.5
                errors.append(recon[py, px] - amplitude * np.exp(-r2 / (2 * s**2)))
    # bilinear resampling of a Gaussian sampled at integers: small interpolation error only
    assert np.max(np.abs(errors)) < 0.1
    assert np.mean(np.abs(errors)) < 0.03
    stats = reconstruction_residual(recon, recon, weight)
    assert stats["rms"] == 0 and 0 < stats["coverage"] < 1


def test_reconstruct_bad_input():
    averages = np.zeros((2, 5, 5), dtype=np.float32)
    with pytest.raises(ParameterError):
        reconstruct((10, 10), np.zeros((3, 2)), np.array([0, 1, 2]), averages)
    with pytest.raises(ParameterError):
        reconstruct((10, 10), np.zeros((3, 3)), np.array([0, 1, 1]), averages)
    with pytest.raises(ParameterError):
        reconstruct((10, 10), np.zeros((3, 2)), np.array([0, 1, 1]), averages, window="box")
