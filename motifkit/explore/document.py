"""The Bokeh document of the explorer: three linked views on one shared column source.

The image view and the layout view both select through glyphs on the *same*
``ColumnDataSource`` of the columns, so a box or lasso selection in one highlights the
same columns in the other inside the browser, with no kernel round trip; that is also
why the saved standalone page stays linked. Those glyphs take the hits but draw nothing
(NaN angles: BokehJS skips them when painting); what the user sees is one RGBA overlay
image per view, the columns drawn as disks at screen resolution
(``widgets/explore/raster.js``), because canvas vector markers are far too slow for
100k columns per brush. The tree has its own source of nodes; small JavaScript callbacks
(``widgets/explore/``) link it: a click on a node (the Tap gesture event) selects its
member columns, and any change of the column selection recolours the nodes by the
fraction of their members selected.

Everything drawn is computed beforehand in Python (:mod:`motifkit.explore.views`),
including the values that depend on the selection and the initial overlays, because a
saved page does not run the callbacks when it loads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import require
from ._assets import read_asset
from .views import (
    FRACTION_PALETTE,
    DisplayImage,
    TreeData,
    image_frame,
    layout_frame,
    overlay_style,
    rasterize_columns,
)

__all__ = ["DocumentData", "ExplorerDocument", "build_document", "MODEL_NAMES"]

#: Names of the models the tests and the kernel look up in the page.
MODEL_NAMES = {
    "columns": "motifkit-columns",
    "nodes": "motifkit-tree-nodes",
    "motifs": "motifkit-motif-tiles",
    "selection_tile": "motifkit-selection-tile",
    "info": "motifkit-info",
    "image": "motifkit-image",
    "layout": "motifkit-layout",
    "tree": "motifkit-tree",
    "tiles": "motifkit-tiles",
    "label_mapper": "motifkit-label-colours",
    "root": "motifkit-explorer",
}

_TILE_PX = 64  # screen pixels per class-average tile
_TREE_PX = 62  # screen pixels per data unit of the tree


@dataclass
class DocumentData:
    """Everything the document shows (see :mod:`motifkit.explore.views`).

    Attributes
    ----------
    image : DisplayImage
    columns : dict of ndarray
        From :func:`~motifkit.explore.views.column_data`.
    radius : float
        Column marker radius in pixels.
    tree : TreeData
    n_selected, fraction : ndarray
        Per tree node, for the current selection.
    palette : list of str
        Colour of every motif code.
    names : list of str
        Name of every motif code.
    counts : ndarray of int
        Columns per motif code.
    motif_tiles : list of ndarray of uint32
        RGBA class average of every motif code (s, s).
    selection_tile : ndarray of uint32, shape (s, s)
        RGBA average of the selection (transparent when nothing is selected).
    selection_title : str
    selection : ndarray of int
    info : str
        Selection text.
    title : str
    class_averages : ndarray of float32, shape (K, s, s)
        Raw class averages (the standalone page mixes them for the selection tile).
    """

    image: DisplayImage
    columns: dict
    radius: float
    tree: TreeData
    n_selected: np.ndarray
    fraction: np.ndarray
    palette: list
    names: list
    counts: np.ndarray
    motif_tiles: list
    selection_tile: np.ndarray
    selection_title: str
    selection: np.ndarray
    info: str
    title: str
    class_averages: np.ndarray


@dataclass
class ExplorerDocument:
    """The root layout and the models the Python side updates."""

    root: object
    columns: object
    nodes: object
    edges: object
    motifs: object
    selection_tile: object
    info: object
    label_mapper: object
    overlays: dict
    figures: dict


def _nodes_data(tree: TreeData, n_selected, fraction) -> dict:
    data = {k: list(v) for k, v in tree.nodes.items()}
    for key in ("x", "y", "r", "icon_x", "icon_y", "icon_w"):
        data[key] = np.asarray(data[key], dtype=float)
    data["count"] = np.asarray(data["count"], dtype=np.int64)
    data["n_members"] = np.asarray(data["n_members"], dtype=np.int64)
    data["members"] = [np.asarray(m, dtype=np.int32) for m in tree.members]
    data["n_selected"] = np.asarray(n_selected, dtype=np.int64)
    data["fraction"] = np.asarray(fraction, dtype=float)
    data["count_text"] = [f"({c})" for c in data["count"]]
    data["label_y"] = data["y"] - data["r"] - 0.04
    return data


def _edges_data(tree: TreeData) -> dict:
    return {k: np.asarray(v, dtype=float) for k, v in tree.edges.items()}


def _tiles_layout(n_tiles: int, size: int, per_row: int = 6):
    """Corner (x, y) of each tile in a grid (y grows downwards), and the grid's extent.

    Returns
    -------
    xs, ys : list of float
    width, height : float
        Extent in tile pixels, titles included.
    """
    gap = max(2, size // 4)
    title_space = max(4.0, 0.45 * size)
    xs = [float((k % per_row) * (size + gap)) for k in range(n_tiles)]
    ys = [(k // per_row) * (size + title_space) + title_space for k in range(n_tiles)]
    n_rows = (n_tiles - 1) // per_row + 1
    width = min(n_tiles, per_row) * (size + gap) - gap
    return xs, ys, float(width), float(n_rows * (size + title_space))


def motif_tiles_data(data: DocumentData) -> dict:
    """Columns of the motif tile source (tile 0 of the grid is the selection tile)."""
    size = data.selection_tile.shape[0]
    codes = [k for k in range(len(data.names)) if data.counts[k] > 0]
    xs, ys, _, _ = _tiles_layout(len(codes) + 1, size)
    return {
        "image": [data.motif_tiles[k] for k in codes],
        "x": np.asarray(xs[1:], dtype=float),
        "y": np.asarray(ys[1:], dtype=float),
        "dw": np.full(len(codes), float(size)),
        "dh": np.full(len(codes), float(size)),
        "code": np.asarray(codes, dtype=np.int64),
        "name": [data.names[k] for k in codes],
        "colour": [data.palette[k] for k in codes],
        "count": np.asarray([int(data.counts[k]) for k in codes], dtype=np.int64),
        "title": [f"{data.names[k]} ({int(data.counts[k])})" for k in codes],
        "title_y": np.asarray(ys[1:], dtype=float) - 1.0,
        "title_x": np.asarray(xs[1:], dtype=float) + size / 2.0,
    }


def selection_tile_data(tile: np.ndarray, title: str) -> dict:
    """Columns of the selection tile source (first tile of the grid)."""
    size = tile.shape[0]
    xs, ys, _, _ = _tiles_layout(1, size)
    return {
        "image": [tile],
        "x": [xs[0]], "y": [ys[0]], "dw": [float(size)], "dh": [float(size)],
        "title": [title], "title_x": [xs[0] + size / 2.0], "title_y": [ys[0] - 1.0],
    }


def build_document(data: DocumentData, *, live: bool) -> ExplorerDocument:
    """Build the explorer layout.

    Parameters
    ----------
    data : DocumentData
    live : bool
        True for the widget connected to a kernel (the kernel computes the exact
        selection average); False for a standalone page (the page mixes class averages).

    Returns
    -------
    ExplorerDocument
    """
    require("bokeh", "widgets", "the interactive explorer")
    from bokeh.layouts import column, row
    from bokeh.models import (
        BoxSelectTool,
        ColumnDataSource,
        CustomJS,
        Div,
        FixedTicker,
        HoverTool,
        LassoSelectTool,
        LinearColorMapper,
        PanTool,
        Range1d,
        ResetTool,
        SaveTool,
        TapTool,
        WheelZoomTool,
    )
    from bokeh.plotting import figure
    from bokeh.transform import linear_cmap

    names = MODEL_NAMES
    image = data.image
    n_motifs = len(data.names)
    columns = ColumnDataSource(data=dict(data.columns), name=names["columns"])
    columns.selected.indices = [int(i) for i in data.selection]
    label_mapper = LinearColorMapper(palette=list(data.palette[:n_motifs]), low=-0.5, high=n_motifs - 0.5,
                                     name=names["label_mapper"])

    # -- image and layout views: one overlay raster each, plus glyphs that take the hits --
    selected_mask = np.zeros(len(data.columns["x"]), dtype=bool)
    selected_mask[np.asarray(data.selection, dtype=np.int64)] = True
    frames = {"image": image_frame(image), "layout": layout_frame(data.columns["lx"], data.columns["ly"])}
    image_fig = figure(
        name=names["image"], title="micrograph: columns by motif",
        frame_width=frames["image"].width, frame_height=frames["image"].height,
        x_range=Range1d(*frames["image"].x_range), y_range=Range1d(*frames["image"].y_range),
        tools=[], toolbar_location="above", output_backend="canvas",
    )
    image_fig.image(image=[image.data], x=image.x, y=image.y, dw=image.dw, dh=image.dh,
                    palette="Greys256", level="image")
    layout_fig = figure(
        name=names["layout"], title="force-relaxed layout",
        frame_width=frames["layout"].width, frame_height=frames["layout"].height,
        x_range=Range1d(*frames["layout"].x_range), y_range=Range1d(*frames["layout"].y_range),
        tools=[], toolbar_location="above", output_backend="canvas",
    )
    raster_code = read_asset("explore/raster.js")
    overlays = {}
    for view, fig, (xfield, yfield), hit_size in (("image", image_fig, ("x", "y"), 8),
                                                   ("layout", layout_fig, ("lx", "ly"), 5)):
        frame = frames[view]
        style = overlay_style(view, len(selected_mask), data.radius)
        raster = rasterize_columns(data.columns[xfield], data.columns[yfield], data.columns["label"],
                                   data.palette, selected_mask, frame.x_range, frame.y_range,
                                   frame.width, frame.height, **style)
        overlay = ColumnDataSource(data={
            "image": [raster], "x": [min(frame.x_range)], "y": [min(frame.y_range)],
            "dw": [abs(frame.x_range[1] - frame.x_range[0])], "dh": [abs(frame.y_range[1] - frame.y_range[0])],
        }, name=f"motifkit-{view}-overlay")
        fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=overlay)
        # NaN angles: BokehJS skips drawing these markers but still hit-tests them
        hits = fig.scatter(x=xfield, y=yfield, size=hit_size, angle=float("nan"), source=columns, marker="circle",
                           fill_alpha=0.0, line_alpha=0.0, name=f"motifkit-{view}-hits")
        box = BoxSelectTool(renderers=[hits], continuous=False, name=f"motifkit-{view}-box")
        lasso = LassoSelectTool(renderers=[hits], continuous=False, name=f"motifkit-{view}-lasso")
        fig.add_tools(box, lasso, TapTool(renderers=[hits]), PanTool(), WheelZoomTool(), ResetTool(), SaveTool())
        fig.toolbar.active_drag = box
        fig.toolbar.active_scroll = None
        fig.axis.visible = view == "layout"
        fig.grid.visible = False
        args = {"columns": columns, "overlay": overlay, "mapper": label_mapper, "x_range": fig.x_range,
                "y_range": fig.y_range, "xfield": xfield, "yfield": yfield, "width": frame.width,
                "height": frame.height, **style}
        immediate = CustomJS(args={**args, "coalesce": False}, code=raster_code)
        deferred = CustomJS(args={**args, "coalesce": True}, code=raster_code)
        columns.selected.js_on_change("indices", immediate)
        columns.js_on_change("data", immediate)
        label_mapper.js_on_change("palette", immediate)
        for axis_range in (fig.x_range, fig.y_range):
            axis_range.js_on_change("start", deferred)
            axis_range.js_on_change("end", deferred)
        overlays[view] = overlay

    # -- tree view ----------------------------------------------------------------------
    tree = data.tree
    nodes = ColumnDataSource(data=_nodes_data(tree, data.n_selected, data.fraction), name=names["nodes"])
    edges = ColumnDataSource(data=_edges_data(tree))
    top = 0.75
    tree_fig = figure(
        name=names["tree"], title="motifs and motif-cells (click a node to select its columns)",
        frame_width=int(round(tree.width * _TREE_PX)), frame_height=int(round((tree.height + 0.2) * _TREE_PX)),
        x_range=Range1d(-tree.width / 2, tree.width / 2), y_range=Range1d(top - tree.height - 0.2, top),
        tools=[], toolbar_location="above", output_backend="canvas",
    )
    tree_fig.segment(x0="x0", y0="y0", x1="x1", y1="y1", source=edges, line_color="#aaaaaa", line_width=1.2)
    node_glyphs = tree_fig.circle(
        x="x", y="y", radius="r", source=nodes,
        fill_color=linear_cmap("fraction", FRACTION_PALETTE, 0.0, 1.0), line_color="outline", line_width=2.5,
    )
    tree_fig.image_rgba(image="icon", x="icon_x", y="icon_y", dw="icon_w", dh="icon_w", source=nodes)
    tree_fig.text(x="x", y="label_y", text="count_text", source=nodes, text_align="center",
                  text_baseline="top", text_font_size="9px", text_color="#444444")
    tree_fig.add_tools(
        HoverTool(renderers=[node_glyphs], tooltips=[
            ("", "@name"), ("count", "@count"), ("member columns", "@n_members"),
            ("selected", "@n_selected (@fraction{0%})"),
        ]),
        PanTool(), WheelZoomTool(), ResetTool(),
    )
    tree_fig.toolbar.active_scroll = None
    tree_fig.xaxis.visible = False
    tree_fig.grid.visible = False
    ticks = sorted(tree.rows)
    tree_fig.yaxis.ticker = FixedTicker(ticks=ticks)
    tree_fig.yaxis.major_label_overrides = {float(y): tree.rows[y] for y in ticks}
    tree_fig.yaxis.major_tick_line_color = None
    tree_fig.yaxis.minor_tick_line_color = None

    # -- class-average tiles ------------------------------------------------------------
    size = data.selection_tile.shape[0]
    n_tiles = int((data.counts > 0).sum()) + 1
    _, _, width_units, height_units = _tiles_layout(n_tiles, size)
    tile_scale = _TILE_PX / size
    motifs = ColumnDataSource(data=motif_tiles_data(data), name=names["motifs"])
    selection_tile = ColumnDataSource(data=selection_tile_data(data.selection_tile, data.selection_title),
                                      name=names["selection_tile"])
    tiles_fig = figure(
        name=names["tiles"],
        title="class averages (first: the selection)" if live else "class averages (first: the selection, mixed from motifs)",
        frame_width=int(round((width_units + 2) * tile_scale)), frame_height=int(round((height_units + 1) * tile_scale)),
        x_range=Range1d(-1.0, width_units + 1.0), y_range=Range1d(height_units + 1.0, 0.0),
        tools=[], toolbar_location=None, output_backend="canvas",
    )
    for source in (selection_tile, motifs):
        tiles_fig.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh", source=source)
        tiles_fig.text(x="title_x", y="title_y", text="title", source=source, text_align="center",
                       text_baseline="bottom", text_font_size="8px", text_color="#333333")
    tiles_fig.axis.visible = False
    tiles_fig.grid.visible = False
    tiles_fig.outline_line_color = None

    info = Div(text=data.info, name=names["info"], width=max(300, int(round(width_units * tile_scale))))
    header = Div(text=f"<b>{data.title}</b>")

    # -- links --------------------------------------------------------------------------
    columns.selected.js_on_change("indices", CustomJS(
        args={"columns": columns, "nodes": nodes, "motifs": motifs, "info": info},
        code=read_asset("explore/selection_changed.js"),
    ))
    tree_tap = CustomJS(args={"columns": columns, "nodes": nodes}, code=read_asset("explore/tree_tap.js"))
    # a quick second click arrives as a double tap: it selects like a single one
    tree_fig.js_on_event("tap", tree_tap)
    tree_fig.js_on_event("doubletap", tree_tap)
    if not live:
        columns.selected.js_on_change("indices", CustomJS(
            args={"columns": columns, "tile": selection_tile,
                  "averages": np.ascontiguousarray(data.class_averages, dtype=np.float32).reshape(-1),
                  "size": int(size), "n_motifs": int(len(data.class_averages))},
            code=read_asset("explore/static_average.js"),
        ))

    root = column(
        header,
        row(image_fig, layout_fig),
        row(tree_fig, column(tiles_fig, info)),
        name=names["root"],
    )
    return ExplorerDocument(
        root=root, columns=columns, nodes=nodes, edges=edges, motifs=motifs, selection_tile=selection_tile,
        info=info, label_mapper=label_mapper, overlays=overlays,
        figures={"image": image_fig, "layout": layout_fig, "tree": tree_fig, "tiles": tiles_fig},
    )
