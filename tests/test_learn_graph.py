"""Blob graphs, line graphs, batching and the ALIGNN-style classifier (tiny configurations)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from motifkit.errors import MotifkitError, NotEnoughDataError, ParameterError
from motifkit.learn.data import BravaisDataConfig, make_bravais_dataset
from motifkit.learn.graph import (
    ALIGNNClassifier,
    collate_graphs,
    evaluate_graph_classifier,
    graphs_from_dataset,
    image_to_graph,
    load_graph_classifier,
    train_graph_classifier,
)
from motifkit.learn.train import save_checkpoint


@pytest.fixture(scope="module")
def tiny_graphs():
    data = make_bravais_dataset(3, BravaisDataConfig(image_size=32), random_state=0)
    return graphs_from_dataset(data)


def _image(shape=(32, 32), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_triangle_angles_and_edges():
    side = 10.0  # px at 0.3 Å/px = 3 Å < 4 Å cutoff
    tri = np.array([[5.0, 5.0], [5.0 + side, 5.0], [5.0 + side / 2, 5.0 + side * np.sqrt(3) / 2]])
    g = image_to_graph(_image(), 0.3, positions=tri)
    assert g.n_nodes == 3 and g.n_edges == 6
    np.testing.assert_allclose(g.edge_lengths, 3.0, rtol=1e-5)
    # each directed bond i->j continues to the one other neighbour of j: 6 angle pairs of 60 deg
    assert g.angle_index.shape == (2, 6)
    np.testing.assert_allclose(g.angle_cosines, 0.5, atol=1e-6)
    src, dst = g.edge_index
    e, f = g.angle_index
    assert np.all(dst[e] == src[f]) and np.all(dst[f] != src[e])


def test_square_angles():
    # 2x2 square of side 3 Å: diagonals 4.24 Å are beyond the 4 Å cutoff
    sq = np.array([[4.0, 4.0], [14.0, 4.0], [4.0, 14.0], [14.0, 14.0]])
    g = image_to_graph(_image(), 0.3, positions=sq)
    assert g.n_edges == 8
    np.testing.assert_allclose(g.angle_cosines, 0.0, atol=1e-6)
    g_long = image_to_graph(_image(), 0.3, positions=sq, cutoff=4.5)  # diagonals included
    assert g_long.n_edges == 12
    assert np.isclose(g_long.angle_cosines, np.cos(np.radians(45))).sum() == 16


def test_node_features_standardised_and_from_intensity():
    img = np.zeros((32, 32), np.float32)
    img[5, 5] = 5.0  # bright atom at (5, 5)
    img[5, 15] = 1.0
    g = image_to_graph(img, 0.3, positions=[[5, 5], [15, 5], [10, 12]])
    np.testing.assert_allclose(g.node_features.mean(axis=0), 0.0, atol=1e-6)
    assert g.node_features[0, 0] > g.node_features[1, 0] > g.node_features[2, 0]  # max intensity order


def test_positions_outside_are_counted():
    g = image_to_graph(_image(), 0.3, positions=[[5, 5], [10, 5], [100, 5]])
    assert g.n_nodes == 2 and g.n_skipped == 1


def test_segmentation_source_matches_positions():
    data = make_bravais_dataset(1, BravaisDataConfig(image_size=32), random_state=3)
    g_mask = image_to_graph(data.images[0], float(data.pixel_sizes[0]), segmentation=data.masks[0])
    g_true = graphs_from_dataset(data.subset(np.array([0])))[0]
    assert g_mask.n_nodes == g_true.n_nodes
    assert g_true.label == data.labels[0]


def test_bad_input():
    with pytest.raises(ParameterError, match="pixel_size"):
        image_to_graph(_image(), None, positions=[[1, 1]])
    with pytest.raises(ParameterError):
        image_to_graph(_image(), -1.0, positions=[[1, 1]])
    with pytest.raises(NotEnoughDataError, match="no atom blobs"):
        image_to_graph(_image(), 0.3, segmentation=np.zeros((32, 32)))
    with pytest.raises(MotifkitError):
        image_to_graph(_image(), 0.3, positions=[[-50, -50]])
    with pytest.raises(ParameterError, match="shape"):
        image_to_graph(_image(), 0.3, segmentation=np.zeros((16, 16)))


def test_collation_offsets_and_batched_forward(tiny_graphs):
    graphs = tiny_graphs[:4]
    batch = collate_graphs(graphs)
    n0, e0 = graphs[0].n_nodes, graphs[0].n_edges
    assert batch.node_features.shape[0] == sum(g.n_nodes for g in graphs)
    np.testing.assert_array_equal(batch.edge_index[:, e0 : e0 + graphs[1].n_edges].numpy(), graphs[1].edge_index + n0)
    t0 = graphs[0].angle_index.shape[1]
    np.testing.assert_array_equal(batch.angle_index[:, t0 : t0 + graphs[1].angle_index.shape[1]].numpy(),
                                  graphs[1].angle_index + e0)
    torch.manual_seed(0)
    model = ALIGNNClassifier(channels=8, alignn_layers=1, gcn_layers=1)
    together = model(batch)  # LayerNorm: no cross-graph coupling even in train mode
    separate = torch.cat([model(collate_graphs([g])) for g in graphs])
    torch.testing.assert_close(together, separate, atol=1e-5, rtol=1e-4)


def test_gradients_flow(tiny_graphs):
    torch.manual_seed(0)
    model = ALIGNNClassifier(channels=8, alignn_layers=1, gcn_layers=1)
    batch = collate_graphs(tiny_graphs[:5])
    torch.nn.functional.cross_entropy(model(batch), batch.labels).backward()
    # atoms, bonds and angles are all pooled, so every parameter gets a gradient
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.angle_embedding[0].weight.grad.abs().sum() > 0  # angles reach the output


def test_training_deterministic_and_checkpoint(tmp_path, tiny_graphs):
    train, val = tiny_graphs[:10], tiny_graphs[10:]
    kwargs = dict(epochs=2, batch_size=4, random_state=7, verbose=False, device="cpu")

    def run():
        torch.manual_seed(3)  # same initial weights
        return train_graph_classifier(train, val, model=ALIGNNClassifier(channels=8, alignn_layers=1, gcn_layers=1), **kwargs)

    m1, h1 = run()
    m2, h2 = run()
    assert h1 == h2
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        torch.testing.assert_close(a, b)
    metrics = evaluate_graph_classifier(m1, val)
    assert np.sum(metrics["confusion_matrix"]) == len(val) and 0 <= metrics["accuracy"] <= 1
    path = tmp_path / "gnn.pt"
    save_checkpoint(path, m1, metrics=metrics)
    payload = torch.load(path, weights_only=True)
    assert payload["model"] == "ALIGNNClassifier"
    loaded, _, loaded_metrics = load_graph_classifier(path)
    batch = collate_graphs(val)
    torch.testing.assert_close(loaded(batch), m1.eval()(batch))
    assert loaded_metrics["accuracy"] == metrics["accuracy"]


def test_cli_arguments(tmp_path):
    import argparse

    from motifkit.learn.graph import add_train_arguments, run_train

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["--n-per-class", "10", "--image-size", "32", "--epochs", "1", "--channels", "8",
                              "--alignn-layers", "1", "--gcn-layers", "1", "--cache-dir", str(tmp_path),
                              "--out", str(tmp_path / "g.pt"), "--quiet", "--threads", "1"])
    assert run_train(args) == 0
    assert (tmp_path / "g.pt").exists()


def _oblique_lattice(a=(3.0, 0.0), b=(1.2, 4.6), n=8, basis=((0.0, 0.0), (1.4, 1.1))):
    """Positions in Å of an n x n oblique lattice with a two-atom basis (|b| = 4.75 Å > 4 Å)."""
    a, b = np.asarray(a), np.asarray(b)
    return np.array([i * a + j * b + np.asarray(s) for i in range(n) for j in range(n) for s in basis])


def test_lattice_translations_ignore_the_basis():
    from motifkit.learn.graph import lattice_translations

    cell = lattice_translations(_oblique_lattice())
    assert cell is not None
    np.testing.assert_allclose(np.sort(np.linalg.norm(cell, axis=1)), [3.0, np.hypot(1.2, 4.6)], rtol=1e-6)
    assert lattice_translations(np.random.default_rng(0).random((40, 2)) * 20) is None  # no periodicity
    assert lattice_translations([[0, 0], [1, 0]]) is None  # too few points


def test_auto_cutoff_keeps_both_lattice_vectors():
    pixel_size = 0.25
    pos_px = (_oblique_lattice() + 2.0) / pixel_size
    img = _image((int(pos_px.max()) + 10,) * 2)
    b_len = np.hypot(1.2, 4.6)
    g4 = image_to_graph(img, pixel_size, positions=pos_px, cutoff=4.0)
    g_auto = image_to_graph(img, pixel_size, positions=pos_px, cutoff="auto")
    assert g4.cutoff == 4.0 and np.isclose(g_auto.cutoff, 1.05 * b_len)
    assert np.isclose(g_auto.length_scale, 3.0) and np.isclose(g4.length_scale, 3.0)
    assert not np.any(np.isclose(g4.edge_lengths, b_len, rtol=1e-4))  # b is not a bond at 4 Å
    assert np.any(np.isclose(g_auto.edge_lengths, b_len, rtol=1e-4))
    # the angle between a and b (cos = 1.2 / |b|) is a bond angle of the auto graph only
    cos_ab = 1.2 / b_len
    assert np.any(np.isclose(np.abs(g_auto.angle_cosines), cos_ab, atol=1e-4))
    with pytest.raises(ParameterError, match="auto"):
        image_to_graph(img, pixel_size, positions=pos_px, cutoff="far")


def test_normalised_lengths_make_the_model_scale_blind(tiny_graphs):
    import dataclasses

    g = tiny_graphs[0]
    stretched = dataclasses.replace(g, edge_lengths=g.edge_lengths * 1.3, length_scale=g.length_scale * 1.3)
    torch.manual_seed(0)
    model = ALIGNNClassifier(channels=8, alignn_layers=1, gcn_layers=1, normalise_lengths=True).eval()
    torch.testing.assert_close(model(collate_graphs([g])), model(collate_graphs([stretched])), atol=1e-5, rtol=1e-4)
    plain = ALIGNNClassifier(channels=8, alignn_layers=1, gcn_layers=1).eval()
    assert not torch.allclose(plain(collate_graphs([g])), plain(collate_graphs([stretched])), atol=1e-4)
