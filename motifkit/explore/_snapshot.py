"""A static PNG of the explorer drawn with matplotlib (for papermill outputs and reports)."""

from __future__ import annotations

import numpy as np

from .views import FRACTION_PALETTE

__all__ = ["draw_snapshot"]


def _unpack(icon: np.ndarray) -> np.ndarray:
    """uint32 packed RGBA (as Bokeh takes it) -> (s, s, 4) uint8."""
    icon = np.ascontiguousarray(icon, dtype=np.uint32)
    return icon.view(np.uint8).reshape(icon.shape + (4,))


def draw_snapshot(data, overlays: dict):
    """Four panels: micrograph with columns, layout, tree, class averages.

    The column overlays are the rasters the page draws (selected columns opaque, the
    others faded), and tree nodes are filled by the fraction of their members selected,
    so the PNG shows what the page shows.

    Parameters
    ----------
    data : DocumentData
        What the page shows (:meth:`Explorer._document_data`).
    overlays : dict
        ``"image"`` and ``"layout"`` -> packed RGBA raster of the whole view
        (:meth:`Explorer.overlay_raster`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    from .views import image_frame, layout_frame

    figure = plt.figure(figsize=(12, 10), constrained_layout=True)
    grid = figure.add_gridspec(2, 2, height_ratios=[1.0, 0.95])
    ax_image = figure.add_subplot(grid[0, 0])
    image = data.image
    frame = image_frame(image)
    (x0, x1), (y_bottom, y_top) = frame.x_range, frame.y_range
    ax_image.imshow(image.data, cmap="gray", extent=(x0, x1, y_bottom, y_top), interpolation="nearest")
    # raster row 0 is the smallest y, i.e. the top row of the micrograph
    ax_image.imshow(_unpack(overlays["image"]), extent=(x0, x1, y_bottom, y_top), origin="upper",
                    interpolation="nearest")
    ax_image.set_xlim(x0, x1)
    ax_image.set_ylim(y_bottom, y_top)
    ax_image.set_axis_off()
    ax_image.set_title("micrograph: columns by motif")

    ax_layout = figure.add_subplot(grid[0, 1])
    frame = layout_frame(data.columns["lx"], data.columns["ly"])
    ax_layout.imshow(_unpack(overlays["layout"]), extent=(*frame.x_range, *frame.y_range), origin="lower",
                     interpolation="nearest")
    ax_layout.set_xticks([])
    ax_layout.set_yticks([])
    ax_layout.set_title("force-relaxed layout")

    ax_tree = figure.add_subplot(grid[1, 0])
    tree = data.tree
    nodes = tree.nodes
    cmap = LinearSegmentedColormap.from_list("fraction", FRACTION_PALETTE)
    for x0, y0, x1, y1 in zip(*(tree.edges[k] for k in ("x0", "y0", "x1", "y1"))):
        ax_tree.plot([x0, x1], [y0, y1], color="#aaaaaa", lw=1.0, zorder=1)
    for g in range(len(nodes["x"])):
        x, y, r = nodes["x"][g], nodes["y"][g], nodes["r"][g]
        ax_tree.add_patch(plt.Circle((x, y), r, facecolor=cmap(float(data.fraction[g])),
                                     edgecolor=nodes["outline"][g], lw=2, zorder=2))
        w = nodes["icon_w"][g]
        ax_tree.imshow(_unpack(nodes["icon"][g]), origin="lower", zorder=3, interpolation="nearest",
                       extent=(nodes["icon_x"][g], nodes["icon_x"][g] + w, nodes["icon_y"][g], nodes["icon_y"][g] + w))
        ax_tree.annotate(f"({nodes['count'][g]})", (x, y - r - 0.04), ha="center", va="top", fontsize=7)
    ax_tree.set_xlim(-tree.width / 2, tree.width / 2)
    ax_tree.set_ylim(0.75 - tree.height - 0.2, 0.75)
    ax_tree.set_aspect("equal")
    ticks = sorted(tree.rows)
    ax_tree.set_yticks(ticks)
    ax_tree.set_yticklabels([tree.rows[t] for t in ticks])
    ax_tree.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax_tree.spines[side].set_visible(False)
    ax_tree.set_title("motifs and motif-cells (fill: fraction selected)")

    shown = [k for k in range(len(data.names)) if data.counts[k] > 0]
    tiles = [(data.selection_tile, data.selection_title)] + [
        (data.motif_tiles[k], f"{data.names[k]} ({int(data.counts[k])})") for k in shown
    ]
    per_row = 6
    n_rows = (len(tiles) - 1) // per_row + 1
    sub = grid[1, 1].subgridspec(n_rows + 1, per_row, height_ratios=[1.0] * n_rows + [0.6])
    for t, (tile, title) in enumerate(tiles):
        ax = figure.add_subplot(sub[t // per_row, t % per_row])
        ax.imshow(_unpack(tile), interpolation="nearest")
        ax.set_title(title, fontsize=7)
        ax.set_axis_off()
    ax_info = figure.add_subplot(sub[n_rows, :])
    ax_info.set_axis_off()
    ax_info.text(0.0, 0.5, data.info, fontsize=8, va="center", wrap=True)
    figure.suptitle(data.title.split(" &mdash;")[0], fontsize=11)
    return figure
