"""The explorer's standalone page (``save_html``) in a real Chromium, opened as file://.

The page must work offline (every request to the network is blocked and recorded) and
keep the views linked without a kernel: a box in the layout, a lasso in the micrograph
and a click on a tree node must select the same columns as Python computes, redraw both
column overlays exactly as :meth:`Explorer.overlay_raster` does, and recolour the tree.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath

from test_explore import make_truth_analysis

from motifkit.explore import views
from motifkit.explore.testing import click_node, drag_box, page_point, page_state, wait_for_explorer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def explorer():
    import motifkit

    analysis, names = make_truth_analysis()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return motifkit.explore(analysis, label_names=names)


@pytest.fixture()
def page(browser, explorer, tmp_path):
    explorer.clear_selection()
    path = explorer.save_html(tmp_path / "explorer.html")
    page = browser.new_page()
    network, errors = [], []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else (network.append(route.request.url), route.abort()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    wait_for_explorer(page)
    yield page
    page.close()
    assert not network, f"the saved page tried to reach the network: {network}"
    assert not errors, f"JavaScript errors in the page: {errors}"


def _wait_for_selection(page, before, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page_state(page)
        if state["selection"] != before:
            time.sleep(0.3)  # let the derived updates finish
            return page_state(page)
        time.sleep(0.1)
    raise AssertionError("the page selection did not change")


def _distance_to_polygon(points, polygon):
    """Distance of each point to the closest edge of a closed polygon."""
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    d = b - a
    t = np.clip(((points[:, None, :] - a[None]) * d[None]).sum(-1) / (d * d).sum(-1)[None], 0, 1)
    closest = a[None] + t[..., None] * d[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=-1).min(axis=1)


def _check_derived(page, explorer, selection):
    """Tree fractions, text, overlays and selection tile as Python computes them."""
    explorer.selection = selection
    state = page_state(page)
    fractions = explorer.node_fractions()
    assert state["keys"] == list(fractions) and np.allclose(state["fraction"], list(fractions.values()))
    assert state["info"] == views.selection_info(explorer.labels, explorer.label_names, explorer.selection)
    for view in ("image", "layout"):
        overlay = page.evaluate(f"() => mk.overlay('{view}')")
        assert overlay["pixels"] == explorer.overlay_raster(view).ravel().tolist(), f"{view} overlay differs"
    tile = page.evaluate("() => { const t = mk.model('motifkit-selection-tile').data;"
                         " return {title: t.title[0], pixels: Array.from(t.image[0])}; }")
    mix = views.motif_mix_average(explorer.class_averages, explorer.labels, explorer.selection)
    assert tile["title"] == f"selection ({len(selection)})"
    assert tile["pixels"] == views.tile_rgba(mix).ravel().tolist()


def test_initial_page_matches_python(page, explorer):
    state = page_state(page)
    assert state["selection"] == [] and max(state["fraction"]) == 0
    for view in ("image", "layout"):
        assert page.evaluate(f"() => mk.overlay('{view}')")["pixels"] == explorer.overlay_raster(view).ravel().tolist()


def test_box_in_layout_then_tree_click(page, explorer, artifacts):
    lx, ly = explorer.analysis.layout[:, 0], explorer.analysis.layout[:, 1]
    members = explorer.labels == 0
    x0, x1 = np.percentile(lx[members], [5, 70])
    y0, y1 = np.percentile(ly[members], [5, 70])
    drag_box(page, "layout", x0, y1, x1, y0)
    state = _wait_for_selection(page, [])
    chosen = np.zeros(len(lx), bool)
    chosen[state["selection"]] = True
    pixel = (lx.max() - lx.min()) / 400
    assert not (chosen & ~((lx >= x0 - pixel) & (lx <= x1 + pixel) & (ly >= y0 - pixel) & (ly <= y1 + pixel))).any()
    assert not (~chosen & (lx >= x0 + pixel) & (lx <= x1 - pixel) & (ly >= y0 + pixel) & (ly <= y1 - pixel)).any()
    assert chosen.sum() > 20
    _check_derived(page, explorer, state["selection"])
    page.screenshot(path=str(artifacts / "explorer_html_brush.png"), full_page=True)

    cells = [k for k in state["keys"] if k.startswith("cell:")]
    assert cells, "the MoSe2 truth has vacancy motif-cells"
    key = cells[0]
    click_node(page, key)
    state = _wait_for_selection(page, state["selection"])
    assert state["selection"] == explorer.tree.members[state["keys"].index(key)].tolist()
    assert state["fraction"][state["keys"].index(key)] == 1.0
    _check_derived(page, explorer, state["selection"])


def test_lasso_in_micrograph(page, explorer, artifacts):
    page.evaluate("() => { const lasso = mk.model('motifkit-image-lasso');"
                  " mk.view('motifkit-image').model.toolbar.active_drag = lasso; }")
    height, width = explorer.analysis.micrograph.data.shape
    polygon = np.array([[0.2, 0.2], [0.8, 0.3], [0.5, 0.85], [0.25, 0.6]]) * [width, height]
    points = [page_point(page, "image", x, y) for x, y in polygon]
    page.mouse.move(*points[0])
    page.mouse.down()
    for a, b in zip(points, points[1:] + points[:1]):
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    page.mouse.up()
    state = _wait_for_selection(page, [])
    positions = explorer.analysis.positions
    chosen = np.zeros(len(positions), bool)
    chosen[state["selection"]] = True
    tolerance = 3 * width / 400  # three screen pixels
    inside = PolygonPath(polygon).contains_points(positions)
    near_edge = _distance_to_polygon(positions, polygon) <= tolerance
    outer, inner = inside | near_edge, inside & ~near_edge
    assert chosen.sum() > 20 and not (chosen & ~outer).any() and not (inner & ~chosen).any()
    _check_derived(page, explorer, state["selection"])
    page.screenshot(path=str(artifacts / "explorer_html_lasso.png"), full_page=True)
