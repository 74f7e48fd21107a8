"""Ground truth of simulated images: column positions, compositions and labels.

Rules (documented here once, used by every simulated image):

* **Positions** are ``(x, y) = (column, row)`` in pixels, sub-pixel. ``positions`` is where
  the column appears in the image: the intensity-weighted (``Z^power``) mean of its atoms
  (the nominal site for an empty column), mapped by the image geometry and then moved by
  the scan distortion to the centre of mass of the column's own rendered intensity.
  ``positions_undistorted`` omits the scan distortion.
* **Field of view**: a column is listed when its (distorted) position lies inside the pixel
  area ``[-0.5, W - 0.5) x [-0.5, H - 0.5)`` (grown by ``edge_margin`` px, default 0).
  ``near_edge`` marks columns closer than the probe radius to the border (their peak is cut).
* **Labels** (:func:`motifkit.simulate.structures.column_label`): ``column_types`` from the
  composition (``"Mo"``, ``"Se2"``, ``"Se1"``, ``"V_Se2"``, ``"Fe"``, ``"Se1Te1"``...);
  ``context_types`` append ``"_nextto_"`` and the defect kinds found among in-layer
  neighbours within 1.2 x the nearest-neighbour column distance: ``"V"`` for a column
  holding fewer atoms than its pristine site, an element symbol for a substituted or
  added element (``"Mo_nextto_V"``,
  ``"S2_nextto_Fe"``). ``defect_neighbors`` counts those neighbours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import FileFormatError
from ..micrograph import Micrograph
from .geometry import ImageGeometry
from ..cells import reduce_basis
from .structures import PENTAGON_STATES, Structure, column_label, pentagon_squares

__all__ = ["GroundTruth", "SimulatedImage", "build_truth"]

_ARRAY_FIELDS = (
    "positions",
    "positions_undistorted",
    "column_types",
    "context_types",
    "site_types",
    "counts",
    "intensities",
    "layer",
    "cell_index",
    "basis_index",
    "near_edge",
    "defect_neighbors",
    "column_ids",
    "lattice_vectors",
)


@dataclass(eq=False)
class GroundTruth:
    """What a simulated image contains, column by column.

    Attributes
    ----------
    positions : ndarray, shape (M, 2)
        Column positions (x, y) in pixels as imaged (scan distortion included).
    positions_undistorted : ndarray, shape (M, 2)
        Same without scan distortion.
    column_types : ndarray of str, shape (M,)
        Plain label from the composition, e.g. ``"Mo"``, ``"Se2"``, ``"Se1"``, ``"V_Se2"``.
    context_types : ndarray of str, shape (M,)
        Label with neighbour context, e.g. ``"Mo_nextto_V"``.
    site_types : ndarray of str, shape (M,)
        Label of the pristine site (``"Se2"`` for every chalcogen column).
    counts : ndarray of int, shape (M, E)
        Atoms of each element of ``elements`` in each column.
    elements : tuple of str
        Element symbols for the columns of ``counts``.
    intensities : ndarray, shape (M,)
        Rendered weight ``sum Z^power`` of each column (the peak height when isolated).
    layer : ndarray of int, shape (M,)
        Layer index (twisted bilayers: 0 or 1).
    cell_index : ndarray of int, shape (M, 2)
        Lattice index (i, j) of the unit cell each column was tiled from.
    basis_index : ndarray of int, shape (M,)
        Index of the column within its unit cell.
    near_edge : ndarray of bool, shape (M,)
        Within the probe radius of the image border.
    defect_neighbors : ndarray of int, shape (M,)
        Number of defective neighbour columns (see module notes).
    column_ids : ndarray of int, shape (M,)
        Indices into the simulated finite structure's columns.
    lattice_vectors : ndarray, shape (2, 2)
        Reduced lattice vectors (rows a, b) in pixels in the image frame (undistorted).
    bravais : str
        Bravais class of the lattice.
    pixel_size : float
        Å per pixel.
    shape : (int, int)
        Image shape (H, W).
    extra : dict
        Structure-specific arrays (first axis M unless noted): ``"domain"``,
        ``"registry_offset"``, ``"registry_distance"`` (twisted bilayers);
        ``"pentagon_state"`` (str), ``"squares"`` (S, 4) row indices, ``"square_configs"``
        (S,) and ``"square_configs_canonical"`` (S,) (pentagonal tiling).
    """

    positions: np.ndarray
    positions_undistorted: np.ndarray
    column_types: np.ndarray
    context_types: np.ndarray
    site_types: np.ndarray
    counts: np.ndarray
    elements: tuple
    intensities: np.ndarray
    layer: np.ndarray
    cell_index: np.ndarray
    basis_index: np.ndarray
    near_edge: np.ndarray
    defect_neighbors: np.ndarray
    column_ids: np.ndarray
    lattice_vectors: np.ndarray
    bravais: str
    pixel_size: float
    shape: tuple
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.positions)

    def __repr__(self) -> str:
        types, n = np.unique(self.column_types, return_counts=True)
        summary = ", ".join(f"{t}: {c}" for t, c in zip(types, n))
        return f"GroundTruth({len(self)} columns; {summary}; {self.bravais})"

    @property
    def composition(self) -> list:
        """(M,) list of dicts element -> count (empty dict for an empty column)."""
        return [
            {el: int(c) for el, c in zip(self.elements, row) if c > 0} for row in np.asarray(self.counts)
        ]

    @property
    def occupied(self) -> np.ndarray:
        """(M,) bool: the column holds at least one atom."""
        return np.asarray(self.counts).sum(axis=1) > 0

    def label_ids(self, kind: str = "column") -> tuple[np.ndarray, list]:
        """Integer labels: ``(ids (M,), names)`` for ``kind`` in {"column", "context", "site"}."""
        source = {"column": self.column_types, "context": self.context_types, "site": self.site_types}
        if kind not in source:
            from ..errors import ParameterError

            raise ParameterError(f"kind must be 'column', 'context' or 'site', got {kind!r}.")
        names, ids = np.unique(source[kind], return_inverse=True)
        return ids.astype(np.int64), [str(n) for n in names]

    def mask(self, radius: float = 2.0, *, include_empty: bool = False) -> np.ndarray:
        """Boolean (H, W) image: disks of ``radius`` px around occupied columns (segmentation target)."""
        h, w = self.shape
        out = np.zeros((h, w), dtype=bool)
        keep = np.ones(len(self), bool) if include_empty else self.occupied
        r = int(np.ceil(radius))
        offsets = np.arange(-r, r + 1)
        for x, y in self.positions[keep]:
            cols = np.round(x).astype(int) + offsets
            rows = np.round(y).astype(int) + offsets
            dx = cols[None, :] - x
            dy = rows[:, None] - y
            disk = dx * dx + dy * dy <= radius * radius
            rr, cc = np.nonzero(disk)
            rr, cc = rows[rr], cols[cc]
            ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
            out[rr[ok], cc[ok]] = True
        return out

    def subset(self, keep) -> "GroundTruth":
        """Truth restricted to the columns selected by ``keep`` (bool (M,) or indices).

        Per-column ``extra`` arrays are subset too; pentagon squares are recomputed.
        """
        keep = np.asarray(keep)
        index = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)
        values = {name: np.asarray(getattr(self, name))[index] for name in _ARRAY_FIELDS if name != "lattice_vectors"}
        extra = {}
        for key, value in self.extra.items():
            if key.startswith("square"):
                continue
            extra[key] = np.asarray(value)[index]
        out = GroundTruth(
            **values,
            lattice_vectors=self.lattice_vectors.copy(),
            elements=self.elements,
            bravais=self.bravais,
            pixel_size=self.pixel_size,
            shape=self.shape,
            extra=extra,
        )
        if "pentagon_state" in extra:
            _add_squares(out)
        return out

    # -- persistence -----------------------------------------------------------------
    def save(self, path) -> None:
        """Write the truth to an ``.npz`` file (no pickles)."""
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAY_FIELDS}
        for key, value in self.extra.items():
            arrays[f"extra__{key}"] = np.asarray(value)
        meta = {"elements": list(self.elements), "bravais": self.bravais, "pixel_size": self.pixel_size, "shape": list(self.shape)}
        arrays["meta_json"] = np.asarray(json.dumps(meta))
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path) -> "GroundTruth":
        """Read a truth written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta_json"]))
                values = {name: data[name] for name in _ARRAY_FIELDS}
                extra = {k[len("extra__") :]: data[k] for k in data.files if k.startswith("extra__")}
        except (OSError, KeyError, ValueError) as exc:
            raise FileFormatError(f"{path} is not a ground-truth file written by GroundTruth.save: {exc}") from exc
        return cls(
            **values,
            elements=tuple(meta["elements"]),
            bravais=meta["bravais"],
            pixel_size=float(meta["pixel_size"]),
            shape=tuple(meta["shape"]),
            extra=extra,
        )


@dataclass(eq=False)
class SimulatedImage:
    """A simulated micrograph with its ground truth.

    Attributes
    ----------
    image : Micrograph
        The (noisy) image, ``unit="A"``, ``pixel_size`` in Å/px.
    truth : GroundTruth
    noise_free : ndarray of float32, shape (H, W)
        The image before dose and read noise (scan distortions included).
    structure : Structure
        The finite structure that was drawn (Å, structure frame).
    params : dict
        Every simulation parameter and the timings of each step (s).
    """

    image: Micrograph
    truth: GroundTruth
    noise_free: np.ndarray
    structure: Structure
    params: dict

    def __repr__(self) -> str:
        return f"SimulatedImage({self.image!r}, {len(self.truth)} columns)"


def _distorted_positions(px, probe, pixel_size, row_shifts):
    """Centre of mass of each column's rendered intensity under per-row shifts."""
    if row_shifts is None:
        return px.copy()
    row_dx, row_dy = row_shifts
    h = len(row_dx)
    reach = int(np.ceil(probe.cutoff / pixel_size + np.abs(row_dy).max())) + 1
    offsets = np.arange(-reach, reach + 1)
    table_dy = np.linspace(-probe.cutoff, probe.cutoff, 2001)
    table_w = probe.row_weights(table_dy)
    out = np.empty_like(px)
    for start in range(0, len(px), 4096):  # chunks bound memory
        x, y = px[start : start + 4096, 0], px[start : start + 4096, 1]
        rows = np.round(y).astype(np.int64)[:, None] + offsets[None, :]
        clipped = np.clip(rows, 0, h - 1)  # rows beyond the image continue the edge shifts
        dy_px = rows - (y[:, None] + row_dy[clipped])
        weight = np.interp(dy_px * pixel_size, table_dy, table_w, left=0.0, right=0.0)
        total = weight.sum(axis=1)
        total = np.where(total > 0, total, 1.0)
        out[start : start + 4096, 0] = x + (weight * row_dx[clipped]).sum(axis=1) / total
        out[start : start + 4096, 1] = (weight * rows).sum(axis=1) / total
    return out


def build_truth(
    structure: Structure,
    geometry: ImageGeometry,
    *,
    probe,
    weights: np.ndarray,
    row_shifts=None,
    edge_margin: float = 0.0,
    context_factor: float = 1.2,
) -> GroundTruth:
    """Ground truth of ``structure`` drawn with ``geometry`` (see the module notes).

    Parameters
    ----------
    structure : Structure
        The finite structure that was rendered.
    geometry : ImageGeometry
    probe : Probe
    weights : ndarray, shape (n_atoms,)
        Per-atom weights used for rendering.
    row_shifts : (row_dx, row_dy), optional
        Per-row displacements in px.
    edge_margin : float
        Grow (or shrink, if negative) the field of view by this many px.
    context_factor : float
        Neighbour radius for context labels, in nearest-neighbour distances.

    Returns
    -------
    GroundTruth
    """
    from scipy.spatial import cKDTree

    m = structure.n_columns
    ci = structure.column_index
    elements, counts = structure.column_counts()
    nominal = structure.nominal_counts(elements)
    total = np.bincount(ci, weights, minlength=m)
    xy = structure.positions[:, :2]
    safe = np.where(total > 0, total, 1.0)
    weighted = np.column_stack([np.bincount(ci, weights * xy[:, 0], m), np.bincount(ci, weights * xy[:, 1], m)]) / safe[:, None]
    centre_a = np.where((total > 0)[:, None], weighted, structure.column_xy)
    px = geometry.to_pixels(centre_a)
    shown = _distorted_positions(px, probe, geometry.pixel_size, row_shifts)
    inside = geometry.inside(shown, margin_px=edge_margin)
    sel = np.flatnonzero(inside)

    # plain labels from (site, counts)
    site_names = list(structure.sites)
    codes = structure.site_codes()[sel]
    keys = np.column_stack([codes, counts[sel]])
    radix = int(keys.max()) + 1 if keys.size else 1
    if radix ** keys.shape[1] < 2**62:  # pack each row into one integer: a fast 1-D unique
        packed = keys @ (radix ** np.arange(keys.shape[1] - 1, -1, -1, dtype=np.int64))
        _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        unique_keys = keys[first]
    else:  # pragma: no cover - needs enormous counts or element lists
        unique_keys, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = np.asarray(inverse, dtype=np.int64).reshape(-1)
    plain_names = [
        column_label({el: int(c) for el, c in zip(elements, key[1:]) if c > 0}, structure.sites[site_names[key[0]]])
        for key in unique_keys
    ]
    plain = np.asarray(plain_names + [""], dtype=object)[inverse]
    site_labels = np.array([column_label(comp, comp) for comp in structure.sites.values()] + [""], dtype=object)
    site_types = site_labels[codes]

    # context: defect kinds of in-layer neighbours
    kinds = ["V"] + list(elements)
    # a vacancy lowers the number of atoms; a substitution only swaps elements
    bits = np.where(counts.sum(axis=1) < nominal.sum(axis=1), 1, 0).astype(np.int64)
    excess = counts > nominal
    for e in range(len(elements)):
        bits |= np.where(excess[:, e], 1 << (e + 1), 0)
    context_bits = np.zeros(m, dtype=np.int64)
    n_defect_neighbours = np.zeros(m, dtype=np.int64)
    defective = np.flatnonzero(bits)
    if len(defective) and structure.neighbor_distance:
        tree = cKDTree(structure.column_xy)
        found = tree.query_ball_point(structure.column_xy[defective], context_factor * structure.neighbor_distance)
        src = np.repeat(defective, [len(f) for f in found])
        dst = np.concatenate([np.asarray(f, dtype=np.int64) for f in found]) if len(found) else np.zeros(0, np.int64)
        ok = (src != dst) & (structure.column_layer[src] == structure.column_layer[dst])
        src, dst = src[ok], dst[ok]
        np.bitwise_or.at(context_bits, dst, bits[src])
        np.add.at(n_defect_neighbours, dst, 1)
    sel_bits = context_bits[sel]
    context = plain.copy()
    for value in np.unique(sel_bits[sel_bits > 0]):
        names = sorted(kinds[k] for k in range(len(kinds)) if value & (1 << k))
        rows = np.flatnonzero(sel_bits == value)
        suffix = "_nextto_" + "_".join(names)
        context[rows] = [p + suffix for p in plain[rows]]

    cutoff_px = probe.cutoff / geometry.pixel_size
    near_edge = ~geometry.inside(shown[sel], margin_px=-cutoff_px)
    if structure.cell is not None:
        lattice = geometry.vectors_to_pixels(reduce_basis(structure.cell))
    else:
        lattice = np.full((2, 2), np.nan)
    extra = {key: value[sel] for key, value in structure.column_data.items() if key != "pentagon_centre"}
    truth = GroundTruth(
        positions=shown[sel],
        positions_undistorted=px[sel],
        column_types=plain.astype(str),
        context_types=context.astype(str),
        site_types=site_types.astype(str),
        counts=counts[sel],
        elements=tuple(elements),
        intensities=total[sel],
        layer=structure.column_layer[sel],
        cell_index=structure.column_cell[sel],
        basis_index=structure.column_basis[sel],
        near_edge=near_edge,
        defect_neighbors=n_defect_neighbours[sel],
        column_ids=sel,
        lattice_vectors=lattice,
        bravais=structure.bravais or "unknown",
        pixel_size=geometry.pixel_size,
        shape=tuple(geometry.shape),
        extra=extra,
    )
    if "pentagon_state" in extra:
        codes = np.asarray(extra["pentagon_state"], dtype=np.int64)
        extra["pentagon_state"] = np.array([PENTAGON_STATES[c] if c >= 0 else "" for c in codes])
        _add_squares(truth)
    return truth


def _add_squares(truth: GroundTruth) -> None:
    """Squares of four pentagon centres inside the truth and their planted configurations."""
    state = np.asarray(truth.extra["pentagon_state"])
    is_centre = state != ""
    squares = pentagon_squares(truth.cell_index, truth.basis_index, is_centre)
    letters = np.array([s[:1].upper() for s in state])
    configs = np.array(["".join(letters[row]) for row in squares], dtype=str).reshape(-1)
    canonical = np.array([min(c[k:] + c[:k] for k in range(4)) for c in configs], dtype=str).reshape(-1)
    truth.extra["squares"] = squares
    truth.extra["square_configs"] = configs
    truth.extra["square_configs_canonical"] = canonical
