"""Tests of motifkit.explore without a browser: selection model, view data, documents, exports.

The analysis explored here is built from simulator ground truth (true column positions,
true column types as motifs, a PCA layout of raw patches), so these tests do not depend
on the core pipeline. The real-browser tests are in tests/browser/.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from motifkit.errors import MotifkitError, ParameterError
from motifkit.explore.selection import SelectionModel, as_indices
from motifkit.explore import views


# --------------------------------------------------------------------------------------
# an analysis from ground truth (shared with tests/browser)
# --------------------------------------------------------------------------------------
def make_truth_analysis(shape=(320, 320), patch_size=15, random_state=0):
    """MotifAnalysis of a simulated MoSe2 image from its ground truth.

    Columns: the true positions at least half a patch from the border; motifs: the true
    column types (most common = 0); layout: the first two principal components of the
    raw patches (cut with scipy's map_coordinates); class averages of those patches.
    """
    from scipy.ndimage import map_coordinates

    import motifkit
    from motifkit.analysis import MotifAnalysis
    from motifkit.motifs import class_averages

    sim = motifkit.data.mose2_with_vacancies(shape=shape, random_state=random_state)
    image = sim.image.data
    half = patch_size // 2
    positions = np.asarray(sim.truth.positions, dtype=float)
    keep = ((positions >= half + 1) & (positions <= np.array(image.shape[::-1]) - half - 2)).all(axis=1)
    positions = positions[keep]
    types = np.asarray(sim.truth.column_types)[keep]
    names, codes, counts = np.unique(types, return_inverse=True, return_counts=True)
    rank = np.argsort(np.argsort(-counts, kind="stable"), kind="stable")
    labels = rank[codes].astype(np.int64)
    label_names = [str(n) for n in names[np.argsort(-counts, kind="stable")]]
    offsets = np.arange(-half, half + 1, dtype=float)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    rows = positions[:, 1, None, None] + dy[None]
    cols = positions[:, 0, None, None] + dx[None]
    patches = map_coordinates(image, [rows.ravel(), cols.ravel()], order=1, mode="nearest")
    patches = patches.reshape(len(positions), patch_size, patch_size).astype(np.float32)
    flat = patches.reshape(len(positions), -1)
    centred = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    layout = centred @ vt[:2].T
    layout *= np.sign(layout[np.abs(layout).argmax(axis=0), [0, 1]])  # deterministic signs
    analysis = MotifAnalysis(
        micrograph=sim.image, positions=positions, features=flat[:, :4].copy(), layout=layout, labels=labels,
        class_averages=class_averages(patches, labels, len(label_names)), patches=patches,
        parameters={"patch_size": patch_size},
    )
    return analysis, label_names


@pytest.fixture(scope="module")
def truth():
    return make_truth_analysis()


@pytest.fixture(scope="module")
def hierarchy(truth):
    import motifkit

    analysis, _ = truth
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return motifkit.build_hierarchy(analysis)


@pytest.fixture()
def explorer(truth, hierarchy):
    import motifkit

    analysis, names = truth
    return motifkit.explore(analysis, hierarchy, label_names=names)


# --------------------------------------------------------------------------------------
# selection model
# --------------------------------------------------------------------------------------
def test_as_indices_normalises_and_validates():
    assert as_indices([4, 1, 4, 0], 5).tolist() == [0, 1, 4]
    assert as_indices(np.array([True, False, True]), 3).tolist() == [0, 2]
    assert as_indices([2.0, 1.0], 3).tolist() == [1, 2]
    assert as_indices(None, 3).size == 0 and as_indices([], 3).size == 0
    with pytest.raises(ParameterError, match="0 .. 4"):
        as_indices([5], 5)
    with pytest.raises(ParameterError, match="0 .. 4"):
        as_indices([-1], 5)
    with pytest.raises(ParameterError, match="integer"):
        as_indices([0.5], 5)
    with pytest.raises(ParameterError, match="one entry per column"):
        as_indices(np.array([True, False]), 3)


def test_selection_notifies_once_per_change_and_combines():
    model = SelectionModel(10)
    seen = []
    model.observe(seen.append)
    assert model.select([3, 1], source="browser")
    # jupyter_bokeh reports one browser change twice: the repeat is absorbed
    assert not model.select([1, 3], source="browser")
    assert len(seen) == 1 and seen[0].source == "browser" and seen[0].new.tolist() == [1, 3]
    assert seen[0].old.tolist() == []
    model.select([5], mode="add")
    assert model.selection.tolist() == [1, 3, 5]
    model.select([3, 9], mode="subtract")
    assert model.selection.tolist() == [1, 5]
    model.select([5, 6], mode="intersect")
    assert model.selection.tolist() == [5]
    assert model.mask.sum() == 1 and model.mask[5]
    assert len(seen) == 4
    model.unobserve(seen.append)
    model.clear()
    assert len(seen) == 4 and model.selection.size == 0
    with pytest.raises(ParameterError, match="mode"):
        model.select([1], mode="toggle")
    with pytest.raises(ParameterError, match="kind"):
        model.observe(print, kind="zoom")


def test_selection_is_a_copy():
    model = SelectionModel(4)
    model.select([1, 2])
    got = model.selection
    got[0] = 3
    assert model.selection.tolist() == [1, 2]


def test_fractions_of_groups():
    model = SelectionModel(6)
    model.select([0, 1, 2])
    assert model.fractions([[0, 1], [2, 3, 4, 5], []]).tolist() == [1.0, 0.25, 0.0]


def test_label_selection_new_merge_and_undo():
    model = SelectionModel(6, labels=[0, 0, 0, 1, 1, 0], label_names=["Mo", "Se2"])
    changes = []
    model.observe(changes.append, kind="labels")
    model.select([0, 1])
    code = model.label_selection("vacancy")
    assert code == 2 and model.labels.tolist() == [2, 2, 0, 1, 1, 0]
    assert model.label_names == ["Mo", "Se2", "vacancy"] and model.counts.tolist() == [2, 2, 2]
    model.select([5])
    assert model.label_selection("Se2") == 1  # merge by name
    model.select([2])
    assert model.label_selection(2) == 2  # merge by code
    assert model.labels.tolist() == [2, 2, 2, 1, 1, 1]
    assert [c.action for c in changes] == ["label"] * 3 and changes[0].columns.tolist() == [0, 1]
    assert model.can_undo and len(model.history) == 3
    assert model.undo() and model.undo()
    assert model.labels.tolist() == [2, 2, 0, 1, 1, 0]
    assert model.undo()
    assert model.labels.tolist() == [0, 0, 0, 1, 1, 0] and model.label_names == ["Mo", "Se2"]
    assert not model.undo() and changes[-1].action == "undo"


def test_label_selection_errors_and_history_limit():
    model = SelectionModel(4, max_history=2)
    with pytest.raises(ParameterError, match="nothing is selected"):
        model.label_selection("x")
    model.select([0])
    with pytest.raises(ParameterError, match="does not exist"):
        model.label_selection(7)
    with pytest.raises(ParameterError, match="empty"):
        model.label_selection("  ")
    for name in "abc":
        model.label_selection(name, indices=[1])
    assert len(model.history) == 2
    assert model.undo() and model.undo() and not model.undo()
    assert model.labels.tolist() == [0, 1, 0, 0]  # the first change is beyond the history


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_columns": 0}, "positive"),
        ({"n_columns": 3, "labels": [0, 1]}, "3 integers"),
        ({"n_columns": 2, "labels": [0, -1]}, ">= 0"),
        ({"n_columns": 2, "labels": [0.0, 1.0]}, "integers"),
        ({"n_columns": 2, "labels": [0, 1], "label_names": ["a"]}, "one per motif"),
        ({"n_columns": 2, "labels": [0, 1], "label_names": ["a", "a"]}, "distinct"),
    ],
)
def test_selection_model_rejects_bad_input(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        SelectionModel(**kwargs)


# --------------------------------------------------------------------------------------
# view data
# --------------------------------------------------------------------------------------
def test_display_image_block_means_without_cropping():
    data = np.arange(10 * 7, dtype=float).reshape(10, 7)
    shown = views.display_image(data, max_side=16)
    assert shown.factor == 1 and shown.data.shape == (10, 7) and (shown.dw, shown.dh) == (7.0, 10.0)
    big = np.random.default_rng(0).normal(size=(1000, 600))
    shown = views.display_image(big, max_side=300, percentiles=(0, 100))
    assert shown.factor == 4 and shown.data.shape == (250, 150) and shown.data.dtype == np.uint8
    block = big[:4, :4].mean()
    expected = np.round((block - shown.low) / (shown.high - shown.low) * 255)
    assert abs(int(shown.data[0, 0]) - expected) <= 1
    assert shown.data.min() == 0 and shown.data.max() == 255
    odd = views.display_image(np.ones((33, 20)) + np.eye(33, 20), max_side=16)
    assert odd.factor == 3 and odd.dh >= 33 and odd.dw >= 20  # padded, never cropped
    assert views.display_image(np.zeros((20, 20)), max_side=16).data.max() == 0  # constant image
    with pytest.raises(ParameterError, match="2-D"):
        views.display_image(np.zeros((4, 4, 3)))
    with pytest.raises(ParameterError, match="percentiles"):
        views.display_image(np.zeros((20, 20)), percentiles=(50, 10))


def test_column_data_and_marker_radius():
    i, j = np.meshgrid(np.arange(20), np.arange(20))
    positions = np.column_stack([i.ravel(), j.ravel()]) * 8.0
    data = views.column_data(positions, positions[:, ::-1], np.zeros(400, dtype=int))
    assert data["x"].dtype == np.float32 and data["label"].dtype == np.int32
    assert np.array_equal(data["lx"], data["y"])
    assert views.marker_radius(positions) == pytest.approx(0.3 * 8.0)
    with pytest.raises(ParameterError, match="one row per column"):
        views.column_data(positions, positions[:10], np.zeros(400, int))
    with pytest.raises(ParameterError, match="NaN"):
        views.column_data(np.full((3, 2), np.nan), np.zeros((3, 2)), np.zeros(3, int))
    with pytest.raises(ParameterError, match="empty"):
        views.column_data(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, int))


def test_tile_rgba_and_colour_packing():
    tile = np.array([[0.0, 1.0], [2.0, 4.0]])
    rgba = views.tile_rgba(tile).view(np.uint8).reshape(2, 2, 4)
    assert rgba[0, 0].tolist() == [0, 0, 0, 255] and rgba[1, 1].tolist() == [255, 255, 255, 255]
    assert rgba[0, 1, 0] == 64
    framed = views.tile_rgba(np.zeros((6, 6)), border="#ff8000").view(np.uint8).reshape(6, 6, 4)
    assert framed[0, 3].tolist() == [255, 128, 0, 255] and framed[3, 3].tolist() == [0, 0, 0, 255]
    packed = views.pack_colours(["#102030"], 128).view(np.uint8)
    assert packed.tolist() == [0x10, 0x20, 0x30, 128]


def test_rasterize_columns_places_colours_and_stacks_selection_on_top():
    colours = ["#ff0000", "#0000ff"]
    x = np.array([2.5, 2.5, 7.5])
    y = np.array([1.5, 1.5, 8.5])
    labels = np.array([0, 1, 0])
    none = np.zeros(3, bool)
    image = views.rasterize_columns(x, y, labels, colours, none, (0, 10), (0, 10), 10, 10, radius_px=0.0)
    px = image.view(np.uint8).reshape(10, 10, 4)
    assert px[1, 2].tolist() == [0, 0, 255, 191]  # later column on top (same pixel)
    assert px[8, 7].tolist() == [255, 0, 0, 191] and (image != 0).sum() == 2
    first = np.array([True, False, False])
    px = views.rasterize_columns(x, y, labels, colours, first, (0, 10), (0, 10), 10, 10,
                                 radius_px=0.0).view(np.uint8).reshape(10, 10, 4)
    assert px[1, 2].tolist() == [255, 0, 0, 255]  # selected on top of unselected
    assert px[8, 7].tolist() == [255, 0, 0, 31]  # unselected columns fade
    # a flipped range gives the same raster (row 0 always at the low end of y)
    flipped = views.rasterize_columns(x, y, labels, colours, none, (10, 0), (10, 0), 10, 10, radius_px=0.0)
    assert np.array_equal(flipped, views.rasterize_columns(x, y, labels, colours, none, (0, 10), (0, 10), 10, 10,
                                                           radius_px=0.0))
    disk = views.rasterize_columns([5.5], [5.5], [0], colours, [False], (0, 10), (0, 10), 20, 20, radius=2.0)
    assert (disk != 0).sum() == 49  # radius 2 units = 4 px: 49 lattice points within 4 px
    grown = views.rasterize_columns([5.5], [5.5], [0], colours, [True], (0, 20), (0, 20), 20, 20, radius=1.0,
                                    selected_radius_px=2.0)
    assert (grown != 0).sum() == 13  # selected columns are drawn at least selected_radius_px wide
    outside = views.rasterize_columns([50.0], [5.0], [0], colours, [False], (0, 10), (0, 10), 10, 10)
    assert not outside.any()
    with pytest.raises(ParameterError, match="empty visible range"):
        views.rasterize_columns(x, y, labels, colours, none, (1, 1), (0, 10), 10, 10)


def test_tree_data_rows_sizes_members_and_hidden_nodes(truth, hierarchy):
    analysis, names = truth
    tree = views.tree_data(analysis.labels, names, analysis.class_averages, hierarchy, max_nodes_per_level=3,
                           max_levels=2)
    nodes = tree.nodes
    motif_rows = [g for g, kind in enumerate(nodes["kind"]) if kind == "motif"]
    assert [nodes["key"][g] for g in motif_rows] == ["motif:0", "motif:1", "motif:2"]
    covered = np.concatenate([tree.members[g] for g in motif_rows])
    assert len(covered) == len(np.unique(covered))
    for g in motif_rows:
        assert np.array_equal(tree.members[g], np.flatnonzero(analysis.labels == nodes["code"][g]))
    counts = np.array([nodes["count"][g] for g in motif_rows])
    radii = np.array([nodes["r"][g] for g in motif_rows])
    assert np.all(np.diff(counts) <= 0) and np.all(np.diff(radii) <= 0)
    cells = [g for g, kind in enumerate(nodes["kind"]) if kind == "cell"]
    assert cells, "the MoSe2 truth has vacancy motif-cells"
    for g in cells:
        d = hierarchy.graph.nodes[nodes["code"][g]]
        assert np.array_equal(tree.members[g], np.unique(d["columns_flat"]))
        assert nodes["icon"][g].shape == d["icon"].shape[:2] and nodes["icon"][g].dtype == np.uint32
    shown_levels = sorted({nodes["level"][g] for g in cells})
    assert len(shown_levels) <= 2 and set(tree.rows.values()) >= {"motifs", f"level {shown_levels[0]}"}
    n_total = len(hierarchy.graph) + int((np.bincount(analysis.labels) > 0).sum())
    assert tree.n_hidden == n_total - len(nodes["key"])
    assert len(tree.edges["x0"]) <= hierarchy.graph.number_of_edges()
    with pytest.raises(ParameterError, match="max_nodes_per_level"):
        views.tree_data(analysis.labels, names, max_nodes_per_level=0)


def test_node_fractions_selection_info_and_averages():
    n_sel, fraction = views.node_fractions([[0, 1, 2, 3], [4], []], [1, 2, 4], 5)
    assert n_sel.tolist() == [2, 1, 0] and fraction.tolist() == [0.5, 1.0, 0.0]
    assert views.selection_info([0, 0, 1], ["a", "b"], []).startswith("0 of 3 columns selected")
    assert views.selection_info([0, 1, 1], ["a", "b"], [0, 1, 2]) == "3 of 3 columns selected: b 2, a 1"
    patches = np.arange(3 * 4, dtype=np.float32).reshape(3, 2, 2)
    assert np.allclose(views.average_patch(patches, [0, 2]), patches[[0, 2]].mean(axis=0))
    assert views.average_patch(patches, []) is None
    averages = np.stack([np.zeros((2, 2)), np.ones((2, 2))]).astype(np.float32)
    assert np.allclose(views.motif_mix_average(averages, [0, 1, 1, 1], [0, 1, 2]), 2 / 3)
    assert views.motif_mix_average(averages, [0, 1], []) is None


# --------------------------------------------------------------------------------------
# the explorer
# --------------------------------------------------------------------------------------
def test_explore_is_callable_after_importing_submodules(truth):
    import motifkit
    import motifkit.explore.views  # noqa: F401  (binds motifkit.explore to the module)

    analysis, _ = truth
    assert callable(motifkit.explore)
    explorer = motifkit.explore(analysis, None)
    assert set(explorer.tree.nodes["kind"]) == {"motif"}


def test_kernel_selection_reaches_the_document(explorer, truth):
    analysis, _ = truth
    document = explorer.document
    explorer.selection = np.flatnonzero(analysis.labels == 1)[::-1]
    assert explorer.selection.tolist() == sorted(np.flatnonzero(analysis.labels == 1).tolist())
    assert document.columns.selected.indices == explorer.selection.tolist()
    assert document.info.text.startswith(f"{len(explorer.selection)} of {analysis.n_columns} columns selected")
    assert document.selection_tile.data["title"][0] == f"selection ({len(explorer.selection)})"
    exact = analysis.patches[explorer.selection].mean(axis=0)
    assert np.array_equal(document.selection_tile.data["image"][0], views.tile_rgba(exact))
    assert explorer.node_fractions()["motif:1"] == 1.0 and explorer.node_fractions()["motif:0"] == 0.0
    explorer.clear_selection()
    assert document.columns.selected.indices == [] and document.selection_tile.data["title"][0] == "selection (none)"


def test_browser_selection_reaches_the_model_once(explorer):
    document = explorer.document
    seen = []
    explorer.model.observe(seen.append)
    # a browser change arrives as a property change of the shared source...
    document.columns.selected.indices = [5, 2, 9]
    # ... and jupyter_bokeh calls the Python callbacks a second time
    explorer._on_browser_selection("indices", [], [5, 2, 9])
    assert explorer.selection.tolist() == [2, 5, 9]
    assert len(seen) == 1 and seen[0].source == "browser"


def test_select_motif_and_node(explorer, hierarchy):
    explorer.select_motif(explorer.label_names[2])
    assert np.array_equal(explorer.selection, np.flatnonzero(explorer.labels == 2))
    node = hierarchy.nodes[0]
    explorer.select_node(node)
    assert np.array_equal(explorer.selection, np.unique(hierarchy.graph.nodes[node]["columns_flat"]))
    assert explorer.node_fractions()[f"cell:{node}"] == 1.0
    with pytest.raises(ParameterError, match="unknown motif"):
        explorer.select_motif("unobtainium")
    with pytest.raises(ParameterError, match="no motif-cell"):
        explorer.select_node(10_000)


def test_label_selection_updates_views_and_undo_restores(explorer, truth):
    from motifkit.motifs import class_averages

    analysis, names = truth
    document = explorer.document
    chosen = np.flatnonzero(analysis.labels == 0)[:25]
    explorer.selection = chosen
    code = explorer.label_selection("curated")
    assert code == len(names) and explorer.label_names[-1] == "curated"
    assert np.array_equal(np.asarray(document.columns.data["label"])[chosen], np.full(25, code))
    assert len(document.label_mapper.palette) == len(names) + 1 and document.label_mapper.high == len(names) + 0.5
    assert "curated" in document.motifs.data["name"]
    assert "motif:%d" % code in document.nodes.data["key"]
    expected = class_averages(analysis.patches, explorer.labels, len(names) + 1)
    assert np.allclose(explorer.class_averages, expected)
    assert "rebuild_hierarchy" in build_title(explorer)
    curated = explorer.curated_analysis()
    assert curated.n_motifs == len(names) + 1 and np.array_equal(curated.labels, explorer.labels)
    assert curated.summary["motif_counts"][code] == 25 and analysis.n_motifs == len(names)
    assert explorer.undo()
    assert np.array_equal(np.asarray(document.columns.data["label"]), analysis.labels)
    assert explorer.label_names == names and len(document.label_mapper.palette) == len(names)
    assert np.allclose(explorer.class_averages, analysis.class_averages)
    assert not explorer.undo()


def build_title(explorer):
    return explorer._document_data(live=True).title


def test_rebuild_hierarchy_after_curation(explorer, truth):
    analysis, _ = truth
    explorer.selection = np.flatnonzero(analysis.labels == 2)
    explorer.label_selection(explorer.label_names[1])  # merge the rarest type into another
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rebuilt = explorer.rebuild_hierarchy()
    assert rebuilt is explorer.hierarchy and "rebuild_hierarchy" not in build_title(explorer)
    assert list(explorer.document.nodes.data["key"]) == list(explorer.tree.nodes["key"])


def test_save_html_is_offline_and_holds_the_state(explorer, truth, tmp_path):
    analysis, _ = truth
    explorer.selection = np.flatnonzero(analysis.labels == 1)
    path = explorer.save_html(tmp_path / "page.html")
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=[\"']?https?:", html, flags=re.I)
    assert not re.search(r"<link[^>]+href=[\"']?https?:", html, flags=re.I)
    assert "cdn.bokeh.org" not in html
    assert len(re.findall(r"<script", html)) >= 3 and "Bokeh" in html  # BokehJS inline
    for name in ("motifkit-columns", "motifkit-tree-nodes", "motifkit-image-overlay", "motifkit-info"):
        assert name in html
    with pytest.raises(ParameterError, match=".html"):
        explorer.save_html(tmp_path / "page.png")


def test_static_document_precomputes_selection_dependent_values(explorer, truth):
    from motifkit.explore.document import build_document

    analysis, _ = truth
    explorer.selection = np.flatnonzero(analysis.labels == 1)
    data = explorer._document_data(live=False)
    document = build_document(data, live=False)
    assert document.columns.selected.indices == explorer.selection.tolist()
    fractions = dict(zip(document.nodes.data["key"], document.nodes.data["fraction"]))
    assert fractions == pytest.approx(explorer.node_fractions())
    assert document.info.text == views.selection_info(explorer.labels, explorer.label_names, explorer.selection)
    for view in ("image", "layout"):
        assert np.array_equal(document.overlays[view].data["image"][0], explorer.overlay_raster(view))
    mix = views.motif_mix_average(explorer.class_averages, explorer.labels, explorer.selection)
    assert np.array_equal(document.selection_tile.data["image"][0], views.tile_rgba(mix))
    # the page's JavaScript ships with the package
    callbacks = [cb.code for cbs in document.columns.selected.js_property_callbacks.values() for cb in cbs]
    assert any("sum_k n_k A_k" in code for code in callbacks)  # the static selection tile


def test_snapshot_png(explorer, tmp_path):
    explorer.selection = [0, 1, 2]
    figure = explorer.snapshot(tmp_path / "snap.png", dpi=40)
    assert (tmp_path / "snap.png").stat().st_size > 5000 and len(figure.axes) >= 4
    import matplotlib.pyplot as plt

    plt.close(figure)


def test_explore_rejects_bad_input(truth, hierarchy):
    import motifkit

    analysis, _ = truth
    with pytest.raises(ParameterError, match="MotifAnalysis"):
        motifkit.explore(object())
    with pytest.raises(ParameterError, match="hierarchy must be"):
        motifkit.explore(analysis, "tree")
    with pytest.raises(ParameterError, match="MotifHierarchy"):
        motifkit.explore(analysis, 42)
    short = make_truth_analysis(shape=(200, 200))[0]
    with pytest.raises(ParameterError, match="build it from this analysis"):
        motifkit.explore(short, hierarchy)
    import dataclasses

    with pytest.raises(ParameterError, match="class averages"):
        motifkit.explore(dataclasses.replace(analysis, class_averages=analysis.class_averages[:1]), None)
    with pytest.raises(ParameterError, match="patches"):
        motifkit.explore(dataclasses.replace(analysis, patches=analysis.patches[:3]), None)


def test_hierarchy_auto_falls_back_to_motifs(truth):
    import dataclasses

    import motifkit

    analysis, _ = truth
    tiny = dataclasses.replace(analysis, positions=analysis.positions[:6], layout=analysis.layout[:6],
                               labels=analysis.labels[:6], patches=analysis.patches[:6])
    with pytest.warns(UserWarning, match="showing the motifs only"):
        explorer = motifkit.explore(tiny)
    assert explorer.hierarchy is None


def test_assets_are_found():
    from motifkit.explore._assets import read_asset

    for name in ("raster.js", "selection_changed.js", "tree_tap.js", "static_average.js"):
        assert "args:" in read_asset(f"explore/{name}")
    with pytest.raises(MotifkitError, match="reinstall"):
        read_asset("explore/missing.js")
