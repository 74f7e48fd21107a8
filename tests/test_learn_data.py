"""Synthetic Bravais dataset, masks and blobs of motifkit.learn (NumPy only, no torch)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from motifkit.cells import classify_bravais
from motifkit.errors import FileFormatError, ParameterError
from motifkit.learn.data import (
    BRAVAIS_CLASS_NAMES,
    BravaisDataConfig,
    BravaisDataset,
    atom_disk_mask,
    count_interior,
    make_bravais_dataset,
    simulate_bravais_sample,
)
from motifkit.learn.segment import Blobs, blob_statistics, detect_blobs

SMALL = BravaisDataConfig(image_size=32)


@pytest.fixture(scope="module")
def dataset():
    return make_bravais_dataset(8, SMALL, random_state=0)


def test_import_does_not_load_torch():
    code = (
        "import sys, argparse, motifkit.learn, motifkit.learn.data, motifkit.learn.segment, motifkit.learn.cli; "
        "p = argparse.ArgumentParser(); motifkit.learn.cli.add_train_arguments(p); p.parse_args(['cnn', '--epochs', '2']); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'DenseNetClassifier' in dir(motifkit.learn)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dataset_shapes_balance_and_standardisation(dataset):
    n = 8 * len(BRAVAIS_CLASS_NAMES)
    assert dataset.images.shape == (n, 32, 32) and dataset.images.dtype == np.float32
    assert dataset.masks.shape == (n, 32, 32) and dataset.masks.dtype == np.uint8
    assert np.array_equal(np.bincount(dataset.labels), [8] * 5)
    assert np.allclose(dataset.images.mean(axis=(1, 2)), 0, atol=1e-4)
    assert np.allclose(dataset.images.std(axis=(1, 2)), 1, atol=1e-3)
    lo, hi = SMALL.pixel_size * np.array(SMALL.zoom_range)
    assert np.all((dataset.pixel_sizes >= lo) & (dataset.pixel_sizes <= hi))
    assert np.all(dataset.n_columns > 0)


def test_labels_come_from_reduced_cell_and_avoid_boundaries(dataset):
    unimodular = np.array([[1, 0], [2, 1]])  # same lattice, unreduced basis
    for label, cell in zip(dataset.labels, dataset.cells):
        name = BRAVAIS_CLASS_NAMES[label]
        assert classify_bravais(cell) == name
        assert classify_bravais(unimodular @ cell) == name
        # a few percent away from the class boundaries: same class at a looser tolerance
        assert classify_bravais(cell, tolerance=0.06) == name
        a, b = np.linalg.norm(cell, axis=1)
        assert 2.8 - 1e-9 <= min(a, b)


def test_masks_cover_bright_columns(dataset):
    inside = np.mean([img[m == 1].mean() for img, m in zip(dataset.images, dataset.masks)])
    outside = np.mean([img[m == 0].mean() for img, m in zip(dataset.images, dataset.masks)])
    assert inside > outside + 0.8
    assert 0.03 < dataset.masks.mean() < 0.4


def test_same_seed_same_data_and_different_seed_differs():
    a = make_bravais_dataset(1, SMALL, random_state=5)
    b = make_bravais_dataset(1, SMALL, random_state=5)
    c = make_bravais_dataset(1, SMALL, random_state=6)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert not np.allclose(a.images, c.images)


def test_cache_round_trip_and_corrupt_cache(tmp_path):
    first = make_bravais_dataset(1, SMALL, random_state=3, cache_dir=tmp_path)
    files = list(tmp_path.glob("bravais_*.npz"))
    assert len(files) == 1
    mtime = os.path.getmtime(files[0])
    second = make_bravais_dataset(1, SMALL, random_state=3, cache_dir=tmp_path)
    assert os.path.getmtime(files[0]) == mtime
    for name in ("images", "labels", "masks", "n_columns", "cells", "pixel_sizes"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert second.config == SMALL
    # another config gets another cache file
    make_bravais_dataset(1, BravaisDataConfig(image_size=32, pixel_size=0.25), random_state=3, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("bravais_*.npz"))) == 2
    files[0].write_bytes(b"not an npz")
    with pytest.raises(FileFormatError, match="regenerate"):
        make_bravais_dataset(1, SMALL, random_state=3, cache_dir=tmp_path)
    with pytest.raises(ParameterError, match="int seed"):
        make_bravais_dataset(1, SMALL, random_state=np.random.default_rng(0), cache_dir=tmp_path)


def test_split_is_seeded_disjoint_and_stratified(dataset):
    train, val, test = dataset.split((0.5, 0.25, 0.25), random_state=1)
    assert len(train) + len(val) + len(test) == len(dataset)
    assert np.array_equal(np.bincount(train.labels, minlength=5), [4] * 5)
    assert np.array_equal(np.bincount(test.labels, minlength=5), [2] * 5)
    keys = [set(map(bytes, part.images.reshape(len(part), -1).view(np.uint8))) for part in (train, val, test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    again = dataset.split((0.5, 0.25, 0.25), random_state=1)[0]
    assert np.array_equal(train.images, again.images)
    with pytest.raises(ParameterError, match="summing to 1"):
        dataset.split((0.5, 0.5, 0.5))


def test_sample_rejects_nothing_for_valid_classes():
    rng = np.random.default_rng(0)
    for name in BRAVAIS_CLASS_NAMES:
        sample = simulate_bravais_sample(name, SMALL, random_state=rng)
        assert sample is not None and BRAVAIS_CLASS_NAMES[sample["label"]] == name


@pytest.mark.parametrize(
    "kwargs, match",
    [({"image_size": 8}, "image_size"), ({"pixel_size": 0}, "pixel_size"), ({"dose_range": (5, 1)}, "dose_range"),
     ({"noise_free_fraction": 2}, "noise_free_fraction"), ({"mask_radius": -1}, "mask_radius")],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        make_bravais_dataset(1, BravaisDataConfig(**kwargs))


def test_bad_sample_count_raises():
    with pytest.raises(ParameterError, match="n_per_class"):
        make_bravais_dataset(0, SMALL)


def test_atom_disk_mask_area_and_count_interior():
    mask = atom_disk_mask([[20.3, 15.7], [5.0, 40.0]], (48, 48), 4.0)
    assert abs(mask.sum() - 2 * np.pi * 16) < 8
    assert mask[16, 20] == 1 and mask[0, 0] == 0
    assert atom_disk_mask(np.zeros((0, 2)), (8, 8), 1.0).sum() == 0
    assert count_interior([[1.0, 5.0], [2.0, 2.0], [5.0, 5.0], [6.0, 9.0]], (10, 10)) == 2


def test_detect_blobs_splits_touching_atoms_and_statistics():
    positions = np.array([[10.0, 10.0], [14.0, 10.0], [30.0, 25.0]])
    mask = atom_disk_mask(positions, (40, 40), 2.2).astype(float)  # first two touch
    blobs = detect_blobs(mask, min_distance=2)
    assert len(blobs) == 3
    order = np.argsort(blobs.centroids[:, 0])
    assert np.allclose(blobs.centroids[order], positions[np.argsort(positions[:, 0])], atol=0.6)
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    stats = blob_statistics(image, blobs)
    assert stats.shape == (3, 4)
    for i in range(3):
        values = image[blobs.labels == i + 1]
        assert np.allclose(stats[i], [values.max(), values.min(), values.mean(), values.size], rtol=1e-5)
    assert len(detect_blobs(np.zeros((10, 10)))) == 0
    with pytest.raises(ParameterError, match="2-D"):
        detect_blobs(np.zeros((2, 3, 4)))
    with pytest.raises(ParameterError, match="shape"):
        blob_statistics(np.ones((5, 5)), Blobs(np.zeros((4, 4), np.int32), np.zeros((0, 2))))


def test_detect_blobs_counts_columns_of_true_masks(dataset):
    ideal = np.array([count_interior(detect_blobs(m).centroids, m.shape) for m in dataset.masks])
    error = np.abs(ideal - dataset.n_columns).sum() / dataset.n_columns.sum()
    assert error < 0.05  # only border crossings of blob centroids (larger share in 32 px images)


def test_dataset_save_load(tmp_path, dataset):
    path = tmp_path / "d.npz"
    dataset.subset(np.arange(3)).save(path)
    loaded = BravaisDataset.load(path)
    assert len(loaded) == 3 and np.array_equal(loaded.images, dataset.images[:3])


def test_positions_are_stored_subset_and_cached(tmp_path, dataset):
    assert dataset.positions is not None and len(dataset.positions) == len(dataset)
    for positions, n, mask in zip(dataset.positions, dataset.n_columns, dataset.masks):
        assert positions.shape[1] == 2 and count_interior(positions, mask.shape) == n
    part = dataset.subset(np.array([5, 1]))
    assert np.array_equal(part.positions[0], dataset.positions[5]) and np.array_equal(part.positions[1], dataset.positions[1])
    path = tmp_path / "p.npz"
    part.save(path)
    loaded = BravaisDataset.load(path)
    assert all(np.allclose(a, b) for a, b in zip(loaded.positions, part.positions))


def test_matched_counts_of_true_masks_are_exact(dataset):
    from motifkit.learn.data import MIN_COLUMN_SEPARATION, matched_interior_counts

    for mask, positions, px in zip(dataset.masks, dataset.positions, dataset.pixel_sizes):
        counts = matched_interior_counts(detect_blobs(mask, min_distance=3).centroids, positions, mask.shape,
                                         match_distance=0.5 * MIN_COLUMN_SEPARATION / px)
        assert counts["n_detected"] == counts["n_true"] and counts["n_missed"] == counts["n_false"] == 0


def test_unbiased_autocorrelation_of_a_lattice():
    from motifkit.learn.data import unbiased_autocorrelation

    y, x = np.mgrid[0:48, 0:48]
    image = np.cos(2 * np.pi * x / 6.0) + np.cos(2 * np.pi * y / 8.0)
    ac = unbiased_autocorrelation(image)
    assert ac.shape == (49, 49) and ac[24, 24] == pytest.approx(1.0)
    # lattice translations (6, 0) and (0, 8) correlate fully, whatever their length
    assert ac[24, 30] == pytest.approx(1.0, abs=0.05) and ac[32, 24] == pytest.approx(1.0, abs=0.05)
    assert ac[24, 27] < 0.1
