"""What each explorer view shows, computed in NumPy (testable without a browser).

Every function here turns analysis results into the arrays one view draws: the
downsampled micrograph, the column table shared by the image and the layout views, the
tree of motifs and motif-cells with icons and member columns, class-average tiles, and
the per-node fraction of selected columns. The Bokeh document
(:mod:`motifkit.explore.document`) only wires these arrays to glyphs.

Positions are ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError

__all__ = [
    "DisplayImage",
    "TreeData",
    "display_image",
    "column_data",
    "marker_radius",
    "motif_palette",
    "tree_data",
    "node_fractions",
    "tile_rgba",
    "average_patch",
    "motif_mix_average",
    "selection_info",
    "rasterize_columns",
    "pack_colours",
    "ViewFrame",
    "image_frame",
    "layout_frame",
    "overlay_style",
    "FRACTION_PALETTE",
]


def _interpolate_hex(start: str, stop: str, n: int) -> list:
    a = np.array([int(start[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    b = np.array([int(stop[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    return ["#%02x%02x%02x" % tuple(np.round(a + (b - a) * t).astype(int)) for t in np.linspace(0, 1, n)]


#: Fill colour of tree nodes from 0 % (light grey) to 100 % (red) of members selected.
FRACTION_PALETTE = _interpolate_hex("#eeeeee", "#d62728", 64)


def motif_palette(n_motifs: int) -> list:
    """``n_motifs`` hex colours, the same as :func:`motifkit.figures.motif_colors`."""
    from ..figures import motif_colors

    rgba = motif_colors(max(int(n_motifs), 1))
    return ["#%02x%02x%02x" % tuple(int(round(255 * c)) for c in colour[:3]) for colour in rgba]


# --------------------------------------------------------------------------------------
# micrograph
# --------------------------------------------------------------------------------------
@dataclass
class DisplayImage:
    """A micrograph reduced for display.

    Attributes
    ----------
    data : ndarray of uint8, shape (h, w)
        Block-averaged, contrast-stretched image; ``data[0]`` is the top row.
    factor : int
        Block size of the averaging (1: full resolution).
    x, y, dw, dh : float
        Extent in original pixel coordinates: pixel centres sit at integers, so the
        image spans ``x .. x + dw`` with ``x = -0.5``.
    low, high : float
        Intensities mapped to 0 and 255.
    """

    data: np.ndarray
    factor: int
    x: float
    y: float
    dw: float
    dh: float
    low: float
    high: float


def display_image(micrograph, *, max_side: int = 1024, percentiles=(0.5, 99.5)) -> DisplayImage:
    """Downsample (block mean) and contrast-stretch a micrograph for display.

    Large images are averaged over ``f x f`` blocks so that the longest side is at most
    ``max_side`` pixels (the edge is padded by repetition, so nothing is cropped), then
    mapped to 8 bits between the given percentiles. A 4096^2 image thus costs 1 MB in the
    page instead of 64 MB.

    Parameters
    ----------
    micrograph : Micrograph or ndarray, shape (H, W)
    max_side : int
        Longest displayed side in pixels.
    percentiles : (float, float)
        Intensity percentiles mapped to black and white.

    Returns
    -------
    DisplayImage

    Examples
    --------
    >>> shown = display_image(np.arange(3000 * 2000, dtype=float).reshape(3000, 2000), max_side=1000)
    >>> shown.data.shape, shown.factor, shown.dw, shown.dh
    ((1000, 667), 3, 2001.0, 3000.0)
    """
    data = np.asarray(getattr(micrograph, "data", micrograph), dtype=np.float32)
    if data.ndim != 2:
        raise ParameterError(f"the micrograph must be 2-D, got shape {data.shape}.")
    if max_side < 16:
        raise ParameterError(f"max_side must be >= 16 pixels, got {max_side}.")
    lo_p, hi_p = percentiles
    if not 0 <= lo_p < hi_p <= 100:
        raise ParameterError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}.")
    height, width = data.shape
    factor = max(1, int(np.ceil(max(height, width) / max_side)))
    if factor > 1:
        h2, w2 = -(-height // factor), -(-width // factor)
        padded = np.pad(data, ((0, h2 * factor - height), (0, w2 * factor - width)), mode="edge")
        reduced = padded.reshape(h2, factor, w2, factor).mean(axis=(1, 3), dtype=np.float64).astype(np.float32)
    else:
        reduced = data
    low, high = (float(v) for v in np.percentile(reduced, [lo_p, hi_p]))
    if high <= low:
        high = low + 1.0
    scaled = np.clip((reduced - low) / (high - low), 0.0, 1.0)
    image = np.round(scaled * 255).astype(np.uint8)
    return DisplayImage(
        data=image,
        factor=factor,
        x=-0.5,
        y=-0.5,
        dw=float(image.shape[1] * factor),
        dh=float(image.shape[0] * factor),
        low=low,
        high=high,
    )


# --------------------------------------------------------------------------------------
# columns (shared by the image and the layout views)
# --------------------------------------------------------------------------------------
def _check_points(values, n: int | None, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != 2:
        raise ParameterError(f"{name} must have shape (N, 2), got {values.shape}.")
    if n is not None and len(values) != n:
        raise ParameterError(f"{name} has {len(values)} rows for {n} columns; give one row per column.")
    if not np.all(np.isfinite(values)):
        raise ParameterError(f"{name} contains NaN or infinite values; drop or fix those columns first.")
    return values


def column_data(positions, layout, labels) -> dict:
    """The column table shared by the image and the layout views.

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        Column centres (x, y) in pixels.
    layout : array_like, shape (N, 2)
        Layout coordinates (e.g. the force-relaxed layout).
    labels : array_like of int, shape (N,)
        Motif per column.

    Returns
    -------
    dict of ndarray
        ``x``, ``y`` (float32 pixels), ``lx``, ``ly`` (float32 layout) and ``label``
        (int32); binary-friendly dtypes keep the page small.
    """
    positions = _check_points(positions, None, "positions")
    n = len(positions)
    if n == 0:
        raise ParameterError("there are no columns to explore (positions is empty).")
    layout = _check_points(layout, n, "layout")
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ParameterError(f"labels must have shape ({n},), got {labels.shape}.")
    return {
        "x": positions[:, 0].astype(np.float32),
        "y": positions[:, 1].astype(np.float32),
        "lx": layout[:, 0].astype(np.float32),
        "ly": layout[:, 1].astype(np.float32),
        "label": labels.astype(np.int32),
    }


def marker_radius(positions, *, fraction: float = 0.3, sample: int = 5000, random_state=0) -> float:
    """Marker radius in pixels: ``fraction`` of the median nearest-neighbour distance.

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        Column centres (x, y) in pixels.
    fraction : float
        Radius relative to the typical column spacing.
    sample : int
        Columns used to estimate the spacing (all when fewer).
    random_state : int
        Seed of the subsample.

    Returns
    -------
    float
        At least 0.5 px.
    """
    from scipy.spatial import cKDTree

    positions = _check_points(positions, None, "positions")
    if len(positions) < 2:
        return 2.0
    tree = cKDTree(positions)
    queries = positions
    if len(positions) > sample:
        rng = np.random.default_rng(random_state)
        queries = positions[rng.choice(len(positions), sample, replace=False)]
    distance, _ = tree.query(queries, k=2)
    return max(0.5, fraction * float(np.median(distance[:, 1])))


@dataclass
class ViewFrame:
    """Initial visible region of a view and its plot size.

    Attributes
    ----------
    x_range, y_range : (float, float)
        (start, end) in data units; the image view's y range runs downwards (row 0 on top).
    width, height : int
        Plot frame in screen pixels (also the size of the column overlay raster).
    """

    x_range: tuple
    y_range: tuple
    width: int
    height: int


def image_frame(image: DisplayImage, *, max_px: int = 460) -> ViewFrame:
    """Frame of the micrograph view: the whole image, longest side ``max_px`` pixels."""
    scale = max_px / max(image.dw, image.dh)
    return ViewFrame(
        x_range=(image.x, image.x + image.dw),
        y_range=(image.y + image.dh, image.y),
        width=max(1, int(round(image.dw * scale))),
        height=max(1, int(round(image.dh * scale))),
    )


def layout_frame(lx, ly, *, size_px: int = 420, pad: float = 0.05) -> ViewFrame:
    """Frame of the layout view: all points, equal scales on both axes, a margin of ``pad``."""
    lx = np.asarray(lx, dtype=float)
    ly = np.asarray(ly, dtype=float)
    cx, cy = (lx.min() + lx.max()) / 2.0, (ly.min() + ly.max()) / 2.0
    span = max(lx.max() - lx.min(), ly.max() - ly.min(), 1e-9) * (1.0 + 2.0 * pad)
    return ViewFrame(x_range=(cx - span / 2, cx + span / 2), y_range=(cy - span / 2, cy + span / 2),
                     width=int(size_px), height=int(size_px))


def overlay_style(view: str, n_columns: int, radius: float = 0.0) -> dict:
    """Keyword arguments of :func:`rasterize_columns` for the ``"image"`` or ``"layout"`` view."""
    if view == "image":
        return {"radius": float(radius), "radius_px": 1.0, "selected_radius_px": 2.5, "alpha_plain": 191,
                "alpha_selected": 255, "alpha_faded": 45}
    if view == "layout":
        return {"radius": 0.0, "radius_px": 2.0 if n_columns <= 20000 else 1.0, "selected_radius_px": 0.0,
                "alpha_plain": 204, "alpha_selected": 255, "alpha_faded": 40}
    raise ParameterError(f"view must be 'image' or 'layout', got {view!r}.")


def pack_colours(colours, alpha: int) -> np.ndarray:
    """Hex colours as packed RGBA uint32 (bytes R, G, B, A), all with one alpha (0..255)."""
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=np.uint32).reshape(-1, 3)
    return (np.uint32(alpha) << 24) | (rgb[:, 2] << 16) | (rgb[:, 1] << 8) | rgb[:, 0]


def rasterize_columns(
    x,
    y,
    labels,
    colours,
    selected,
    x_range,
    y_range,
    width: int,
    height: int,
    *,
    radius: float = 0.0,
    radius_px: float = 1.0,
    selected_radius_px: float = 0.0,
    alpha_plain: int = 191,
    alpha_selected: int = 255,
    alpha_faded: int = 31,
) -> np.ndarray:
    """Draw columns as disks into an RGBA raster of the visible region (the page's overlay).

    Canvas vector markers cost about 10 us each, too slow for 100k columns per brush; the
    page therefore draws every column into one image at screen resolution
    (``widgets/explore/raster.js``), and this is the same drawing in NumPy, used for the
    initial state of a page (which runs no JavaScript callback at load) and for the PNG
    snapshot. Both follow one rule, so they give identical pixels: columns are drawn
    unselected first, then selected, each group in index order, later ones on top.

    Parameters
    ----------
    x, y : array_like, shape (N,)
        Coordinates of the columns (pixels for the micrograph, layout units for the layout).
    labels : array_like of int, shape (N,)
        Motif of every column, indexing ``colours``.
    colours : sequence of str
        Hex colour of every motif code.
    selected : array_like of bool, shape (N,)
        Selection mask.
    x_range, y_range : (float, float)
        Visible data range (any order); the raster covers it exactly.
    width, height : int
        Raster size in pixels.
    radius : float
        Disk radius in data units; 0 to use ``radius_px`` instead.
    radius_px : float
        Disk radius in raster pixels when ``radius`` is 0.
    selected_radius_px : float
        Smallest disk radius of selected columns in raster pixels (so that they stand
        out when zoomed out).
    alpha_plain, alpha_selected, alpha_faded : int
        Opacity (0..255) without a selection, of selected columns, of the others.

    Returns
    -------
    ndarray of uint32, shape (height, width)
        Packed RGBA; row 0 lies at the *lower* end of ``y_range`` (as Bokeh's
        ``image_rgba`` draws it), transparent where no column is.
    """
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    y = np.asarray(y, dtype=np.float32).astype(np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    selected = np.asarray(selected, dtype=bool)
    if not (x.shape == y.shape == labels.shape == selected.shape) or x.ndim != 1:
        raise ParameterError("x, y, labels and selected must be 1-D arrays of one length.")
    if width < 1 or height < 1:
        raise ParameterError(f"the raster needs a positive size, got {width} x {height}.")
    x0, x1 = min(x_range), max(x_range)
    y0, y1 = min(y_range), max(y_range)
    if not (x1 > x0 and y1 > y0):
        raise ParameterError(f"empty visible range: x {x_range}, y {y_range}.")
    rp = radius * width / (x1 - x0) if radius > 0 else float(radius_px)
    col = np.floor((x - x0) / (x1 - x0) * width).astype(np.int64)
    row = np.floor((y - y0) / (y1 - y0) * height).astype(np.int64)
    any_selected = bool(selected.any())
    best = np.full(width * height, -1, dtype=np.int64)
    drawn = []  # column indices in drawing order: unselected, then selected (at least selected_radius_px)
    for group, group_radius in ((np.flatnonzero(~selected), rp),
                                (np.flatnonzero(selected), max(rp, float(selected_radius_px)))):
        reach = int(np.floor(group_radius))
        near = (col[group] >= -reach) & (col[group] < width + reach) & (row[group] >= -reach) & (row[group] < height + reach)
        group = group[near]
        priority = np.arange(len(group)) + sum(len(g) for g in drawn)
        dc, dr = np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1))
        disk = dc * dc + dr * dr <= group_radius * group_radius
        for a, b in zip(dc[disk], dr[disk]):
            cc, rr = col[group] + a, row[group] + b
            ok = (cc >= 0) & (cc < width) & (rr >= 0) & (rr < height)
            np.maximum.at(best, rr[ok] * width + cc[ok], priority[ok])
        drawn.append(group)
    order = np.concatenate(drawn)
    alphas = {
        "plain": pack_colours(colours, alpha_plain),
        "selected": pack_colours(colours, alpha_selected),
        "faded": pack_colours(colours, alpha_faded),
    }
    image = np.zeros(width * height, dtype=np.uint32)
    hit = best >= 0
    which = order[best[hit]]
    if any_selected:
        image[hit] = np.where(selected[which], alphas["selected"][labels[which]], alphas["faded"][labels[which]])
    else:
        image[hit] = alphas["plain"][labels[which]]
    return image.reshape(height, width)


# --------------------------------------------------------------------------------------
# tiles (icons and class averages)
# --------------------------------------------------------------------------------------
def tile_rgba(tile, *, border=None, border_width: int = 1) -> np.ndarray:
    """A grey-scale tile (min..max stretched) as a Bokeh RGBA image.

    Parameters
    ----------
    tile : ndarray, shape (s, s)
    border : str, optional
        Hex colour of a frame around the tile.
    border_width : int

    Returns
    -------
    ndarray of uint32, shape (s, s)
        Packed RGBA (little-endian bytes R, G, B, A) as ``image_rgba`` expects.
    """
    tile = np.asarray(tile, dtype=float)
    if tile.ndim != 2:
        raise ParameterError(f"a tile must be 2-D, got shape {tile.shape}.")
    low, high = float(np.min(tile)), float(np.max(tile))
    grey = np.zeros(tile.shape) if high <= low else (tile - low) / (high - low)
    rgba = np.empty(tile.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = np.round(grey * 255).astype(np.uint8)[..., None]
    rgba[..., 3] = 255
    if border is not None and border_width > 0:
        colour = [int(border[i : i + 2], 16) for i in (1, 3, 5)]
        w = int(border_width)
        for part in (rgba[:w], rgba[-w:], rgba[:, :w], rgba[:, -w:]):
            part[..., :3] = colour
    return _pack_rgba(rgba)


def _pack_rgba(rgba: np.ndarray) -> np.ndarray:
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    return rgba.view("<u4").reshape(rgba.shape[:2]).astype(np.uint32)


def average_patch(patches, selection) -> np.ndarray | None:
    """Mean patch of the selected columns.

    Parameters
    ----------
    patches : ndarray, shape (N, s, s)
    selection : array_like of int
        Selected column indices.

    Returns
    -------
    ndarray of float32, shape (s, s), or None when nothing is selected.
    """
    selection = np.asarray(selection, dtype=np.int64).reshape(-1)
    if len(selection) == 0:
        return None
    return np.asarray(patches)[selection].mean(axis=0, dtype=np.float64).astype(np.float32)


def motif_mix_average(class_averages, labels, selection) -> np.ndarray | None:
    """Class averages of the selected columns' motifs, weighted by how many are selected.

    The standalone page cannot hold every patch, so it shows this instead of the exact
    mean patch: ``sum_k n_k A_k / sum_k n_k`` with ``n_k`` selected columns of motif k and
    class average ``A_k``. (The live widget computes the exact mean in the kernel.)

    Returns
    -------
    ndarray of float32, shape (s, s), or None when nothing is selected.
    """
    selection = np.asarray(selection, dtype=np.int64).reshape(-1)
    if len(selection) == 0:
        return None
    averages = np.asarray(class_averages, dtype=np.float64)
    counts = np.bincount(np.asarray(labels)[selection], minlength=len(averages)).astype(float)
    if len(counts) > len(averages):
        raise ParameterError(f"labels go up to {len(counts) - 1} but there are only {len(averages)} class averages.")
    return (np.tensordot(counts, averages, axes=1) / counts.sum()).astype(np.float32)


# --------------------------------------------------------------------------------------
# the tree: motifs, then motif-cells level by level
# --------------------------------------------------------------------------------------
@dataclass
class TreeData:
    """Nodes, edges and rows of the tree view.

    Attributes
    ----------
    nodes : dict of lists
        One entry per shown node: ``key`` (``"motif:k"`` or ``"cell:n"``), ``kind``,
        ``code`` (motif code or hierarchy node id), ``x``, ``y``, ``r`` (radius, data
        units), ``count`` (columns for motifs, occurrences for motif-cells),
        ``n_members`` (member columns), ``level`` (0 for motifs), ``name``,
        ``outline`` (hex colour), ``icon`` ((s, s) uint32 RGBA), ``icon_x``, ``icon_y``,
        ``icon_w`` (icon square, lower-left corner and side).
    members : list of ndarray of int64
        Member column indices of each shown node (sorted).
    edges : dict of lists
        ``x0``, ``y0``, ``x1``, ``y1`` of containment edges between shown motif-cells.
    rows : dict
        y coordinate -> row name (``"motifs"``, ``"level 1"``, ...).
    n_hidden : int
        Motifs and motif-cells left out (``max_nodes_per_level``, ``max_levels``, empty).
    width, height : float
        Extent of the drawing in data units (x from ``-width/2``; y from ``-height + 0.6``).
    """

    nodes: dict
    members: list
    edges: dict
    rows: dict
    n_hidden: int
    width: float
    height: float
    notes: list = field(default_factory=list)


_ROW_STEP = 1.25
_R_MIN, _R_MAX = 0.26, 0.47


def _radii(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    top = counts.max() if len(counts) and counts.max() > 0 else 1.0
    return _R_MIN + (_R_MAX - _R_MIN) * np.sqrt(counts / top)


def _flip(icon: np.ndarray) -> np.ndarray:
    # image_rgba draws row 0 at the bottom; icons are stored top row first
    return np.ascontiguousarray(icon[::-1])


def tree_data(
    labels,
    label_names,
    class_averages=None,
    hierarchy=None,
    *,
    colours=None,
    max_nodes_per_level: int = 8,
    max_levels: int = 6,
) -> TreeData:
    """Lay out the tree: a row of motifs on top, then one row per motif-cell level.

    Motif nodes show their class average framed in the motif colour; motif-cell nodes
    show the hierarchy's icon of the cell's shape. Node radius grows with the square root
    of the count (columns for motifs, occurrences for motif-cells), relative to the
    largest node of the same kind. Each row keeps its ``max_nodes_per_level`` most
    frequent nodes; what is left out is counted in ``n_hidden``.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        Motif of every column.
    label_names : sequence of str
        Name of every motif code.
    class_averages : ndarray, shape (K, s, s), optional
        Icons of the motif nodes (plain colour squares when omitted).
    hierarchy : MotifHierarchy, optional
        Motif-cells to show below the motifs.
    colours : sequence of str, optional
        Hex colour of every motif code (default :func:`motif_palette`).
    max_nodes_per_level : int
    max_levels : int
        Motif-cell levels shown (the smallest ones).

    Returns
    -------
    TreeData
    """
    if max_nodes_per_level < 1 or max_levels < 0:
        raise ParameterError(
            f"max_nodes_per_level must be >= 1 and max_levels >= 0, got {max_nodes_per_level} and {max_levels}."
        )
    labels = np.asarray(labels, dtype=np.int64)
    names = [str(n) for n in label_names]
    n_motifs = len(names)
    colours = list(colours) if colours is not None else motif_palette(n_motifs)
    if len(colours) < n_motifs:
        raise ParameterError(f"{len(colours)} colours for {n_motifs} motifs; give one per motif.")
    if class_averages is not None and len(class_averages) < n_motifs:
        raise ParameterError(f"{len(class_averages)} class averages for {n_motifs} motifs; give one per motif.")
    nodes = {k: [] for k in ("key", "kind", "code", "x", "y", "r", "count", "n_members", "level", "name",
                             "outline", "icon", "icon_x", "icon_y", "icon_w")}
    members: list = []
    rows: dict = {}
    n_hidden = 0
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=n_motifs)
    starts = np.concatenate([[0], np.cumsum(counts)])

    def add_row(row: int, name: str, entries: list, radii: np.ndarray) -> None:
        y = -row * _ROW_STEP
        rows[y] = name
        xs = np.arange(len(entries)) - (len(entries) - 1) / 2.0
        for x, entry, r in zip(xs, entries, radii):
            side = 1.35 * r
            nodes["x"].append(float(x))
            nodes["y"].append(float(y))
            nodes["r"].append(float(r))
            nodes["icon_x"].append(float(x - side / 2))
            nodes["icon_y"].append(float(y - side / 2))
            nodes["icon_w"].append(float(side))
            for key, value in entry.items():
                if key != "members":
                    nodes[key].append(value)
            members.append(entry["members"])

    present = [k for k in np.argsort(-counts, kind="stable") if counts[k] > 0]
    n_hidden += len(present) - min(len(present), max_nodes_per_level)
    motif_entries = []
    for k in present[:max_nodes_per_level]:
        if class_averages is not None:
            icon = tile_rgba(class_averages[k], border=colours[k], border_width=max(1, class_averages.shape[-1] // 12))
        else:
            icon = tile_rgba(np.zeros((8, 8)), border=colours[k], border_width=8)
        motif_entries.append({
            "key": f"motif:{k}", "kind": "motif", "code": int(k), "count": int(counts[k]),
            "n_members": int(counts[k]), "level": 0, "name": names[k], "outline": colours[k],
            "icon": _flip(icon), "members": np.sort(order[starts[k]: starts[k + 1]]),
        })
    add_row(0, "motifs", motif_entries, _radii([e["count"] for e in motif_entries]))

    edges = {"x0": [], "y0": [], "x1": [], "y1": []}
    notes = []
    if hierarchy is not None:
        graph = hierarchy.graph
        levels = list(hierarchy.levels)
        if len(levels) > max_levels:
            hidden_levels = levels[max_levels:]
            n_hidden += sum(len(hierarchy.nodes_at_level(level)) for level in hidden_levels)
            notes.append(f"levels {hidden_levels[0]}..{hidden_levels[-1]} not shown (max_levels={max_levels})")
            levels = levels[:max_levels]
        all_counts = [graph.nodes[n]["count"] for n in graph.nodes]
        top = max(all_counts) if all_counts else 1
        placed = {}
        for row, level in enumerate(levels, start=1):
            shown = hierarchy.nodes_at_level(level)
            n_hidden += len(shown) - min(len(shown), max_nodes_per_level)
            shown = shown[:max_nodes_per_level]
            entries = []
            for n in shown:
                d = graph.nodes[n]
                shape_names = [str(s) for s in d.get("shape_names", [])]
                name = ", ".join(shape_names[:4]) + (" ..." if len(shape_names) > 4 else "")
                entries.append({
                    "key": f"cell:{n}", "kind": "cell", "code": int(n), "count": int(d["count"]),
                    "n_members": int(len(d["columns_flat"])), "level": int(d["level"]),
                    "name": name or f"motif-cell {n}", "outline": "#666666",
                    "icon": _flip(_pack_rgba(d["icon"])),
                    "members": np.unique(np.asarray(d["columns_flat"], dtype=np.int64)),
                })
            radii = _R_MIN + (_R_MAX - _R_MIN) * np.sqrt(np.array([e["count"] for e in entries], float) / top)
            start = len(nodes["x"])
            add_row(row, f"level {level}", entries, radii)
            for i, e in enumerate(entries):
                placed[e["code"]] = start + i
        for a, b in graph.edges:
            if a in placed and b in placed:
                ia, ib = placed[a], placed[b]
                edges["x0"].append(nodes["x"][ia])
                edges["y0"].append(nodes["y"][ia])
                edges["x1"].append(nodes["x"][ib])
                edges["y1"].append(nodes["y"][ib])
    n_rows = len(rows)
    widest = max([sum(1 for y in nodes["y"] if y == row) for row in rows] + [1])
    return TreeData(
        nodes=nodes,
        members=members,
        edges=edges,
        rows=rows,
        n_hidden=int(n_hidden),
        width=float(max(widest, 7) + 0.4),  # room for the plot title
        height=float((n_rows - 1) * _ROW_STEP + 1.2),
        notes=notes,
    )


def node_fractions(members, selection, n_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Selected members of each tree node: count and fraction.

    Parameters
    ----------
    members : list of array_like of int
        Member columns of each node.
    selection : array_like of int
        Selected column indices.
    n_columns : int
        Number of columns N.

    Returns
    -------
    n_selected : ndarray of int64, shape (G,)
    fraction : ndarray of float, shape (G,)
        0 for a node without members.
    """
    mask = np.zeros(n_columns, dtype=bool)
    mask[np.asarray(selection, dtype=np.int64)] = True
    n_selected = np.array([int(mask[np.asarray(m, dtype=np.int64)].sum()) for m in members], dtype=np.int64)
    sizes = np.array([len(m) for m in members], dtype=float)
    fraction = np.divide(n_selected, sizes, out=np.zeros(len(members)), where=sizes > 0)
    return n_selected, fraction


def selection_info(labels, label_names, selection, *, max_listed: int = 6) -> str:
    """One-line description of the selection: count and motif composition.

    The page computes the same text in JavaScript (``widgets/explore/selection_changed.js``).

    Examples
    --------
    >>> selection_info([0, 0, 1, 1], ["Se2", "W"], [1, 2, 3])
    '3 of 4 columns selected: W 2, Se2 1'
    """
    labels = np.asarray(labels, dtype=np.int64)
    selection = np.asarray(selection, dtype=np.int64).reshape(-1)
    n = len(labels)
    if len(selection) == 0:
        return f"0 of {n} columns selected (box, lasso or click a tree node)"
    counts = np.bincount(labels[selection], minlength=len(label_names))
    order = sorted(np.flatnonzero(counts), key=lambda k: (-counts[k], k))
    parts = [f"{label_names[k]} {counts[k]}" for k in order[:max_listed]]
    if len(order) > max_listed:
        parts.append("...")
    return f"{len(selection)} of {n} columns selected: " + ", ".join(parts)
