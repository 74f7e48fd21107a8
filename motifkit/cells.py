"""Motif-cells: lattice vectors, Bravais type, cell indexing, cell types and Voronoi cells.

The hierarchy of motif-cells (paper, Materials and Methods, "Automatic construction of
motif-cell hierarchy") starts by tessellating the field of view into cells and giving each
cell a *type* from the motif labels of the columns it holds. Two tessellations are offered:

*Lattice cells* (quasi-periodic samples, :func:`find_lattice` + :func:`lattice_cells`)
    The two primitive lattice vectors are found from the column positions alone (robust to
    vacancies, noise and mild distortion); every column is indexed to a *site* of the basis
    and a cell ``(i, j)``. A cell is the parallelogram ``origin + (i + [0, 1)) a + (j + [0,
    1)) b``; its origin is shifted so that every basis site lies as far from the cell edges
    as possible, so noise never moves a column across a cell boundary. **A cell's pattern
    is the content of each of its basis sites**: the label of the column found there,
    ``"missing"`` when no column is there, or a combined name when two columns (or a column
    far from the ideal site, marked ``"~"``) fall on it. For a transition-metal
    dichalcogenide the cell holds one metal and one chalcogen site, so its pattern is
    ``(metal label, chalcogen label)``. Patterns are canonicalised under the symmetry
    operations of the perfect crystal that map the cell onto a translate of itself.

*Voronoi cells* (non-periodic samples, :func:`voronoi_cells`)
    Cells are the Voronoi regions of given centres (by default every column), columns go to
    their nearest centre, a cell's pattern is the multiset of its columns' labels, and two
    cells are adjacent when their regions share an edge.

Symmetry is that of the lattice actually found: :func:`lattice_point_group` enumerates the
integer matrices that preserve the measured metric (6-fold on hexagonal, 4-fold on square,
2-fold and mirrors on rectangular lattices, never blindly 90 degrees), and
:func:`crystal_symmetry` keeps those that also map the decorated crystal (basis sites and
their labels) onto itself, e.g. the 3-fold rotations and mirrors of a MoSe2 monolayer.

Positions are always ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.

Examples
--------
>>> import numpy as np
>>> from motifkit.cells import find_lattice
>>> i, j = np.meshgrid(np.arange(20), np.arange(20))
>>> a, b = np.array([10.0, 0.0]), np.array([-5.0, 5 * np.sqrt(3)])
>>> xy = i.reshape(-1, 1) * a + j.reshape(-1, 1) * b + 100.0
>>> lattice = find_lattice(xy)
>>> lattice.bravais, round(float(np.linalg.norm(lattice.vectors[0])), 3)
('hexagonal', 10.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._utils import check_random_state
from .errors import MotifkitError, NotEnoughDataError, ParameterError

__all__ = [
    "BRAVAIS_TYPES",
    "MISSING",
    "Lattice",
    "LatticeError",
    "LatticeWarning",
    "SymmetryOperation",
    "LatticeCells",
    "VoronoiCells",
    "find_lattice",
    "reduce_basis",
    "lattice_point_group",
    "classify_bravais",
    "crystal_symmetry",
    "neighbourhood_offsets",
    "index_columns",
    "lattice_cells",
    "voronoi_cells",
    "as_positions_and_labels",
]

#: The five 2-D Bravais types, in the order used across motifkit (and AtomVision).
BRAVAIS_TYPES = ("hexagonal", "square", "rectangular", "centred_rectangular", "oblique")

#: Site content code of a lattice site with no column on it.
MISSING = -1

# Fewest columns for which a lattice search is meaningful.
_MIN_LATTICE_COLUMNS = 12


class LatticeError(MotifkitError, ValueError):
    """No periodic lattice could be found in the column positions."""


class LatticeWarning(UserWarning):
    """The lattice description is doubtful (amorphous region, several domains, poor fit)."""


# --------------------------------------------------------------------------------------
# input helpers
# --------------------------------------------------------------------------------------
def _as_positions(positions, name: str = "positions") -> np.ndarray:
    array = np.asarray(positions, dtype=float)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ParameterError(f"{name} must be an (N, 2) array of (x, y) pixel positions, got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        bad = int((~np.isfinite(array)).any(axis=1).sum())
        raise ParameterError(f"{name} holds {bad} non-finite rows; drop them before building cells.")
    return array


def as_positions_and_labels(analysis=None, *, positions=None, labels=None):
    """Positions and integer label codes from a ``MotifAnalysis``-like object or arrays.

    Parameters
    ----------
    analysis : object, optional
        Anything with ``positions`` (N, 2) and ``labels`` (N,) attributes, e.g. a
        :class:`motifkit.MotifAnalysis`.
    positions : array_like, shape (N, 2), optional
        Column positions (x, y) in pixels, instead of ``analysis``.
    labels : array_like, shape (N,), optional
        Motif label of each column: integers or strings (e.g. simulator column types).

    Returns
    -------
    positions : ndarray of float, shape (N, 2)
    codes : ndarray of int, shape (N,)
        Label codes 0..L-1 (index into ``names``).
    names : list of str
        Label names, sorted by the original label values.
    """
    if analysis is not None:
        if positions is not None or labels is not None:
            raise ParameterError("give either an analysis or positions= and labels=, not both.")
        if not (hasattr(analysis, "positions") and hasattr(analysis, "labels")):
            raise ParameterError(
                f"{type(analysis).__name__} has no `positions` and `labels`; pass a MotifAnalysis "
                "or positions=(N, 2) array and labels=(N,) array."
            )
        positions, labels = analysis.positions, analysis.labels
    if positions is None or labels is None:
        raise ParameterError("need column positions and labels: pass an analysis or positions= and labels=.")
    positions = _as_positions(positions)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(positions):
        raise ParameterError(
            f"labels has {len(labels)} entries for {len(positions)} positions; give one label per column."
        )
    values, codes = np.unique(labels, return_inverse=True)
    names = [str(v) for v in values.tolist()]
    return positions, codes.astype(np.int64).reshape(-1), names


def _label_codes(labels: np.ndarray, label_names=None):
    """Label codes 0..L-1 and their names from integer codes (with names) or any labels."""
    if labels.dtype.kind in "iu" and (len(labels) == 0 or labels.min() >= 0):
        codes = labels.astype(np.int64)
        n_labels = int(codes.max()) + 1 if len(codes) else 0
        if label_names is None:
            label_names = [str(k) for k in range(n_labels)]
        label_names = [str(v) for v in label_names]
        if len(label_names) < n_labels:
            raise ParameterError(f"label_names has {len(label_names)} names for {n_labels} label codes.")
        return codes, label_names
    if label_names is not None and labels.dtype.kind in "iu":
        # negative codes (e.g. -1 = unassigned) keep their number as a name
        named = np.array([label_names[v] if v >= 0 else str(v) for v in labels.tolist()], dtype=object)
        labels = named
    values, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), [str(v) for v in values.tolist()]


# --------------------------------------------------------------------------------------
# lattice geometry: reduction, point group, Bravais type
# --------------------------------------------------------------------------------------
def reduce_basis(vectors) -> np.ndarray:
    """Gauss (Lagrange) reduction of a 2-D lattice basis.

    Parameters
    ----------
    vectors : array_like, shape (2, 2)
        Lattice vectors as rows (a, b), any length unit.

    Returns
    -------
    ndarray, shape (2, 2)
        Rows (a, b) spanning the same lattice with ``|a| <= |b|``, ``|a . b| <= |a|^2 / 2``
        and ``a . b <= 0``.

    Examples
    --------
    >>> reduce_basis([[1.0, 0.0], [5.0, 1.0]]).round(6).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    cell = np.asarray(vectors, dtype=float).reshape(2, 2)
    scale = max(1.0, float(np.abs(cell).max())) ** 2
    if abs(np.linalg.det(cell)) < 1e-12 * scale:
        raise ParameterError("lattice vectors are parallel or zero; give two independent vectors.")
    a, b = cell[0].copy(), cell[1].copy()
    for _ in range(1000):
        if a @ a > b @ b:
            a, b = b, a
        mu = np.round((a @ b) / (a @ a))
        if mu == 0:
            break
        b = b - mu * a
    if a @ b > 0:
        b = -b
    return np.array([a, b]) + 0.0


def lattice_point_group(vectors, tolerance: float = 0.02) -> np.ndarray:
    """Point-group operations (holohedry) of a 2-D lattice as integer index matrices.

    An operation is an integer matrix ``M`` acting on cell indices as column vectors
    (``n' = M @ n``) that preserves the metric ``G = A A^T`` of the *reduced* basis
    ``A`` within ``tolerance``: ``|M^T G M - G| <= tolerance * sqrt(G_ii G_jj)``.

    Parameters
    ----------
    vectors : array_like, shape (2, 2)
        Reduced lattice vectors as rows (see :func:`reduce_basis`).
    tolerance : float
        Relative tolerance on the metric (0.02 is about 1 % on lengths and 0.6 degrees).

    Returns
    -------
    ndarray of int, shape (G, 2, 2)
        12 operations on hexagonal, 8 on square, 4 on (centred) rectangular, 2 on oblique
        lattices; the identity first.

    Examples
    --------
    >>> len(lattice_point_group([[1.0, 0.0], [-0.5, np.sqrt(3) / 2]]))
    12
    """
    A = np.asarray(vectors, dtype=float).reshape(2, 2)
    G = A @ A.T
    norm = np.sqrt(np.outer(np.diag(G), np.diag(G)))
    values = (-1, 0, 1)
    found = []
    for m00 in values:
        for m01 in values:
            for m10 in values:
                for m11 in values:
                    M = np.array([[m00, m01], [m10, m11]], dtype=np.int64)
                    if abs(round(np.linalg.det(M))) != 1:
                        continue
                    if np.all(np.abs(M.T @ G @ M - G) <= tolerance * norm):
                        found.append(M)
    identity = np.eye(2, dtype=np.int64)
    found.sort(key=lambda m: (not np.array_equal(m, identity), tuple(m.ravel())))
    group = np.array(found, dtype=np.int64).reshape(-1, 2, 2)
    if len(group) not in (2, 4, 8, 12) and tolerance > 1e-4:
        # a lattice near a class boundary can give a set that is not a group: be stricter
        return lattice_point_group(A, tolerance / 2)
    if len(group) not in (2, 4, 8, 12):
        return np.array([identity, -identity])
    return group


def _bravais_from_group(group: np.ndarray) -> str:
    order = len(group)
    if order == 12:
        return "hexagonal"
    if order == 8:
        return "square"
    if order == 4:
        mirrors = [m for m in group if round(np.linalg.det(m)) == -1]
        if any(m[0, 1] == 0 and m[1, 0] == 0 for m in mirrors):
            return "rectangular"
        return "centred_rectangular"
    return "oblique"


def classify_bravais(vectors, tolerance: float = 0.02) -> str:
    """Bravais type of a 2-D lattice from its reduced cell and point group.

    Parameters
    ----------
    vectors : array_like, shape (2, 2)
        Any basis of the lattice as rows (primitive; it is reduced first).
    tolerance : float
        Relative tolerance on the metric (see :func:`lattice_point_group`).

    Returns
    -------
    str
        One of :data:`BRAVAIS_TYPES`.

    Examples
    --------
    >>> classify_bravais([[3.29, 0.0], [1.645, 2.849]])
    'hexagonal'
    >>> classify_bravais([[2.0, 0.0], [1.0, 3.0]])
    'centred_rectangular'
    """
    return _bravais_from_group(lattice_point_group(reduce_basis(vectors), tolerance))


def _standard_basis(vectors: np.ndarray, tolerance: float) -> np.ndarray:
    """A deterministic reduced basis: ``a`` the shortest vector closest to +x, ``b`` obtuse."""
    a0, b0 = reduce_basis(vectors)
    n = np.array([(p, q) for p in range(-2, 3) for q in range(-2, 3) if (p, q) != (0, 0)], dtype=float)
    cand = n @ np.array([a0, b0])
    length = np.linalg.norm(cand, axis=1)
    shortest = length.min()
    near = np.flatnonzero(length <= shortest * (1 + tolerance))
    angle = np.degrees(np.arctan2(cand[near, 1], cand[near, 0]))
    a = cand[near[np.lexsort((-angle, np.round(np.abs(angle), 1)))[0]]]
    cross = a[0] * cand[:, 1] - a[1] * cand[:, 0]
    noncollinear = np.abs(cross) > 0.2 * np.linalg.norm(a) * length
    second = length[noncollinear].min()
    dot = cand @ a
    ok = noncollinear & (length <= second * (1 + tolerance)) & (dot <= tolerance * np.linalg.norm(a) * length)
    if not ok.any():
        return np.array([a0, b0])
    idx = np.flatnonzero(ok)
    b = cand[idx[np.lexsort((length[idx], -np.sign(cross[idx])))[0]]]
    basis = np.array([a, b])
    if abs(abs(np.linalg.det(basis)) - abs(np.linalg.det([a0, b0]))) > 1e-6 * abs(np.linalg.det([a0, b0])):
        return np.array([a0, b0])
    return basis


# --------------------------------------------------------------------------------------
# the Lattice
# --------------------------------------------------------------------------------------
@dataclass
class Lattice:
    """A 2-D lattice with basis sites, fitted to column positions (pixels).

    The position of fractional coordinate ``u = (u1, u2)`` (cell index plus position in the
    cell) is ``origin + u1 a + u2 b + distortion`` where the optional quadratic distortion
    term absorbs mild scan distortion and strain over the field of view.

    Attributes
    ----------
    vectors : ndarray, shape (2, 2)
        Reduced primitive vectors as rows (a, b) in pixels; ``|a| <= |b|``, ``a . b <= 0``.
    origin : ndarray, shape (2,)
        Pixel position (x, y) of the corner of cell (0, 0).
    sites : ndarray, shape (S, 2)
        Fractional coordinates in [0, 1)^2 of the basis sites within a cell, chosen as far
        from the cell edges as possible.
    bravais : str
        One of :data:`BRAVAIS_TYPES`.
    point_group : ndarray of int, shape (G, 2, 2)
        Holohedry as integer matrices acting on cell indices (see :func:`lattice_point_group`).
    distortion : ndarray, shape (3, 2)
        Pixel coefficients of the quadratic terms ``v1^2, v1 v2, v2^2`` with
        ``v = (u - distortion_centre) / distortion_scale``; zero for a perfect lattice.
    distortion_centre : ndarray, shape (2,)
    distortion_scale : float
    tolerance_px : float
        Largest distance (px) of a column from its site for it to count as on-site.
    fit_fraction : float
        Fraction of the columns lying on a site within ``tolerance_px``.
    residual_rms : float
        RMS distance (px) of the on-site columns from their ideal sites.
    site_occupancy : ndarray, shape (S,)
        Fraction of indexed cells in which each site holds a column.
    """

    vectors: np.ndarray
    origin: np.ndarray
    sites: np.ndarray
    bravais: str
    point_group: np.ndarray
    distortion: np.ndarray = field(default_factory=lambda: np.zeros((3, 2)))
    distortion_centre: np.ndarray = field(default_factory=lambda: np.zeros(2))
    distortion_scale: float = 1.0
    tolerance_px: float = 0.0
    fit_fraction: float = 1.0
    residual_rms: float = 0.0
    site_occupancy: np.ndarray | None = None

    def __post_init__(self):
        self.vectors = np.asarray(self.vectors, dtype=float).reshape(2, 2)
        self.origin = np.asarray(self.origin, dtype=float).reshape(2)
        self.sites = np.asarray(self.sites, dtype=float).reshape(-1, 2)
        self.point_group = np.asarray(self.point_group, dtype=np.int64).reshape(-1, 2, 2)
        self.distortion = np.asarray(self.distortion, dtype=float).reshape(3, 2)
        self.distortion_centre = np.asarray(self.distortion_centre, dtype=float).reshape(2)
        self.distortion_scale = float(self.distortion_scale)
        if self.site_occupancy is None:
            self.site_occupancy = np.ones(len(self.sites))
        self.site_occupancy = np.asarray(self.site_occupancy, dtype=float).reshape(-1)

    @property
    def n_sites(self) -> int:
        """Number of basis sites S per cell."""
        return len(self.sites)

    @property
    def cell_area(self) -> float:
        """Cell area in px^2."""
        return float(abs(np.linalg.det(self.vectors)))

    @property
    def site_distance(self) -> float:
        """Shortest distance (px) between two distinct sites of the (ideal) crystal."""
        n = np.array([(p, q) for p in range(-2, 3) for q in range(-2, 3)], dtype=float)
        diff = (self.sites[:, None, None, :] - self.sites[None, :, None, :] + n[None, None]) @ self.vectors
        dist = np.linalg.norm(diff, axis=-1)
        dist = dist[dist > 1e-9 * np.linalg.norm(self.vectors[0])]
        return float(dist.min())

    def __repr__(self) -> str:
        a, b = np.linalg.norm(self.vectors, axis=1)
        cosg = self.vectors[0] @ self.vectors[1] / (a * b)
        return (
            f"Lattice({self.bravais}, |a|={a:.3f} px, |b|={b:.3f} px, gamma={np.degrees(np.arccos(cosg)):.2f} deg, "
            f"{self.n_sites} site(s), fit {100 * self.fit_fraction:.1f} %)"
        )

    def _quadratic(self, u: np.ndarray) -> np.ndarray:
        v = (u - self.distortion_centre) / self.distortion_scale
        return np.stack([v[:, 0] ** 2, v[:, 0] * v[:, 1], v[:, 1] ** 2], axis=1)

    def to_pixels(self, fractional) -> np.ndarray:
        """Pixel positions (x, y) of fractional coordinates (cell index + position in cell).

        Parameters
        ----------
        fractional : array_like, shape (M, 2)

        Returns
        -------
        ndarray, shape (M, 2)
        """
        u = np.asarray(fractional, dtype=float).reshape(-1, 2)
        return self.origin + u @ self.vectors + self._quadratic(u) @ self.distortion

    def to_fractional(self, positions) -> np.ndarray:
        """Fractional coordinates of pixel positions (inverse of :meth:`to_pixels`).

        Parameters
        ----------
        positions : array_like, shape (M, 2)
            (x, y) in pixels.

        Returns
        -------
        ndarray, shape (M, 2)
        """
        x = np.asarray(positions, dtype=float).reshape(-1, 2) - self.origin
        inverse = np.linalg.inv(self.vectors)
        u = x @ inverse
        if np.any(self.distortion):
            for _ in range(10):  # fixed point: converges for mild distortion
                u = (x - self._quadratic(u) @ self.distortion) @ inverse
        return u

    def site_positions(self, cells, sites=None) -> np.ndarray:
        """Ideal pixel positions of basis sites in given cells.

        Parameters
        ----------
        cells : array_like of int, shape (M, 2)
            Cell indices (i, j).
        sites : array_like of int, shape (M,), optional
            Site of each row; default: all sites of every cell, shape (M * S, 2) in
            cell-major order.
        """
        cells = np.asarray(cells, dtype=float).reshape(-1, 2)
        if sites is None:
            u = (cells[:, None, :] + self.sites[None, :, :]).reshape(-1, 2)
        else:
            u = cells + self.sites[np.asarray(sites, dtype=np.int64).reshape(-1)]
        return self.to_pixels(u)

    def to_dict(self) -> dict:
        """JSON-safe dictionary (see :meth:`from_dict`)."""
        return {
            "vectors": self.vectors.tolist(),
            "origin": self.origin.tolist(),
            "sites": self.sites.tolist(),
            "bravais": self.bravais,
            "point_group": self.point_group.tolist(),
            "distortion": self.distortion.tolist(),
            "distortion_centre": self.distortion_centre.tolist(),
            "distortion_scale": self.distortion_scale,
            "tolerance_px": float(self.tolerance_px),
            "fit_fraction": float(self.fit_fraction),
            "residual_rms": float(self.residual_rms),
            "site_occupancy": self.site_occupancy.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Lattice":
        """Rebuild a :class:`Lattice` from :meth:`to_dict` output."""
        return cls(**data)

    @classmethod
    def from_vectors(cls, vectors, origin=(0.0, 0.0), sites=((0.0, 0.0),), *, symmetry_tolerance: float = 0.02,
                     tolerance_px: float | None = None) -> "Lattice":
        """A lattice from known vectors (rows, px), origin and fractional basis sites.

        The vectors are reduced first; ``sites`` are given in the fractional coordinates
        of the vectors as passed and are converted to the reduced basis.

        Examples
        --------
        >>> Lattice.from_vectors([[10, 0], [0, 12]]).bravais
        'rectangular'
        """
        given = np.asarray(vectors, dtype=float).reshape(2, 2)
        reduced = _standard_basis(given, symmetry_tolerance)
        xy = np.asarray(sites, dtype=float).reshape(-1, 2) @ given
        frac = xy @ np.linalg.inv(reduced)
        group = lattice_point_group(reduced, symmetry_tolerance)
        lattice = cls(reduced, origin, frac - np.floor(frac), _bravais_from_group(group), group)
        if tolerance_px is None:
            tolerance_px = 0.4 * lattice.site_distance
        lattice.tolerance_px = float(tolerance_px)
        return lattice


# --------------------------------------------------------------------------------------
# finding the lattice
# --------------------------------------------------------------------------------------
def _difference_vectors(tree, positions, sample_idx, radius):
    neighbours = tree.query_ball_point(positions[sample_idx], radius, return_sorted=False)
    lengths = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(neighbours))
    if lengths.sum() == 0:
        return np.zeros((0, 2))
    targets = np.fromiter((k for n in neighbours for k in n), dtype=np.int64, count=int(lengths.sum()))
    sources = np.repeat(sample_idx, lengths)
    keep = targets != sources
    return positions[targets[keep]] - positions[sources[keep]]


def _peak_vectors(vectors, radius, bin_size, max_peaks):
    from scipy import ndimage

    n_bins = int(np.ceil(2 * radius / bin_size))
    edges = np.linspace(-radius, radius, n_bins + 1)
    hist, _, _ = np.histogram2d(vectors[:, 0], vectors[:, 1], bins=(edges, edges))
    smooth = ndimage.gaussian_filter(hist, sigma=1.0, mode="constant", cval=0.0)
    peaks = (smooth == ndimage.maximum_filter(smooth, size=5, mode="constant", cval=0.0)) & (smooth > 0)
    ix, iy = np.nonzero(peaks)
    order = np.argsort(-smooth[ix, iy], kind="stable")[:max_peaks]
    centres = 0.5 * (edges[:-1] + edges[1:])
    return np.column_stack([centres[ix[order]], centres[iy[order]]])


def _translation_scores(tree, points, vectors, tol):
    scores = np.empty(len(vectors))
    for k, t in enumerate(vectors):
        dist, _ = tree.query(points + t, k=1, distance_upper_bound=tol)
        scores[k] = np.isfinite(dist).mean()
    return scores


def _consistent_basis(accepted: np.ndarray, tol: float, n_short: int = 10):
    """The pair of short non-collinear translations that explains most accepted ones.

    With two grains in view the accepted translations belong to two lattices; a basis
    mixing them explains few of the others, so it is never chosen.
    """
    length = np.linalg.norm(accepted, axis=1)
    order = np.argsort(length, kind="stable")[:n_short]
    best, best_key = None, None
    for p in range(len(order)):
        for q in range(p + 1, len(order)):
            a, b = accepted[order[p]], accepted[order[q]]
            cross = a[0] * b[1] - a[1] * b[0]
            if abs(cross) <= 0.2 * length[order[p]] * length[order[q]]:
                continue
            basis = reduce_basis([a, b])
            coords = accepted @ np.linalg.inv(basis)
            err = np.linalg.norm((coords - np.round(coords)) @ basis, axis=1)
            explained = int((err <= tol).sum())
            key = (-explained, round(abs(np.linalg.det(basis)) / tol**2, 1))
            if best_key is None or key < best_key:
                best, best_key = basis, key
    return best


def _group_median(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` (M,) within each group 0..n_groups-1 (NaN for empty groups)."""
    order = np.lexsort((values, groups))
    sorted_groups = groups[order]
    starts = np.searchsorted(sorted_groups, np.arange(n_groups), side="left")
    stops = np.searchsorted(sorted_groups, np.arange(n_groups), side="right")
    out = np.full(n_groups, np.nan)
    has = stops > starts
    lo = order[(starts[has] + stops[has] - 1) // 2]
    hi = order[(starts[has] + stops[has]) // 2]
    out[has] = 0.5 * (values[lo] + values[hi])
    return out


def _bfs_indices(n_points, edges_src, edges_dst, edges_code):
    """Integer lattice indices by breadth-first propagation along lattice-vector edges.

    Returns ``(index (N, 2) int, component (N,) int)``; indices are relative to one root
    per connected component.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    steps = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1], [0, 0]], dtype=np.int64)
    src = np.concatenate([edges_src, edges_dst])
    dst = np.concatenate([edges_dst, edges_src])
    code = np.concatenate([edges_code, edges_code + 2])  # 1:+a 2:+b 3:-a 4:-b
    graph = coo_matrix((code, (src, dst)), shape=(n_points, n_points)).tocsr()
    n_comp, component = connected_components(graph, directed=False)
    # a super-root linked to one member of every component: one BFS indexes everything
    reps = np.full(n_comp, -1, dtype=np.int64)
    reps[component[::-1]] = np.arange(n_points)[::-1]
    root = n_points
    src = np.concatenate([src, np.full(n_comp, root)])
    dst = np.concatenate([dst, reps])
    code = np.concatenate([code, np.full(n_comp, 5)])
    graph = coo_matrix((code, (src, dst)), shape=(n_points + 1, n_points + 1)).tocsr()
    _, pred = breadth_first_order(graph, root, directed=True, return_predecessors=True)
    parent = pred.astype(np.int64)
    parent[root] = root
    offset = np.zeros((n_points + 1, 2), dtype=np.int64)
    child = np.arange(n_points)
    offset[:n_points] = steps[np.asarray(graph[parent[:n_points], child]).ravel().astype(np.int64)]
    while np.any(parent != root):
        offset = offset + offset[parent]
        parent = parent[parent]
    return offset[:n_points], component.astype(np.int64)


def _fit_lattice_model(positions, u, distortion_order, centre, scale, site_of=None, n_sites=1):
    """Least squares: x = origin + u A + quad(u) D + w_site; returns (origin, A, D, w, resid)."""
    v = (u - centre) / scale
    cols = [np.ones(len(u)), u[:, 0], u[:, 1]]
    if distortion_order >= 2:
        cols += [v[:, 0] ** 2, v[:, 0] * v[:, 1], v[:, 1] ** 2]
    if site_of is not None:
        for s in range(1, n_sites):
            cols.append((site_of == s).astype(float))
    X = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(X, positions, rcond=None)
    resid = np.linalg.norm(positions - X @ coef, axis=1)
    origin, A = coef[0], coef[1:3]
    D = coef[3:6] if distortion_order >= 2 else np.zeros((3, 2))
    start = 6 if distortion_order >= 2 else 3
    w = np.zeros((n_sites, 2))
    if site_of is not None and n_sites > 1:
        w[1:] = coef[start:start + n_sites - 1]
    return origin, A, D, w, resid


def _robust_fit(positions, u, distortion_order, centre, scale, tol, site_of=None, n_sites=1):
    keep = np.ones(len(u), dtype=bool)
    for _ in range(3):
        sub_sites = None if site_of is None else site_of[keep]
        origin, A, D, w, _ = _fit_lattice_model(
            positions[keep], u[keep], distortion_order, centre, scale, sub_sites, n_sites
        )
        pred = origin + u @ A
        if distortion_order >= 2:
            v = (u - centre) / scale
            pred = pred + np.stack([v[:, 0] ** 2, v[:, 0] * v[:, 1], v[:, 1] ** 2], axis=1) @ D
        if site_of is not None:
            pred = pred + w[site_of]
        resid = np.linalg.norm(positions - pred, axis=1)
        new_keep = resid <= max(tol, 3.0 * np.median(resid[keep]) + 1e-12)
        if np.array_equal(new_keep, keep) or new_keep.sum() < 6:
            break
        keep = new_keep
    return origin, A, D, w


def _cluster_sites(phi, weight, A, tol):
    """Greedy clustering of fractional offsets on the torus; returns (centres (S,2), weights)."""
    order = np.argsort(-weight, kind="stable")
    centres, totals, sums = [], [], []
    for k in order:
        placed = False
        for c in range(len(centres)):
            diff = phi[k] - centres[c]
            diff -= np.round(diff)
            if np.linalg.norm(diff @ A) <= tol:
                sums[c] += weight[k] * diff
                totals[c] += weight[k]
                placed = True
                break
        if not placed:
            centres.append(phi[k].copy())
            totals.append(float(weight[k]))
            sums.append(np.zeros(2))
    centres = np.array([c + s / t for c, s, t in zip(centres, sums, totals)]).reshape(-1, 2)
    return centres - np.floor(centres), np.array(totals)


def _best_origin_shift(sites, A, steps: int = 48):
    """Fractional shift c0 that keeps every site as far from the cell edges as possible."""
    area = abs(np.linalg.det(A))
    height = np.array([area / np.linalg.norm(A[1]), area / np.linalg.norm(A[0])])
    grid = np.arange(steps) / steps
    c0 = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)
    frac = sites[None, :, :] - c0[:, None, :]
    frac -= np.floor(frac)
    margin = np.minimum(frac, 1.0 - frac) * height
    score = margin.min(axis=(1, 2))
    return c0[int(np.argmax(score))]


def find_lattice(
    positions,
    *,
    tolerance: float = 0.25,
    symmetry_tolerance: float = 0.02,
    distortion_order: int = 2,
    min_score: float = 0.3,
    min_site_occupancy: float = 0.25,
    site_tolerance: float = 0.4,
    max_sample: int = 4000,
    random_state=0,
) -> Lattice:
    """Primitive lattice vectors, basis sites and Bravais type from column positions.

    1. Difference vectors from a sample of columns to their neighbours are histogrammed;
       each peak is a candidate translation, scored by the fraction of columns ``p`` with
       another column near ``p + t``. Translations of the crystal score close to 1 even
       with vacancies; vectors inside a multi-site basis score about ``1 / S``.
    2. The two shortest non-collinear high-scoring vectors are refined by least squares on
       all matching column pairs and Gauss-reduced.
    3. Columns are indexed by propagating integer steps along ``+-a``, ``+-b`` pairs
       (robust to slow distortion), a lattice with optional quadratic distortion is fitted
       to the largest connected sublattice, and the other sublattices give the basis sites.
    4. The cell origin is shifted so that every site is as far from the cell edges as
       possible; the Bravais type comes from the point group of the reduced cell.

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        Column positions (x, y) in pixels.
    tolerance : float
        Matching tolerance as a fraction of the nearest-neighbour column distance.
    symmetry_tolerance : float
        Relative metric tolerance of the Bravais classification (see
        :func:`lattice_point_group`).
    distortion_order : {1, 2}
        1: affine lattice; 2: add quadratic terms for mild distortion.
    min_score : float
        Smallest fraction of columns a translation must map onto columns.
    min_site_occupancy : float
        A basis site must be occupied in at least this fraction of cells (relative to the
        most occupied site); rarer positions are treated as off-site columns.
    site_tolerance : float
        A column farther than this fraction of the shortest site-to-site distance from
        its site is off-site (``Lattice.tolerance_px``). Loose enough for integer
        positions and scan distortion, tight enough to flag interstitials.
    max_sample : int
        Columns sampled for the vector histogram.
    random_state : int, Generator or None
        Seed of the sampling.

    Returns
    -------
    Lattice

    Raises
    ------
    NotEnoughDataError
        Fewer than 12 columns.
    LatticeError
        No translation maps at least ``min_score`` of the columns onto columns (an
        amorphous or non-periodic arrangement): use Voronoi cells instead.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> i, j = np.meshgrid(np.arange(30), np.arange(30))
    >>> xy = np.column_stack([i.ravel() * 8.0, j.ravel() * 11.0]) + rng.normal(0, 0.2, (900, 2))
    >>> find_lattice(xy).bravais
    'rectangular'
    """
    from scipy.spatial import cKDTree

    positions = _as_positions(positions)
    n = len(positions)
    if n < _MIN_LATTICE_COLUMNS:
        raise NotEnoughDataError(
            f"only {n} columns: a lattice needs at least {_MIN_LATTICE_COLUMNS}; use a larger field of view."
        )
    if distortion_order not in (1, 2):
        raise ParameterError(f"distortion_order must be 1 (affine) or 2 (quadratic), got {distortion_order}.")
    if not (0 < tolerance < 0.5):
        raise ParameterError(f"tolerance must be in (0, 0.5) nearest-neighbour distances, got {tolerance}.")
    if not (0 < site_tolerance < 0.5):
        raise ParameterError(f"site_tolerance must be in (0, 0.5) site distances, got {site_tolerance}.")
    tree = cKDTree(positions)
    dist, _ = tree.query(positions, k=2)
    nn = dist[:, 1][dist[:, 1] > 0]
    if len(nn) == 0:
        raise ParameterError("all positions coincide; give distinct column positions.")
    d_nn = float(np.median(nn))
    tol = tolerance * d_nn
    # candidate translations are scored with half the tolerance: two grains a few degrees
    # apart must not merge into one blurred peak
    tight = 0.5 * tol
    rng = check_random_state(random_state)
    sample_idx = np.arange(n) if n <= max_sample else np.sort(rng.choice(n, size=max_sample, replace=False))
    sample = positions[sample_idx]

    basis = None
    best_score = 0.0
    for radius_factor in (3.0, 5.0, 8.0):
        radius = radius_factor * d_nn
        vectors = _difference_vectors(tree, positions, sample_idx, radius)
        if len(vectors) == 0:
            continue
        peaks = _peak_vectors(vectors, radius, tol / 4.0, max_peaks=80)
        vtree = cKDTree(vectors)
        refined = []
        for peak in peaks:
            near = vtree.query_ball_point(peak, tight)
            if near:
                refined.append(vectors[near].mean(axis=0))
        if not refined:
            continue
        cand = np.array(refined)
        cand = cand[np.linalg.norm(cand, axis=1) > tol]
        scores = _translation_scores(tree, sample, cand, tight)
        best_score = max(best_score, float(scores.max(initial=0.0)))
        accepted = cand[scores >= max(min_score, 0.8 * scores.max(initial=0.0))]
        if len(accepted) < 2:
            continue
        basis = _consistent_basis(accepted, tight)
        if basis is not None:
            break
    if basis is None:
        raise LatticeError(
            f"no periodic lattice: the best translation maps only {100 * best_score:.0f} % of the columns "
            f"onto columns (need {100 * min_score:.0f} %). The region looks amorphous or non-periodic; "
            "use Voronoi cells (lattice='voronoi') or crop to a crystalline region."
        )

    # refine the vectors by least squares on all matching pairs of a large sample
    ref_idx = np.arange(n) if n <= 5 * max_sample else np.sort(rng.choice(n, size=5 * max_sample, replace=False))
    design, diffs = [], []
    for coeff in ((1, 0), (0, 1), (1, 1), (1, -1)):
        t = coeff[0] * basis[0] + coeff[1] * basis[1]
        dist, q = tree.query(positions[ref_idx] + t, k=1, distance_upper_bound=tol)
        ok = np.isfinite(dist)
        diffs.append(positions[q[ok]] - positions[ref_idx[ok]])
        design.append(np.tile(np.array(coeff, dtype=float), (int(ok.sum()), 1)))
    design, diffs = np.concatenate(design), np.concatenate(diffs)
    if len(design) >= 4:
        basis, *_ = np.linalg.lstsq(design, diffs, rcond=None)
    basis = _standard_basis(basis, symmetry_tolerance)

    # index every column by propagation along +-a, +-b
    src, dst, code = [], [], []
    for k, t in enumerate(basis):
        dist, q = tree.query(positions + t, k=1, distance_upper_bound=tol)
        ok = np.flatnonzero(np.isfinite(dist))
        src.append(ok)
        dst.append(q[ok])
        code.append(np.full(len(ok), k + 1))
    index, component = _bfs_indices(n, np.concatenate(src), np.concatenate(dst), np.concatenate(code))
    n_comp = int(component.max()) + 1
    sizes = np.bincount(component, minlength=n_comp)
    largest = int(np.argmax(sizes))
    members = component == largest
    if members.sum() < 6:
        raise LatticeError(
            "no periodic lattice: no connected group of columns repeats along both lattice vectors; "
            "use Voronoi cells (lattice='voronoi')."
        )

    # fit the largest sublattice, then place every other sublattice relative to it
    order = distortion_order if members.sum() >= 30 else 1
    centre = index[members].mean(axis=0)
    scale = max(1.0, float(np.abs(index[members] - centre).max()))
    origin, A, D, _ = _robust_fit(positions[members], index[members].astype(float), order, centre, scale, tol)
    lattice = Lattice(A, origin, np.zeros((1, 2)), "oblique", np.eye(2, dtype=np.int64)[None], D, centre, scale)
    u_raw = lattice.to_fractional(positions)
    delta = np.column_stack([
        _group_median(u_raw[:, 0] - index[:, 0], component, n_comp),
        _group_median(u_raw[:, 1] - index[:, 1], component, n_comp),
    ])
    phi = delta - np.floor(delta)
    centres, weights = _cluster_sites(phi, sizes.astype(float), A, tol)
    keep = weights >= min_site_occupancy * weights.max()
    sites = centres[keep]

    # joint fit with all sites, then choose the cell origin away from the sites
    for _ in range(2):
        lattice.sites = sites
        s_of, cell_of, resid = _nearest_sites(lattice, u_raw)
        on = resid <= tol
        u_site = cell_of + sites[s_of]
        origin, A, D, w = _robust_fit(positions[on], u_site[on], order, centre, scale, tol, s_of[on], len(sites))
        sites = sites + w @ np.linalg.inv(A)  # w[0] = 0: site 0 defines the origin
        lattice = Lattice(A, origin, sites, "oblique", np.eye(2, dtype=np.int64)[None], D, centre, scale)
        u_raw = lattice.to_fractional(positions)
    shift = _best_origin_shift(lattice.sites, A)
    lattice.origin = lattice.origin + shift @ A
    lattice.distortion_centre = lattice.distortion_centre - shift
    frac = lattice.sites - shift
    frac -= np.floor(frac)
    order_sites = np.lexsort((np.round(frac[:, 0], 3), np.round(frac[:, 1], 3)))
    lattice.sites = frac[order_sites]

    group = lattice_point_group(A, symmetry_tolerance)
    lattice.point_group = group
    lattice.bravais = _bravais_from_group(group)
    lattice.tolerance_px = float(site_tolerance * lattice.site_distance)
    s_of, cell_of, resid = _nearest_sites(lattice, lattice.to_fractional(positions))
    on = resid <= lattice.tolerance_px
    lattice.fit_fraction = float(on.mean())
    lattice.residual_rms = float(np.sqrt(np.mean(resid[on] ** 2))) if on.any() else float("nan")
    rel = cell_of[on] - cell_of.min(axis=0)
    n_cells = len(np.unique(rel[:, 0] * (int(np.ptp(cell_of[:, 1])) + 1) + rel[:, 1])) or 1
    lattice.site_occupancy = np.bincount(s_of[on], minlength=lattice.n_sites) / n_cells
    return lattice


def _nearest_sites(lattice: Lattice, u: np.ndarray):
    """Nearest basis site of fractional coordinates: (site (M,), cell (M, 2), distance px (M,))."""
    best_site = np.zeros(len(u), dtype=np.int64)
    best_cell = np.zeros((len(u), 2), dtype=np.int64)
    best = np.full(len(u), np.inf)
    for s, phi in enumerate(lattice.sites):
        d = u - phi
        cell = np.round(d)
        r = np.linalg.norm((d - cell) @ lattice.vectors, axis=1)
        better = r < best
        best[better] = r[better]
        best_site[better] = s
        best_cell[better] = cell[better]
    return best_site, best_cell, best


# --------------------------------------------------------------------------------------
# symmetry operations of the decorated crystal
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SymmetryOperation:
    """A symmetry operation of the crystal acting on (cell, site) pairs.

    A site ``s`` of cell ``n`` goes to site ``site_map[s]`` of cell
    ``matrix @ n + site_shift[s]``.

    Attributes
    ----------
    matrix : ndarray of int, shape (2, 2)
        Point-group part acting on cell indices (column vectors).
    site_map : ndarray of int, shape (S,)
    site_shift : ndarray of int, shape (S, 2)
    """

    matrix: np.ndarray
    site_map: np.ndarray
    site_shift: np.ndarray

    def apply(self, cells, sites):
        """Transform cells (M, 2) and sites (M,); returns ``(cells', sites')``."""
        cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
        sites = np.asarray(sites, dtype=np.int64).reshape(-1)
        return cells @ self.matrix.T + self.site_shift[sites], self.site_map[sites]

    @property
    def keeps_cells(self) -> bool:
        """True when the operation maps every cell onto one cell (all site shifts equal)."""
        return bool(np.all(self.site_shift == self.site_shift[0]))

    @property
    def is_rotation(self) -> bool:
        """True for proper rotations (det +1), False for mirrors."""
        return round(float(np.linalg.det(self.matrix))) == 1

    def to_dict(self) -> dict:
        return {
            "matrix": self.matrix.tolist(),
            "site_map": self.site_map.tolist(),
            "site_shift": self.site_shift.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SymmetryOperation":
        return cls(
            np.asarray(data["matrix"], dtype=np.int64).reshape(2, 2),
            np.asarray(data["site_map"], dtype=np.int64).reshape(-1),
            np.asarray(data["site_shift"], dtype=np.int64).reshape(-1, 2),
        )


def crystal_symmetry(lattice: Lattice, site_labels=None, mode: str = "crystal", point_group=None) -> list:
    """Symmetry operations of the crystal: lattice point group restricted to the decoration.

    Parameters
    ----------
    lattice : Lattice
    site_labels : array_like, shape (S,), optional
        Content of each basis site in the perfect crystal (e.g. the dominant cell pattern).
        Operations must map every site onto a site with the same label.
    mode : {"crystal", "sites", "translation"}
        ``"crystal"``: operations of the lattice point group that map the sites *and their
        labels* onto themselves (3m for a MoSe2 monolayer); ``"sites"``: ignore labels
        (6mm for a honeycomb of identical columns); ``"translation"``: identity only (the
        paper's containment "under translation but not rotation").
    point_group : ndarray of int, shape (G, 2, 2), optional
        Lattice operations to start from (default ``lattice.point_group``), e.g. one found
        with a looser tolerance for a distorted image.

    Returns
    -------
    list of SymmetryOperation
        The identity first.

    Examples
    --------
    >>> hexagonal = Lattice.from_vectors([[1, 0], [-0.5, np.sqrt(3) / 2]], sites=[(0, 0), (1 / 3, 2 / 3)])
    >>> len(crystal_symmetry(hexagonal, ["Mo", "Se"])), len(crystal_symmetry(hexagonal, ["C", "C"]))
    (6, 12)
    """
    if mode not in ("crystal", "sites", "translation"):
        raise ParameterError(f"symmetry mode must be 'crystal', 'sites' or 'translation', got {mode!r}.")
    n_sites = lattice.n_sites
    identity = SymmetryOperation(np.eye(2, dtype=np.int64), np.arange(n_sites), np.zeros((n_sites, 2), dtype=np.int64))
    if mode == "translation":
        return [identity]
    if site_labels is None or mode == "sites":
        labels = np.zeros(n_sites, dtype=np.int64)
    else:
        labels = np.asarray(site_labels).reshape(-1)
        if len(labels) != n_sites:
            raise ParameterError(f"site_labels has {len(labels)} entries for {n_sites} lattice sites.")
    A = lattice.vectors
    tol = lattice.tolerance_px if lattice.tolerance_px > 0 else 0.4 * lattice.site_distance
    phi = lattice.sites
    ops = [identity]
    for M in (lattice.point_group if point_group is None else np.asarray(point_group, dtype=np.int64)):
        if np.array_equal(M, np.eye(2, dtype=np.int64)):
            continue
        image = phi @ M.T
        for target in np.flatnonzero(labels == labels[0]):
            t = phi[target] - image[0]
            mapped = image + t
            site_map = np.full(n_sites, -1, dtype=np.int64)
            site_shift = np.zeros((n_sites, 2), dtype=np.int64)
            for s in range(n_sites):
                diff = mapped[s][None, :] - phi
                shift = np.round(diff)
                err = np.linalg.norm((diff - shift) @ A, axis=1)
                err[labels != labels[s]] = np.inf
                best = int(np.argmin(err))
                if err[best] > tol:
                    break
                site_map[s] = best
                site_shift[s] = shift[best].astype(np.int64)
            if np.all(site_map >= 0) and len(np.unique(site_map)) == n_sites:
                ops.append(SymmetryOperation(M.copy(), site_map, site_shift))
                break
    return ops


def neighbourhood_offsets(lattice: Lattice, kind: str = "lattice", point_group=None) -> np.ndarray:
    """Index offsets of neighbouring cells.

    Parameters
    ----------
    lattice : Lattice
    kind : {"lattice", "von_neumann", "moore"}
        ``"von_neumann"``: +-a, +-b (the paper's choice); ``"lattice"``: the von Neumann
        set made invariant under the lattice point group, which adds +-(a + b) on
        hexagonal lattices so that rotated copies of a cluster are connected the same
        way; ``"moore"``: all 8 surrounding cells.
    point_group : ndarray of int, shape (G, 2, 2), optional
        Default ``lattice.point_group``.

    Returns
    -------
    ndarray of int, shape (K, 2)

    Examples
    --------
    >>> hexagonal = Lattice.from_vectors([[1, 0], [-0.5, np.sqrt(3) / 2]])
    >>> len(neighbourhood_offsets(hexagonal)), len(neighbourhood_offsets(hexagonal, "von_neumann"))
    (6, 4)
    """
    von_neumann = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=np.int64)
    if kind == "von_neumann":
        return von_neumann
    if kind == "moore":
        return np.array([[p, q] for p in (-1, 0, 1) for q in (-1, 0, 1) if (p, q) != (0, 0)], dtype=np.int64)
    if kind != "lattice":
        raise ParameterError(f"neighbourhood must be 'lattice', 'von_neumann' or 'moore', got {kind!r}.")
    group = lattice.point_group if point_group is None else np.asarray(point_group, dtype=np.int64)
    orbit = {tuple(int(x) for x in M @ v) for M in group for v in von_neumann}
    return np.array(sorted(orbit), dtype=np.int64)


# --------------------------------------------------------------------------------------
# lattice cells
# --------------------------------------------------------------------------------------
def index_columns(positions, lattice: Lattice):
    """Cell index, site and fractional coordinate of every column.

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        Column positions (x, y) in pixels.
    lattice : Lattice

    Returns
    -------
    cells : ndarray of int, shape (N, 2)
        Cell (i, j) of each column: the cell of its nearest basis site.
    sites : ndarray of int, shape (N,)
        Nearest basis site.
    fractional : ndarray, shape (N, 2)
        Fractional coordinate of the column within its cell (close to ``lattice.sites``).
    residual : ndarray, shape (N,)
        Distance (px) from the ideal site; columns with ``residual > lattice.tolerance_px``
        are off-site (interstitials, other domains).

    Examples
    --------
    >>> lattice = Lattice.from_vectors([[10, 0], [0, 10]], sites=[(0.5, 0.5)])
    >>> cells, sites, frac, resid = index_columns([[25.2, 14.9]], lattice)
    >>> cells.tolist(), frac.round(2).tolist()
    ([[2, 1]], [[0.52, 0.49]])
    """
    positions = _as_positions(positions)
    u = lattice.to_fractional(positions)
    sites, cells, residual = _nearest_sites(lattice, u)
    return cells, sites, u - cells, residual


def _site_region(positions, margin_px, max_gap_px):
    """Callable ``inside(points, occupied)``: where a column would have been seen.

    A point counts when it lies at least ``margin_px`` inside the convex hull of the
    columns and, unless ``occupied``, within ``max_gap_px`` of a column.
    """
    from scipy.spatial import ConvexHull, Delaunay, HalfspaceIntersection, QhullError, cKDTree

    try:
        hull = ConvexHull(positions)
        halfspaces = hull.equations.copy()
        halfspaces[:, 2] += margin_px  # shift every facet inwards
        centre = positions[hull.vertices].mean(axis=0)
        shrunk = HalfspaceIntersection(halfspaces, centre).intersections
        triangles = Delaunay(shrunk)
    except (QhullError, ValueError) as exc:
        raise NotEnoughDataError(
            f"the columns span no area larger than the {margin_px:.2g} px margin (collinear or too few): {exc}"
        ) from None
    tree = cKDTree(positions)

    def inside(points, occupied=None):
        ok = triangles.find_simplex(points) >= 0
        check = ok if occupied is None else ok & ~occupied
        if check.any():
            dist, _ = tree.query(points[check], k=1)
            ok[np.flatnonzero(check)[dist > max_gap_px]] = False
        return ok

    return inside


@dataclass
class LatticeCells:
    """Columns binned into the cells of a lattice, with cell patterns and types.

    Attributes
    ----------
    lattice : Lattice
    cells : ndarray of int, shape (C, 2)
        Index (i, j) of every complete cell (all sites inside the imaged region), sorted.
    content : ndarray of int, shape (C, S)
        Content code of every site: a label code 0..L-1, :data:`MISSING`, or a code >= L
        for combined contents (see ``content_names``).
    cell_type : ndarray of int, shape (C,)
        Type of every cell: index into ``type_patterns`` (types sorted by count, so 0 is
        the most common).
    type_patterns : ndarray of int, shape (T, S)
        Canonical content pattern of each type.
    type_counts : ndarray of int, shape (T,)
    dominant : ndarray of int
        Types treated as the perfect crystal.
    crystal_content : ndarray of int, shape (S,)
        Content of the perfect crystal cell (the most common pattern).
    operations : list of SymmetryOperation
        Symmetry of the crystal used to merge duplicates.
    neighbours : ndarray of int, shape (K, 2)
        Index offsets of adjacent cells.
    column_cell : ndarray of int, shape (N,)
        Row in ``cells`` of every column's cell, -1 for columns outside complete cells.
    column_site : ndarray of int, shape (N,)
    column_fraction : ndarray, shape (N, 2)
        Fractional coordinate of every column within its cell.
    column_on_site : ndarray of bool, shape (N,)
    label_names : list of str
    content_names : dict
        Content code -> name (``"missing"``, ``"Mo"``, ``"Mo+Se2"``, ``"Se2~"`` ...).
    summary : dict
        Counts: columns, border columns (outside complete cells), off-site columns,
        doubly occupied sites, missing sites, cells, types.
    """

    lattice: Lattice
    cells: np.ndarray
    content: np.ndarray
    cell_type: np.ndarray
    type_patterns: np.ndarray
    type_counts: np.ndarray
    dominant: np.ndarray
    crystal_content: np.ndarray
    operations: list
    neighbours: np.ndarray
    column_cell: np.ndarray
    column_site: np.ndarray
    column_fraction: np.ndarray
    column_on_site: np.ndarray
    label_names: list
    content_names: dict
    summary: dict = field(default_factory=dict)

    mode = "lattice"

    @property
    def n_cells(self) -> int:
        """Number of complete cells C."""
        return len(self.cells)

    def type_name(self, type_id: int) -> str:
        """Readable pattern of a cell type, e.g. ``"(Mo, V_Se2)"``."""
        return "(" + ", ".join(self.content_names[int(c)] for c in self.type_patterns[type_id]) + ")"

    @property
    def is_dominant(self) -> np.ndarray:
        """Boolean (C,): cell belongs to the perfect crystal."""
        return np.isin(self.cell_type, self.dominant)

    def adjacency(self, rows=None) -> np.ndarray:
        """Pairs (E, 2) of adjacent cells among ``rows`` (indices into ``cells``; default all)."""
        rows = np.arange(self.n_cells) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) == 0:
            return np.zeros((0, 2), dtype=np.int64)
        idx = self.cells[rows]
        lo = idx.min(axis=0) - 1
        shape = idx.max(axis=0) - lo + 2
        grid = np.full(tuple(shape), -1, dtype=np.int64)
        grid[idx[:, 0] - lo[0], idx[:, 1] - lo[1]] = np.arange(len(rows))
        pairs = []
        for off in self.neighbours:
            target = idx + off - lo
            valid = np.all((target >= 0) & (target < shape), axis=1)
            other = np.full(len(rows), -1, dtype=np.int64)
            other[valid] = grid[target[valid, 0], target[valid, 1]]
            ok = other > np.arange(len(rows))
            pairs.append(np.column_stack([np.flatnonzero(ok), other[ok]]))
        # no duplicates: two offsets never lead from one cell to the same other cell
        local = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
        return rows[local].reshape(-1, 2)


def _unique_rows(rows: np.ndarray):
    """``np.unique(rows, axis=0, return_inverse=True, return_counts=True)``, fast for small codes."""
    low = int(rows.min()) if rows.size else 0
    base = int(rows.max()) - low + 1 if rows.size else 1
    if rows.shape[1] * np.log2(max(base, 2)) < 62:
        keys = np.zeros(len(rows), dtype=np.int64)
        for column in range(rows.shape[1]):
            keys = keys * base + (rows[:, column] - low)
        _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        return rows[first], inverse.reshape(-1), counts
    unique, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return unique, inverse.reshape(-1), counts


def _canonical_patterns(rows: np.ndarray, stabilisers: list) -> np.ndarray:
    """Lexicographically smallest image of each content row under cell-preserving operations."""
    best = rows.copy()
    for op in stabilisers:
        image = np.empty_like(rows)
        image[:, op.site_map] = rows
        smaller = np.zeros(len(rows), dtype=bool)
        decided = np.zeros(len(rows), dtype=bool)
        for s in range(rows.shape[1]):
            lt = (image[:, s] < best[:, s]) & ~decided
            gt = (image[:, s] > best[:, s]) & ~decided
            smaller |= lt
            decided |= lt | gt
        best[smaller] = image[smaller]
    return best


def _choose_dominant(counts: np.ndarray, dominant) -> np.ndarray:
    if isinstance(dominant, (int, np.integer)) and not isinstance(dominant, bool):
        if dominant < 0:
            raise ParameterError(f"dominant must be >= 0 (number of most common types), got {dominant}.")
        return np.arange(min(int(dominant), len(counts)))
    if isinstance(dominant, float):
        if not (0 < dominant <= 1):
            raise ParameterError(f"a fractional dominant must be in (0, 1], got {dominant}.")
        return np.flatnonzero(counts >= dominant * counts.max())
    chosen = np.unique(np.asarray(dominant, dtype=np.int64).reshape(-1))
    if len(chosen) and (chosen.min() < 0 or chosen.max() >= len(counts)):
        raise ParameterError(f"dominant type ids must be in [0, {len(counts)}), got {chosen.tolist()}.")
    return chosen


def lattice_cells(
    positions,
    labels,
    lattice=None,
    *,
    label_names=None,
    symmetry: str = "crystal",
    neighbourhood: str = "lattice",
    dominant=1,
    max_gap: float = 2.0,
    merge_tolerance: float = 0.05,
    tolerance: float = 0.25,
    symmetry_tolerance: float = 0.02,
    distortion_order: int = 2,
    random_state=0,
) -> LatticeCells:
    """Bin labelled columns into lattice cells and type the cells.

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        Column positions (x, y) in pixels.
    labels : array_like of int, shape (N,)
        Label code of each column (0..L-1; see :func:`as_positions_and_labels` for other
        label values).
    lattice : Lattice, optional
        Found with :func:`find_lattice` when omitted.
    label_names : list of str, optional
        Name of each label code (default: the codes as strings).
    symmetry : {"crystal", "sites", "translation"}
        Which operations canonicalise patterns (see :func:`crystal_symmetry`).
    neighbourhood : {"lattice", "von_neumann", "moore"}
        Cell adjacency (see :func:`neighbourhood_offsets`).
    dominant : int, float or sequence of int
        Types that form the perfect crystal: the ``k`` most common (int), those with at
        least this fraction of the most common count (float), or explicit type ids.
    merge_tolerance : float
        Metric tolerance of the lattice point group used to merge patterns and define
        neighbours (see :func:`lattice_point_group`). Looser than the Bravais
        classification (``symmetry_tolerance``) because scan distortion shears real
        images by a few per cent: a hexagonal crystal imaged with 1 % drift is still
        merged under 60-degree rotations.
    max_gap : float
        A site counts as imaged (so a missing column there is a vacancy) only when it lies
        inside the convex hull of the columns and within ``max_gap * |b|`` of a column;
        larger empty regions are treated as outside the sample.
    tolerance, symmetry_tolerance, distortion_order, random_state
        Passed to :func:`find_lattice` when ``lattice`` is None.

    Returns
    -------
    LatticeCells

    Raises
    ------
    NotEnoughDataError
        No complete cell in the field of view.
    """
    positions = _as_positions(positions)
    codes = np.asarray(labels).reshape(-1)
    if len(codes) != len(positions):
        raise ParameterError(f"labels has {len(codes)} entries for {len(positions)} positions; give one per column.")
    codes, label_names = _label_codes(codes, label_names)
    if lattice is None:
        lattice = find_lattice(
            positions, tolerance=tolerance, symmetry_tolerance=symmetry_tolerance,
            distortion_order=distortion_order, random_state=random_state,
        )
    if not isinstance(lattice, Lattice):
        raise ParameterError(f"lattice must be a motifkit.cells.Lattice or None, got {type(lattice).__name__}.")
    n_sites = lattice.n_sites
    cells_of, site_of, fraction, residual = index_columns(positions, lattice)
    on_site = residual <= lattice.tolerance_px

    # complete cells: every site of the cell lies in the imaged region
    inside = _site_region(positions, lattice.tolerance_px, max_gap * float(np.linalg.norm(lattice.vectors[1])))
    lo = cells_of.min(axis=0)
    hi = cells_of.max(axis=0)
    gi, gj = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    grid_cells = np.column_stack([gi.ravel(), gj.ravel()])
    shape = hi - lo + 1
    occupied = np.zeros(len(grid_cells) * n_sites, dtype=bool)
    occupied[((cells_of[:, 0] - lo[0]) * shape[1] + (cells_of[:, 1] - lo[1])) * n_sites + site_of] = True
    expected = inside(lattice.site_positions(grid_cells), occupied).reshape(-1, n_sites)
    complete = np.all(expected, axis=1)
    cells = grid_cells[complete]
    if len(cells) == 0:
        raise NotEnoughDataError(
            "no complete lattice cell lies inside the imaged region; use a larger field of view or Voronoi cells."
        )
    cell_id = np.full(len(grid_cells), -1, dtype=np.int64)
    cell_id[complete] = np.arange(len(cells))
    column_cell = cell_id[(cells_of[:, 0] - lo[0]) * shape[1] + (cells_of[:, 1] - lo[1])]

    # site contents
    content = np.full((len(cells), n_sites), MISSING, dtype=np.int64)
    content_names = {MISSING: "missing"}
    content_names.update({k: label_names[k] for k in range(len(label_names))})
    inner = np.flatnonzero(column_cell >= 0)
    key = column_cell[inner] * n_sites + site_of[inner]
    multiplicity = np.bincount(key, minlength=len(cells) * n_sites)
    simple = inner[(multiplicity[key] == 1) & on_site[inner]]
    content[column_cell[simple], site_of[simple]] = codes[simple]
    complex_cols = inner[(multiplicity[key] > 1) | ~on_site[inner]]
    combined = {}
    if len(complex_cols):
        groups = {}
        for c in complex_cols:
            groups.setdefault((int(column_cell[c]), int(site_of[c])), []).append(
                label_names[codes[c]] + ("" if on_site[c] else "~")
            )
        next_code = max(len(label_names), 0)
        for (cell, site), names in groups.items():
            name = "+".join(sorted(names))
            if name not in combined:
                combined[name] = next_code
                content_names[next_code] = name
                next_code += 1
            content[cell, site] = combined[name]

    # types: canonical patterns under the cell-preserving symmetry of the crystal
    unique_raw, raw_inverse, raw_counts = _unique_rows(content)
    raw_inverse = raw_inverse.reshape(-1)
    crystal_content = unique_raw[int(np.argmax(raw_counts))]
    merge_group = lattice_point_group(lattice.vectors, merge_tolerance)
    operations = crystal_symmetry(lattice, crystal_content, symmetry, point_group=merge_group)
    stabilisers = [op for op in operations if op.keeps_cells]
    canonical_raw = _canonical_patterns(unique_raw, stabilisers)
    patterns, pattern_inverse = np.unique(canonical_raw, axis=0, return_inverse=True)
    pattern_inverse = pattern_inverse.reshape(-1)
    counts = np.bincount(pattern_inverse, weights=raw_counts, minlength=len(patterns)).astype(np.int64)
    order = np.lexsort((np.arange(len(patterns)), -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    type_patterns = patterns[order]
    type_counts = counts[order]
    cell_type = rank[pattern_inverse[raw_inverse]]
    dominant_ids = _choose_dominant(type_counts, dominant)

    summary = {
        "n_columns": int(len(positions)),
        "n_border_columns": int((column_cell < 0).sum()),
        "n_off_site_columns": int((~on_site).sum()),
        "n_shared_sites": int((multiplicity > 1).sum()),
        "n_missing_sites": int((content == MISSING).sum()),
        "n_cells": int(len(cells)),
        "n_types": int(len(type_patterns)),
        "n_dominant_cells": int(np.isin(cell_type, dominant_ids).sum()),
        "fit_fraction": float(lattice.fit_fraction),
        "bravais": lattice.bravais,
        "merge_symmetry": _bravais_from_group(merge_group),
        "n_symmetry_operations": len(operations),
    }
    return LatticeCells(
        lattice=lattice,
        cells=cells,
        content=content,
        cell_type=cell_type.astype(np.int64),
        type_patterns=type_patterns,
        type_counts=type_counts,
        dominant=dominant_ids,
        crystal_content=crystal_content,
        operations=operations,
        neighbours=neighbourhood_offsets(lattice, neighbourhood, point_group=merge_group),
        column_cell=column_cell,
        column_site=site_of,
        column_fraction=fraction,
        column_on_site=on_site,
        label_names=label_names,
        content_names=content_names,
        summary=summary,
    )


# --------------------------------------------------------------------------------------
# Voronoi cells
# --------------------------------------------------------------------------------------
@dataclass
class VoronoiCells:
    """Columns binned into the Voronoi cells of a set of centres.

    Attributes
    ----------
    centres : ndarray, shape (C, 2)
        Cell centres (x, y) in pixels.
    complete : ndarray of bool, shape (C,)
        Bounded cells lying inside the imaged region (the others are border cells).
    adjacency_pairs : ndarray of int, shape (E, 2)
        Pairs of cells sharing a Voronoi edge.
    cell_type : ndarray of int, shape (C,)
        Index into ``type_names`` (types sorted by count among complete cells).
    type_names : list of str
        Pattern of each type: the multiset of its columns' labels, e.g. ``"Mo"`` or
        ``"Mo+Se2+Se2"``; ``"empty"`` for a cell without columns.
    type_counts : ndarray of int, shape (T,)
        Complete cells of each type.
    dominant : ndarray of int
    column_cell : ndarray of int, shape (N,)
        Cell of every column (nearest centre).
    label_names : list of str
    summary : dict
    """

    centres: np.ndarray
    complete: np.ndarray
    adjacency_pairs: np.ndarray
    cell_type: np.ndarray
    type_names: list
    type_counts: np.ndarray
    dominant: np.ndarray
    column_cell: np.ndarray
    label_names: list
    summary: dict = field(default_factory=dict)

    mode = "voronoi"

    @property
    def n_cells(self) -> int:
        return len(self.centres)

    @property
    def is_dominant(self) -> np.ndarray:
        return np.isin(self.cell_type, self.dominant)

    def type_name(self, type_id: int) -> str:
        return self.type_names[int(type_id)]

    def adjacency(self, rows=None) -> np.ndarray:
        """Pairs (E, 2) of adjacent cells among ``rows`` (default all cells)."""
        if rows is None:
            return self.adjacency_pairs
        keep = np.zeros(self.n_cells, dtype=bool)
        keep[np.asarray(rows, dtype=np.int64)] = True
        ok = keep[self.adjacency_pairs[:, 0]] & keep[self.adjacency_pairs[:, 1]]
        return self.adjacency_pairs[ok]


def voronoi_cells(
    positions,
    labels,
    centres=None,
    *,
    label_names=None,
    dominant=0.2,
    max_edge: float = 2.5,
) -> VoronoiCells:
    """Voronoi cells of given centres, for samples without a usable lattice.

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        Column positions (x, y) in pixels.
    labels : array_like of int, shape (N,)
        Label code of each column.
    centres : array_like, optional
        Cell centres: None (every column is a cell), a boolean mask or integer indices
        into ``positions``, or an (M, 2) float array of (x, y) pixel positions.
    label_names : list of str, optional
    dominant : int, float or sequence of int
        Types forming the crystal (see :func:`lattice_cells`); by default every type with
        at least 20 % of the most common count, so that both sublattices of a compound
        are crystal when each column is its own cell.
    max_edge : float
        Cells whose centres are farther apart than ``max_edge`` times the median
        neighbour distance are not adjacent (spurious links across gaps and hull edges).

    Returns
    -------
    VoronoiCells

    Raises
    ------
    NotEnoughDataError
        Fewer than 4 centres.
    """
    from scipy.spatial import ConvexHull, QhullError, Voronoi, cKDTree

    positions = _as_positions(positions)
    codes = np.asarray(labels).reshape(-1)
    if len(codes) != len(positions):
        raise ParameterError(f"labels has {len(codes)} entries for {len(positions)} positions; give one per column.")
    codes, label_names = _label_codes(codes, label_names)
    if centres is None:
        centre_xy = positions
    else:
        arr = np.asarray(centres)
        if arr.dtype == bool:
            if arr.shape != (len(positions),):
                raise ParameterError("a boolean centres mask needs one entry per column.")
            centre_xy = positions[arr]
        elif arr.ndim == 1 and arr.dtype.kind in "iu":
            centre_xy = positions[arr]
        else:
            centre_xy = _as_positions(arr, "centres")
    if len(centre_xy) < 4:
        raise NotEnoughDataError(f"only {len(centre_xy)} cell centres: Voronoi cells need at least 4.")
    try:
        vor = Voronoi(centre_xy)
        hull = ConvexHull(positions)
    except (QhullError, ValueError) as exc:
        raise NotEnoughDataError(f"Voronoi construction failed (centres collinear or duplicated?): {exc}") from None
    equations = hull.equations
    n_cells = len(centre_xy)
    complete = np.zeros(n_cells, dtype=bool)
    for k in range(n_cells):
        region = vor.regions[vor.point_region[k]]
        if len(region) == 0 or -1 in region:
            continue
        vertices = vor.vertices[region]
        complete[k] = np.all(vertices @ equations[:, :2].T + equations[:, 2] <= 1e-9)
    pairs = np.asarray(vor.ridge_points, dtype=np.int64).reshape(-1, 2)
    ridge_vertices = vor.ridge_vertices
    ridge_len = np.array([
        np.linalg.norm(vor.vertices[r[0]] - vor.vertices[r[1]]) if -1 not in r else np.inf for r in ridge_vertices
    ])
    span = np.linalg.norm(centre_xy[pairs[:, 0]] - centre_xy[pairs[:, 1]], axis=1)
    typical = float(np.median(span[np.isfinite(ridge_len)])) if np.isfinite(ridge_len).any() else float(np.median(span))
    finite_len = ridge_len[np.isfinite(ridge_len)]
    tiny = 1e-3 * (float(np.median(finite_len)) if len(finite_len) else 1.0)
    keep = (ridge_len > tiny) & (span <= max_edge * typical)
    pairs = np.sort(pairs[keep], axis=1)

    column_cell = cKDTree(centre_xy).query(positions, k=1)[1].astype(np.int64)
    order = np.lexsort((codes, column_cell))
    per_cell = [[] for _ in range(n_cells)]
    for c in order:
        per_cell[column_cell[c]].append(label_names[codes[c]])
    names = ["+".join(v) if v else "empty" for v in per_cell]
    values, inverse = np.unique(np.asarray(names, dtype=object), return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse[complete], minlength=len(values))
    order_types = np.lexsort((np.arange(len(values)), -counts))
    rank = np.empty_like(order_types)
    rank[order_types] = np.arange(len(order_types))
    cell_type = rank[inverse].astype(np.int64)
    type_names = [str(values[k]) for k in order_types]
    type_counts = counts[order_types].astype(np.int64)
    if type_counts.max(initial=0) == 0:
        raise NotEnoughDataError("no complete Voronoi cell inside the imaged region; use a larger field of view.")
    dominant_ids = _choose_dominant(type_counts, dominant)
    summary = {
        "n_columns": int(len(positions)),
        "n_cells": int(n_cells),
        "n_complete_cells": int(complete.sum()),
        "n_border_columns": int((~complete[column_cell]).sum()),
        "n_types": int(len(type_names)),
        "n_dominant_cells": int((np.isin(cell_type, dominant_ids) & complete).sum()),
    }
    return VoronoiCells(
        centres=centre_xy,
        complete=complete,
        adjacency_pairs=pairs,
        cell_type=cell_type,
        type_names=type_names,
        type_counts=type_counts,
        dominant=dominant_ids,
        column_cell=column_cell,
        label_names=label_names,
        summary=summary,
    )
