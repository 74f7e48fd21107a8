"""Tersoff-Hamann STM images from a volumetric partial charge density.

In the Tersoff-Hamann model (as used by AtomVision / JARVIS-tools) the tunnelling current
of an s-wave tip at position ``r`` is proportional to the local density of states
integrated between the Fermi level and the bias, i.e. to the band-decomposed partial charge
density that VASP writes to ``PARCHG`` (or any density written as a Gaussian cube file).
Two imaging modes follow directly:

constant height
    The tip scans a plane ``z = z_top_atom + height``; the image is the density on that
    plane (:func:`stm_constant_height`).
constant current
    The tip follows the isosurface ``density = isovalue``; the image is the tip height
    (:func:`stm_constant_current`).

Geometry conventions
    Lengths are in ångström. The surface normal is the Cartesian z axis: the lattice vectors
    ``a`` and ``b`` must lie in the xy plane (``a_z = b_z = 0``), ``c`` spans the slab plus
    vacuum. The density is periodic on the grid ``origin + (i/nx) a + (j/ny) b + (k/nz) c``
    (the VASP convention; a cube file's voxel vectors times the voxel counts give the cell).
    Images are sampled on a Cartesian grid: pixel ``image[row, col]`` is centred on
    ``x = x0 + col * pixel_size``, ``y = y0 + row * pixel_size`` with ``(x0, y0)`` stored in
    ``metadata["xy_origin_A"]``; positions in pixels are ``(x, y) = (col, row)`` as
    everywhere in motifkit. Non-orthogonal (e.g. hexagonal) cells are handled by mapping
    each Cartesian point back to fractional coordinates, so any rectangle can be sampled.

Examples
--------
>>> from motifkit.stm import read_volumetric, stm_constant_height   # doctest: +SKIP
>>> volume = read_volumetric("PARCHG")                              # doctest: +SKIP
>>> image = stm_constant_height(volume, 2.0, repeat=(4, 4))         # doctest: +SKIP
>>> image.pixel_size, image.unit                                    # doctest: +SKIP
(0.1, 'A')
"""

from __future__ import annotations

import gzip
import io as _stdio
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CorruptFileError, FileFormatError, MissingFileError, ParameterError
from .micrograph import MIN_IMAGE_SIZE, Micrograph

__all__ = [
    "BOHR_TO_ANGSTROM",
    "STMWarning",
    "VolumetricData",
    "read_cube",
    "read_vasp_volumetric",
    "read_volumetric",
    "stm_constant_current",
    "stm_constant_height",
    "write_cube",
    "write_vasp_volumetric",
]

#: One bohr in ångström (CODATA 2018).
BOHR_TO_ANGSTROM = 0.529177210903

# VASP files whose grid values are density * cell volume.
_VASP_PREFIXES = ("PARCHG", "CHGCAR", "CHG", "AECCAR")


class STMWarning(UserWarning):
    """An STM image was produced but some pixels needed a documented fallback."""


# --------------------------------------------------------------------------------------
# container
# --------------------------------------------------------------------------------------
@dataclass
class VolumetricData:
    """A scalar field (e.g. a partial charge density) on a periodic 3-D grid.

    Parameters
    ----------
    density : ndarray of float64, shape (nx, ny, nz)
        Values at the grid points ``origin + (i/nx) a + (j/ny) b + (k/nz) c``; for charge
        densities in electrons per Å^3.
    cell : ndarray of float64, shape (3, 3)
        Lattice vectors ``a, b, c`` as rows, in Å.
    origin : ndarray of float64, shape (3,)
        Cartesian position of grid point (0, 0, 0), in Å.
    atom_positions : ndarray of float64, shape (M, 3), optional
        Cartesian atom positions in Å.
    atomic_numbers : ndarray of int, shape (M,), optional
        Atomic number of each atom (0 when the file did not say).
    source : str, optional
        Where the data came from.
    metadata : dict
        What the reader found (format, comment lines, ignored blocks ...).

    Examples
    --------
    >>> import numpy as np
    >>> v = VolumetricData(np.ones((4, 4, 8)), np.diag([2.0, 2.0, 10.0]))
    >>> v.shape, round(v.volume, 1)
    ((4, 4, 8), 40.0)
    """

    density: np.ndarray
    cell: np.ndarray
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    atom_positions: np.ndarray | None = None
    atomic_numbers: np.ndarray | None = None
    source: str | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        density = np.asarray(self.density, dtype=np.float64)
        if density.ndim != 3 or min(density.shape) < 2:
            raise ParameterError(
                f"density must be a 3-D grid (nx, ny, nz) with at least 2 points per axis, "
                f"got shape {density.shape}."
            )
        if not np.isfinite(density).all():
            raise ParameterError(
                f"density contains {int((~np.isfinite(density)).sum())} NaN/inf value(s); "
                f"replace them (np.nan_to_num) before imaging."
            )
        cell = np.asarray(self.cell, dtype=np.float64)
        if cell.shape != (3, 3) or not np.isfinite(cell).all():
            raise ParameterError(f"cell must be a finite (3, 3) array of lattice vectors (rows) in Å, got {cell.shape}.")
        if abs(np.linalg.det(cell)) < 1e-9:
            raise ParameterError("cell has zero volume; its three lattice vectors must be linearly independent.")
        origin = np.asarray(self.origin, dtype=np.float64).reshape(-1)
        if origin.shape != (3,):
            raise ParameterError(f"origin must have 3 components (Å), got {origin.shape}.")
        if (self.atom_positions is None) != (self.atomic_numbers is None):
            raise ParameterError("Give both atom_positions and atomic_numbers, or neither.")
        if self.atom_positions is not None:
            positions = np.asarray(self.atom_positions, dtype=np.float64).reshape(-1, 3)
            numbers = np.asarray(self.atomic_numbers).astype(np.int64).reshape(-1)
            if len(positions) != len(numbers):
                raise ParameterError(
                    f"{len(positions)} atom positions but {len(numbers)} atomic numbers; they must match."
                )
            self.atom_positions, self.atomic_numbers = positions, numbers
        self.density, self.cell, self.origin = density, cell, origin
        self.metadata = dict(self.metadata or {})

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid size (nx, ny, nz)."""
        return self.density.shape  # type: ignore[return-value]

    @property
    def volume(self) -> float:
        """Cell volume in Å^3."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def n_atoms(self) -> int:
        """Number of atoms (0 when unknown)."""
        return 0 if self.atom_positions is None else len(self.atom_positions)

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return f"VolumetricData(grid {self.shape}, {self.n_atoms} atoms, volume {self.volume:.2f} Å^3{src})"


# --------------------------------------------------------------------------------------
# reading helpers
# --------------------------------------------------------------------------------------
def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return _stdio.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _check_path(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path} does not exist; check the spelling and the folder.", filename=str(path))
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder; pass the path of a volumetric file inside it.")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{path.name} is empty (0 bytes); copy or export it again.")
    return path


class _Lines:
    """Line reader that knows line numbers, for error messages."""

    def __init__(self, lines: list[str], name: str, what: str):
        self.lines, self.name, self.what, self.index = lines, name, what, 0

    def next(self, expecting: str) -> str:
        if self.index >= len(self.lines):
            raise CorruptFileError(
                f"{self.name}: the file ends at line {len(self.lines)} but {expecting} was expected "
                f"there; the {self.what} file is truncated. Copy or export it again."
            )
        line = self.lines[self.index]
        self.index += 1
        return line

    def next_nonblank(self, expecting: str) -> str:
        line = self.next(expecting)
        while not line.strip():
            line = self.next(expecting)
        return line

    def numbers(self, expecting: str, count: int | None = None, dtype=float, blank_ok=False) -> list:
        line = self.next_nonblank(expecting) if blank_ok else self.next(expecting)
        tokens = line.split()
        try:
            values = [dtype(t) if dtype is float else int(t) for t in tokens[: count or len(tokens)]]
        except ValueError:
            raise CorruptFileError(
                f"{self.name}, line {self.index}: expected {expecting} but found {line.strip()[:80]!r}; "
                f"the {self.what} file is malformed."
            ) from None
        if count is not None and len(values) < count:
            raise CorruptFileError(
                f"{self.name}, line {self.index}: expected {count} numbers ({expecting}) but found "
                f"{len(values)} in {line.strip()[:80]!r}; the {self.what} file is malformed."
            )
        return values

    def read_values(self, count: int, expecting: str, *, to_end: bool = False) -> np.ndarray:
        """Read ``count`` whitespace-separated floats starting at the current line.

        Fast path: the block is the rest of the file (``to_end``) or has as many values on
        every line as on its first one (VASP); numpy parses it in C. Anything unexpected
        falls back to the line-by-line path, which finds and reports the bad line.
        """
        start = self.index
        if start < len(self.lines):
            if to_end:
                stop = len(self.lines)
            else:
                per_line = len(self.lines[start].split())
                stop = start + (-(-count // per_line) if per_line else 0)
            if stop > start:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    try:
                        values = np.fromstring(" ".join(self.lines[start:stop]), dtype=np.float64, sep=" ")
                    except (DeprecationWarning, ValueError):
                        values = None
                if values is not None and values.size == count:
                    self.index = stop
                    return values
        collected, total = [], 0
        while total < count:
            if self.index >= len(self.lines):
                raise CorruptFileError(
                    f"{self.name}: the file ends at line {len(self.lines)} after {total} of the "
                    f"{count} {expecting} values (which start at line {start + 1}); the {self.what} "
                    f"file is truncated. Copy or export it again."
                )
            line = self.lines[self.index]
            self.index += 1
            collected.append(line)
            total += len(line.split())
        try:
            values = np.array(" ".join(collected).split(), dtype=np.float64)
        except ValueError:
            for offset, line in enumerate(collected):
                try:
                    np.array(line.split(), dtype=np.float64)
                except ValueError:
                    raise CorruptFileError(
                        f"{self.name}, line {start + offset + 1}: non-numeric {expecting} value in "
                        f"{line.strip()[:80]!r}; the {self.what} file is malformed (Fortran overflow "
                        f"'****' or a damaged copy)."
                    ) from None
            raise  # pragma: no cover - a line always fails when the join does
        if total > count:
            raise CorruptFileError(
                f"{self.name}, line {self.index}: the {expecting} block holds {total} values, not "
                f"the {count} the grid size announces; the {self.what} file is malformed."
            )
        return values


def _read_lines(path: Path) -> list[str]:
    try:
        with _open_text(path) as handle:
            return handle.read().splitlines()
    except (OSError, EOFError) as exc:
        raise CorruptFileError(f"{path.name} cannot be read ({exc}); it is probably truncated or corrupt.") from exc


# --------------------------------------------------------------------------------------
# Gaussian cube
# --------------------------------------------------------------------------------------
def read_cube(path, *, convert_density: bool = True, dataset: int = 0) -> VolumetricData:
    """Read a Gaussian cube file.

    Parameters
    ----------
    path : str or Path
        ``*.cube`` (optionally gzipped, ``*.cube.gz``).
    convert_density : bool
        When the file is in bohr (positive voxel counts), convert the values from per
        bohr^3 to per Å^3 (divide by 0.529177^3), which is right for densities. Pass False
        for other fields (potentials, orbitals) whose values must stay as written.
    dataset : int
        For cube files with several values per voxel (negative atom count followed by a
        data-set id line), which one to return (0-based).

    Returns
    -------
    VolumetricData
        Lengths in Å; ``cell`` rows are ``n_i * voxel_i``; the grid is treated as periodic.

    Raises
    ------
    CorruptFileError
        Truncated or malformed file; the message gives the line number.

    Notes
    -----
    Cube layout: two comment lines; ``natoms ox oy oz``; three lines ``n_i vx vy vz``;
    ``natoms`` lines ``Z charge x y z``; then the values with the z index fastest. A
    negative voxel count means the file is in Å instead of bohr (the sign of ``n_1`` decides
    for the whole file).
    """
    path = _check_path(path)
    lines = _Lines(_read_lines(path), path.name, "cube")
    comments = [lines.next("the first comment line"), lines.next("the second comment line")]
    header = lines.numbers("'natoms ox oy oz'", 4)
    n_atoms_signed = int(header[0])
    if header[0] != n_atoms_signed:
        raise CorruptFileError(f"{path.name}, line 3: the atom count {header[0]} is not an integer; not a cube file.")
    counts, voxels = [], []
    for axis in range(3):
        values = lines.numbers(f"'n{axis + 1} vx vy vz' (grid size and voxel vector)", 4)
        if values[0] != int(values[0]) or values[0] == 0:
            raise CorruptFileError(
                f"{path.name}, line {lines.index}: voxel count {values[0]} must be a non-zero integer."
            )
        counts.append(int(values[0]))
        voxels.append(values[1:])
    in_angstrom = counts[0] < 0
    length = 1.0 if in_angstrom else BOHR_TO_ANGSTROM
    shape = tuple(abs(c) for c in counts)
    if min(shape) < 2:
        raise CorruptFileError(f"{path.name}: grid {shape} needs at least 2 points per axis.")
    voxels = np.asarray(voxels) * length
    numbers, positions = [], []
    for _ in range(abs(n_atoms_signed)):
        values = lines.numbers("an atom line 'Z charge x y z'", 5)
        numbers.append(int(values[0]))
        positions.append(values[2:5])
    n_values = 1
    if n_atoms_signed < 0:
        ids = lines.numbers("the data-set id line 'm id1 ... idm'")
        n_values = int(ids[0]) if ids else 1
        if n_values < 1:
            raise CorruptFileError(f"{path.name}, line {lines.index}: data-set count {n_values} must be >= 1.")
    if not 0 <= dataset < n_values:
        raise ParameterError(f"dataset={dataset} but {path.name} holds {n_values} data set(s); use 0..{n_values - 1}.")
    values = lines.read_values(int(np.prod(shape)) * n_values, "grid", to_end=True)
    remaining = sum(1 for line in lines.lines[lines.index :] if line.strip())
    if remaining:
        raise CorruptFileError(
            f"{path.name}: {remaining} non-blank line(s) after the {np.prod(shape) * n_values} grid "
            f"values (from line {lines.index + 1}); the voxel counts do not match the data."
        )
    density = values.reshape(shape + (n_values,))[..., dataset]
    if convert_density and not in_angstrom:
        density = density / BOHR_TO_ANGSTROM**3
    cell = voxels * np.asarray(shape)[:, None]
    return VolumetricData(
        density=density,
        cell=cell,
        origin=np.asarray(header[1:4]) * length,
        atom_positions=np.asarray(positions, dtype=float).reshape(-1, 3) * length,
        atomic_numbers=np.asarray(numbers, dtype=np.int64),
        source=str(path),
        metadata={
            "format": "cube",
            "comments": comments,
            "length_unit_in_file": "angstrom" if in_angstrom else "bohr",
            "density_converted_to_per_A3": bool(convert_density and not in_angstrom),
            "n_datasets": n_values,
            "dataset": dataset,
        },
    )


def _write_values(handle, values: np.ndarray, per_line: int) -> None:
    # %-formatting a whole block at once is several times faster than np.savetxt.
    values = np.asarray(values, dtype=np.float64)
    n_full = len(values) // per_line * per_line
    line = " ".join(["%.10E"] * per_line) + "\n"
    rows_per_chunk = 20000
    for start in range(0, n_full, rows_per_chunk * per_line):
        block = values[start : min(n_full, start + rows_per_chunk * per_line)]
        handle.write((line * (len(block) // per_line)) % tuple(block.tolist()))
    if n_full < len(values):
        handle.write(" ".join(f"{v:.10E}" for v in values[n_full:]) + "\n")


def write_cube(volume: VolumetricData, path, *, comment: str = "written by motifkit", unit: str = "bohr",
               convert_density: bool = True) -> Path:
    """Write ``volume`` as a Gaussian cube file.

    Parameters
    ----------
    volume : VolumetricData
    path : str or Path
        Destination (``*.cube``).
    comment : str
        First comment line.
    unit : {"bohr", "angstrom"}
        Length unit in the file (Å is flagged by negative voxel counts).
    convert_density : bool
        In bohr files, write values per bohr^3 (multiply by 0.529177^3); the inverse of
        :func:`read_cube`'s ``convert_density``.

    Returns
    -------
    Path
    """
    if unit not in ("bohr", "angstrom"):
        raise ParameterError(f"unit must be 'bohr' or 'angstrom', got {unit!r}.")
    path = Path(path)
    length = 1.0 if unit == "angstrom" else BOHR_TO_ANGSTROM
    sign = -1 if unit == "angstrom" else 1
    shape = volume.shape
    voxels = volume.cell / np.asarray(shape)[:, None] / length
    density = volume.density
    if convert_density and unit == "bohr":
        density = density * BOHR_TO_ANGSTROM**3
    positions = volume.atom_positions if volume.atom_positions is not None else np.zeros((0, 3))
    numbers = volume.atomic_numbers if volume.atomic_numbers is not None else np.zeros(0, int)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(comment.replace("\n", " ") + "\n")
        handle.write(f"grid {shape[0]} x {shape[1]} x {shape[2]}, z index fastest\n")
        ox, oy, oz = volume.origin / length
        handle.write(f"{len(positions):5d} {ox:16.10f} {oy:16.10f} {oz:16.10f}\n")
        handle.writelines(f"{sign * n:5d} {vec[0]:16.10f} {vec[1]:16.10f} {vec[2]:16.10f}\n" for n, vec in zip(shape, voxels))
        handle.writelines(f"{int(z):5d} {float(z):16.10f} {pos[0]:16.10f} {pos[1]:16.10f} {pos[2]:16.10f}\n" for z, pos in zip(numbers, positions / length))
        _write_values(handle, density.ravel(order="C"), 6)
    return path


# --------------------------------------------------------------------------------------
# VASP CHGCAR / PARCHG
# --------------------------------------------------------------------------------------
def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def read_vasp_volumetric(path, *, divide_by_volume: bool = True) -> VolumetricData:
    """Read a VASP volumetric file (``PARCHG``, ``CHGCAR``, ``CHG``, ``AECCAR*``).

    Parameters
    ----------
    path : str or Path
        The file (optionally gzipped).
    divide_by_volume : bool
        VASP writes ``density * V_cell`` for charge files; divide by the cell volume (Å^3)
        to get electrons per Å^3. Pass False for files that are not volume-scaled (LOCPOT).

    Returns
    -------
    VolumetricData
        Lengths in Å; ``density[i, j, k]`` at ``(i/nx) a + (j/ny) b + (k/nz) c``.

    Raises
    ------
    CorruptFileError
        Truncated or malformed file; the message gives the line number.

    Notes
    -----
    Layout: a POSCAR header (comment, scale factor, three lattice vectors, optional element
    line (VASP 5+), atom counts, optional ``Selective dynamics``, ``Direct``/``Cartesian``,
    positions), a blank line, ``nx ny nz`` and ``nx*ny*nz`` values with x fastest (Fortran
    order). A negative scale factor is the target cell volume; three scale factors scale
    each axis. Only the first block (total density) is returned. What follows it is
    recognised and counted in ``metadata["ignored_blocks"]``, not read: PAW
    ``augmentation occupancies`` (one-centre corrections that plain grid densities never
    include) and further grids (the magnetisation of spin-polarised or non-collinear runs).
    Without an element line (VASP 4) the atomic numbers are 0.
    """
    path = _check_path(path)
    lines = _Lines(_read_lines(path), path.name, "VASP volumetric")
    comment = lines.next("the comment line")
    scale = lines.numbers("the scale factor")
    if len(scale) not in (1, 3):
        raise CorruptFileError(f"{path.name}, line 2: expected 1 or 3 scale factors, got {len(scale)}.")
    lattice = np.array([lines.numbers(f"lattice vector {i + 1}", 3) for i in range(3)], dtype=float)
    # Per-Cartesian-axis factor applied to the lattice and to Cartesian positions.
    if len(scale) == 3:
        if min(scale) <= 0:
            raise CorruptFileError(f"{path.name}, line 2: three scale factors must all be positive, got {scale}.")
        factor = np.asarray(scale, dtype=float)
    elif scale[0] < 0:
        raw_volume = abs(np.linalg.det(lattice))
        if raw_volume < 1e-12:
            raise CorruptFileError(f"{path.name}, lines 3-5: the lattice vectors have zero volume.")
        factor = np.full(3, (abs(scale[0]) / raw_volume) ** (1.0 / 3.0))
    elif scale[0] > 0:
        factor = np.full(3, float(scale[0]))
    else:
        raise CorruptFileError(f"{path.name}, line 2: the scale factor is 0; a POSCAR scale must be non-zero.")
    cell = lattice * factor[None, :]
    if abs(np.linalg.det(cell)) < 1e-9:
        raise CorruptFileError(f"{path.name}, lines 3-5: the lattice vectors have zero volume.")

    line = lines.next("the element symbols or atom counts")
    tokens = line.split()
    symbols = None
    if tokens and not all(_is_int(t) for t in tokens):
        symbols = [t.split("/")[0].split("_")[0] for t in tokens]
        line = lines.next("the atom counts")
        tokens = line.split()
    if not tokens or not all(_is_int(t) for t in tokens):
        raise CorruptFileError(
            f"{path.name}, line {lines.index}: expected integer atom counts, found {line.strip()[:80]!r}."
        )
    counts = [int(t) for t in tokens]
    if symbols is not None and len(symbols) != len(counts):
        raise CorruptFileError(
            f"{path.name}, line {lines.index}: {len(counts)} atom counts but {len(symbols)} element symbols."
        )
    mode = lines.next("'Direct' or 'Cartesian'").strip()
    if mode[:1].lower() == "s":  # Selective dynamics
        mode = lines.next("'Direct' or 'Cartesian'").strip()
    cartesian = mode[:1].lower() in ("c", "k")
    n_atoms = sum(counts)
    coords = np.array([lines.numbers(f"atom position {i + 1}", 3) for i in range(n_atoms)], dtype=float)
    coords = coords.reshape(-1, 3)
    positions = coords * factor[None, :] if cartesian else coords @ cell
    if symbols is not None:
        from .simulate._elements import atomic_number

        try:
            per_species = [atomic_number(s) for s in symbols]
        except ParameterError as exc:
            raise CorruptFileError(f"{path.name}: unknown element in the element line ({exc}).") from exc
    else:
        per_species = [0] * len(counts)
    numbers = np.repeat(np.asarray(per_species, dtype=np.int64), counts)

    grid = lines.numbers("the grid size 'nx ny nz'", 3, dtype=int, blank_ok=True)
    shape = tuple(int(n) for n in grid)
    if min(shape) < 2:
        raise CorruptFileError(f"{path.name}, line {lines.index}: grid {shape} needs at least 2 points per axis.")
    values = lines.read_values(int(np.prod(shape)), "grid")
    density = values.reshape(shape, order="F")

    ignored = {"augmentation_occupancies": 0, "extra_grids": 0}
    for rest in lines.lines[lines.index :]:
        text = rest.strip()
        if text.lower().startswith("augmentation"):
            ignored["augmentation_occupancies"] += 1
        elif text.split() == [str(n) for n in shape]:
            ignored["extra_grids"] += 1
    cell_volume = float(abs(np.linalg.det(cell)))
    if divide_by_volume:
        density = density / cell_volume
    return VolumetricData(
        density=density,
        cell=cell,
        origin=np.zeros(3),
        atom_positions=positions,
        atomic_numbers=numbers,
        source=str(path),
        metadata={
            "format": "vasp",
            "comment": comment,
            "element_symbols": symbols,
            "divided_by_volume": bool(divide_by_volume),
            "ignored_blocks": ignored,
            "ignored_blocks_note": (
                "only the first grid is read; PAW augmentation occupancies and further grids "
                "(magnetisation for spin-polarised runs) are not"
            ),
        },
    )


def write_vasp_volumetric(volume: VolumetricData, path, *, comment: str = "written by motifkit",
                          multiply_by_volume: bool = True) -> Path:
    """Write ``volume`` in VASP ``CHGCAR``/``PARCHG`` layout (VASP 5 header, Direct coordinates).

    Parameters
    ----------
    volume : VolumetricData
        Must have atoms (a POSCAR header cannot be empty) and a zero origin.
    path : str or Path
        Destination, e.g. ``PARCHG``.
    comment : str
        First line.
    multiply_by_volume : bool
        Write ``density * V_cell`` as VASP does (undone by :func:`read_vasp_volumetric`).

    Returns
    -------
    Path

    Notes
    -----
    A POSCAR header lists atoms grouped by element, so the atoms are written sorted by
    atomic number (stable); reading the file back gives them in that order.
    """
    from .simulate._elements import symbol

    if volume.atom_positions is None or volume.n_atoms == 0:
        raise ParameterError("A VASP file needs at least one atom; set atom_positions and atomic_numbers.")
    if np.any(np.abs(volume.origin) > 1e-9):
        raise ParameterError(
            f"VASP grids start at the cell origin but this volume's origin is {volume.origin.tolist()} Å; "
            f"shift atom_positions by -origin and set origin to 0 first."
        )
    numbers = volume.atomic_numbers
    order = np.argsort(numbers, kind="stable")
    species, counts = np.unique(numbers[order], return_counts=True)
    fractional = np.linalg.solve(volume.cell.T, volume.atom_positions[order].T).T
    path = Path(path)
    density = volume.density * (volume.volume if multiply_by_volume else 1.0)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(comment.replace("\n", " ") + "\n")
        handle.write("   1.0000000000\n")
        handle.writelines(f" {vec[0]:20.12f} {vec[1]:20.12f} {vec[2]:20.12f}\n" for vec in volume.cell)
        handle.write(" ".join(f"{symbol(int(z)):>4s}" for z in species) + "\n")
        handle.write(" ".join(f"{int(n):4d}" for n in counts) + "\n")
        handle.write("Direct\n")
        handle.writelines(f" {frac[0]:.12f} {frac[1]:.12f} {frac[2]:.12f}\n" for frac in fractional)
        handle.write("\n")
        handle.write(" ".join(f"{n:5d}" for n in volume.shape) + "\n")
        _write_values(handle, density.ravel(order="F"), 5)
    return path


def read_volumetric(path, **options) -> VolumetricData:
    """Read a volumetric file, choosing the format from its name.

    ``*.cube`` -> :func:`read_cube`; ``PARCHG*``, ``CHGCAR*``, ``CHG*``, ``AECCAR*`` and
    ``*.vasp`` -> :func:`read_vasp_volumetric` (a trailing ``.gz`` is allowed).

    Parameters
    ----------
    path : str or Path
    **options
        Passed to the reader.

    Returns
    -------
    VolumetricData

    Raises
    ------
    FileFormatError
        The name matches no known volumetric format.
    """
    path = Path(path)
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    if name.lower().endswith(".cube"):
        return read_cube(path, **options)
    if name.upper().startswith(_VASP_PREFIXES) or name.lower().endswith(".vasp"):
        return read_vasp_volumetric(path, **options)
    raise FileFormatError(
        f"Cannot tell the format of {path.name!r}: use a '.cube' file, or a VASP file named "
        f"PARCHG*, CHGCAR*, CHG*, AECCAR* or *.vasp (or call read_cube / read_vasp_volumetric directly)."
    )


# --------------------------------------------------------------------------------------
# STM imaging
# --------------------------------------------------------------------------------------
def _check_surface_geometry(volume: VolumetricData) -> None:
    a, b, c = volume.cell
    scale = max(np.linalg.norm(a), np.linalg.norm(b))
    if abs(a[2]) > 1e-6 * scale or abs(b[2]) > 1e-6 * scale or c[2] <= 0:
        raise ParameterError(
            "STM imaging needs the surface in the xy plane: lattice vectors a and b with zero z "
            f"component and c pointing up (+z); got a={a.tolist()}, b={b.tolist()}, c={c.tolist()}. "
            "Rotate the structure (and grid) so that the vacuum lies along +z."
        )


def _top_atom_z(volume: VolumetricData) -> float:
    if volume.atom_positions is None or volume.n_atoms == 0:
        raise ParameterError(
            "This volume has no atoms, so 'height above the top atom' is undefined; pass "
            "absolute_height=True with an absolute z in Å instead."
        )
    return float(volume.atom_positions[:, 2].max())


def _interpolate(volume: VolumetricData, points: np.ndarray) -> np.ndarray:
    """Trilinear, periodic interpolation of the density at Cartesian ``points`` (..., 3) Å."""
    from scipy.ndimage import map_coordinates

    flat = points.reshape(-1, 3) - volume.origin
    grid_coords = (flat @ np.linalg.inv(volume.cell)).T * np.asarray(volume.shape, dtype=float)[:, None]
    values = map_coordinates(volume.density, grid_coords, order=1, mode="grid-wrap", prefilter=False)
    return values.reshape(points.shape[:-1])


def _interpolate_planes(volume: VolumetricData, x: np.ndarray, y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Bilinear, periodic in-plane interpolation on whole grid planes ``k`` at once.

    Valid when ``c`` is parallel to z, so that every grid plane is a plane of constant z and
    the in-plane weights are shared by all planes. Returns shape ``(len(k),) + x.shape``.
    """
    nx, ny, nz = volume.shape
    inverse = np.linalg.inv(volume.cell[:2, :2])
    xy = np.stack([x.ravel() - volume.origin[0], y.ravel() - volume.origin[1]], axis=-1)
    fractional = xy @ inverse
    u, v = fractional[:, 0] * nx, fractional[:, 1] * ny
    i0, j0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    wu, wv = u - i0, v - j0
    i0, j0 = i0 % nx, j0 % ny
    i1, j1 = (i0 + 1) % nx, (j0 + 1) % ny
    planes = volume.density[:, :, np.asarray(k) % nz]  # (nx, ny, K)
    values = (
        planes[i0, j0] * ((1 - wu) * (1 - wv))[:, None]
        + planes[i1, j0] * (wu * (1 - wv))[:, None]
        + planes[i0, j1] * ((1 - wu) * wv)[:, None]
        + planes[i1, j1] * (wu * wv)[:, None]
    )
    return values.T.reshape((len(k),) + x.shape)


def _image_grid(volume, pixel_size, repeat, field_of_view, pad):
    """Cartesian (x, y) sample grid covering the supercell's bounding box, plus padding."""
    a, b = volume.cell[0, :2], volume.cell[1, :2]
    if field_of_view is None:
        try:
            na, nb = (int(r) for r in repeat)
        except (TypeError, ValueError):
            raise ParameterError(f"repeat must be two positive integers (na, nb), got {repeat!r}.") from None
        if na < 1 or nb < 1:
            raise ParameterError(f"repeat must be two positive integers (na, nb), got {repeat!r}.")
        corners = np.array([[0, 0], na * a, nb * b, na * a + nb * b])
        low = corners.min(axis=0)
        width, height = corners.max(axis=0) - low
    else:
        width, height = (float(v) for v in field_of_view)
        if not (width > 0 and height > 0):
            raise ParameterError(f"field_of_view must be a positive (width, height) in Å, got {field_of_view!r}.")
        low = np.zeros(2)
    low = low + volume.origin[:2]
    n_cols = int(np.floor(width / pixel_size + 1e-9))
    n_rows = int(np.floor(height / pixel_size + 1e-9))
    if min(n_cols, n_rows) < MIN_IMAGE_SIZE:
        raise ParameterError(
            f"The image would be {n_cols} x {n_rows} px (field {width:.2f} x {height:.2f} Å at "
            f"{pixel_size:g} Å/px); at least {MIN_IMAGE_SIZE} px per side are needed. Use a larger "
            f"repeat or a smaller pixel_size."
        )
    cols = np.arange(-pad, n_cols + pad)
    rows = np.arange(-pad, n_rows + pad)
    x = low[0] + cols * pixel_size
    y = low[1] + rows * pixel_size
    return x, y, (n_rows, n_cols), low


def _pixel_size(volume: VolumetricData, pixel_size) -> float:
    if pixel_size is None:  # the finer in-plane grid spacing
        return float(min(np.linalg.norm(volume.cell[0]) / volume.shape[0],
                         np.linalg.norm(volume.cell[1]) / volume.shape[1]))
    try:
        pixel_size = float(pixel_size)
    except (TypeError, ValueError):
        raise ParameterError(f"pixel_size must be a positive length in Å, got {pixel_size!r}.") from None
    if not np.isfinite(pixel_size) or pixel_size <= 0:
        raise ParameterError(f"pixel_size must be a positive length in Å, got {pixel_size}.")
    return pixel_size


def _blur_and_crop(field: np.ndarray, sigma_px: float, pad: int) -> np.ndarray:
    if sigma_px > 0:
        from scipy.ndimage import gaussian_filter

        field = gaussian_filter(field, sigma_px, mode="nearest", truncate=4.0)
    if pad:
        field = field[pad:-pad, pad:-pad]
    return field


def _pad_for(tip_sigma: float, pixel_size: float) -> int:
    return int(np.ceil(4.0 * tip_sigma / pixel_size)) if tip_sigma > 0 else 0


def _check_sigma(tip_sigma) -> float:
    tip_sigma = float(tip_sigma)
    if not np.isfinite(tip_sigma) or tip_sigma < 0:
        raise ParameterError(f"tip_sigma must be a non-negative length in Å (0 = no blur), got {tip_sigma}.")
    return tip_sigma


def _z_range(volume: VolumetricData) -> tuple[float, float]:
    z0 = float(volume.origin[2])
    return z0, z0 + float(volume.cell[2, 2])


def stm_constant_height(
    volume: VolumetricData,
    height: float,
    *,
    absolute_height: bool = False,
    pixel_size: float | None = None,
    repeat: tuple[int, int] = (1, 1),
    field_of_view: tuple[float, float] | None = None,
    tip_sigma: float = 0.0,
) -> Micrograph:
    """Constant-height Tersoff-Hamann STM image: the density on a plane above the surface.

    Parameters
    ----------
    volume : VolumetricData
        Partial charge density (e.g. a ``PARCHG`` for the bias window), surface normal +z.
    height : float
        Tip height in Å above the topmost atom (or the absolute z in Å when
        ``absolute_height``).
    absolute_height : bool
        Interpret ``height`` as an absolute Cartesian z.
    pixel_size : float, optional
        Å per pixel; defaults to the finer in-plane grid spacing.
    repeat : (int, int)
        Number of cells along a and b; the image covers their bounding box (hexagonal
        cells give a rectangle that the periodic density fills completely).
    field_of_view : (float, float), optional
        (width, height) in Å starting at the origin's (x, y); overrides ``repeat``.
    tip_sigma : float
        Standard deviation in Å of a Gaussian tip blur (0 = none).

    Returns
    -------
    Micrograph
        Density at the tip plane (float32), ``pixel_size`` in Å, ``unit="A"``. Metadata:
        ``stm_mode="constant_height"``, ``tip_z_A`` (absolute), ``height_A`` (above the top
        atom when known), ``xy_origin_A`` (x, y of pixel (0, 0)), ``tip_sigma_A``,
        ``repeat``, ``volume_source``.

    Raises
    ------
    ParameterError
        Tip plane outside the box, surface not in the xy plane, image too small.

    Examples
    --------
    >>> image = stm_constant_height(volume, 2.0, repeat=(4, 4), pixel_size=0.05)  # doctest: +SKIP
    """
    _check_surface_geometry(volume)
    tip_sigma = _check_sigma(tip_sigma)
    height = float(height)
    if not np.isfinite(height):
        raise ParameterError(f"height must be a finite length in Å, got {height}.")
    top = None if absolute_height else _top_atom_z(volume)
    tip_z = height if absolute_height else top + height
    z_low, z_high = _z_range(volume)
    if not z_low <= tip_z < z_high:
        raise ParameterError(
            f"The tip plane z = {tip_z:.3f} Å lies outside the box (z from {z_low:.3f} to {z_high:.3f} Å)"
            + ("" if top is None else f"; the top atom is at z = {top:.3f} Å, so use a height below "
               f"{z_high - top:.3f} Å")
            + ". Choose a height inside the vacuum region."
        )
    if top is not None and height <= 0:
        warnings.warn(
            f"height = {height} Å is at or below the top atom; the image shows the density inside "
            f"the slab, not what an STM tip sees.",
            STMWarning,
            stacklevel=2,
        )
    pixel_size = _pixel_size(volume, pixel_size)
    pad = _pad_for(tip_sigma, pixel_size)
    x, y, _, low = _image_grid(volume, pixel_size, repeat, field_of_view, pad)
    xx, yy = np.meshgrid(x, y)
    points = np.stack([xx, yy, np.full_like(xx, tip_z)], axis=-1)
    field = _interpolate(volume, points)
    image = _blur_and_crop(field, tip_sigma / pixel_size, pad)
    metadata = {
        "stm_mode": "constant_height",
        "tip_z_A": tip_z,
        "height_A": None if top is None else height,
        "top_atom_z_A": top,
        "xy_origin_A": [float(low[0]), float(low[1])],
        "tip_sigma_A": tip_sigma,
        "repeat": None if field_of_view is not None else [int(r) for r in repeat],
        "volume_source": volume.source,
        "image_values": "partial charge density at the tip plane (units of the volume)",
    }
    return Micrograph(image, pixel_size, "A", metadata, source=volume.source)


def stm_constant_current(
    volume: VolumetricData,
    isovalue: float | None = None,
    *,
    height: float | None = None,
    pixel_size: float | None = None,
    repeat: tuple[int, int] = (1, 1),
    field_of_view: tuple[float, float] | None = None,
    tip_sigma: float = 0.0,
    z_start: float | None = None,
    on_missing: str = "raise",
) -> Micrograph:
    """Constant-current Tersoff-Hamann STM image: the height of a density isosurface.

    For each pixel the density column is sampled at every grid plane from ``z_start`` down
    to the top atom; the first plane (from above) where the density reaches ``isovalue``
    and the plane above it bracket the tip height, found by linear interpolation.

    Parameters
    ----------
    volume : VolumetricData
        Partial charge density, surface normal +z, with atoms.
    isovalue : float, optional
        Density of the isosurface (units of ``volume.density``). Give this or ``height``.
    height : float, optional
        Choose the isovalue as the mean density of the plane ``height`` Å above the top atom
        (the setpoint current of a tip scanning at that mean height).
    pixel_size, repeat, field_of_view, tip_sigma
        As in :func:`stm_constant_height`; the blur (Å) is applied to the height map.
    z_start : float, optional
        Absolute z (Å) where the downward scan starts; default: the middle of the vacuum
        gap above the top atom (half-way to the periodic image of the lowest atom).
    on_missing : {"raise", "fill"}
        What to do with columns where the scan never brackets the isovalue: ``"raise"``
        a :class:`ParameterError` with the counts; ``"fill"`` sets them to the bounds of the
        scan (``z_start`` where the density is already above the isovalue at the start,
        the top atom's z where it never reaches it), warns with the counts (``STMWarning``)
        and records them in ``metadata["n_unresolved"]``.

    Returns
    -------
    Micrograph
        Tip height above the top atom in Å (float32), ``pixel_size`` in Å, ``unit="A"``.
        Metadata: ``stm_mode="constant_current"``, ``isovalue``, ``height_A`` (when given),
        ``top_atom_z_A``, ``z_start_A``, ``xy_origin_A``, ``n_unresolved``, ``tip_sigma_A``.

    Raises
    ------
    ParameterError
        Neither or both of ``isovalue`` and ``height``; isovalue outside the density range of
        the scanned region; unresolved columns with ``on_missing="raise"``.

    Examples
    --------
    >>> heights = stm_constant_current(volume, height=2.0, repeat=(4, 4))  # doctest: +SKIP
    """
    _check_surface_geometry(volume)
    tip_sigma = _check_sigma(tip_sigma)
    if on_missing not in ("raise", "fill"):
        raise ParameterError(f"on_missing must be 'raise' or 'fill', got {on_missing!r}.")
    if (isovalue is None) == (height is None):
        raise ParameterError("Give exactly one of isovalue (a density) or height (Å above the top atom).")
    top = _top_atom_z(volume)
    bottom = float(volume.atom_positions[:, 2].min())
    if z_start is None:
        gap = (bottom + volume.cell[2, 2]) - top
        z_start = top + 0.5 * gap
    z_start = float(z_start)
    if not top < z_start:
        raise ParameterError(f"z_start = {z_start:.3f} Å must lie above the top atom (z = {top:.3f} Å).")

    pixel_size = _pixel_size(volume, pixel_size)
    pad = _pad_for(tip_sigma, pixel_size)
    x, y, shape, low = _image_grid(volume, pixel_size, repeat, field_of_view, pad)
    xx, yy = np.meshgrid(x, y)

    if height is not None:
        height = float(height)
        if not (np.isfinite(height) and 0 < height and top + height < z_start):
            raise ParameterError(
                f"height must be between 0 and {z_start - top:.3f} Å (the scan start above the top atom), got {height}."
            )
        plane = _interpolate(volume, np.stack([xx, yy, np.full_like(xx, top + height)], axis=-1))
        isovalue = float(plane.mean())
    isovalue = float(isovalue)

    # Grid planes (the density's own z samples) from z_start down to the top atom; the
    # periodic interpolation wraps z beyond the box top onto the bottom of the cell.
    oz, dz = float(volume.origin[2]), float(volume.cell[2, 2]) / volume.shape[2]
    k_start = int(np.floor((z_start - oz) / dz + 1e-9))
    k_stop = int(np.ceil((top - oz) / dz - 1e-9))
    k_planes = np.arange(k_start, k_stop - 1, -1)
    z_planes = oz + dz * k_planes
    k_planes = k_planes[z_planes >= top]
    z_planes = z_planes[z_planes >= top]
    if len(z_planes) < 1:
        raise ParameterError(f"z_start = {z_start:.3f} Å is less than one grid plane above the top atom; raise it.")
    z_start = float(z_planes[0])
    if np.abs(volume.cell[2, :2]).max() < 1e-9:  # c along z: share the in-plane weights
        columns = _interpolate_planes(volume, xx, yy, k_planes)
    else:
        columns = np.stack([_interpolate(volume, np.stack([xx, yy, np.full_like(xx, z)], axis=-1))
                            for z in z_planes])
    if z_planes[-1] > top:  # finish the scan exactly at the top atom
        last = _interpolate(volume, np.stack([xx, yy, np.full_like(xx, top)], axis=-1))
        columns = np.concatenate([columns, last[None]])
        z_planes = np.append(z_planes, top)
    low_value, high_value = float(columns.min()), float(columns.max())
    if not (np.isfinite(isovalue) and low_value < isovalue <= high_value):
        raise ParameterError(
            f"isovalue {isovalue:.4g} is outside the density range of the scanned region "
            f"({low_value:.4g} to {high_value:.4g}, from z = {z_start:.2f} Å down to the top atom); "
            f"choose a value inside it, or pass height= to derive one."
        )
    reached = columns >= isovalue
    first = np.argmax(reached, axis=0)  # first plane from the top at or above the isovalue
    never = ~reached.any(axis=0)
    at_start = reached[0]
    ok = ~never & ~at_start
    above = np.clip(first - 1, 0, None)
    take = lambda stack, idx: np.take_along_axis(stack, idx[None], axis=0)[0]
    rho_above, rho_below = take(columns, above), take(columns, first)
    z_above, z_below = z_planes[above], z_planes[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (isovalue - rho_above) / (rho_below - rho_above)
    tip_z = np.where(ok, z_above + np.clip(t, 0.0, 1.0) * (z_below - z_above), np.nan)
    # Count only pixels that end up in the image (not the blur padding).
    inner = (slice(pad, -pad), slice(pad, -pad)) if pad else (slice(None), slice(None))
    n_never, n_start = int(never[inner].sum()), int(at_start[inner].sum())
    if n_never or n_start:
        message = (
            f"The isosurface density {isovalue:.4g} was not bracketed in {n_never + n_start} of "
            f"{shape[0] * shape[1]} pixels: {n_start} already above it at the scan start "
            f"z = {z_start:.2f} Å (increase the isovalue or lower z_start), {n_never} never reaching "
            f"it down to the top atom (decrease the isovalue)."
        )
        if on_missing == "raise":
            raise ParameterError(message + " Pass on_missing='fill' to fill them with the scan bounds.")
        warnings.warn(message + " They were filled with the scan bounds (on_missing='fill').", STMWarning,
                      stacklevel=2)
    tip_z = np.where(at_start, z_start, tip_z)
    tip_z = np.where(never, top, tip_z)
    image = _blur_and_crop(tip_z - top, tip_sigma / pixel_size, pad)
    metadata = {
        "stm_mode": "constant_current",
        "isovalue": isovalue,
        "height_A": height,
        "top_atom_z_A": top,
        "z_start_A": z_start,
        "xy_origin_A": [float(low[0]), float(low[1])],
        "n_unresolved": {"above_isovalue_at_start": n_start, "never_reached": n_never},
        "tip_sigma_A": tip_sigma,
        "repeat": None if field_of_view is not None else [int(r) for r in repeat],
        "volume_source": volume.source,
        "image_values": "tip height above the top atom (Å)",
    }
    return Micrograph(image, pixel_size, "A", metadata, source=volume.source)
