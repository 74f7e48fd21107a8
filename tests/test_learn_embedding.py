"""Bond-angle histograms, t-SNE embeddings and class separation (NumPy/scikit-learn only)."""

import numpy as np
import pytest

from motifkit.errors import NotEnoughDataError, ParameterError
from motifkit.learn.data import BravaisDataConfig, make_bravais_dataset
from motifkit.learn.embedding import (
    bond_angle_histogram,
    bond_graph,
    dataset_angle_histograms,
    mask_positions,
    separation_score,
    tsne_embedding,
)


def test_bond_graph_square_lattice():
    square = np.array([[x, y] for x in range(5) for y in range(5)], dtype=float)
    edges, lengths, angles, cosines = bond_graph(square, 2.0, cutoff=2.5)  # spacing 2 Å
    np.testing.assert_allclose(lengths, 2.0)
    assert edges.shape[1] == 2 * 2 * 5 * 4  # 40 undirected bonds, both directions
    assert set(np.round(cosines, 6)) == {-1.0, 0.0}
    # angle at the shared atom: r_i - r_j against r_k - r_j
    src, dst = edges
    e, f = angles
    assert np.all(dst[e] == src[f])


def test_bond_angle_histogram_hexagonal_and_square():
    a1, a2 = np.array([1.0, 0.0]), np.array([0.5, np.sqrt(3) / 2])
    hexagonal = np.array([i * a1 + j * a2 for i in range(8) for j in range(8)]) * 10
    h = bond_angle_histogram(hexagonal, 0.3, cutoff=4.0, bins=200)  # 3 Å bonds
    assert h.shape == (200,) and np.isclose(h.sum(), 1.0)
    centres = np.linspace(-1, 1, 201)[:-1] + 0.005
    used = set(np.round(centres[h > 0], 2))
    assert used <= {-1.0, -0.5, 0.5, 1.0} or used <= {-0.99, -0.5, 0.5, 0.99, -1.0, 1.0}
    with pytest.raises(NotEnoughDataError, match="no bond angles"):
        bond_angle_histogram([[0, 0], [100, 0]], 0.3)
    with pytest.raises(ParameterError):
        bond_angle_histogram(hexagonal, None)
    with pytest.raises(ParameterError):
        bond_angle_histogram(hexagonal, 0.3, bins=0)


def test_mask_positions():
    mask = np.zeros((10, 10), np.uint8)
    mask[1:4, 2:5] = 1
    mask[6:9, 6:9] = 1
    np.testing.assert_allclose(mask_positions(mask), [[3.0, 2.0], [7.0, 7.0]])
    assert mask_positions(np.zeros((5, 5))).shape == (0, 2)


def _lattice_points(bravais, rng, n=7):
    a = rng.uniform(2.8, 3.6)
    b, gamma = {"hexagonal": (a, 120.0), "square": (a, 90.0), "rectangular": (a * rng.uniform(1.15, 1.3), 90.0),
                "centred_rectangular": (a, rng.uniform(70.0, 80.0)),
                "oblique": (a * rng.uniform(1.15, 1.3), rng.uniform(100.0, 110.0))}[bravais]
    g = np.radians(gamma)
    cell = np.array([[a, 0.0], [b * np.cos(g), b * np.sin(g)]])
    ij = np.array([[i, j] for i in range(n) for j in range(n)], dtype=float)
    return (ij @ cell + rng.normal(scale=0.03, size=(len(ij), 2))) / 0.3  # pixels at 0.3 Å/px


def test_tsne_deterministic_and_histograms_separate_classes():
    rng = np.random.default_rng(0)
    classes = ["hexagonal", "square", "rectangular", "centred_rectangular", "oblique"]
    labels = np.repeat(np.arange(5), 16)
    hist = np.array([bond_angle_histogram(_lattice_points(classes[k], rng), 0.3, cutoff=4.6) for k in labels])
    e1 = tsne_embedding(hist, perplexity=10, max_iter=300, random_state=0)
    e2 = tsne_embedding(hist, perplexity=10, max_iter=300, random_state=0)
    np.testing.assert_array_equal(e1, e2)
    score = separation_score(e1, labels, n_neighbors=5)
    assert score["chance"] == pytest.approx(0.2)
    assert score["knn_accuracy"] > 0.6  # far better than chance (0.2)
    # raw pixels of shuffled-label noise do not separate
    noise = rng.normal(size=(80, 64))
    assert separation_score(tsne_embedding(noise, perplexity=10, max_iter=300, random_state=0), labels)["knn_accuracy"] < 0.45


def test_dataset_histograms_and_pixel_tsne():
    data = make_bravais_dataset(2, BravaisDataConfig(image_size=32), random_state=0)
    hist, n_empty = dataset_angle_histograms(data)
    assert hist.shape == (len(data), 200) and 0 <= n_empty <= len(data)
    filled = hist.sum(axis=1) > 0
    assert filled.sum() == len(data) - n_empty and np.allclose(hist[filled].sum(axis=1), 1.0)
    pixels = tsne_embedding(data.images.reshape(len(data), -1), perplexity=3, max_iter=250, random_state=0)
    assert pixels.shape == (len(data), 2)


def test_separation_score_and_bad_input():
    rng = np.random.default_rng(0)
    mixed = rng.normal(size=(60, 2))
    labels = np.repeat([0, 1, 2], 20)
    assert separation_score(mixed, labels)["knn_accuracy"] < 0.6
    with pytest.raises(ParameterError):
        separation_score(mixed, labels[:10])
    with pytest.raises(NotEnoughDataError):
        separation_score(mixed, np.zeros(60))
    with pytest.raises(NotEnoughDataError):
        tsne_embedding(mixed[:3])
    with pytest.raises(ParameterError):
        tsne_embedding(np.full((10, 2), np.nan))
