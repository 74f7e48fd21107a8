"""The hierarchy of motif-cells: levels, de-duplication under lattice symmetry, containment.

Follows "Automatic construction of motif-cell hierarchy" (Dan et al., Sci. Adv. 2022,
Materials and Methods), generalised to any 2-D lattice:

1. Tessellate the field of view into cells (:mod:`motifkit.cells`): lattice cells from the
   primitive vectors found in the column positions, or Voronoi cells for non-periodic
   samples (automatic fallback, with a warning, when no single lattice fits).
2. Give every cell a type from the labels of its columns; the most common types are the
   perfect crystal and are ignored from here on.
3. Grow the other cells into connected components over the neighbourhood of the index
   grid (von Neumann +-a, +-b, made invariant under the lattice point group, i.e. plus
   +-(a + b) on hexagonal lattices) or over Voronoi adjacency.
4. Level = number of cells of a component. Components equal up to a symmetry operation of
   the crystal (translation plus the lattice point-group operations that preserve the
   decorated crystal; never blindly 90 degrees) are one motif-cell; occurrences are counted.
5. An edge goes from each motif-cell to the smaller motif-cells it contains (under
   translation and symmetry), kept only to the nearest level(s) below it (``level_gap``)
   or by transitive reduction.

**Canonical form on a lattice.** A component is described by its *deviating sites*: every
basis site of its cells whose content (label of the column there, ``missing``, or a
combined name) differs from the perfect-crystal cell, as tuples ``(i, j, site, content)``.
Each symmetry operation maps these tuples to tuples (point-group matrix on ``(i, j)``,
site permutation and integer shifts); the canonical form is the smallest image after
translating its first tuple's cell to (0, 0). Working with sites rather than whole cells
keeps the merge exact when a cell holds several sites (a TMD cell holds a metal and a
chalcogen): a rotation of the crystal maps sites onto sites, but not cells onto cells.

Merging under rotations assumes the labels themselves do not encode orientation (e.g.
rotation-invariant Zernike features); use ``symmetry="translation"`` otherwise.

Examples
--------
>>> import numpy as np
>>> from motifkit.hierarchy import build_hierarchy
>>> i, j = np.meshgrid(np.arange(30), np.arange(30), indexing="ij")
>>> xy = np.column_stack([i.ravel(), j.ravel()]) * 10.0
>>> labels = np.zeros(len(xy), dtype=int)
>>> labels[[100, 101, 500]] = 1          # a vertical pair and a single defect
>>> h = build_hierarchy(positions=xy, labels=labels)
>>> [(d["level"], d["count"]) for _, d in h.graph.nodes(data=True)]
[(1, 1), (2, 1)]
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ._utils import progress
from .cells import (
    MISSING,
    Lattice,
    LatticeCells,
    LatticeError,
    LatticeWarning,
    VoronoiCells,
    as_positions_and_labels,
    find_lattice,
    lattice_cells,
    voronoi_cells,
)
from .errors import NotEnoughDataError, ParameterError

__all__ = ["MotifHierarchy", "SquareMotifs", "build_hierarchy", "configurational_entropy", "square_motifs"]

_FORMAT = "motifkit-hierarchy"
_FORMAT_VERSION = 1

# Colours of label / content codes in icons (tab10), RGB 0..255.
_PALETTE = np.array(
    [
        [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
        [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
    ],
    dtype=np.uint8,
)


def _colour(code: int) -> np.ndarray:
    return _PALETTE[int(code) % len(_PALETTE)]


def configurational_entropy(counts) -> float:
    """Shannon entropy (bits) of occurrence counts of the motif-cell types of one level.

    Parameters
    ----------
    counts : array_like of int
        Occurrences of each type.

    Returns
    -------
    float
        ``-sum p log2 p`` with ``p = counts / counts.sum()``; 0 for an empty level.

    Examples
    --------
    >>> configurational_entropy([4, 4, 4, 4])
    2.0
    """
    counts = np.asarray(counts, dtype=float).reshape(-1)
    counts = counts[counts > 0]
    if len(counts) == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum() + 0.0)


# --------------------------------------------------------------------------------------
# canonical forms and containment on a lattice
# --------------------------------------------------------------------------------------
# Shapes are tuples of (i, j, site, content) rows; components are small, so plain Python
# tuples beat NumPy's per-call overhead by an order of magnitude here.
def _operation_tuple(op) -> tuple:
    M = op.matrix
    return (int(M[0, 0]), int(M[0, 1]), int(M[1, 0]), int(M[1, 1]), tuple(int(x) for x in op.site_map),
            tuple((int(a), int(b)) for a, b in op.site_shift))


def _transform(rows, op: tuple) -> list:
    m00, m01, m10, m11, site_map, shift = op
    return [(m00 * i + m01 * j + shift[s][0], m10 * i + m11 * j + shift[s][1], site_map[s], c) for i, j, s, c in rows]


def _normalised(rows) -> tuple:
    """Sorted rows translated so that the first row's cell is (0, 0)."""
    rows = sorted(rows)
    i0, j0 = rows[0][0], rows[0][1]
    return tuple((i - i0, j - j0, s, c) for i, j, s, c in rows)


def _canonical(rows, operations: list) -> tuple:
    """Canonical form: the smallest normalised image under the symmetry operations."""
    return min(_normalised(_transform(rows, op)) for op in operations)


_W = 1 << 21  # row keys: ((i + 2^20) * 2^21 + (j + 2^20)) * S * C + site * C + content + 2


def _row_key(i, j, s, c, n_codes: int, n_sites: int) -> int:
    return (((i + (1 << 20)) * _W + (j + (1 << 20))) * n_sites + s) * n_codes + (c + 2)


def _degrees(rows, geometry) -> np.ndarray:
    """Rows of the same shape within one lattice constant of each row (ideal positions).

    Operations are isometries of the ideal crystal, so a row of a smaller shape inside a
    larger one never has more such neighbours than the row it lands on.
    """
    vectors, sites = geometry
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    xy = (rows[:, :2] + sites[rows[:, 2]]) @ vectors
    radius2 = 1.01 * float(vectors[0] @ vectors[0])
    if len(rows) > 2000:  # large shapes: KD-tree instead of all pairs
        from scipy.spatial import cKDTree

        return np.array([len(n) - 1 for n in cKDTree(xy).query_ball_point(xy, np.sqrt(radius2))])
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    return (d2 <= radius2).sum(axis=1) - 1


def _images(shape, operations: list, n_sites: int, n_codes: int, geometry) -> list:
    """Distinct images of a shape as ``(anchor row, anchor degree, keys of the other rows)``.

    The anchor is the rarest (site, content) row with most neighbours; the other rows
    follow rarest first, so that a wrong translation fails at the first rows checked.
    """
    seen, images = set(), []
    for op in operations:
        image = _normalised(_transform(shape, op))
        if image in seen:
            continue
        seen.add(image)
        frequency = Counter((s, c) for _, _, s, c in image)
        degree = _degrees(image, geometry)
        order = sorted(range(len(image)), key=lambda k: (frequency[image[k][2:]], -degree[k], image[k]))
        keys = tuple(_row_key(*image[k], n_codes, n_sites) for k in order[1:])
        images.append((image[order[0]], int(degree[order[0]]), keys))
    return images


def _contains(big_keys: set, big_index: dict, small_images: list, n_sites: int, n_codes: int) -> bool:
    """True when some image of a smaller shape, translated, lies inside the larger one.

    Parameters
    ----------
    big_keys : set of int
        :func:`_row_key` of every row of the larger shape.
    big_index : dict
        (site, content) -> list of (degree, i, j) of the larger shape, most neighbours first.
    small_images : list
        Output of :func:`_images` for the smaller shape.
    """
    step = n_sites * n_codes
    for (ai, aj, a_site, a_content), a_degree, keys in small_images:
        for degree, bi, bj in big_index.get((a_site, a_content), ()):
            if degree < a_degree:
                break
            delta = ((bi - ai) * _W + (bj - aj)) * step
            for key in keys:
                if key + delta not in big_keys:
                    break
            else:
                return True
    return False


def _shape_index(shape, n_sites: int, n_codes: int, geometry):
    keys = {_row_key(i, j, s, c, n_codes, n_sites) for i, j, s, c in shape}
    degree = _degrees(shape, geometry)
    index = {}
    for (i, j, s, c), d in zip(shape, degree):
        index.setdefault((s, c), []).append((int(d), i, j))
    for entries in index.values():
        entries.sort(reverse=True)
    return keys, index


def _shape_contains(big, small, operations) -> bool:
    """Does ``small`` (rows) occur in ``big`` (rows) under translation and ``operations``?"""
    big = [tuple(int(x) for x in r) for r in big]
    small = [tuple(int(x) for x in r) for r in small]
    n_sites = max(r[2] for r in big + small) + 1
    n_codes = max(r[3] for r in big + small) + 3
    geometry = (np.eye(2), np.zeros((n_sites, 2)))
    keys, index = _shape_index(big, n_sites, n_codes, geometry)
    ops = [_operation_tuple(op) for op in operations]
    return _contains(keys, index, _images(small, ops, n_sites, n_codes, geometry), n_sites, n_codes)


# --------------------------------------------------------------------------------------
# icons
# --------------------------------------------------------------------------------------
def _blank_icon(size: int) -> np.ndarray:
    return np.zeros((size, size, 4), dtype=np.uint8)


def _pixel_grid(size: int) -> np.ndarray:
    """(size*size, 2) pixel-centre coordinates (x, y) of an icon."""
    rows, cols = np.mgrid[0:size, 0:size]
    return np.column_stack([cols.ravel(), rows.ravel()]).astype(float)


def _paint(icon: np.ndarray, mask: np.ndarray, rgb) -> None:
    flat = icon.reshape(-1, 4)
    flat[mask, :3] = rgb
    flat[mask, 3] = 255


def _disks(icon: np.ndarray, grid: np.ndarray, centres: np.ndarray, radius: float, colours) -> None:
    """Paint disks of one radius (pixel centres within ``radius``); one RGB or one per centre."""
    centres = np.asarray(centres, dtype=float).reshape(-1, 2)
    if len(centres) == 0:
        return
    colours = np.broadcast_to(np.asarray(colours, dtype=np.uint8).reshape(-1, 3), (len(centres), 3))
    reach = int(np.ceil(radius)) + 1
    offsets = np.arange(-reach, reach + 1)
    ox, oy = np.meshgrid(offsets, offsets, indexing="ij")
    base = np.round(centres).astype(np.int64)
    px = base[:, 0:1] + ox.reshape(1, -1)  # (D, K) candidate pixel columns
    py = base[:, 1:2] + oy.reshape(1, -1)
    hit = ((px - centres[:, 0:1]) ** 2 + (py - centres[:, 1:2]) ** 2 <= radius**2)
    hit &= (px >= 0) & (px < icon.shape[1]) & (py >= 0) & (py < icon.shape[0])
    which, _ = np.nonzero(hit)
    icon[py[hit], px[hit], :3] = colours[which]
    icon[py[hit], px[hit], 3] = 255


def _fit_to_icon(points: np.ndarray, size: int, pad: float):
    """Scale and offset mapping ``points`` into the icon, centred."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = float(max((hi - lo).max(), 1e-9))
    scale = (size - 2 * pad) / span
    offset = size / 2.0 - 0.5 - (lo + hi) / 2.0 * scale
    return scale, offset


def _lattice_icon(shape: np.ndarray, vectors: np.ndarray, sites: np.ndarray, size: int) -> np.ndarray:
    """Cells of a canonical shape as parallelograms; deviating sites as coloured disks."""
    icon = _blank_icon(size)
    grid = _pixel_grid(size)
    A = np.asarray(vectors, dtype=float) / np.linalg.norm(vectors[0])
    cells = np.unique(shape[:, :2], axis=0)
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    corners = (cells[:, None, :] + square[None]) @ A
    scale, offset = _fit_to_icon(corners.reshape(-1, 2), size, pad=2.0)
    # fractional coordinates of every icon pixel: inside a cell of the shape, or on an edge
    frac = ((grid - offset) / scale) @ np.linalg.inv(A)
    edge = 0.6 / (scale * np.abs(np.linalg.det(A)) / np.linalg.norm(A, axis=1)[::-1])
    lo = cells.min(axis=0) - 1
    occupied = np.zeros(tuple(cells.max(axis=0) - lo + 2), dtype=bool)
    occupied[cells[:, 0] - lo[0], cells[:, 1] - lo[1]] = True

    def in_shape(f):
        idx = np.floor(f).astype(np.int64) - lo
        ok = np.all((idx >= 0) & (idx < occupied.shape), axis=1)
        out = np.zeros(len(f), dtype=bool)
        out[ok] = occupied[idx[ok, 0], idx[ok, 1]]
        return out

    fill = in_shape(frac)
    near_line = np.any(np.abs(frac - np.round(frac)) <= edge, axis=1)
    touching = np.zeros(len(grid), dtype=bool)
    for sx in (-1, 1):
        for sy in (-1, 1):
            touching |= in_shape(frac + edge * np.array([sx, sy]))
    outline = near_line & touching
    _paint(icon, fill | outline, (232, 232, 232))
    _paint(icon, outline, (150, 150, 150))
    n_sites = len(sites)
    radius_small = max(1.0, 0.09 * scale / np.sqrt(n_sites))
    radius_big = max(1.5, 0.2 * scale * min(1.0, 1.2 / np.sqrt(n_sites)))
    deviating = {(int(r[0]), int(r[1]), int(r[2])): int(r[3]) for r in shape}
    all_sites = [(int(c[0]), int(c[1]), s) for c in cells for s in range(n_sites)]
    position = {key: ((np.array(key[:2]) + sites[key[2]]) @ A) * scale + offset for key in all_sites}
    plain = [position[k] for k in all_sites if k not in deviating]
    missing = [position[k] for k in all_sites if deviating.get(k) == MISSING]
    coloured = [k for k in all_sites if k in deviating and deviating[k] != MISSING]
    _disks(icon, grid, np.array(plain), radius_small, (110, 110, 110))
    _disks(icon, grid, np.array(missing), radius_big, (40, 40, 40))
    _disks(icon, grid, np.array(missing), max(0.5, radius_big - 1.5), (255, 255, 255))
    _disks(icon, grid, np.array([position[k] for k in coloured]), radius_big,
           np.array([_colour(deviating[k]) for k in coloured]))
    return icon


def _graph_icon(points: np.ndarray, types: np.ndarray, edges: np.ndarray, size: int) -> np.ndarray:
    """Voronoi motif-cell: cell centres as disks coloured by type, adjacency as lines."""
    icon = _blank_icon(size)
    grid = _pixel_grid(size)
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(points) == 1:
        xy, radius = np.array([[size / 2.0 - 0.5, size / 2.0 - 0.5]]), size * 0.15
    else:
        scale, offset = _fit_to_icon(points, size, pad=size * 0.18)
        xy = points * scale + offset
        radius = max(1.5, min(size * 0.12, 0.3 * scale * _min_spacing(points)))
    for a, b in np.asarray(edges, dtype=np.int64).reshape(-1, 2):
        d = xy[b] - xy[a]
        t = np.clip(((grid - xy[a]) @ d) / max(d @ d, 1e-12), 0.0, 1.0)
        _paint(icon, np.sum((grid - xy[a] - t[:, None] * d) ** 2, axis=1) <= 0.6**2, (150, 150, 150))
    _disks(icon, grid, xy, radius, np.array([_colour(t) for t in types]))
    return icon


def _min_spacing(points: np.ndarray) -> float:
    diff = np.linalg.norm(points[:, None] - points[None], axis=-1)
    diff[diff == 0] = np.inf
    return float(diff.min()) if np.isfinite(diff.min()) else 1.0


# --------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------
@dataclass
class MotifHierarchy:
    """A hierarchy of motif-cells (paper Fig. 2D), built by :func:`build_hierarchy`.

    Attributes
    ----------
    graph : networkx.DiGraph
        One node per motif-cell (integer ids, sorted by level then count), with attributes
        ``level`` (cells per occurrence), ``count`` (occurrences), ``shape`` (canonical
        form: list of ``[i, j, site, content]`` deviating sites on a lattice; on Voronoi
        cells ``{"types": [...], "edges": [[a, b], ...]}``), ``shape_names`` (readable
        contents), ``cells`` (list per occurrence of its cells: (k, 2) int arrays of
        (i, j) on a lattice, (k,) cell ids on Voronoi cells), ``columns`` (list per
        occurrence of the column indices in its cells), ``columns_flat`` (all of them),
        ``centres`` ((count, 2) px centroid of each occurrence), ``cell_counts``
        (distinct cell counts among occurrences), ``n_at_border`` (occurrences touching
        the unanalysed border) and ``icon`` ((s, s, 4) uint8 RGBA image of the shape).
        Edges point from a motif-cell to the smaller ones it contains (nearest levels).
    containment : networkx.DiGraph
        Every containment relation (before reduction to nearest levels).
    mode : {"lattice", "voronoi"}
    lattice : Lattice or None
    label_names : list of str
        Name of each column label code.
    content_names : dict
        Content code -> name (lattice mode); cell type id -> name (Voronoi mode).
    crystal : list of str
        Patterns of the dominant cell types (the perfect crystal).
    column_node : ndarray of int, shape (N,)
        Motif-cell node of every column, -1 for columns in crystal or border cells.
    entropy : dict
        Level -> configurational entropy in bits (see :meth:`entropy_table`).
    parameters : dict
    summary : dict
    cells : LatticeCells or VoronoiCells or None
        The tessellation (not saved by :meth:`to_dict`).
    """

    graph: object
    containment: object
    mode: str
    lattice: Lattice | None
    label_names: list
    content_names: dict
    crystal: list
    column_node: np.ndarray
    entropy: dict
    parameters: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    cells: object = None

    # -- convenience -----------------------------------------------------------------
    @property
    def nodes(self) -> list:
        """Node ids in order."""
        return list(self.graph.nodes)

    @property
    def levels(self) -> list:
        """Distinct levels present, ascending."""
        return sorted({d["level"] for _, d in self.graph.nodes(data=True)})

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __repr__(self) -> str:
        return (
            f"MotifHierarchy({self.mode}, {len(self)} motif-cells on {len(self.levels)} levels, "
            f"{self.graph.number_of_edges()} edges, {self.summary.get('n_occurrences', 0)} occurrences)"
        )

    def node(self, node_id) -> dict:
        """Attributes of one motif-cell."""
        return self.graph.nodes[node_id]

    def icon(self, node_id) -> np.ndarray:
        """(s, s, 4) uint8 RGBA icon of a motif-cell."""
        return self.graph.nodes[node_id]["icon"]

    def nodes_at_level(self, level: int) -> list:
        """Node ids of one level, most frequent first."""
        found = [n for n, d in self.graph.nodes(data=True) if d["level"] == level]
        return sorted(found, key=lambda n: (-self.graph.nodes[n]["count"], n))

    def find(self, shape) -> int | None:
        """Node id whose canonical ``shape`` equals the given one (as stored), or None."""
        for n, d in self.graph.nodes(data=True):
            if d["shape"] == shape:
                return n
        return None

    def entropy_table(self) -> list:
        """Per level: types, occurrences, entropy (bits) and the uniform-case maximum.

        Returns
        -------
        list of dict
            ``level``, ``n_types``, ``n_occurrences``, ``entropy_bits``,
            ``max_entropy_bits`` (log2 of the number of types seen).
        """
        rows = []
        for level in self.levels:
            counts = [self.graph.nodes[n]["count"] for n in self.nodes_at_level(level)]
            rows.append({
                "level": int(level),
                "n_types": len(counts),
                "n_occurrences": int(sum(counts)),
                "entropy_bits": configurational_entropy(counts),
                "max_entropy_bits": float(np.log2(len(counts))) if counts else 0.0,
            })
        return rows

    # -- persistence ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe dictionary with everything except icons and the tessellation.

        Examples
        --------
        >>> import json
        >>> text = json.dumps(h.to_dict())          # doctest: +SKIP
        >>> MotifHierarchy.from_dict(json.loads(text))  # doctest: +SKIP
        """
        nodes = []
        for n, d in self.graph.nodes(data=True):
            entry = {
                "id": int(n),
                "level": int(d["level"]),
                "count": int(d["count"]),
                "shape": d["shape"],
                "shape_names": list(d["shape_names"]),
                "cells": [np.asarray(c).tolist() for c in d["cells"]],
                "columns": [np.asarray(c).tolist() for c in d["columns"]],
                "centres": np.asarray(d["centres"]).tolist(),
                "cell_counts": [int(c) for c in d["cell_counts"]],
                "n_at_border": int(d["n_at_border"]),
            }
            if "icon_points" in d:
                entry["icon_points"] = np.asarray(d["icon_points"]).tolist()
            nodes.append(entry)
        return {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "mode": self.mode,
            "lattice": None if self.lattice is None else self.lattice.to_dict(),
            "label_names": list(self.label_names),
            "content_names": [[int(k), str(v)] for k, v in sorted(self.content_names.items())],
            "crystal": list(self.crystal),
            "column_node": self.column_node.tolist(),
            "nodes": nodes,
            "edges": [[int(a), int(b)] for a, b in self.graph.edges],
            "containment": [[int(a), int(b)] for a, b in self.containment.edges],
            "entropy": {str(k): float(v) for k, v in self.entropy.items()},
            "parameters": _jsonable(self.parameters),
            "summary": _jsonable(self.summary),
        }

    @classmethod
    def from_dict(cls, data: dict, *, icon_size: int | None = None) -> "MotifHierarchy":
        """Rebuild a hierarchy from :meth:`to_dict` output (icons are redrawn)."""
        import networkx as nx

        if data.get("format") != _FORMAT:
            raise ParameterError("not a motif hierarchy dictionary (missing format 'motifkit-hierarchy').")
        lattice = None if data["lattice"] is None else Lattice.from_dict(data["lattice"])
        content_names = {int(k): v for k, v in data["content_names"]}
        parameters = dict(data.get("parameters", {}))
        size = int(icon_size or parameters.get("icon_size", 48))
        graph = nx.DiGraph()
        for entry in data["nodes"]:
            attrs = {
                "level": int(entry["level"]),
                "count": int(entry["count"]),
                "shape": _shape_from_json(entry["shape"]),
                "shape_names": list(entry["shape_names"]),
                "cells": [np.asarray(c, dtype=np.int64) for c in entry["cells"]],
                "columns": [np.asarray(c, dtype=np.int64) for c in entry["columns"]],
                "centres": np.asarray(entry["centres"], dtype=float).reshape(-1, 2),
                "cell_counts": list(entry["cell_counts"]),
                "n_at_border": int(entry["n_at_border"]),
            }
            attrs["columns_flat"] = (
                np.concatenate(attrs["columns"]) if attrs["columns"] else np.zeros(0, dtype=np.int64)
            )
            if "icon_points" in entry:
                attrs["icon_points"] = np.asarray(entry["icon_points"], dtype=float).reshape(-1, 2)
            attrs["icon"] = _draw_icon(data["mode"], attrs, lattice, size)
            graph.add_node(int(entry["id"]), **attrs)
        graph.add_edges_from((int(a), int(b)) for a, b in data["edges"])
        containment = nx.DiGraph()
        containment.add_nodes_from(graph.nodes)
        containment.add_edges_from((int(a), int(b)) for a, b in data["containment"])
        return cls(
            graph=graph,
            containment=containment,
            mode=data["mode"],
            lattice=lattice,
            label_names=list(data["label_names"]),
            content_names=content_names,
            crystal=list(data["crystal"]),
            column_node=np.asarray(data["column_node"], dtype=np.int64),
            entropy={int(k): float(v) for k, v in data["entropy"].items()},
            parameters=parameters,
            summary=dict(data.get("summary", {})),
        )

    # -- drawing ---------------------------------------------------------------------
    def draw(self, ax=None, *, max_nodes_per_level: int = 10, min_count: int = 1, icons: bool = True,
             icon_zoom: float = 0.6, title: str | None = None):
        """Static drawing like paper Fig. 2D: levels in rows, nodes sized by count, icons.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Drawn into a new figure when omitted.
        max_nodes_per_level : int
            Most frequent motif-cells shown per level.
        min_count : int
            Hide motif-cells seen fewer times.
        icons : bool
            Show each motif-cell's icon on its node.
        icon_zoom : float
            Icon scale in the figure.
        title : str, optional

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt
        from matplotlib.offsetbox import AnnotationBbox, OffsetImage

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 1.2 + 1.1 * max(1, len(self.levels))))
        placed = {}
        rows = self.levels
        for row, level in enumerate(rows):
            shown = [n for n in self.nodes_at_level(level) if self.graph.nodes[n]["count"] >= min_count]
            shown = shown[:max_nodes_per_level]
            xs = np.arange(len(shown)) - (len(shown) - 1) / 2.0
            for x, n in zip(xs, shown):
                placed[n] = (float(x), float(row))
        counts = np.array([self.graph.nodes[n]["count"] for n in placed], dtype=float)
        top = counts.max() if len(counts) else 1.0
        for a, b in self.graph.edges:
            if a in placed and b in placed:
                (xa, ya), (xb, yb) = placed[a], placed[b]
                ax.plot([xa, xb], [ya, yb], color="0.6", lw=0.8, zorder=1)
        for n, (x, y) in placed.items():
            count = self.graph.nodes[n]["count"]
            ax.scatter([x], [y], s=150 + 900 * np.sqrt(count / top), color="#cfe3f3", edgecolor="#4a7fb0",
                       zorder=2, linewidths=0.8)
            if icons:
                box = AnnotationBbox(OffsetImage(self.graph.nodes[n]["icon"], zoom=icon_zoom), (x, y),
                                     frameon=False, zorder=3)
                ax.add_artist(box)
            ax.annotate(f"({count})", (x, y), xytext=(0, -22), textcoords="offset points", ha="center",
                        va="top", fontsize=8, zorder=4)
        width = max([abs(p[0]) for p in placed.values()] + [1.0])
        ax.set_xlim(-width - 0.8, width + 0.8)
        ax.set_ylim(-0.8, len(rows) - 0.2)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"level {level}" for level in rows])
        ax.set_xticks([])
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_title(title or f"Motif-cell hierarchy ({len(self)} motif-cells, counts in parentheses)")
        return ax


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _shape_from_json(shape):
    if isinstance(shape, dict):
        return {"types": [int(t) for t in shape["types"]], "edges": [[int(a), int(b)] for a, b in shape["edges"]]}
    return [[int(x) for x in row] for row in shape]


def _draw_icon(mode, attrs, lattice, size):
    if mode == "lattice":
        return _lattice_icon(np.asarray(attrs["shape"], dtype=np.int64).reshape(-1, 4), lattice.vectors,
                             lattice.sites, size)
    shape = attrs["shape"]
    return _graph_icon(attrs["icon_points"], np.asarray(shape["types"]), np.asarray(shape["edges"]), size)


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------
def _components(cells, rows: np.ndarray):
    """Connected components of the given cell rows: list of arrays of rows."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(rows) == 0:
        return []
    pairs = cells.adjacency(rows)
    local = np.full(cells.n_cells, -1, dtype=np.int64)
    local[rows] = np.arange(len(rows))
    a, b = local[pairs[:, 0]], local[pairs[:, 1]]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(rows), len(rows)))
    n_comp, label = connected_components(graph, directed=False)
    order = np.argsort(label, kind="stable")
    splits = np.flatnonzero(np.diff(label[order])) + 1
    return [rows[g] for g in np.split(order, splits)]


def _border_rows_lattice(cells: LatticeCells, rows: np.ndarray) -> np.ndarray:
    """Boolean per row: the cell has a neighbour that is not a complete cell."""
    idx = cells.cells
    lo = idx.min(axis=0) - 2
    shape = idx.max(axis=0) - lo + 3
    grid = np.zeros(tuple(shape), dtype=bool)
    grid[idx[:, 0] - lo[0], idx[:, 1] - lo[1]] = True
    out = np.zeros(len(rows), dtype=bool)
    for off in cells.neighbours:
        t = idx[rows] + off - lo
        out |= ~grid[t[:, 0], t[:, 1]]
    return out


def _columns_by_cell(column_cell: np.ndarray, n_cells: int):
    valid = np.flatnonzero(column_cell >= 0)
    order = valid[np.argsort(column_cell[valid], kind="stable")]
    starts = np.searchsorted(column_cell[order], np.arange(n_cells + 1))
    return order, starts


def _gather_columns(rows, order, starts):
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    parts = [order[starts[r]:starts[r + 1]] for r in rows]
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _resolve_cells(positions, codes, names, lattice, *, symmetry, neighbourhood, dominant, centres,
                   min_fit_fraction, tolerance, symmetry_tolerance, merge_tolerance, distortion_order, random_state):
    """Lattice cells when a single lattice fits, Voronoi cells otherwise (with a warning)."""
    voronoi_dominant = 0.2 if dominant == "auto" else dominant
    lattice_dominant = 1 if dominant == "auto" else dominant

    def voronoi(reason=None):
        if reason:
            warnings.warn(reason + " Falling back to Voronoi cells of the columns; pass lattice='voronoi' to "
                          "choose this explicitly.", LatticeWarning, stacklevel=4)
        return voronoi_cells(positions, codes, centres, label_names=names, dominant=voronoi_dominant)

    if isinstance(lattice, str) and lattice == "voronoi":
        return voronoi()
    if lattice is not None and not isinstance(lattice, (str, Lattice)):
        raise ParameterError(f"lattice must be None, 'auto', 'lattice', 'voronoi' or a Lattice, got {lattice!r}.")
    if isinstance(lattice, str) and lattice not in ("auto", "lattice"):
        raise ParameterError(f"lattice must be None, 'auto', 'lattice', 'voronoi' or a Lattice, got {lattice!r}.")
    strict = lattice == "lattice" or isinstance(lattice, Lattice)
    found = lattice if isinstance(lattice, Lattice) else None
    if found is None:
        try:
            found = find_lattice(positions, tolerance=tolerance, symmetry_tolerance=symmetry_tolerance,
                                 distortion_order=distortion_order, random_state=random_state)
        except LatticeError as exc:
            if strict:
                raise
            return voronoi(f"No lattice found: {exc}")
    if found.fit_fraction < min_fit_fraction:
        message = (
            f"Only {100 * found.fit_fraction:.0f} % of the columns lie on the lattice found ({found!r}); the field "
            "of view probably holds several domains (grains, twins, phases) or an amorphous region, while "
            "lattice cells assume a single domain."
        )
        if strict and not isinstance(lattice, Lattice):
            raise LatticeError(message + " Crop to one domain, or use lattice='voronoi'.")
        if not strict:
            return voronoi(message)
        warnings.warn(message, LatticeWarning, stacklevel=3)
    cells = lattice_cells(positions, codes, found, label_names=names, symmetry=symmetry,
                          neighbourhood=neighbourhood, dominant=lattice_dominant, merge_tolerance=merge_tolerance)
    off_site = cells.summary["n_off_site_columns"] / max(cells.summary["n_columns"], 1)
    if isinstance(lattice, Lattice) and off_site > 1.0 - min_fit_fraction:
        warnings.warn(f"{100 * off_site:.0f} % of the columns are off the given lattice's sites; is it the "
                      "lattice of these columns?", LatticeWarning, stacklevel=3)
    return cells


def build_hierarchy(
    analysis=None,
    *,
    positions=None,
    labels=None,
    lattice="auto",
    level_gap: int | None = 1,
    symmetry: str = "crystal",
    neighbourhood: str = "lattice",
    dominant="auto",
    centres=None,
    drop_border: bool = True,
    min_cells: int = 10,
    min_fit_fraction: float = 0.8,
    max_domain_fraction: float = 0.1,
    tolerance: float = 0.25,
    symmetry_tolerance: float = 0.02,
    merge_tolerance: float = 0.05,
    distortion_order: int = 2,
    icon_size: int = 48,
    random_state=0,
    verbose: bool = False,
) -> MotifHierarchy:
    """Build the hierarchy of motif-cells from labelled columns.

    Parameters
    ----------
    analysis : MotifAnalysis-like, optional
        Object with ``positions`` (N, 2) and ``labels`` (N,).
    positions : array_like, shape (N, 2), optional
        Column positions (x, y) in pixels, instead of ``analysis``.
    labels : array_like, shape (N,), optional
        Motif label of each column (integers or strings), instead of ``analysis``.
    lattice : {"auto", "lattice", "voronoi"}, Lattice or None
        ``"auto"``/None: find the lattice, fall back to Voronoi cells with a
        :class:`~motifkit.cells.LatticeWarning` when none fits or when several domains
        are present; ``"lattice"``: raise :class:`~motifkit.cells.LatticeError` instead;
        ``"voronoi"``: Voronoi cells of ``centres``; a :class:`~motifkit.cells.Lattice`:
        use it as given.
    level_gap : int or None
        Each motif-cell links to the contained motif-cells of the ``level_gap`` nearest
        lower levels that contain any (1: only the nearest); None: transitive reduction.
    symmetry : {"crystal", "sites", "translation"}
        Operations under which duplicates merge (see :func:`motifkit.cells.crystal_symmetry`).
    neighbourhood : {"lattice", "von_neumann", "moore"}
        Cell adjacency used to grow components (see
        :func:`motifkit.cells.neighbourhood_offsets`).
    dominant : "auto", int, float or sequence of int
        Cell types treated as the perfect crystal; "auto": the most common type on a
        lattice, every type with >= 20 % of the most common count on Voronoi cells.
    centres : optional
        Voronoi cell centres (mask, indices or (M, 2) positions); default every column.
    drop_border : bool
        Leave out components next to the edge of the analysed region (cells outside it
        are unknown, so such a cluster may be cut); they are counted in
        ``summary["n_border_components"]`` and ``summary["n_border_component_columns"]``.
        With False they are kept and counted per node in ``n_at_border``.
    min_cells : int
        Fewest complete cells needed.
    min_fit_fraction : float
        Fewest columns (fraction) on the lattice for lattice cells to be used.
    max_domain_fraction : float
        A single connected non-crystal region larger than this fraction of the cells is
        taken as a second domain: warning and Voronoi fallback (``"auto"``) or
        :class:`~motifkit.cells.LatticeError` (``"lattice"``).
    tolerance, symmetry_tolerance, distortion_order, random_state
        Lattice search (see :func:`motifkit.cells.find_lattice`).
    merge_tolerance : float
        Metric tolerance of the point group under which duplicates merge (see
        :func:`motifkit.cells.lattice_cells`).
    icon_size : int
        Side of the node icons in pixels.
    verbose : bool
        Progress bar over components.

    Returns
    -------
    MotifHierarchy

    Raises
    ------
    NotEnoughDataError
        Fewer than ``min_cells`` complete cells.
    LatticeError
        ``lattice="lattice"`` and no single lattice describes the columns.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> i, j = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    >>> xy = np.column_stack([i.ravel(), j.ravel()]) * 10.0 + rng.normal(0, 0.3, (1600, 2))
    >>> labels = np.zeros(1600, dtype=int); labels[[410, 411, 900]] = 1  # a pair and a single
    >>> h = build_hierarchy(positions=xy, labels=labels)
    >>> h.mode, len(h), h.lattice.bravais
    ('lattice', 2, 'square')
    """
    import networkx as nx

    if level_gap is not None and (not isinstance(level_gap, (int, np.integer)) or level_gap < 1):
        raise ParameterError(f"level_gap must be a positive integer or None (transitive reduction), got {level_gap!r}.")
    if min_cells < 1:
        raise ParameterError(f"min_cells must be >= 1, got {min_cells}.")
    positions, codes, names = as_positions_and_labels(analysis, positions=positions, labels=labels)
    options = dict(symmetry=symmetry, neighbourhood=neighbourhood, dominant=dominant, centres=centres,
                   min_fit_fraction=min_fit_fraction, tolerance=tolerance, symmetry_tolerance=symmetry_tolerance,
                   merge_tolerance=merge_tolerance, distortion_order=distortion_order, random_state=random_state)
    cells = _resolve_cells(positions, codes, names, lattice, **options)
    n_complete = cells.n_cells if cells.mode == "lattice" else int(cells.complete.sum())
    if n_complete < min_cells:
        raise NotEnoughDataError(
            f"only {n_complete} complete cells in the field of view; the hierarchy needs at least {min_cells}. "
            "Use a larger field of view (or lower min_cells)."
        )
    if cells.mode == "lattice":
        rows = np.flatnonzero(~cells.is_dominant)
    else:
        rows = np.flatnonzero(~cells.is_dominant & cells.complete)
    components = _components(cells, rows)
    largest = max((len(c) for c in components), default=0)
    if cells.mode == "lattice" and largest > max_domain_fraction * n_complete and largest > min_cells:
        crystal_name = cells.type_name(cells.dominant[0]) if len(cells.dominant) else "(none)"
        if len(crystal_name) > 60:
            crystal_name = crystal_name[:57] + "...)"
        message = (
            f"A connected region of {largest} cells ({100 * largest / n_complete:.0f} % of the {n_complete} cells) "
            f"does not match the crystal cell {crystal_name}: the field of view probably holds a second domain "
            "or phase, while lattice cells assume one (or the sample is too disordered for a single crystal "
            "cell, e.g. a combinatorial tiling: use lattice='voronoi' with centres=...)."
        )
        if lattice == "lattice":
            raise LatticeError(message + " Crop to one domain, or use lattice='voronoi'.")
        if not isinstance(lattice, Lattice):
            warnings.warn(message + " Falling back to Voronoi cells of the columns; pass lattice='voronoi' to "
                          "choose this explicitly.", LatticeWarning, stacklevel=2)
            cells = voronoi_cells(positions, codes, centres, label_names=names,
                                  dominant=0.2 if dominant == "auto" else dominant)
            rows = np.flatnonzero(~cells.is_dominant & cells.complete)
            components = _components(cells, rows)
        else:
            warnings.warn(message, LatticeWarning, stacklevel=2)

    if cells.mode == "lattice":
        border = _border_rows_lattice(cells, np.arange(cells.n_cells))
    else:
        incomplete = ~cells.complete
        pairs = cells.adjacency_pairs
        border = np.zeros(cells.n_cells, dtype=bool)
        border[pairs[incomplete[pairs[:, 1]], 0]] = True
        border[pairs[incomplete[pairs[:, 0]], 1]] = True
    at_border = [bool(border[c].any()) for c in components]
    order, starts = _columns_by_cell(cells.column_cell, cells.n_cells)
    n_border_components = int(sum(at_border))
    n_border_component_columns = int(
        sum(len(_gather_columns(c, order, starts)) for c, b in zip(components, at_border) if b)
    )
    if drop_border and n_border_components:
        # clusters cut by the edge of the analysed region have unknown shapes
        components = [c for c, b in zip(components, at_border) if not b]
    if cells.mode == "lattice":
        groups, node_shapes, extra = _group_lattice(cells, components, verbose)
    else:
        groups, node_shapes, extra = _group_voronoi(cells, components, verbose)

    # nodes sorted by level, then count (descending), then canonical key
    records = []
    for key, occurrences in groups.items():
        cell_counts = Counter(len(c) for c in occurrences)
        level = max(cell_counts.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        records.append((level, -len(occurrences), key, occurrences, sorted(cell_counts)))
    records.sort(key=lambda r: (r[0], r[1], r[2]))
    graph = nx.DiGraph()
    column_node = np.full(len(positions), -1, dtype=np.int64)
    for node_id, (level, negative_count, key, occurrences, cell_counts) in enumerate(records):
        columns = [_gather_columns(occ, order, starts) for occ in occurrences]
        for cols in columns:
            column_node[cols] = node_id
        centres_px = np.array([
            positions[cols].mean(axis=0) if len(cols) else _cell_centre(cells, occ)
            for cols, occ in zip(columns, occurrences)
        ]).reshape(-1, 2)
        shape = node_shapes[key]
        attrs = {
            "level": int(level),
            "count": int(-negative_count),
            "shape": shape,
            "shape_names": _shape_names(cells, shape),
            "cells": [cells.cells[occ] if cells.mode == "lattice" else np.asarray(occ, dtype=np.int64)
                      for occ in occurrences],
            "columns": columns,
            "columns_flat": np.sort(np.concatenate(columns)) if columns else np.zeros(0, dtype=np.int64),
            "centres": centres_px,
            "cell_counts": [int(c) for c in cell_counts],
            "n_at_border": int(sum(bool(border[occ].any()) for occ in occurrences)),
        }
        if cells.mode == "voronoi":
            attrs["icon_points"] = extra[key]
        graph.add_node(node_id, **attrs)

    containment = _containment(cells, graph)
    _reduce_edges(graph, containment, level_gap)
    crystal_content = cells.crystal_content if cells.mode == "lattice" else np.zeros(0, dtype=np.int64)
    for n, d in graph.nodes(data=True):
        d["icon"] = _draw_icon(cells.mode, d, getattr(cells, "lattice", None), icon_size)

    entropy = {}
    for level in sorted({d["level"] for _, d in graph.nodes(data=True)}):
        entropy[int(level)] = configurational_entropy(
            [d["count"] for _, d in graph.nodes(data=True) if d["level"] == level]
        )
    if cells.mode == "lattice":
        content_names = dict(cells.content_names)
        crystal = [cells.type_name(t) for t in cells.dominant]
    else:
        content_names = {k: name for k, name in enumerate(cells.type_names)}
        crystal = [cells.type_names[t] for t in cells.dominant]
    parameters = {
        "lattice": lattice if isinstance(lattice, str) or lattice is None else "given",
        "level_gap": level_gap,
        "symmetry": symmetry,
        "neighbourhood": neighbourhood,
        "dominant": dominant if isinstance(dominant, (str, int, float)) else list(np.asarray(dominant).tolist()),
        "drop_border": drop_border,
        "min_cells": min_cells,
        "min_fit_fraction": min_fit_fraction,
        "max_domain_fraction": max_domain_fraction,
        "tolerance": tolerance,
        "symmetry_tolerance": symmetry_tolerance,
        "merge_tolerance": merge_tolerance,
        "distortion_order": distortion_order,
        "icon_size": icon_size,
        "crystal_content": crystal_content.tolist(),
        "n_symmetry_operations": len(cells.operations) if cells.mode == "lattice" else None,
    }
    summary = dict(cells.summary)
    summary.update({
        "mode": cells.mode,
        "n_motif_cells": int(graph.number_of_nodes()),
        "n_occurrences": int(sum(d["count"] for _, d in graph.nodes(data=True))),
        "n_levels": len(entropy),
        "n_defect_cells": int(len(rows)),
        "largest_component_cells": int(max((len(c) for c in components), default=0)),
        "n_border_components": n_border_components,
        "n_border_components_dropped": n_border_components if drop_border else 0,
        "n_border_component_columns": n_border_component_columns,
        "n_containment_skipped": int(containment.graph.get("skipped", 0)),
    })
    if cells.mode == "lattice":
        summary["bravais"] = cells.lattice.bravais
    return MotifHierarchy(
        graph=graph,
        containment=containment,
        mode=cells.mode,
        lattice=getattr(cells, "lattice", None),
        label_names=list(cells.label_names),
        content_names=content_names,
        crystal=crystal,
        column_node=column_node,
        entropy=entropy,
        parameters=parameters,
        summary=summary,
        cells=cells,
    )


def _cell_centre(cells, occ) -> np.ndarray:
    if cells.mode == "lattice":
        return cells.lattice.to_pixels(cells.cells[occ] + 0.5).mean(axis=0)
    return cells.centres[occ].mean(axis=0)


def _shape_names(cells, shape) -> list:
    if cells.mode == "lattice":
        return [f"({r[0]},{r[1]}) site {r[2]}: {cells.content_names[int(r[3])]}" for r in shape]
    return [cells.type_names[t] for t in shape["types"]]


def _group_lattice(cells: LatticeCells, components, verbose):
    """Canonical deviation shapes of lattice components: (groups, shapes, None)."""
    deviates = cells.content != cells.crystal_content[None, :]
    operations = [_operation_tuple(op) for op in cells.operations]
    groups, shapes = {}, {}
    for comp in progress(components, verbose=verbose, desc="motif-cells", unit="component"):
        mask = deviates[comp]
        empty = ~mask.any(axis=1)
        if empty.any():  # a non-crystal cell whose every site matches the reference cell
            mask = mask.copy()
            mask[empty] = True
        r, s = np.nonzero(mask)
        rows = np.column_stack([cells.cells[comp[r]], s, cells.content[comp[r], s]]).tolist()
        key = _canonical([tuple(row) for row in rows], operations)
        if key not in groups:
            groups[key] = []
            shapes[key] = [list(row) for row in key]
        groups[key].append(comp)
    return groups, shapes, None


def _group_voronoi(cells: VoronoiCells, components, verbose):
    """Labelled-graph isomorphism classes of Voronoi components: (groups, shapes, icon points)."""
    import networkx as nx
    from networkx.algorithms.isomorphism import categorical_node_match

    match = categorical_node_match("type", -1)
    buckets = {}
    groups, shapes, points = {}, {}, {}
    for comp in progress(components, verbose=verbose, desc="motif-cells", unit="component"):
        g = _component_graph(cells, comp)
        wl = nx.weisfeiler_lehman_graph_hash(g, node_attr="label", iterations=3)
        bucket_key = (len(comp), tuple(sorted(cells.cell_type[comp].tolist())), wl)
        reps = buckets.setdefault(bucket_key, [])
        for k, (rep_graph, key) in enumerate(reps):
            if nx.is_isomorphic(rep_graph, g, node_match=match):
                groups[key].append(comp)
                break
        else:
            key = (len(comp), bucket_key[1], wl, len(reps))
            reps.append((g, key))
            groups[key] = [comp]
            local = {int(c): k for k, c in enumerate(comp)}
            shapes[key] = {
                "types": [int(cells.cell_type[c]) for c in comp],
                "edges": [[local[int(a)], local[int(b)]] for a, b in cells.adjacency(comp)],
            }
            points[key] = cells.centres[comp] - cells.centres[comp].mean(axis=0)
    return groups, shapes, points


def _component_graph(cells: VoronoiCells, comp):
    import networkx as nx

    g = nx.Graph()
    for c in comp:
        t = int(cells.cell_type[c])
        g.add_node(int(c), type=t, label=str(t))
    g.add_edges_from((int(a), int(b)) for a, b in cells.adjacency(comp))
    return g


def _containment(cells, graph, max_match_cells: int = 40):
    """All (strict) containment relations between motif-cells: larger -> smaller."""
    import networkx as nx

    containment = nx.DiGraph()
    containment.add_nodes_from(graph.nodes)
    nodes = list(graph.nodes)
    if len(nodes) < 2:
        return containment
    levels = np.array([graph.nodes[n]["level"] for n in nodes])
    if cells.mode == "lattice":
        operations = [_operation_tuple(op) for op in cells.operations]
        shapes = [tuple(tuple(int(x) for x in row) for row in graph.nodes[n]["shape"]) for n in nodes]
        codes = sorted({row[3] for shape in shapes for row in shape})
        column = {c: k for k, c in enumerate(codes)}
        code_counts = np.zeros((len(nodes), len(codes)), dtype=np.int64)
        for k, shape in enumerate(shapes):
            for row in shape:
                code_counts[k, column[row[3]]] += 1
        n_sites = cells.lattice.n_sites
        n_codes = max(codes) + 3
        sizes = np.array([len(shape) for shape in shapes])
        geometry = (cells.lattice.vectors, cells.lattice.sites)
        indexed = [_shape_index(shape, n_sites, n_codes, geometry) for shape in shapes]
        images = {}
        known = [set() for _ in nodes]  # known[a]: every node inside node a
        for a in np.argsort(sizes, kind="stable"):
            candidates = np.flatnonzero((sizes < sizes[a]) & np.all(code_counts <= code_counts[a], axis=1))
            for b in candidates[np.argsort(-sizes[candidates], kind="stable")]:
                if b in known[a]:
                    continue  # transitivity: b is inside a node already found inside a
                if b not in images:
                    images[b] = _images(shapes[b], operations, n_sites, n_codes, geometry)
                if _contains(indexed[a][0], indexed[a][1], images[b], n_sites, n_codes):
                    known[a].add(b)
                    known[a] |= known[b]
        containment.add_edges_from((nodes[a], nodes[b]) for a in range(len(nodes)) for b in known[a])
        return containment
    from networkx.algorithms.isomorphism import GraphMatcher, categorical_node_match

    match = categorical_node_match("type", -1)
    graphs, type_counts = [], []
    n_types = len(cells.type_names)
    for n in nodes:
        shape = graph.nodes[n]["shape"]
        g = nx.Graph()
        for k, t in enumerate(shape["types"]):
            g.add_node(k, type=int(t))
        g.add_edges_from(tuple(e) for e in shape["edges"])
        graphs.append(g)
        type_counts.append(np.bincount(shape["types"], minlength=n_types))
    type_counts = np.array(type_counts)
    skipped = 0
    for b in range(len(nodes)):
        possible = np.flatnonzero((levels > levels[b]) & np.all(type_counts >= type_counts[b], axis=1))
        for a in possible:
            if levels[a] > max_match_cells:
                skipped += 1
                continue
            if GraphMatcher(graphs[a], graphs[b], node_match=match).subgraph_is_isomorphic():
                containment.add_edge(nodes[a], nodes[b])
    containment.graph["skipped"] = skipped
    return containment


def _reduce_edges(graph, containment, level_gap):
    import networkx as nx

    level = {n: graph.nodes[n]["level"] for n in graph.nodes}
    downward = nx.DiGraph()
    downward.add_nodes_from(graph.nodes)
    downward.add_edges_from((a, b) for a, b in containment.edges if level[b] < level[a])
    if level_gap is None:
        reduced = nx.transitive_reduction(downward) if downward.number_of_edges() else downward
        graph.add_edges_from((a, b, {"level_difference": level[a] - level[b]}) for a, b in reduced.edges)
        return
    for a in graph.nodes:
        below = list(downward.successors(a))
        if not below:
            continue
        kept_levels = sorted({level[b] for b in below}, reverse=True)[:level_gap]
        for b in below:
            if level[b] in kept_levels:
                graph.add_edge(a, b, level_difference=level[a] - level[b])


# --------------------------------------------------------------------------------------
# square motifs of a pentagonal (Cairo) tiling: the paper's Fig. 4 variant
# --------------------------------------------------------------------------------------
@dataclass
class SquareMotifs:
    """Squares of four cells and their corner configurations (paper Fig. 4F).

    Attributes
    ----------
    centres : ndarray, shape (M, 2)
        Cell centres (x, y) in pixels.
    states : ndarray, shape (M,)
        State (label) of every cell.
    squares : ndarray of int, shape (Q, 4)
        Corner cells of every square, counter-clockwise in (x, y) and starting from the
        corner in the reference direction (see ``reference_angle``), so a configuration
        keeps its orientation: 2 states give 2^4 = 16 configurations.
    configurations : list of tuple
        States of the four corners of every square, in that order.
    reference_angle : float
        Degrees: the first corner is the one whose direction from the square's centre lies
        in ``[reference_angle, reference_angle + 90)`` (chosen in the widest gap between
        the corner directions found, so noise never flips it).
    square_centres : ndarray, shape (Q, 2)
    """

    centres: np.ndarray
    states: np.ndarray
    squares: np.ndarray
    configurations: list
    reference_angle: float
    square_centres: np.ndarray

    @property
    def counts(self) -> dict:
        """Configuration -> number of squares, most common first."""
        return dict(Counter(self.configurations).most_common())

    def frequencies(self, all_states=None) -> dict:
        """Configuration -> fraction of squares, over every possible configuration.

        Parameters
        ----------
        all_states : sequence, optional
            Possible corner states (default: those seen); configurations never seen
            appear with frequency 0.
        """
        from itertools import product

        states = sorted(set(self.states.tolist())) if all_states is None else list(all_states)
        total = max(len(self.configurations), 1)
        counts = Counter(self.configurations)
        return {config: counts.get(config, 0) / total for config in product(states, repeat=4)}

    @property
    def entropy_bits(self) -> float:
        """Configurational entropy of the squares (bits)."""
        return configurational_entropy(list(Counter(self.configurations).values()))

    @property
    def uniform_entropy_bits(self) -> float:
        """Entropy if every configuration were equally likely: 4 log2(number of states)."""
        return 4.0 * float(np.log2(max(len(set(self.states.tolist())), 1)))

    def next_level(self, **kwargs) -> "SquareMotifs":
        """Squares of squares (level 3): squares whose corners are level-2 squares.

        Each level-2 square becomes a cell at its centre whose state is its configuration.
        """
        states = np.empty(len(self.configurations), dtype=object)
        states[:] = ["".join(map(str, c)) for c in self.configurations]
        return square_motifs(self.square_centres, states, **kwargs)


def _four_cycles(centres: np.ndarray, edge_tolerance: float) -> set:
    """Chordless 4-cycles of the neighbour graph (neighbours: closer than (1 + tol) x typical)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(centres)
    dist, _ = tree.query(centres, k=2)
    # nearest-neighbour distances are biased low by noise: use all near pairs instead
    near = tree.query_pairs(1.3 * float(np.median(dist[:, 1])), output_type="ndarray")
    edge = float(np.median(np.linalg.norm(centres[near[:, 0]] - centres[near[:, 1]], axis=1)))
    pairs = tree.query_pairs((1.0 + edge_tolerance) * edge, output_type="ndarray")
    neighbours = [set() for _ in range(len(centres))]
    for a, b in pairs:
        neighbours[a].add(int(b))
        neighbours[b].add(int(a))
    found = set()
    for a in range(len(centres)):
        for b in neighbours[a]:
            for d in neighbours[a]:
                if d <= b or d in neighbours[b]:
                    continue
                for c in (neighbours[b] & neighbours[d]) - {a}:
                    if c not in neighbours[a]:
                        found.add(frozenset((a, b, c, d)))
    return found


def square_motifs(centres, states, *, edge_tolerance: float = 0.25, reference_angle: float | None = None,
                  squares=None) -> SquareMotifs:
    """Find squares of four neighbouring cells and record their corner configurations.

    Neighbours are cells closer than ``(1 + edge_tolerance)`` times the typical
    neighbour distance; a square is a 4-cycle of neighbours with no diagonal link whose
    sides and diagonals match a square within ``edge_tolerance``. In a Cairo pentagonal
    tiling (the polyoxometalate of paper Fig. 4) these are the squares of four pentagons
    of the snub square tiling formed by their centres.

    Parameters
    ----------
    centres : array_like, shape (M, 2)
        Cell centres (x, y) in pixels, e.g. the pentagon centre columns.
    states : array_like, shape (M,)
        State of every cell (e.g. True for a filled pentagon).
    edge_tolerance : float
        Relative tolerance on edge lengths and square shape (below sqrt(2) - 1, so that
        square diagonals are never neighbours).
    reference_angle : float, optional
        Degrees; default: the middle of the widest gap between corner directions.
    squares : array_like of int, shape (Q, 4), optional
        Known squares (corner indices into ``centres``, any order): skip the search and
        only order the corners and read the configurations (e.g. for a ground truth).

    Returns
    -------
    SquareMotifs

    Raises
    ------
    NotEnoughDataError
        Fewer than 4 centres or no square found.

    Examples
    --------
    >>> i, j = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    >>> xy = np.column_stack([i.ravel(), j.ravel()]) * 10.0
    >>> result = square_motifs(xy, (i.ravel() + j.ravel()) % 2)
    >>> len(result.squares), result.counts
    (25, {(0, 1, 0, 1): 13, (1, 0, 1, 0): 12})
    """
    from .cells import _as_positions

    centres = _as_positions(centres, "centres")
    states = np.asarray(states).reshape(-1)
    if len(states) != len(centres):
        raise ParameterError(f"states has {len(states)} entries for {len(centres)} centres; give one per centre.")
    if len(centres) < 4:
        raise NotEnoughDataError(f"only {len(centres)} centres: a square needs 4.")
    if squares is None:
        found = _four_cycles(centres, edge_tolerance)
    else:
        found = [frozenset(int(x) for x in q) for q in np.asarray(squares, dtype=np.int64).reshape(-1, 4)]
    squares, corner_angles = [], []
    for quad in sorted(found, key=sorted):
        quad = np.array(sorted(quad))
        centre = centres[quad].mean(axis=0)
        rel = centres[quad] - centre
        angle = np.degrees(np.arctan2(rel[:, 1], rel[:, 0]))
        order = np.argsort(angle)
        quad, rel, angle = quad[order], rel[order], angle[order]
        sides = np.linalg.norm(rel - np.roll(rel, -1, axis=0), axis=1)
        diagonals = np.linalg.norm(rel - np.roll(rel, -2, axis=0), axis=1)[:2]
        side = sides.mean()
        if squares is None and (np.any(np.abs(sides - side) > edge_tolerance * side) or np.any(
            np.abs(diagonals - np.sqrt(2) * side) > edge_tolerance * side
        )):
            continue
        squares.append(quad)
        corner_angles.append(angle)
    if not squares:
        raise NotEnoughDataError("no square of four neighbouring cells found; check the centres and edge_tolerance.")
    corner_angles = np.array(corner_angles)
    if reference_angle is None:
        folded = np.sort(np.mod(corner_angles.ravel(), 90.0))
        gaps = np.diff(np.concatenate([folded, [folded[0] + 90.0]]))
        k = int(np.argmax(gaps))
        reference_angle = float(np.mod(folded[k] + gaps[k] / 2.0, 90.0))
    ordered = []
    for quad, angle in zip(squares, corner_angles):
        first = int(np.argmin(np.mod(angle - reference_angle, 360.0)))  # first corner at or after the reference
        ordered.append(np.roll(quad, -first))
    squares = np.array(sorted(ordered, key=lambda q: tuple(centres[q].mean(axis=0).round(6)[::-1])), dtype=np.int64)
    configurations = [tuple(v.item() if hasattr(v, "item") else v for v in states[q]) for q in squares]
    return SquareMotifs(
        centres=centres,
        states=states,
        squares=squares,
        configurations=configurations,
        reference_angle=float(reference_angle),
        square_centres=centres[squares].mean(axis=1),
    )
