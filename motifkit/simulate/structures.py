"""Atomic structures projected along z: atoms grouped into columns, builders and defects.

A :class:`Structure` holds atoms (positions in Å, atomic numbers) and the *columns* they
belong to. Columns are the unit of the ground truth: a column keeps its nominal (pristine)
site and position even when all its atoms are removed, so an empty chalcogen column still
appears in the truth as ``"V_Se2"``.

Builders return periodic unit cells (``periodic=True``); :meth:`Structure.tile_for_view`
repeats a unit cell over an image's field of view plus a margin, and the defect functions
(:func:`add_vacancies`, :func:`substitute`, :func:`plant_pentagon_occupancy`) act on such a
finite structure. Lengths are in ångström everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .._utils import check_random_state
from ..cells import BRAVAIS_TYPES, classify_bravais, reduce_basis
from ..errors import NotEnoughDataError, ParameterError
from ._elements import SYMBOLS, atomic_number
from .geometry import ImageGeometry, rotation_matrix

__all__ = [
    "Structure",
    "BRAVAIS_CLASSES",
    "TMD_MATERIALS",
    "tmd_monolayer",
    "graphene",
    "hbn",
    "bravais_lattice",
    "random_bravais",
    "pentagonal_tiling",
    "twisted_bilayer",
    "from_ase",
    "add_vacancies",
    "substitute",
    "plant_pentagon_occupancy",
    "pentagon_squares",
    "reduce_basis",
    "classify_bravais",
    "column_label",
    "PENTAGON_STATES",
]

#: The five 2-D Bravais classes, in AtomVision's label order 0..4 (shared with motifkit.cells).
BRAVAIS_CLASSES = BRAVAIS_TYPES

#: 2H transition-metal dichalcogenides: metal, chalcogen, lattice constant a (Å) and the
#: vertical chalcogen-chalcogen distance within one layer (Å; irrelevant in projection).
TMD_MATERIALS = {
    "MoS2": ("Mo", "S", 3.16, 3.13),
    "MoSe2": ("Mo", "Se", 3.29, 3.34),
    "WS2": ("W", "S", 3.15, 3.14),
    "WSe2": ("W", "Se", 3.28, 3.34),
}

#: Occupancy states of a pentagon centre in :func:`pentagonal_tiling`, by state code 0, 1, 2.
PENTAGON_STATES = ("filled", "partial", "empty")

# Largest number of columns a tiled structure may hold (keeps memory bounded).
_MAX_COLUMNS = 20_000_000


# --------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------
def column_label(composition: dict, nominal: dict) -> str:
    """Name a column from its composition and the composition of its pristine site.

    Host elements (those of ``nominal``) come first, then any others alphabetically.
    Counts are written when the pristine site holds more than one atom (``"Se2"``,
    ``"Se1"``, ``"Se1Te1"``, ``"Te2"``) and omitted for single-atom sites (``"Mo"``,
    ``"Fe"``). An empty column is ``"V_"`` + the pristine label (``"V_Se2"``, ``"V_Mo"``).

    Parameters
    ----------
    composition : dict
        Element symbol -> number of atoms now in the column.
    nominal : dict
        Element symbol -> number of atoms in the pristine column.

    Returns
    -------
    str

    Examples
    --------
    >>> column_label({"Se": 1, "Te": 1}, {"Se": 2})
    'Se1Te1'
    >>> column_label({}, {"Se": 2})
    'V_Se2'
    >>> column_label({"Fe": 1}, {"Mo": 1})
    'Fe'
    """
    show_counts = sum(nominal.values()) > 1
    present = {el: n for el, n in composition.items() if n > 0}
    if not present:
        return "V_" + column_label(nominal, nominal)
    order = [el for el in nominal if el in present] + sorted(el for el in present if el not in nominal)
    return "".join(f"{el}{present[el]}" if show_counts else el for el in order)


# --------------------------------------------------------------------------------------
# the container
# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class Structure:
    """Atoms projected along z and grouped into columns.

    Parameters
    ----------
    positions : ndarray, shape (n, 3)
        Atom positions (x, y, z) in Å.
    numbers : ndarray of int, shape (n,)
        Atomic numbers.
    column_index : ndarray of int, shape (n,)
        Column of each atom (index into the column arrays).
    column_xy : ndarray, shape (m, 2)
        Nominal (pristine) position (x, y) of each column in Å; used for empty columns.
    column_site : ndarray of str, shape (m,)
        Site name of each column (a key of ``sites``), e.g. ``"Mo"`` or ``"Se2"``.
    sites : dict
        Site name -> pristine composition ``{symbol: count}``.
    cell : ndarray, shape (2, 2), or None
        Lattice vectors (rows a, b) in Å.
    periodic : bool
        True for a unit cell that is repeated by :meth:`tile_for_view`.
    column_layer : ndarray of int, shape (m,), optional
        Layer of each column (0 for monolayers).
    column_basis : ndarray of int, shape (m,), optional
        Index of the column within the unit cell it was tiled from.
    column_cell : ndarray of int, shape (m, 2), optional
        Lattice index (i, j) of the unit cell the column was tiled from.
    column_data : dict
        Extra per-column arrays (first axis m) carried through tiling, cropping and into
        the ground truth (e.g. pentagon occupancy, bilayer domain).
    bravais : str, optional
        Bravais class of ``cell`` (one of :data:`BRAVAIS_CLASSES`).
    neighbor_distance : float, optional
        Nearest-neighbour column distance in Å; context labels look for defects within
        1.2 x this distance. Computed from the columns when not given.
    name : str
        Human-readable name.

    Examples
    --------
    >>> s = tmd_monolayer("MoSe2")
    >>> s.n_atoms, s.n_columns, s.column_site.tolist()
    (3, 2, ['Mo', 'Se2'])
    """

    positions: np.ndarray
    numbers: np.ndarray
    column_index: np.ndarray
    column_xy: np.ndarray
    column_site: np.ndarray
    sites: dict
    cell: np.ndarray | None = None
    periodic: bool = True
    column_layer: np.ndarray | None = None
    column_basis: np.ndarray | None = None
    column_cell: np.ndarray | None = None
    column_data: dict = field(default_factory=dict)
    bravais: str | None = None
    neighbor_distance: float | None = None
    name: str = ""

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=float).reshape(-1, 3)
        n = len(self.positions)
        self.numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        self.column_index = np.asarray(self.column_index, dtype=np.int64).reshape(-1)
        self.column_xy = np.asarray(self.column_xy, dtype=float).reshape(-1, 2)
        m = len(self.column_xy)
        self.column_site = np.asarray(self.column_site, dtype=str).reshape(-1)
        if len(self.numbers) != n or len(self.column_index) != n:
            raise ParameterError(
                f"positions ({n}), numbers ({len(self.numbers)}) and column_index "
                f"({len(self.column_index)}) must have one entry per atom."
            )
        if len(self.column_site) != m:
            raise ParameterError(f"column_site has {len(self.column_site)} entries for {m} columns.")
        if n and (self.column_index.min() < 0 or self.column_index.max() >= m):
            raise ParameterError("column_index must point into the column arrays (0 <= index < m).")
        if n and (self.numbers.min() < 1 or self.numbers.max() >= len(SYMBOLS)):
            raise ParameterError("numbers must be atomic numbers between 1 and 118.")
        if not np.all(np.isfinite(self.positions)) or not np.all(np.isfinite(self.column_xy)):
            raise ParameterError("positions and column_xy must be finite numbers (Å).")
        missing = set(np.unique(self.column_site)) - set(self.sites)
        if missing:
            raise ParameterError(f"column sites {sorted(missing)} have no entry in `sites`.")
        self.sites = {name: dict(comp) for name, comp in self.sites.items()}
        if self.cell is not None:
            self.cell = np.asarray(self.cell, dtype=float).reshape(2, 2)
            if abs(np.linalg.det(self.cell)) < 1e-9:
                raise ParameterError("cell vectors are parallel or zero; give two independent vectors.")
        elif self.periodic:
            raise ParameterError("A periodic structure needs a cell (2x2 lattice vectors in Å).")
        self.column_layer = (
            np.zeros(m, dtype=np.int64) if self.column_layer is None else np.asarray(self.column_layer, dtype=np.int64)
        )
        self.column_basis = (
            np.arange(m, dtype=np.int64) if self.column_basis is None else np.asarray(self.column_basis, dtype=np.int64)
        )
        self.column_cell = (
            np.zeros((m, 2), dtype=np.int64) if self.column_cell is None else np.asarray(self.column_cell, dtype=np.int64).reshape(m, 2)
        )
        for key, value in list(self.column_data.items()):
            value = np.asarray(value)
            if len(value) != m:
                raise ParameterError(f"column_data[{key!r}] has {len(value)} rows for {m} columns.")
            self.column_data[key] = value
        if self.neighbor_distance is None and m > 1:
            self.neighbor_distance = _nearest_column_distance(self.column_xy, self.cell if self.periodic else None)

    # -- sizes -----------------------------------------------------------------------
    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return len(self.positions)

    @property
    def n_columns(self) -> int:
        """Number of columns (including empty ones)."""
        return len(self.column_xy)

    @property
    def atom_layer(self) -> np.ndarray:
        """Layer of each atom, shape (n,) (twisted bilayers: 0 or 1)."""
        return self.column_layer[self.column_index]

    def __repr__(self) -> str:
        kind = "unit cell" if self.periodic else "finite"
        bravais = f", {self.bravais}" if self.bravais else ""
        return f"Structure({self.name or 'unnamed'}: {kind}, {self.n_atoms} atoms in {self.n_columns} columns{bravais})"

    def copy(self) -> "Structure":
        """Deep copy."""
        return replace(
            self,
            positions=self.positions.copy(),
            numbers=self.numbers.copy(),
            column_index=self.column_index.copy(),
            column_xy=self.column_xy.copy(),
            column_site=self.column_site.copy(),
            sites={k: dict(v) for k, v in self.sites.items()},
            cell=None if self.cell is None else self.cell.copy(),
            column_layer=self.column_layer.copy(),
            column_basis=self.column_basis.copy(),
            column_cell=self.column_cell.copy(),
            column_data={k: v.copy() for k, v in self.column_data.items()},
        )

    # -- composition -----------------------------------------------------------------
    def column_counts(self, elements=None) -> tuple[list, np.ndarray]:
        """Count atoms of each element in each column.

        Parameters
        ----------
        elements : list of str, optional
            Element symbols to count; defaults to every element present or nominal.

        Returns
        -------
        elements : list of str
        counts : ndarray of int, shape (m, len(elements))
        """
        if elements is None:
            present = {SYMBOLS[z] for z in np.unique(self.numbers)}
            nominal = {el for comp in self.sites.values() for el in comp}
            elements = sorted(present | nominal, key=atomic_number)
        elements = list(elements)
        lookup = np.full(len(SYMBOLS), -1, dtype=np.int64)
        for k, el in enumerate(elements):
            lookup[atomic_number(el)] = k
        element_index = lookup[self.numbers]
        if np.any(element_index < 0):
            raise ParameterError("column_counts: some atoms' elements are not in `elements`.")
        counts = np.bincount(
            self.column_index * len(elements) + element_index, minlength=self.n_columns * len(elements)
        ).reshape(self.n_columns, len(elements))
        return elements, counts

    def site_codes(self) -> np.ndarray:
        """Index of each column's site in ``list(self.sites)``, shape (m,)."""
        names = np.asarray(list(self.sites), dtype=str)
        sorter = np.argsort(names)
        return sorter[np.searchsorted(names, self.column_site, sorter=sorter)].astype(np.int64)

    def nominal_counts(self, elements) -> np.ndarray:
        """Pristine counts (m, len(elements)) from each column's site."""
        table = np.array(
            [[comp.get(el, 0) for el in elements] for comp in self.sites.values()], dtype=np.int64
        ).reshape(len(self.sites), len(elements))
        return table[self.site_codes()]

    # -- selection -------------------------------------------------------------------
    def take_columns(self, keep) -> "Structure":
        """Return a finite structure with only the selected columns and their atoms.

        Parameters
        ----------
        keep : array_like of bool (m,) or of int
            Columns to keep.
        """
        keep = np.asarray(keep)
        mask = np.zeros(self.n_columns, dtype=bool)
        if keep.dtype == bool:
            if keep.shape != (self.n_columns,):
                raise ParameterError(f"boolean column mask must have shape ({self.n_columns},).")
            mask = keep
        else:
            mask[keep.astype(np.int64)] = True
        new_index = np.cumsum(mask) - 1
        atom_keep = mask[self.column_index]
        return replace(
            self,
            positions=self.positions[atom_keep],
            numbers=self.numbers[atom_keep],
            column_index=new_index[self.column_index[atom_keep]],
            column_xy=self.column_xy[mask],
            column_site=self.column_site[mask],
            column_layer=self.column_layer[mask],
            column_basis=self.column_basis[mask],
            column_cell=self.column_cell[mask],
            column_data={k: v[mask] for k, v in self.column_data.items()},
            periodic=False,
            sites={k: dict(v) for k, v in self.sites.items()},
            cell=None if self.cell is None else self.cell.copy(),
        )

    def nearest_columns(self, xy) -> np.ndarray:
        """Indices of the columns nearest to positions ``xy`` (N, 2) in Å."""
        from scipy.spatial import cKDTree

        _, index = cKDTree(self.column_xy).query(np.asarray(xy, dtype=float).reshape(-1, 2))
        return np.asarray(index, dtype=np.int64)

    # -- tiling ----------------------------------------------------------------------
    def tile(self, cells) -> "Structure":
        """Repeat a periodic structure at the lattice indices ``cells`` (K, 2) -> finite structure."""
        if not self.periodic:
            raise ParameterError("tile() needs a periodic unit cell; this structure is finite.")
        cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
        k, m = len(cells), self.n_columns
        if k * m > _MAX_COLUMNS:
            raise ParameterError(
                f"Tiling would create {k * m} columns (limit {_MAX_COLUMNS}); use a smaller "
                "field of view or a larger pixel size."
            )
        offsets = cells @ self.cell  # (K, 2)
        column_xy = (self.column_xy[None, :, :] + offsets[:, None, :]).reshape(-1, 2)
        positions = np.repeat(self.positions[None], k, axis=0)
        positions[:, :, :2] += offsets[:, None, :]
        column_index = (np.arange(k, dtype=np.int64)[:, None] * m + self.column_index[None, :]).reshape(-1)
        return replace(
            self,
            positions=positions.reshape(-1, 3),
            numbers=np.tile(self.numbers, k),
            column_index=column_index,
            column_xy=column_xy,
            column_site=np.tile(self.column_site, k),
            column_layer=np.tile(self.column_layer, k),
            column_basis=np.tile(self.column_basis, k),
            column_cell=np.repeat(cells, m, axis=0),
            column_data={key: np.concatenate([v] * k) for key, v in self.column_data.items()},
            periodic=False,
            sites={key: dict(v) for key, v in self.sites.items()},
            cell=self.cell.copy(),
        )

    def tile_covering(self, corners) -> "Structure":
        """Tile a periodic structure so that it covers the polygon ``corners`` (K, 2) in Å."""
        corners = np.asarray(corners, dtype=float).reshape(-1, 2)
        frac = corners @ np.linalg.inv(self.cell)
        basis_frac = self.column_xy @ np.linalg.inv(self.cell)
        lo = np.floor(frac.min(axis=0) - basis_frac.max(axis=0)).astype(np.int64) - 1
        hi = np.ceil(frac.max(axis=0) - basis_frac.min(axis=0)).astype(np.int64) + 1
        n_cells = int(np.prod(hi - lo + 1))
        if n_cells * self.n_columns > _MAX_COLUMNS:
            raise ParameterError(
                f"Covering the field of view needs {n_cells} unit cells; use a smaller field of "
                "view or a larger pixel size."
            )
        i, j = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
        return self.tile(np.column_stack([i.ravel(), j.ravel()]))

    def tile_for_view(self, geometry: ImageGeometry, margin: float = 8.0) -> "Structure":
        """Repeat the structure over an image's field of view grown by ``margin`` Å.

        A periodic unit cell is tiled over the (rotated, shifted) field of view; a finite
        structure is only cropped. Columns whose centre lies more than ``margin`` Å outside
        the field of view are dropped, so the image has no empty borders as long as
        ``margin`` exceeds the probe radius.

        Parameters
        ----------
        geometry : ImageGeometry
            Shape, pixel size, rotation and shift of the image.
        margin : float
            Extra border in Å (default 8 Å: probe tails plus neighbours for context labels).

        Returns
        -------
        Structure
            A finite structure.
        """
        if margin < 0:
            raise ParameterError(f"margin must be >= 0 Å, got {margin}.")
        big = self.tile_covering(geometry.structure_corners(margin)) if self.periodic else self
        inside = geometry.inside(geometry.to_pixels(big.column_xy), margin_px=margin / geometry.pixel_size)
        return big.take_columns(inside)

    # -- constructors ----------------------------------------------------------------
    @classmethod
    def from_atoms(
        cls,
        positions,
        numbers,
        cell=None,
        *,
        periodic: bool | None = None,
        column_tol: float = 0.3,
        name: str = "",
        bravais: str | None = None,
    ) -> "Structure":
        """Group atoms into columns by their (x, y) positions.

        Atoms closer than ``column_tol`` Å in projection (chains of such atoms, with
        periodic images when ``periodic``) form one column. Each column's pristine
        composition is its composition here; its site name is its label.

        Parameters
        ----------
        positions : array_like, shape (n, 3) or (n, 2)
            Atom positions in Å (z is optional; the projection is along z).
        numbers : array_like, shape (n,)
            Atomic numbers or chemical symbols.
        cell : array_like, shape (2, 2), optional
            Lattice vectors in Å; required when ``periodic``.
        periodic : bool, optional
            Defaults to ``cell is not None``.
        column_tol : float
            Projection distance in Å below which atoms share a column.
        name : str
        bravais : str, optional
            Overrides the class derived from the cell (:func:`motifkit.cells.classify_bravais`).
        """
        positions = np.asarray(positions, dtype=float)
        if positions.ndim != 2 or positions.shape[1] not in (2, 3) or len(positions) == 0:
            raise ParameterError("positions must be a non-empty (n, 3) or (n, 2) array in Å.")
        if positions.shape[1] == 2:
            positions = np.column_stack([positions, np.zeros(len(positions))])
        numbers = np.array([atomic_number(z) for z in np.asarray(numbers).reshape(-1)], dtype=np.int64)
        if len(numbers) != len(positions):
            raise ParameterError(f"{len(positions)} positions but {len(numbers)} atomic numbers.")
        if column_tol <= 0:
            raise ParameterError(f"column_tol must be > 0 Å, got {column_tol}.")
        periodic = cell is not None if periodic is None else bool(periodic)
        if periodic and cell is None:
            raise ParameterError("periodic=True needs a cell (2x2 lattice vectors in Å).")
        cell = None if cell is None else np.asarray(cell, dtype=float).reshape(2, 2)
        xy = positions[:, :2]
        if periodic:
            frac = xy @ np.linalg.inv(cell)
            xy = (frac - np.floor(frac + 1e-9)) @ cell
            positions = np.column_stack([xy, positions[:, 2]])
        labels = _group_columns(xy, column_tol, cell if periodic else None)
        m = int(labels.max()) + 1
        # column centre: mean of members, unwrapped around the first member
        first = np.full(m, -1, dtype=np.int64)
        first[labels[::-1]] = np.arange(len(labels))[::-1]
        delta = xy - xy[first[labels]]
        if periodic:
            f = delta @ np.linalg.inv(cell)
            delta = (f - np.round(f)) @ cell
        sizes = np.bincount(labels, minlength=m)
        centre = xy[first] + np.column_stack(
            [np.bincount(labels, delta[:, 0], m), np.bincount(labels, delta[:, 1], m)]
        ) / sizes[:, None]
        sites = {}
        column_site = []
        for c in range(m):
            members = numbers[labels == c]
            comp = {}
            for el in sorted(SYMBOLS[z] for z in members):
                comp[el] = comp.get(el, 0) + 1
            label = column_label(comp, comp)
            sites.setdefault(label, comp)
            column_site.append(label)
        if bravais is None and cell is not None:
            bravais = classify_bravais(cell)
        return cls(
            positions=positions,
            numbers=numbers,
            column_index=labels,
            column_xy=centre,
            column_site=np.array(column_site),
            sites=sites,
            cell=cell,
            periodic=periodic,
            bravais=bravais,
            name=name,
        )


def _group_columns(xy: np.ndarray, tol: float, cell: np.ndarray | None) -> np.ndarray:
    """Connected components of atoms closer than ``tol`` in projection -> labels (n,)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xy)
    if cell is None:
        pairs = cKDTree(xy).query_pairs(tol, output_type="ndarray")
        rows, cols = pairs[:, 0], pairs[:, 1]
    else:
        shifts = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ cell
        images = (xy[None, :, :] + shifts[:, None, :]).reshape(-1, 2)
        neighbours = cKDTree(images).query_ball_point(xy, tol)
        rows = np.repeat(np.arange(n), [len(v) for v in neighbours])
        cols = np.concatenate([np.asarray(v, dtype=np.int64) for v in neighbours]) % n
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # number columns in order of first appearance so results do not depend on scipy internals
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return remap[labels].astype(np.int64)


def _nearest_column_distance(column_xy: np.ndarray, cell: np.ndarray | None) -> float | None:
    from scipy.spatial import cKDTree

    points = column_xy
    if cell is not None:
        shifts = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ cell
        points = (column_xy[None, :, :] + shifts[:, None, :]).reshape(-1, 2)
    if len(points) < 2:
        return None
    d, _ = cKDTree(points).query(column_xy, k=2)
    distance = float(np.min(d[:, 1]))
    return distance if distance > 0 else None


def _from_columns(cell, columns, *, name, bravais=None, column_data=None, periodic=True) -> Structure:
    """Build a unit cell from ``columns``: list of (xy, [(z, element), ...], site_name)."""
    positions, numbers, column_index, column_xy, column_site, sites = [], [], [], [], [], {}
    for c, (xy, atoms, site) in enumerate(columns):
        comp = {}
        for z, element in atoms:
            positions.append([xy[0], xy[1], z])
            numbers.append(atomic_number(element))
            column_index.append(c)
            comp[element] = comp.get(element, 0) + 1
        sites.setdefault(site, comp)
        column_xy.append(xy)
        column_site.append(site)
    cell = np.asarray(cell, dtype=float)
    return Structure(
        positions=np.asarray(positions, dtype=float).reshape(-1, 3),
        numbers=np.asarray(numbers, dtype=np.int64),
        column_index=np.asarray(column_index, dtype=np.int64),
        column_xy=np.asarray(column_xy, dtype=float),
        column_site=np.asarray(column_site),
        sites=sites,
        cell=cell,
        periodic=periodic,
        bravais=bravais if bravais is not None else classify_bravais(cell),
        column_data=column_data or {},
        name=name,
    )


# --------------------------------------------------------------------------------------
# Bravais lattices
# --------------------------------------------------------------------------------------
def bravais_lattice(a: float, b: float, gamma: float, basis, *, name: str = "") -> Structure:
    """A 2-D lattice with lengths ``a``, ``b`` (Å), angle ``gamma`` (deg) and a decorated basis.

    Parameters
    ----------
    a, b : float
        Lattice vector lengths in Å; ``a`` lies along x.
    gamma : float
        Angle between the vectors in degrees.
    basis : list of (fx, fy, element)
        Fractional (x, y) coordinates and element of each basis atom (one atom per column).
    name : str

    Returns
    -------
    Structure
        Periodic unit cell with ``bravais`` set from the reduced cell.

    Examples
    --------
    >>> bravais_lattice(3.0, 3.0, 90.0, [(0, 0, "Mo")]).bravais
    'square'
    """
    if a <= 0 or b <= 0 or not (0 < gamma < 180):
        raise ParameterError(f"need a, b > 0 Å and 0 < gamma < 180 deg; got a={a}, b={b}, gamma={gamma}.")
    g = np.radians(gamma)
    cell = np.array([[a, 0.0], [b * np.cos(g), b * np.sin(g)]])
    columns = []
    for fx, fy, element in basis:
        xy = np.array([fx, fy], dtype=float) @ cell
        columns.append((xy, [(0.0, element)], element))
    return _from_columns(cell, columns, name=name or f"lattice a={a:.3g} b={b:.3g} gamma={gamma:.3g}")


_BASIS_ELEMENTS = ("C", "N", "O", "S", "Ti", "Fe", "Se", "Nb", "Mo", "Sn", "Te", "W", "Bi")


def random_bravais(
    bravais: str | None = None,
    *,
    length_range=(2.8, 4.5),
    max_basis: int = 3,
    min_separation: float = 1.5,
    margin: float = 0.05,
    random_state=None,
) -> Structure:
    """A random 2-D lattice of a chosen Bravais class with a random decorated basis.

    The cell parameters keep at least about ``margin`` (relative) away from every class
    boundary, so the class is unambiguous (checked with
    :func:`motifkit.cells.classify_bravais` at its default tolerance and at a metric
    tolerance of ``2 * margin``). The basis has 1..``max_basis`` single-atom columns of distinct
    elements (distinct elements cannot create a smaller translation period).

    Parameters
    ----------
    bravais : str, optional
        One of :data:`BRAVAIS_CLASSES`; random when None.
    length_range : (float, float)
        Range of the shorter lattice vector length in Å.
    max_basis : int
        Largest number of basis columns.
    min_separation : float
        Smallest distance in Å between any two columns (periodic images included).
    margin : float
        Relative distance kept from class boundaries.
    random_state : int, Generator or None

    Returns
    -------
    Structure

    Examples
    --------
    >>> random_bravais("oblique", random_state=0).bravais
    'oblique'
    """
    rng = check_random_state(random_state)
    if bravais is None:
        bravais = BRAVAIS_CLASSES[int(rng.integers(len(BRAVAIS_CLASSES)))]
    if bravais not in BRAVAIS_CLASSES:
        raise ParameterError(f"Unknown Bravais class {bravais!r}; use one of {BRAVAIS_CLASSES}.")
    if max_basis < 1:
        raise ParameterError(f"max_basis must be >= 1, got {max_basis}.")
    lo, hi = float(length_range[0]), float(length_range[1])
    if not (0 < lo <= hi):
        raise ParameterError(f"length_range must be (min, max) with 0 < min <= max Å, got {length_range}.")
    for _ in range(1000):
        a = rng.uniform(lo, hi)
        if bravais == "hexagonal":
            b, gamma = a, 120.0
        elif bravais == "square":
            b, gamma = a, 90.0
        elif bravais == "rectangular":
            b, gamma = a * rng.uniform(1.0 + 3 * margin, 1.9), 90.0
        elif bravais == "centred_rectangular":
            b = a
            gamma = rng.choice([rng.uniform(66.0, 84.0), rng.uniform(96.0, 114.0)])
        else:
            b, gamma = a * rng.uniform(1.0 + 3 * margin, 1.7), rng.uniform(95.0, 118.0)
        g = np.radians(gamma)
        cell = np.array([[a, 0.0], [b * np.cos(g), b * np.sin(g)]])
        # same class at the default tolerance and at a tolerance ~`margin` on lengths
        if classify_bravais(cell) != bravais or classify_bravais(cell, 2 * margin) != bravais:
            continue
        n_basis = int(rng.integers(1, max_basis + 1))
        elements = list(rng.choice(_BASIS_ELEMENTS, size=n_basis, replace=False))
        fractions = [np.zeros(2)]
        for _attempt in range(200):
            if len(fractions) == n_basis:
                break
            candidate = rng.random(2)
            points = np.array(fractions + [candidate]) @ cell
            if _min_periodic_distance(points, cell) >= min_separation:
                fractions.append(candidate)
        if len(fractions) < n_basis:
            elements = elements[: len(fractions)]
        if _min_periodic_distance(np.array(fractions) @ cell, cell) < min_separation:
            continue
        basis = [(f[0], f[1], el) for f, el in zip(fractions, elements)]
        structure = bravais_lattice(a, b, gamma, basis, name=f"random {bravais}")
        structure.bravais = bravais
        return structure
    raise NotEnoughDataError(  # pragma: no cover - only with absurd parameters
        f"Could not draw a {bravais} lattice with length_range={length_range} and "
        f"min_separation={min_separation}; widen the length range or lower min_separation."
    )


def _min_periodic_distance(points: np.ndarray, cell: np.ndarray) -> float:
    shifts = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ cell
    best = np.inf
    for p in range(len(points)):
        d = np.linalg.norm(points[None, :, :] + shifts[:, None, :] - points[p], axis=2)
        d[4, p] = np.inf  # the point itself (zero shift is index 4)
        best = min(best, float(d.min()))
    return best


# --------------------------------------------------------------------------------------
# materials
# --------------------------------------------------------------------------------------
def _hexagonal_cell(a: float) -> np.ndarray:
    return np.array([[a, 0.0], [a / 2.0, a * np.sqrt(3.0) / 2.0]])


def tmd_monolayer(material: str = "MoSe2", a: float | None = None) -> Structure:
    """2H transition-metal dichalcogenide monolayer unit cell.

    Metal column at the origin (site ``"Mo"`` for MoSe2), chalcogen column (two atoms
    stacked, site ``"Se2"``) at (a1 + a2) / 3; the third sublattice (hollow) is empty.

    Parameters
    ----------
    material : {"MoS2", "MoSe2", "WS2", "WSe2"}
    a : float, optional
        Lattice constant in Å; defaults to 3.16, 3.29, 3.15, 3.28.

    Returns
    -------
    Structure

    Examples
    --------
    >>> s = tmd_monolayer("WS2")
    >>> s.sites
    {'W': {'W': 1}, 'S2': {'S': 2}}
    """
    if material not in TMD_MATERIALS:
        raise ParameterError(f"Unknown TMD {material!r}; choose one of {sorted(TMD_MATERIALS)}.")
    metal, chalcogen, a_default, thickness = TMD_MATERIALS[material]
    a = a_default if a is None else float(a)
    if a <= 0:
        raise ParameterError(f"lattice constant a must be > 0 Å, got {a}.")
    cell = _hexagonal_cell(a)
    columns = [
        (np.zeros(2), [(0.0, metal)], metal),
        ((cell[0] + cell[1]) / 3.0, [(-thickness / 2, chalcogen), (thickness / 2, chalcogen)], f"{chalcogen}2"),
    ]
    return _from_columns(cell, columns, name=f"2H-{material}", bravais="hexagonal")


def graphene(a: float = 2.46) -> Structure:
    """Graphene unit cell (two C columns, a = 2.46 Å)."""
    cell = _hexagonal_cell(a)
    columns = [(np.zeros(2), [(0.0, "C")], "C"), ((cell[0] + cell[1]) / 3.0, [(0.0, "C")], "C")]
    return _from_columns(cell, columns, name="graphene", bravais="hexagonal")


def hbn(a: float = 2.50) -> Structure:
    """Hexagonal boron nitride unit cell (B at the origin, N at (a1 + a2) / 3, a = 2.50 Å)."""
    cell = _hexagonal_cell(a)
    columns = [(np.zeros(2), [(0.0, "B")], "B"), ((cell[0] + cell[1]) / 3.0, [(0.0, "N")], "N")]
    return _from_columns(cell, columns, name="hBN", bravais="hexagonal")


def _layer(material: str) -> Structure:
    if material in TMD_MATERIALS:
        return tmd_monolayer(material)
    if material == "graphene":
        return graphene()
    if material == "hBN":
        return hbn()
    raise ParameterError(f"Unknown layer material {material!r}; use one of {sorted(TMD_MATERIALS)}, 'graphene', 'hBN'.")


# --------------------------------------------------------------------------------------
# twisted bilayers
# --------------------------------------------------------------------------------------
_REGISTRY_NAMES = {
    "antiparallel": ("AB'", "AA'", "A'B"),  # offset 0, tau, 2 tau
    "parallel": ("AA", "AB", "BA"),
}


def twisted_bilayer(
    material: str = "MoS2",
    angle: float = 3.15,
    *,
    geometry: ImageGeometry | None = None,
    radius: float | None = None,
    margin: float = 8.0,
    stacking: str = "antiparallel",
    interlayer: float = 6.15,
    offset=None,
) -> Structure:
    """Two stacked layers, the second rotated by ``angle`` degrees (a finite structure).

    Layer 1 is the monolayer ``material``; layer 2 is the same monolayer rotated about
    the origin by ``180 + angle`` degrees (``stacking="antiparallel"``, the 2H-like
    stacking whose domains are AA', AB', A'B) or by ``angle`` (``"parallel"``, domains
    AA, AB, BA), then translated by ``offset`` (default: (a1 + a2) / 3 for antiparallel,
    so the origin is an AA' (2H) domain; 0 for parallel, an AA domain).

    Every column gets the local registry: the offset ``u`` (Å, modulo the lattice) of
    layer 2's metal lattice relative to layer 1's metal lattice at the column (a smooth
    field, exact at every layer-2 metal site), the
    nearest ideal registry (offset 0, tau or 2 tau with tau = (a1 + a2) / 3) as its
    ``domain`` label and the distance to it. For antiparallel stacking: u = tau is AA'
    (metal over chalcogen, chalcogen over metal), u = 0 is AB' (metal over metal) and
    u = 2 tau is A'B (chalcogen over chalcogen). These go into
    ``column_data["domain"]``, ``["registry_offset"]`` and ``["registry_distance"]``.

    Parameters
    ----------
    material : str
        "MoS2", "MoSe2", "WS2", "WSe2", "graphene" or "hBN".
    angle : float
        Twist angle in degrees.
    geometry : ImageGeometry, optional
        Image the bilayer is built for (covered plus ``margin``).
    radius : float, optional
        Without ``geometry``: build a square of half-side ``radius`` Å around the origin.
    margin : float
        Extra border in Å around the field of view.
    stacking : {"antiparallel", "parallel"}
    interlayer : float
        Vertical distance of the layers in Å (does not affect the projection).
    offset : (float, float), optional
        Translation of layer 2 in Å.

    Returns
    -------
    Structure
        Finite; ``column_layer`` is 0 or 1.

    Examples
    --------
    >>> s = twisted_bilayer("MoS2", 3.0, radius=20.0)
    >>> sorted(set(s.column_data["domain"].tolist()))
    ["A'B", "AA'", "AB'"]
    """
    if stacking not in _REGISTRY_NAMES:
        raise ParameterError(f"stacking must be 'antiparallel' or 'parallel', got {stacking!r}.")
    unit = _layer(material)
    cell = unit.cell
    tau = (cell[0] + cell[1]) / 3.0
    if offset is None:
        offset = tau if stacking == "antiparallel" else np.zeros(2)
    offset = np.asarray(offset, dtype=float).reshape(2)
    rot = rotation_matrix((180.0 if stacking == "antiparallel" else 0.0) + float(angle))
    if geometry is not None:
        corners = geometry.structure_corners(margin)
    elif radius is not None and radius > 0:
        r = float(radius) + margin
        corners = np.array([[-r, -r], [r, -r], [r, r], [-r, r]])
    else:
        raise ParameterError("twisted_bilayer needs a geometry (ImageGeometry) or a radius in Å.")
    layer1 = unit.tile_covering(corners)
    layer2 = unit.tile_covering((corners - offset) @ rot)  # corners in layer 2's own frame
    layer2.positions[:, :2] = layer2.positions[:, :2] @ rot.T + offset
    layer2.positions[:, 2] += interlayer
    layer2.column_xy = layer2.column_xy @ rot.T + offset
    layer2.column_layer[:] = 1

    lo, hi = corners.min(axis=0), corners.max(axis=0)
    layers = []
    for layer in (layer1, layer2):
        if geometry is not None:
            keep = geometry.inside(geometry.to_pixels(layer.column_xy), margin_px=margin / geometry.pixel_size)
        else:
            keep = np.all((layer.column_xy >= lo) & (layer.column_xy <= hi), axis=1)
        layers.append(layer.take_columns(keep))
    layer1, layer2 = layers
    m1 = layer1.n_columns
    merged = Structure(
        positions=np.concatenate([layer1.positions, layer2.positions]),
        numbers=np.concatenate([layer1.numbers, layer2.numbers]),
        column_index=np.concatenate([layer1.column_index, layer2.column_index + m1]),
        column_xy=np.concatenate([layer1.column_xy, layer2.column_xy]),
        column_site=np.concatenate([layer1.column_site, layer2.column_site]),
        sites=unit.sites,
        cell=cell,
        periodic=False,
        column_layer=np.concatenate([layer1.column_layer, layer2.column_layer]),
        column_basis=np.concatenate([layer1.column_basis, layer2.column_basis]),
        column_cell=np.concatenate([layer1.column_cell, layer2.column_cell]),
        bravais=unit.bravais,
        neighbor_distance=unit.neighbor_distance,
        name=f"twisted bilayer {material} {angle:g} deg ({stacking})",
    )
    u, distance, index = _registry(merged.column_xy, cell, rotation_matrix(float(angle)), offset)
    merged.column_data = {
        "domain": np.asarray(_REGISTRY_NAMES[stacking])[index],
        "registry_offset": u,
        "registry_distance": distance,
    }
    return merged


def _registry(xy: np.ndarray, cell: np.ndarray, twist: np.ndarray, offset: np.ndarray):
    """Local stacking offset of layer 2 against layer 1 at points ``xy`` (Å).

    Layer 2's metal lattice is ``twist @ n + offset`` (n in the lattice; a 180 deg turn maps
    the lattice onto itself). The layer-2 material coordinate at ``r`` is
    ``n*(r) = twist^-1 (r - offset)`` and the offset is ``u(r) = r - n*(r)`` modulo the
    lattice: smooth in ``r`` and exactly the metal-over-lattice offset at every layer-2
    metal site.
    """
    inv = np.linalg.inv(cell)
    u = xy - (xy - offset) @ twist  # row-vector form of r - twist^-1 (r - offset)
    frac = u @ inv
    frac -= np.floor(frac)
    targets = np.array([[0.0, 0.0], [1 / 3, 1 / 3], [2 / 3, 2 / 3]])
    diff = frac[:, None, :] - targets[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ cell, axis=2)
    index = np.argmin(dist, axis=1)
    return frac @ cell, dist[np.arange(len(xy)), index], index


# --------------------------------------------------------------------------------------
# pentagonal (Cairo) tiling: a polyoxometalate analogue
# --------------------------------------------------------------------------------------
def pentagonal_tiling(
    edge: float = 6.0,
    *,
    ring_element: str = "Mo",
    centre_element: str = "Nb",
    atoms_per_column: int = 2,
    ring_fraction: float = 0.45,
) -> Structure:
    """Pentagonal units on a type-4 (Cairo) pentagonal tiling, a polyoxometalate analogue.

    The pentagon centres sit on the vertices of a snub square tiling with edge ``edge`` Å
    (4 per square unit cell of side ``edge (1 + sqrt 3) / sqrt 2``); their Voronoi cells are
    the Cairo pentagons. Each unit is a centre column (``centre_element``, the site a
    pentagonal bipyramid fills in Mo-V-Te-Nb oxides) ringed by five columns of
    ``ring_element`` placed ``ring_fraction`` of the way from the centre to the five
    pentagon vertices. All columns hold ``atoms_per_column`` atoms; use
    :func:`plant_pentagon_occupancy` on the tiled structure to make centres filled,
    partly filled or empty.

    ``column_data["pentagon_centre"]`` marks centre columns; ``column_basis`` 0..3 of a
    centre and ``column_cell`` (i, j) identify the squares of four pentagons
    (see :func:`pentagon_squares`).

    Parameters
    ----------
    edge : float
        Distance between neighbouring pentagon centres in Å.
    ring_element, centre_element : str
    atoms_per_column : int
    ring_fraction : float
        In (0, 1).

    Returns
    -------
    Structure
        Periodic unit cell (square lattice, 4 centre + 20 ring columns).

    Examples
    --------
    >>> s = pentagonal_tiling()
    >>> int(s.column_data["pentagon_centre"].sum()), s.n_columns, s.bravais
    (4, 24, 'square')
    """
    from scipy.spatial import Voronoi

    if edge <= 0 or not (0 < ring_fraction < 1) or atoms_per_column < 1:
        raise ParameterError("need edge > 0 Å, 0 < ring_fraction < 1 and atoms_per_column >= 1.")
    side = edge * (1.0 + np.sqrt(3.0)) / np.sqrt(2.0)
    cell = np.array([[side, 0.0], [0.0, side]])
    v0 = edge / np.sqrt(2.0) * np.array([np.cos(np.radians(60.0)), np.sin(np.radians(60.0))])
    centres = np.array([rotation_matrix(90.0 * k) @ v0 for k in range(4)])
    shifts = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]) @ cell
    points = (centres[None, :, :] + shifts[:, None, :]).reshape(-1, 2)
    vor = Voronoi(points)
    zero_shift = 4  # index of the (0, 0) shift in `shifts`
    z_offsets = (np.arange(atoms_per_column) - (atoms_per_column - 1) / 2.0) * 2.0
    columns = []
    rings = []
    for k in range(4):
        region = vor.regions[vor.point_region[zero_shift * 4 + k]]
        if -1 in region or len(region) != 5:  # pragma: no cover - geometry guarantees pentagons
            raise RuntimeError("Cairo tiling construction failed.")
        vertices = vor.vertices[region]
        rings.append(centres[k] + ring_fraction * (vertices - centres[k]))
    centre_site = column_label({centre_element: atoms_per_column}, {centre_element: atoms_per_column})
    ring_site = column_label({ring_element: atoms_per_column}, {ring_element: atoms_per_column})
    for k in range(4):
        columns.append((centres[k], [(z, centre_element) for z in z_offsets], centre_site))
    for k in range(4):
        for xy in rings[k]:
            columns.append((xy, [(z, ring_element) for z in z_offsets], ring_site))
    is_centre = np.zeros(len(columns), dtype=bool)
    is_centre[:4] = True
    structure = _from_columns(
        cell,
        columns,
        name=f"Cairo pentagonal tiling (edge {edge:g} A)",
        bravais="square",
        column_data={"pentagon_centre": is_centre},
    )
    return structure


def pentagon_squares(cell_index, basis_index, is_centre) -> np.ndarray:
    """Squares of four pentagon centres (the level-2 motifs of the Cairo tiling).

    Square A of cell (i, j) has corners (i, j, k) for k = 0..3; square B has corners
    (i, j, 0), (i+1, j, 1), (i+1, j+1, 2), (i, j+1, 3), each in cyclic order.
    Only squares whose four corners are all present are returned.

    Parameters
    ----------
    cell_index : ndarray of int, shape (m, 2)
    basis_index : ndarray of int, shape (m,)
    is_centre : ndarray of bool, shape (m,)

    Returns
    -------
    ndarray of int, shape (S, 4)
        Row indices (into the given arrays) of the corners, in cyclic order.
    """
    cell_index = np.asarray(cell_index, dtype=np.int64).reshape(-1, 2)
    basis_index = np.asarray(basis_index, dtype=np.int64).reshape(-1)
    is_centre = np.asarray(is_centre, dtype=bool).reshape(-1)
    rows = np.flatnonzero(is_centre)
    lookup = {(int(cell_index[r, 0]), int(cell_index[r, 1]), int(basis_index[r])): int(r) for r in rows}
    squares = []
    cells = sorted({(int(cell_index[r, 0]), int(cell_index[r, 1])) for r in rows})
    for i, j in cells:
        for corners in (
            [(i, j, 0), (i, j, 1), (i, j, 2), (i, j, 3)],
            [(i, j, 0), (i + 1, j, 1), (i + 1, j + 1, 2), (i, j + 1, 3)],
        ):
            found = [lookup.get(c) for c in corners]
            if all(f is not None for f in found):
                squares.append(found)
    return np.asarray(squares, dtype=np.int64).reshape(-1, 4)


def plant_pentagon_occupancy(
    structure: Structure,
    fractions=(0.5, 0.25, 0.25),
    *,
    coupling: float = 0.0,
    sweeps: int = 40,
    random_state=None,
) -> Structure:
    """Make pentagon centres filled, partly filled or empty with planted statistics.

    States are drawn from ``fractions`` (filled, partial, empty). With ``coupling != 0`` a
    heat-bath Gibbs sampler on the square edges (each centre has four neighbours along
    the edges of the two squares it belongs to) reweights each state by
    ``exp(coupling * number of edge neighbours in the same state)``: positive values make
    uniform squares common, negative values alternating ones, so the distribution of the
    16 (binary) or 81 (ternary) square configurations is far from uniform.

    A filled centre keeps all its atoms, a partial one loses half (at least one), an empty
    one loses all. ``column_data["pentagon_state"]`` holds 0/1/2 (see
    :data:`PENTAGON_STATES`) for centres and -1 elsewhere.

    Parameters
    ----------
    structure : Structure
        A tiled pentagonal tiling (from :func:`pentagonal_tiling` + ``tile_for_view``).
    fractions : (float, float, float)
        Prior probabilities of filled, partial, empty (normalised).
    coupling : float
        Interaction strength along square edges.
    sweeps : int
        Gibbs sweeps (ignored when ``coupling == 0``).
    random_state : int, Generator or None

    Returns
    -------
    Structure
    """
    if "pentagon_centre" not in structure.column_data:
        raise ParameterError("plant_pentagon_occupancy needs a structure from pentagonal_tiling().")
    fractions = np.asarray(fractions, dtype=float).reshape(-1)
    if fractions.shape != (3,) or np.any(fractions < 0) or fractions.sum() <= 0:
        raise ParameterError(f"fractions must be three non-negative numbers (filled, partial, empty), got {fractions}.")
    fractions = fractions / fractions.sum()
    rng = check_random_state(random_state)
    out = structure.copy()
    centre_rows = np.flatnonzero(out.column_data["pentagon_centre"])
    state = rng.choice(3, size=len(centre_rows), p=fractions)
    if coupling != 0 and len(centre_rows) > 1:
        squares = pentagon_squares(out.column_cell[centre_rows], out.column_basis[centre_rows], np.ones(len(centre_rows), bool))
        if len(squares):
            edges = np.concatenate([squares[:, [k, (k + 1) % 4]] for k in range(4)])
            edges = np.concatenate([edges, edges[:, ::-1]])
            colour = _greedy_colouring(len(centre_rows), edges)
            log_prior = np.log(np.maximum(fractions, 1e-300))
            for _ in range(int(sweeps)):
                for c in range(colour.max() + 1):
                    nodes = np.flatnonzero(colour == c)
                    same = np.zeros((len(centre_rows), 3))
                    np.add.at(same, (edges[:, 0], state[edges[:, 1]]), 1.0)
                    logits = log_prior[None, :] + coupling * same[nodes]
                    logits -= logits.max(axis=1, keepdims=True)
                    p = np.exp(logits)
                    p /= p.sum(axis=1, keepdims=True)
                    u = rng.random(len(nodes))
                    state[nodes] = np.minimum((u[:, None] > np.cumsum(p, axis=1)).sum(axis=1), 2)
    full = np.full(out.n_columns, -1, dtype=np.int8)
    full[centre_rows] = state
    out.column_data["pentagon_state"] = full
    # remove atoms: partial keeps ceil(n/2) - at least one lost; empty keeps none
    remove = np.zeros(out.n_atoms, dtype=bool)
    atom_state = full[out.column_index]
    for s in (1, 2):
        idx = np.flatnonzero(atom_state == s)
        if len(idx) == 0:
            continue
        order = idx[np.argsort(out.column_index[idx], kind="stable")]
        cols = out.column_index[order]
        starts = np.r_[0, np.flatnonzero(np.diff(cols)) + 1]
        sizes = np.diff(np.r_[starts, len(cols)])
        rank = np.arange(len(cols)) - np.repeat(starts, sizes)
        size = np.repeat(sizes, sizes)
        drop = rank < np.maximum(size // 2, 1) if s == 1 else np.ones(len(cols), bool)
        remove[order[drop]] = True
    return _keep_atoms(out, ~remove)


def _greedy_colouring(n: int, edges: np.ndarray) -> np.ndarray:
    neighbours = [[] for _ in range(n)]
    for a, b in edges:
        neighbours[a].append(b)
    colour = np.full(n, -1, dtype=np.int64)
    for node in range(n):
        used = {colour[v] for v in neighbours[node] if colour[v] >= 0}
        c = 0
        while c in used:
            c += 1
        colour[node] = c
    return colour


# --------------------------------------------------------------------------------------
# ASE
# --------------------------------------------------------------------------------------
def from_ase(atoms, *, column_tol: float = 0.3, periodic: bool | None = None, name: str | None = None) -> Structure:
    """Convert ASE ``Atoms`` to a :class:`Structure`, projecting along z.

    Atoms within ``column_tol`` Å of each other in (x, y) (periodic images included) form
    one column. The in-plane cell is the (x, y) part of the first two cell vectors.

    Parameters
    ----------
    atoms : ase.Atoms
        With its projection axis along z: cell vectors a and b in the x-y plane.
    column_tol : float
        Grouping tolerance in Å.
    periodic : bool, optional
        Defaults to ``atoms.pbc[0] and atoms.pbc[1]``.
    name : str, optional
        Defaults to the chemical formula.

    Returns
    -------
    Structure

    Examples
    --------
    >>> from ase.build import mx2
    >>> s = from_ase(mx2("MoS2", a=3.16))
    >>> sorted(s.sites)
    ['Mo', 'S2']
    """
    try:
        positions = np.asarray(atoms.get_positions(), dtype=float)
        numbers = np.asarray(atoms.get_atomic_numbers(), dtype=np.int64)
        cell3 = np.asarray(atoms.get_cell(), dtype=float)
        pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    except AttributeError as exc:
        raise ParameterError(f"from_ase expects an ase.Atoms object, got {type(atoms).__name__}.") from exc
    if len(positions) == 0:
        raise NotEnoughDataError("The ASE Atoms object has no atoms.")
    periodic = bool(pbc[0] and pbc[1]) if periodic is None else bool(periodic)
    cell = None
    if np.abs(cell3[:2, :2]).max() > 0 and abs(np.linalg.det(cell3[:2, :2])) > 1e-9:
        if np.abs(cell3[:2, 2]).max() > 1e-6:
            raise ParameterError(
                "The first two cell vectors have z components; rotate the structure so that "
                "the projection axis is z (e.g. ase.build.rotate or atoms.rotate)."
            )
        cell = cell3[:2, :2].copy()
    if periodic and cell is None:
        raise ParameterError("periodic projection needs in-plane cell vectors; set atoms.cell or pass periodic=False.")
    return Structure.from_atoms(
        positions,
        numbers,
        cell,
        periodic=periodic,
        column_tol=column_tol,
        name=name if name is not None else atoms.get_chemical_formula(),
    )


# --------------------------------------------------------------------------------------
# defects
# --------------------------------------------------------------------------------------
def _keep_atoms(structure: Structure, keep: np.ndarray) -> Structure:
    return replace(
        structure,
        positions=structure.positions[keep],
        numbers=structure.numbers[keep],
        column_index=structure.column_index[keep],
        sites={k: dict(v) for k, v in structure.sites.items()},
    )


def _choose_columns(structure, z, density, count, sites, rng, what):
    has = np.bincount(structure.column_index[structure.numbers == z], minlength=structure.n_columns) > 0
    eligible = np.flatnonzero(has)
    given = sum(v is not None for v in (density, count, sites))
    if given != 1:
        raise ParameterError(f"{what}: give exactly one of density, count or sites.")
    if sites is not None:
        chosen = np.unique(np.asarray(sites, dtype=np.int64).reshape(-1))
        if len(chosen) and (chosen.min() < 0 or chosen.max() >= structure.n_columns):
            raise ParameterError(f"{what}: sites must be column indices in [0, {structure.n_columns}).")
        bad = chosen[~has[chosen]]
        if len(bad):
            raise ParameterError(
                f"{what}: columns {bad[:5].tolist()} hold no {SYMBOLS[z]} atom; pick columns "
                f"that do (e.g. with Structure.nearest_columns)."
            )
        return chosen
    if count is None:
        if not (0.0 <= float(density) <= 1.0):
            raise ParameterError(f"{what}: density must be a fraction in [0, 1], got {density}.")
        count = int(round(float(density) * len(eligible)))
    count = int(count)
    if count < 0 or count > len(eligible):
        raise ParameterError(f"{what}: count must be in [0, {len(eligible)}] (columns with {SYMBOLS[z]}), got {count}.")
    return np.sort(rng.choice(eligible, size=count, replace=False)) if count else np.zeros(0, np.int64)


def _pick_atoms(structure, z, chosen, double_fraction, rng):
    """Atoms of element z to modify: one per chosen column, all for 'double' columns."""
    if not (0.0 <= float(double_fraction) <= 1.0):
        raise ParameterError(f"double_fraction must be in [0, 1], got {double_fraction}.")
    chosen_mask = np.zeros(structure.n_columns, dtype=bool)
    chosen_mask[chosen] = True
    double = np.zeros(structure.n_columns, dtype=bool)
    double[chosen] = rng.random(len(chosen)) < float(double_fraction)
    idx = np.flatnonzero((structure.numbers == z) & chosen_mask[structure.column_index])
    priority = rng.random(len(idx))
    order = idx[np.lexsort((priority, structure.column_index[idx]))]
    cols = structure.column_index[order]
    if len(cols) == 0:
        return order
    starts = np.r_[0, np.flatnonzero(np.diff(cols)) + 1]
    sizes = np.diff(np.r_[starts, len(cols)])
    rank = np.arange(len(cols)) - np.repeat(starts, sizes)
    return order[(rank == 0) | double[cols]]


def add_vacancies(
    structure: Structure,
    element: str,
    *,
    density: float | None = None,
    count: int | None = None,
    sites=None,
    double_fraction: float = 0.0,
    random_state=None,
) -> Structure:
    """Remove atoms of ``element``: single (one atom of a column) or double (all of them).

    Parameters
    ----------
    structure : Structure
        Usually a finite structure from :meth:`Structure.tile_for_view`.
    element : str
        Element to remove, e.g. ``"Se"``.
    density : float, optional
        Fraction of the columns holding ``element`` that get a vacancy.
    count : int, optional
        Number of such columns instead of a density.
    sites : array_like of int, optional
        Explicit column indices instead of random ones.
    double_fraction : float
        Probability that a chosen column loses all its ``element`` atoms (a double
        vacancy in a 2-atom chalcogen column) rather than one.
    random_state : int, Generator or None

    Returns
    -------
    Structure

    Examples
    --------
    >>> from motifkit.simulate import ImageGeometry
    >>> big = tmd_monolayer("MoSe2").tile_for_view(ImageGeometry((64, 64), 0.2))
    >>> vac = add_vacancies(big, "Se", count=3, double_fraction=1.0, random_state=0)
    >>> big.n_atoms - vac.n_atoms
    6
    """
    z = atomic_number(element)
    rng = check_random_state(random_state)
    chosen = _choose_columns(structure, z, density, count, sites, rng, "add_vacancies")
    atoms = _pick_atoms(structure, z, chosen, double_fraction, rng)
    keep = np.ones(structure.n_atoms, dtype=bool)
    keep[atoms] = False
    return _keep_atoms(structure, keep)


def substitute(
    structure: Structure,
    element: str,
    replacement: str,
    *,
    density: float | None = None,
    count: int | None = None,
    sites=None,
    double_fraction: float = 0.0,
    random_state=None,
) -> Structure:
    """Replace atoms of ``element`` by ``replacement`` (e.g. Fe on Mo sites, Te on Se sites).

    One atom per chosen column is replaced (a chalcogen column becomes e.g. ``"Se1Te1"``);
    with probability ``double_fraction`` every ``element`` atom of the column is
    (``"Te2"``). Parameters as in :func:`add_vacancies`.

    Examples
    --------
    >>> from motifkit.simulate import ImageGeometry
    >>> big = tmd_monolayer("WS2").tile_for_view(ImageGeometry((64, 64), 0.2))
    >>> fe = substitute(big, "W", "Fe", count=2, random_state=0)
    >>> int((fe.numbers == 26).sum())
    2
    """
    z = atomic_number(element)
    new_z = atomic_number(replacement)
    rng = check_random_state(random_state)
    chosen = _choose_columns(structure, z, density, count, sites, rng, "substitute")
    atoms = _pick_atoms(structure, z, chosen, double_fraction, rng)
    out = _keep_atoms(structure, np.ones(structure.n_atoms, dtype=bool))
    out.numbers = out.numbers.copy()
    out.numbers[atoms] = new_z
    return out
