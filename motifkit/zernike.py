"""Zernike moment features of atom-centred patches, rotation and symmetry scores.

This is step 2 of the motif pipeline (paper Fig. 1C): every square patch is projected
onto the real Zernike polynomials up to radial order ``n_max`` (``n_max = 10`` gives
66 real moments, ``j <= 65``, or 36 rotation-invariant features).

Conventions
-----------
*Index.* Real moments use the single index ``j = (n (n + 2) + m) / 2`` with
``|m| <= n`` and ``n - |m|`` even (:func:`nm_to_j`, :func:`j_to_nm`,
:func:`zernike_indices`). Complex moments keep only ``m >= 0`` and are ordered by
``n`` then ``m`` (:func:`complex_indices`).

*Basis.* ``Z_{n,m}(rho, theta) = sqrt(2 (n + 1) / (1 + delta_{m0})) R_n^{|m|}(rho)
cos(m theta)`` for ``m >= 0`` and ``... sin(|m| theta)`` for ``m < 0``, zero outside
the unit disk (Noll normalisation: orthonormal under ``(1/pi) * integral over the
disk``).

*Disk on the pixel grid.* An ``s x s`` patch is sampled at its pixel centres. Pixel
``patch[row, col]`` sits at ``x = (col - (s - 1) / 2) / (s / 2)``,
``y = (row - (s - 1) / 2) / (s / 2)``, so the unit disk is the circle inscribed in the
patch (radius ``s / 2`` pixels, centred on the patch centre, which is the centre pixel
when ``s`` is odd). ``theta = atan2(y, x)``: measured from the +x (column) axis towards
+y (down the rows), i.e. clockwise as an image is displayed with row 0 on top. No
pixel centre falls exactly on the circle for any ``s``.

*Projections.* ``"inner"`` is the paper's matrix approximation, moments
``= <patch, Z_j> / (pi s^2 / 4)``. It is exact only in the continuum: on small grids
the sampled basis is not orthonormal. Gram matrix ``B^T B / area`` for n_max = 10 on
this grid: s = 32 diagonal 0.945-1.159, off-diagonal up to 0.156; s = 64: 1.003-1.070
/ 0.056; s = 256: within 0.005 of the identity. (The reference code's grid, which
puts the disk edge through the outer pixel centres, gives 0.724-0.920 / 0.195 at
s = 32.) ``"lstsq"`` solves the least-squares fit of the sampled basis to the patch
(pseudo-inverse): same GEMM cost, and it reproduces any combination of basis
functions exactly, so it is the choice for reconstruction and the default for
symmetry scores. It is, however, *less* rotation-stable on real patches, whose
content extends beyond ``n_max``: the inverse Gram couples ``m`` with ``m +- 4k``
(the square grid's symmetry), so out-of-band content leaks in an orientation-
dependent way. Measured on smooth Gaussian-blob patches rotated with
``scipy.ndimage.rotate`` (order 3): rotation-invariant features change by
<= 0.1 % with ``"inner"`` but 0.5-3 % with ``"lstsq"`` (blob sigma 3 -> 2 px, s = 33),
so ``"inner"`` stays the default for features.

*Rotation.* Complex moments are ``C_{n,m} = Z_{n,+m} + i Z_{n,-m}`` (``m >= 0``).
Rotating a patch counter-clockwise as displayed (row 0 on top) by ``t`` radians,
which is what ``scipy.ndimage.rotate(patch, np.degrees(t))`` does, multiplies
``C_{n,m}`` by ``exp(-i m t)`` (:func:`rotate_moments`); so ``|C_{n,m}|`` and the
``m = 0`` moments are rotation invariant.

*Symmetry.* :func:`symmetry_scores` (per patch) and :func:`symmetry_maps` (every
pixel of an image, from FFT correlations) give the n-fold rotation score and the
mirror score of METHODS.md. They default to ``"lstsq"`` moments as METHODS.md
recommends: exact (score 1) for symmetric patterns in the span of the basis; on
noisy Gaussian-blob patterns both projections separate symmetric from random
patterns equally well (measured d' within 2 %).

*Speed.* The projection is one GEMM per chunk of patches, threaded over chunks, with
two exact savings: the basis is even (``m >= 0``) or odd (``m < 0``) under the
flip ``row -> s - 1 - row``, so each patch is folded into ``top +- flipped bottom``
and projected onto half the functions each (half the multiply-adds), and pixels
outside the disk are skipped (another ~21 %). See ``benchmarks/bench_zernike.py``.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import ImageError, NotEnoughDataError, ParameterError

__all__ = [
    "nm_to_j",
    "j_to_nm",
    "zernike_indices",
    "complex_indices",
    "radial_polynomial",
    "zernike_polynomials",
    "ZernikeBasis",
    "ZernikeFeatures",
    "complex_moments",
    "real_moments",
    "rotate_moments",
    "rotation_invariant_moments",
    "rotational_symmetry_scores",
    "mirror_symmetry_scores",
    "SymmetryScores",
    "symmetry_scores",
    "moment_maps",
    "symmetry_maps",
]

PROJECTIONS = ("inner", "lstsq")
#: Kept (|m| not excluded) moment power below this fraction of the total counts as
#: round-off: symmetry scores are NaN there (constant or isotropic patches).
_ISOTROPIC_POWER = 1e-12
NORMALIZATIONS = (None, "mean", "zscore")
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: Smallest patch side length accepted (a 1-2 px patch has no radial structure).
MIN_PATCH_SIZE = 3


# ----------------------------------------------------------------------------------
# index helpers
# ----------------------------------------------------------------------------------
def _check_n_max(n_max) -> int:
    if isinstance(n_max, (bool, np.bool_)) or not isinstance(n_max, (int, np.integer)):
        raise ParameterError(
            f"n_max must be a non-negative integer (e.g. 10 for 66 moments), got {n_max!r}."
        )
    if n_max < 0:
        raise ParameterError(f"n_max must be >= 0 (e.g. 10 for 66 moments), got {n_max}.")
    return int(n_max)


def nm_to_j(n, m):
    """Single index ``j = (n (n + 2) + m) / 2`` of the real Zernike moment ``(n, m)``.

    Parameters
    ----------
    n, m : int or array_like of int
        Radial order ``n >= 0`` and azimuthal frequency with ``|m| <= n`` and
        ``n - |m|`` even.

    Returns
    -------
    int or ndarray of int

    Examples
    --------
    >>> nm_to_j(0, 0), nm_to_j(2, -2), nm_to_j(10, 10)
    (0, 3, 65)
    """
    n_arr = np.asarray(n)
    m_arr = np.asarray(m)
    if not (np.issubdtype(n_arr.dtype, np.integer) and np.issubdtype(m_arr.dtype, np.integer)):
        raise ParameterError(f"n and m must be integers, got {n!r} and {m!r}.")
    n_arr, m_arr = np.broadcast_arrays(n_arr.astype(np.int64), m_arr.astype(np.int64))
    bad = (n_arr < 0) | (np.abs(m_arr) > n_arr) | ((n_arr - np.abs(m_arr)) % 2 != 0)
    if np.any(bad):
        raise ParameterError(
            "Invalid Zernike index: need n >= 0, |m| <= n and n - |m| even; got "
            f"(n, m) = {list(zip(n_arr[bad].tolist(), m_arr[bad].tolist()))[:5]}."
        )
    j = (n_arr * (n_arr + 2) + m_arr) // 2
    return int(j) if j.ndim == 0 else j


def j_to_nm(j):
    """Inverse of :func:`nm_to_j`: the ``(n, m)`` of the real moment with index ``j``.

    Parameters
    ----------
    j : int or array_like of int, ``j >= 0``

    Returns
    -------
    n, m : int or ndarray of int

    Examples
    --------
    >>> j_to_nm(3)
    (2, -2)
    """
    j_arr = np.asarray(j)
    if not np.issubdtype(j_arr.dtype, np.integer) or np.any(j_arr < 0):
        raise ParameterError(f"j must be a non-negative integer index, got {j!r}.")
    j_arr = j_arr.astype(np.int64)
    # n is the largest integer with n (n + 1) / 2 <= j (first index of order n)
    n = (np.floor((np.sqrt(8.0 * j_arr + 1.0) - 1.0) / 2.0)).astype(np.int64)
    n = np.where(n * (n + 1) // 2 > j_arr, n - 1, n)  # guard float rounding
    n = np.where((n + 1) * (n + 2) // 2 <= j_arr, n + 1, n)
    m = 2 * j_arr - n * (n + 2)
    if j_arr.ndim == 0:
        return int(n), int(m)
    return n, m


@functools.lru_cache(maxsize=64)
def _real_indices(n_max: int) -> np.ndarray:
    rows = [(n, m) for n in range(n_max + 1) for m in range(-n, n + 1, 2)]
    out = np.array(rows, dtype=np.int64).reshape(-1, 2)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _complex_indices(n_max: int) -> np.ndarray:
    rows = [(n, m) for n in range(n_max + 1) for m in range(n % 2, n + 1, 2)]
    out = np.array(rows, dtype=np.int64).reshape(-1, 2)
    out.flags.writeable = False
    return out


def zernike_indices(n_max: int) -> np.ndarray:
    """``(n, m)`` of every real moment up to ``n_max``, row ``j`` = index ``j``.

    Parameters
    ----------
    n_max : int
        Highest radial order.

    Returns
    -------
    ndarray of int64, shape (J, 2)
        ``J = (n_max + 1)(n_max + 2) / 2`` (66 for ``n_max = 10``), ordered by ``j``.

    Examples
    --------
    >>> zernike_indices(2).tolist()
    [[0, 0], [1, -1], [1, 1], [2, -2], [2, 0], [2, 2]]
    """
    return _real_indices(_check_n_max(n_max)).copy()


def complex_indices(n_max: int) -> np.ndarray:
    """``(n, m)`` with ``m >= 0`` of every complex moment up to ``n_max``.

    Ordered by ``n`` then ``m``; this is also the order of the rotation-invariant
    features. 36 rows for ``n_max = 10``.

    Examples
    --------
    >>> complex_indices(3).tolist()
    [[0, 0], [1, 1], [2, 0], [2, 2], [3, 1], [3, 3]]
    """
    return _complex_indices(_check_n_max(n_max)).copy()


def _n_max_from_count(count: int, complex_: bool) -> int:
    for n_max in range(0, 200):
        size = len(_complex_indices(n_max)) if complex_ else len(_real_indices(n_max))
        if size == count:
            return n_max
        if size > count:
            break
    kind = "complex" if complex_ else "real"
    raise ParameterError(
        f"{count} is not the number of {kind} Zernike moments for any n_max; pass n_max "
        "explicitly or check that the last axis holds the moments."
    )


# ----------------------------------------------------------------------------------
# polynomials and the sampled basis
# ----------------------------------------------------------------------------------
def _radial_table(n_max: int, rho: np.ndarray) -> dict:
    """All ``R_n^m(rho)`` for ``0 <= m <= n <= n_max`` by the three-term recurrence
    ``R_n^m = rho (R_{n-1}^{|m-1|} + R_{n-1}^{m+1}) - R_{n-2}^m``, which (unlike the
    factorial sum) stays accurate at high order."""
    rho = np.asarray(rho, dtype=np.float64)
    zero = np.zeros_like(rho)
    table: dict = {}

    def get(n, m):
        if n < 0 or m > n or (n - m) % 2:
            return zero
        return table[(n, m)]

    for n in range(n_max + 1):
        for m in range(n % 2, n + 1, 2):
            if n == 0:
                table[(0, 0)] = np.ones_like(rho)
            elif m == n:
                table[(n, m)] = rho * get(n - 1, n - 1)
            else:
                table[(n, m)] = rho * (get(n - 1, abs(m - 1)) + get(n - 1, m + 1)) - get(n - 2, m)
    return table


def radial_polynomial(n: int, m: int, rho) -> np.ndarray:
    """Zernike radial polynomial ``R_n^{|m|}(rho)`` (zero when ``n - |m|`` is odd).

    Parameters
    ----------
    n, m : int
        Radial order and azimuthal frequency.
    rho : array_like
        Radii (any shape); values outside [0, 1] are evaluated as polynomials.

    Examples
    --------
    >>> float(radial_polynomial(2, 0, 0.5))
    -0.5
    """
    n = _check_n_max(n)
    m = abs(int(m))
    if m > n or (n - m) % 2:
        return np.zeros_like(np.asarray(rho, dtype=np.float64))
    return _radial_table(n, rho)[(n, m)]


def zernike_polynomials(n_max: int, x, y) -> np.ndarray:
    """Evaluate every real Zernike polynomial at points ``(x, y)`` of the unit disk.

    Parameters
    ----------
    n_max : int
        Highest radial order.
    x, y : array_like, same shape S
        Cartesian coordinates in units of the disk radius; ``theta = atan2(y, x)``.

    Returns
    -------
    ndarray of float64, shape (J, *S)
        Row ``j`` is ``Z_j``; zero where ``x**2 + y**2 > 1``.

    Examples
    --------
    >>> zernike_polynomials(1, [0.5], [0.0])[:, 0].round(3).tolist()
    [1.0, 0.0, 1.0]
    """
    n_max = _check_n_max(n_max)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rho = np.hypot(x, y)
    theta = np.arctan2(y, x)
    inside = rho <= 1.0
    table = _radial_table(n_max, rho)
    out = np.empty((len(_real_indices(n_max)),) + rho.shape)
    for j, (n, m) in enumerate(_real_indices(n_max)):
        norm = math.sqrt(2.0 * (n + 1) / (2.0 if m == 0 else 1.0))
        angular = np.cos(m * theta) if m >= 0 else np.sin(-m * theta)
        out[j] = np.where(inside, norm * table[(n, abs(m))] * angular, 0.0)
    return out


def _pixel_grid(size: int):
    """Pixel-centre coordinates (x, y) in units of the disk radius ``size / 2``."""
    centre = (size - 1) / 2.0
    coords = (np.arange(size, dtype=np.float64) - centre) / (size / 2.0)
    y, x = np.meshgrid(coords, coords, indexing="ij")
    return x, y


class _BasisData:
    """Arrays shared by every :class:`ZernikeBasis` of one (size, n_max) (cached)."""

    def __init__(self, size: int, n_max: int):
        self.size = size
        self.n_max = n_max
        self.indices = _real_indices(n_max)
        x, y = _pixel_grid(size)
        functions = zernike_polynomials(n_max, x, y)
        # enforce the exact mirror symmetries the folded GEMM relies on
        m = self.indices[:, 1]
        flipped = functions[:, ::-1, :]
        sign = np.where(m >= 0, 1.0, -1.0)[:, None, None]
        functions = 0.5 * (functions + sign * flipped)
        self.functions = functions
        self.functions.flags.writeable = False
        self.disk = np.hypot(x, y) <= 1.0
        self.n_disk_pixels = int(self.disk.sum())
        self.area = math.pi * size * size / 4.0
        self.even_cols = np.flatnonzero(m >= 0)
        self.odd_cols = np.flatnonzero(m < 0)
        # disk pixels of the top half (and the centre row of odd sizes): [start, stop)
        n_rows = (size + 1) // 2
        self.row_start = np.empty(n_rows, dtype=np.int64)
        self.row_stop = np.empty(n_rows, dtype=np.int64)
        for i in range(n_rows):
            cols = np.flatnonzero(self.disk[i])
            self.row_start[i] = cols[0] if cols.size else 0
            self.row_stop[i] = cols[-1] + 1 if cols.size else 0
        half = size // 2
        even_pixels, odd_pixels = [], []
        for i in range(n_rows):
            flat = i * size + np.arange(self.row_start[i], self.row_stop[i])
            even_pixels.append(flat)
            if i < half:
                odd_pixels.append(flat)
        self.even_pixels = np.concatenate(even_pixels)
        self.odd_pixels = np.concatenate(odd_pixels) if odd_pixels else np.zeros(0, np.int64)
        self._cache: dict = {}
        self._svd = None

    # -- projectors ---------------------------------------------------------------
    def singular_values(self) -> np.ndarray:
        if self._svd is None:
            matrix = self.functions.reshape(len(self.indices), -1)[:, self.disk.ravel()]
            self._svd = np.linalg.svd(matrix, compute_uv=False)
        return self._svd

    def taper_weights(self, edge_taper: float) -> np.ndarray:
        """Radial weights (s*s,) for ``edge_taper > 0``: 1 inside ``1 - edge_taper``, a raised
        cosine to 0 at the rim of the disk."""
        x, y = _pixel_grid(self.size)
        ramp = np.clip((1.0 - np.hypot(x, y).ravel()) / edge_taper, 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * ramp)

    def projector64(self, projection: str, edge_taper: float = 0.0) -> np.ndarray:
        if edge_taper > 0:
            key = ("full", projection, float(edge_taper))
            if key not in self._cache:
                # the taper is radial, so the projector keeps the mirror parities the fold relies on
                proj = self.projector64(projection) * self.taper_weights(edge_taper)[:, None]
                proj.flags.writeable = False
                self._cache[key] = proj
            return self._cache[key]
        key = ("full", projection)
        if key not in self._cache:
            basis = self.functions.reshape(len(self.indices), -1)  # (J, s*s)
            if projection == "inner":
                proj = basis.T / self.area
            else:
                singular = self.singular_values()
                rank = int((singular > 1e-8 * singular[0]).sum())
                if rank < len(self.indices):
                    raise ParameterError(
                        f"projection='lstsq' needs the {len(self.indices)} Zernike functions "
                        f"of n_max={self.n_max} to be independent on a {self.size} x "
                        f"{self.size} grid ({self.n_disk_pixels} disk pixels), and they are "
                        "not. Use larger patches, a smaller n_max, or projection='inner'."
                    )
                disk = self.disk.ravel()
                proj = np.zeros((basis.shape[1], basis.shape[0]))
                proj[disk] = np.linalg.pinv(basis[:, disk])
                # the pseudo-inverse inherits the basis parities; make them exact
                sq = proj.T.reshape(-1, self.size, self.size)
                sign = np.where(self.indices[:, 1] >= 0, 1.0, -1.0)[:, None, None]
                proj = (0.5 * (sq + sign * sq[:, ::-1, :])).reshape(len(self.indices), -1).T
            proj = np.ascontiguousarray(proj)
            proj.flags.writeable = False
            self._cache[key] = proj
        return self._cache[key]

    def projector(self, projection: str, dtype, edge_taper: float = 0.0) -> np.ndarray:
        dtype = np.dtype(dtype)
        key = ("full", projection, dtype, float(edge_taper))
        if key not in self._cache:
            proj = np.ascontiguousarray(self.projector64(projection, edge_taper), dtype=dtype)
            proj.flags.writeable = False
            self._cache[key] = proj
        return self._cache[key]

    def folded(self, projection: str, dtype, edge_taper: float = 0.0):
        """Packed projectors for the folded patches: (K_even, J_even), (K_odd, J_odd)."""
        dtype = np.dtype(dtype)
        key = ("folded", projection, dtype, float(edge_taper))
        if key not in self._cache:
            proj = self.projector64(projection, edge_taper)
            even = _pad_columns(proj[np.ix_(self.even_pixels, self.even_cols)], dtype)
            odd = _pad_columns(proj[np.ix_(self.odd_pixels, self.odd_cols)], dtype)
            # moments of a constant 1 on the disk (for per-patch mean removal)
            ones = proj.T @ self.disk.ravel().astype(np.float64)
            self._cache[key] = (even, odd, ones)
        return self._cache[key]


def _pad_columns(matrix: np.ndarray, dtype) -> np.ndarray:
    """Zero-pad the columns to a multiple of 16: BLAS runs ~5 % faster on full
    SIMD-width panels; the extra outputs are never read."""
    cols = max(16, -(-matrix.shape[1] // 16) * 16)
    out = np.zeros((matrix.shape[0], cols), dtype=dtype)
    out[:, : matrix.shape[1]] = matrix
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=32)
def _basis_data(size: int, n_max: int) -> _BasisData:
    return _BasisData(size, n_max)


def _check_size(size) -> int:
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)):
        raise ParameterError(f"Patch size must be an integer number of pixels, got {size!r}.")
    if size < MIN_PATCH_SIZE:
        raise ParameterError(
            f"Patch size must be at least {MIN_PATCH_SIZE} px, got {size}; use patches of "
            "about one lattice repeat (motifkit.suggest_patch_size)."
        )
    return int(size)


def _check_projection(projection) -> str:
    if projection not in PROJECTIONS:
        raise ParameterError(
            f"projection must be one of {PROJECTIONS}, got {projection!r}: 'inner' is the "
            "paper's matrix approximation, 'lstsq' the exact least-squares fit."
        )
    return projection


#: Default radial taper of the patch disk (fraction of the radius). Measured with
#: ``benchmarks/accuracy.py`` (seeds 0 and 1) against the hard edge (0): features of really
#: rotated MoSe2 lattices change by at most 0.41 % (9.85 %); real WSe2:Ti macro-F1
#: 0.935-0.936 (0.932); synthetic ARI unchanged (0.979/0.973); twisted-bilayer feature
#: domains 0.907 (0.898). 0.05 leaves 2.2 % rotation change, 0.1 gives macro-F1 0.944 but
#: feature domains 0.879, 0.2-0.3 drop macro-F1 to 0.87-0.92 (less of the neighbours
#: reaches the features).
DEFAULT_EDGE_TAPER = 0.15


def _check_edge_taper(edge_taper) -> float:
    if isinstance(edge_taper, (bool, np.bool_)) or not isinstance(edge_taper, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(edge_taper) < 1.0:
        raise ParameterError(
            f"edge_taper must be a fraction of the patch radius in [0, 1), got {edge_taper!r}; "
            "0 keeps the hard disk edge, the default 0.15 makes rotated lattices agree."
        )
    return float(edge_taper)


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ParameterError(f"dtype must be float32 or float64, got {dtype!r}.") from exc
    if dt not in _FLOAT_DTYPES:
        raise ParameterError(f"dtype must be float32 or float64, got {dt}.")
    return dt


class ZernikeBasis:
    """Real Zernike basis sampled on an ``s x s`` pixel grid.

    The disk is the circle inscribed in the patch: pixel ``[row, col]`` is sampled at
    its centre, ``x = (col - (s-1)/2) / (s/2)``, ``y = (row - (s-1)/2) / (s/2)``,
    radius ``s / 2`` px, ``theta = atan2(y, x)``; functions are zero at pixel centres
    outside the disk. Arrays are computed once per ``(size, n_max)`` and shared
    between instances (the constructor is cheap after the first call).

    Parameters
    ----------
    size : int
        Patch side length ``s`` in pixels (>= 3).
    n_max : int
        Highest radial order (10 gives J = 66 functions).

    Attributes
    ----------
    indices : ndarray, shape (J, 2)
        ``(n, m)`` of each function, ordered by ``j``.
    area : float
        Disk area ``pi s^2 / 4`` in pixels, the normalisation of ``"inner"`` moments.
    disk_mask : ndarray of bool, shape (s, s)
        Pixels whose centre lies inside the unit disk.

    Examples
    --------
    >>> basis = ZernikeBasis(33, 10)
    >>> basis.functions.shape
    (66, 33, 33)
    >>> patch = basis.functions[4] * 2.0 + basis.functions[12]
    >>> basis.moments(patch[None], projection="lstsq", dtype=np.float64)[0, [4, 12]].round(6)
    array([2., 1.])
    """

    def __init__(self, size: int, n_max: int = 10):
        self.size = _check_size(size)
        self.n_max = _check_n_max(n_max)
        self._data = _basis_data(self.size, self.n_max)

    def __repr__(self) -> str:
        return f"ZernikeBasis(size={self.size}, n_max={self.n_max})"

    @property
    def indices(self) -> np.ndarray:
        return self._data.indices

    @property
    def n(self) -> np.ndarray:
        """Radial order of each function, shape (J,)."""
        return self._data.indices[:, 0]

    @property
    def m(self) -> np.ndarray:
        """Azimuthal frequency of each function, shape (J,)."""
        return self._data.indices[:, 1]

    @property
    def n_functions(self) -> int:
        return len(self._data.indices)

    @property
    def area(self) -> float:
        return self._data.area

    @property
    def disk_mask(self) -> np.ndarray:
        return self._data.disk.copy()

    @property
    def functions(self) -> np.ndarray:
        """Sampled basis, shape (J, s, s), float64, read-only."""
        return self._data.functions

    def matrix(self, dtype=np.float64) -> np.ndarray:
        """Basis as a ``(s*s, J)`` matrix (column ``j`` = flattened ``Z_j``)."""
        dt = _check_dtype(dtype)
        return np.ascontiguousarray(self._data.functions.reshape(self.n_functions, -1).T, dtype=dt)

    def projector(self, projection: str = "inner", dtype=np.float64) -> np.ndarray:
        """``(s*s, J)`` matrix P with ``moments = patches.reshape(N, -1) @ P``.

        ``"inner"``: ``Z / area``. ``"lstsq"``: the transposed pseudo-inverse of the
        sampled basis (raises :class:`ParameterError` if the functions are not
        independent on this grid, i.e. the patch is too small for ``n_max``).
        """
        return self._data.projector(_check_projection(projection), _check_dtype(dtype))

    def gram(self) -> np.ndarray:
        """``B^T B / area``: the identity in the continuum, shape (J, J)."""
        matrix = self._data.functions.reshape(self.n_functions, -1)
        return matrix @ matrix.T / self.area

    def condition_number(self) -> float:
        """Condition number of the sampled basis restricted to the disk pixels."""
        singular = self._data.singular_values()
        if len(singular) < self.n_functions or singular[-1] <= 0:
            return math.inf
        return float(singular[0] / singular[-1])

    def moments(self, patches, projection: str = "inner", dtype=np.float32, n_jobs=None) -> np.ndarray:
        """Real Zernike moments of a stack of patches.

        Parameters
        ----------
        patches : ndarray, shape (N, s, s)
        projection : {"inner", "lstsq"}
        dtype : float32 or float64
            Precision of the GEMM and of the result.
        n_jobs : int or None
            Threads; None uses every CPU available to the process.

        Returns
        -------
        ndarray, shape (N, J)
        """
        patches = _as_patch_stack(patches, name="patches")
        if patches.shape[1] != self.size:
            raise ParameterError(
                f"patches are {patches.shape[1]} px but the basis is {self.size} px; build "
                f"ZernikeBasis({patches.shape[1]}, {self.n_max})."
            )
        return _project(
            patches, self._data, _check_projection(projection), _check_dtype(dtype),
            _check_n_jobs(n_jobs), normalize=None, rotation_invariant=False,
        )[0]

    def reconstruct(self, moments) -> np.ndarray:
        """Patches ``sum_j moments_j Z_j`` from real moments.

        Parameters
        ----------
        moments : array_like, shape (N, J) or (J,)

        Returns
        -------
        ndarray, shape (N, s, s) (or (s, s) for one moment vector), float64 unless
        the moments are float32.

        Notes
        -----
        Exact inverse of ``moments(..., projection="lstsq")`` for patches in the span
        of the basis (and their least-squares approximation otherwise). For
        ``"inner"`` moments it is only approximate on small grids (the sampled basis
        is not orthonormal).
        """
        values = np.asarray(moments)
        if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
            raise ParameterError("moments must be real numbers; convert complex moments with real_moments().")
        single = values.ndim == 1
        values = np.atleast_2d(values)
        if values.ndim != 2 or values.shape[1] != self.n_functions:
            raise ParameterError(
                f"moments must have shape (N, {self.n_functions}) for n_max={self.n_max}, got "
                f"{np.shape(moments)}."
            )
        dt = np.float32 if values.dtype == np.float32 else np.float64
        out = (values.astype(dt, copy=False) @ self.matrix(dt).T).reshape(-1, self.size, self.size)
        return out[0] if single else out


# ----------------------------------------------------------------------------------
# the fast projection: fold, pack, two GEMMs per chunk, threads over chunks
# ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _kernels():
    """(fold, assemble_real, assemble_invariant): numba kernels, NumPy if numba is absent."""
    try:
        from . import _zernike_kernels as k

        return k.fold_rows, k.assemble_real, k.assemble_invariant
    except ImportError:  # pragma: no cover - numba is a core dependency
        return None, None, None


@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _check_n_jobs(n_jobs) -> int:
    if n_jobs is None:
        return _available_cpus()
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ParameterError(f"n_jobs must be a positive int, -1 (all CPUs) or None, got {n_jobs!r}.")
    if n_jobs < 0:
        return max(1, _available_cpus() + 1 + int(n_jobs))
    return int(n_jobs)


def _chunk_rows(size: int, itemsize: int) -> int:
    # ~1 MB of patches per chunk: the folded copy stays cache-resident for the GEMMs
    # and the per-chunk Python overhead is small (measured best at 256-512 patches of
    # 32 x 32 float32; 1024 was 20 % slower)
    return int(np.clip(2**20 // (size * size * itemsize), 32, 4096))


def _project(patches, data: _BasisData, projection, dtype, n_jobs, *, normalize, rotation_invariant, edge_taper=0.0):
    """Moments of ``patches`` (N, s, s), each weighted by the radial taper of ``edge_taper``.

    Returns the (N, F) features (real moments in j order, or the rotation-invariant
    features in complex-index order) and the number of constant patches met by
    ``normalize="zscore"``.
    """
    n_patches = patches.shape[0]
    proj_even, proj_odd, ones_moments = data.folded(projection, dtype, edge_taper)
    n_even, n_odd = proj_even.shape[1], proj_odd.shape[1]  # padded widths
    if rotation_invariant:
        layout = _invariant_layout(data.n_max)
        out = np.empty((n_patches, layout["n_features"]), dtype=dtype)
    else:
        out = np.empty((n_patches, len(data.indices)), dtype=dtype)
    # fold in the wider of the input and output precision
    in_dtype = np.result_type(patches.dtype, dtype) if patches.dtype in _FLOAT_DTYPES else dtype
    chunk = _chunk_rows(data.size, max(np.dtype(in_dtype).itemsize, dtype.itemsize))
    fold, assemble_real, assemble_invariant = _kernels()
    if fold is None:  # pragma: no cover - numba missing
        from ._zernike_kernels import (
            assemble_invariant_numpy as assemble_invariant,
            assemble_real_numpy as assemble_real,
            fold_rows_numpy,
        )
    want_stats = normalize is not None
    ones_even = np.zeros(n_even, dtype=dtype)
    ones_even[: len(data.even_cols)] = ones_moments[data.even_cols]
    n_disk = data.n_disk_pixels
    constant_counts = []

    def run(worker: int, n_workers: int):
        even_in = np.empty((chunk, proj_even.shape[0]), dtype=dtype)
        odd_in = np.empty((chunk, proj_odd.shape[0]), dtype=dtype)
        even_res = np.empty((chunk, n_even), dtype=dtype)
        odd_res = np.empty((chunk, n_odd), dtype=dtype)
        stats = np.empty((chunk if want_stats else 0, 2), dtype=np.float64)
        n_constant = 0
        for start in range(worker * chunk, n_patches, n_workers * chunk):
            stop = min(start + chunk, n_patches)
            rows = stop - start
            block = np.ascontiguousarray(patches[start:stop], dtype=in_dtype)
            if fold is not None:
                fold(block, data.row_start, data.row_stop, even_in[:rows], odd_in[:rows], stats[:rows])
                ev, od, st = even_in[:rows], odd_in[:rows], stats[:rows]
            else:  # pragma: no cover - numba missing
                ev, od, st = fold_rows_numpy(block, data.row_start, data.row_stop, dtype)
            er = np.matmul(ev, proj_even, out=even_res[:rows])
            orr = np.matmul(od, proj_odd, out=odd_res[:rows])
            if want_stats:
                mean = st[:, 0] / n_disk
                var = np.maximum(st[:, 1] / n_disk - mean * mean, 0.0)
                er -= (mean[:, None] * ones_even[None, :]).astype(dtype)
                if normalize == "zscore":
                    std = np.sqrt(var)
                    constant = std <= 1e-6 * np.abs(mean) + 1e-30
                    n_constant += int(constant.sum())
                    scale = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, std)).astype(dtype)
                    er *= scale[:, None]
                    orr *= scale[:, None]
            target = out[start:stop]
            if rotation_invariant:
                assemble_invariant(
                    er, orr, layout["zero_out"], layout["zero_even"], layout["pair_out"],
                    layout["cos_even"], layout["sin_odd"], target,
                )
            else:
                assemble_real(er, orr, data.even_cols, data.odd_cols, target)
        constant_counts.append(n_constant)

    n_chunks = -(-n_patches // chunk)
    n_workers = max(1, min(n_jobs, n_chunks))
    if n_workers == 1:
        run(0, 1)
    else:
        # one BLAS thread per worker: the small per-chunk GEMMs scale better this way
        with _blas_controller().limit(limits=1, user_api="blas"):
            with ThreadPoolExecutor(max_workers=n_workers) as pool:
                for future in [pool.submit(run, w, n_workers) for w in range(n_workers)]:
                    future.result()
    _raise_if_not_finite(out)
    return out, int(sum(constant_counts))


@functools.lru_cache(maxsize=64)
def _invariant_layout(n_max: int) -> dict:
    """Where each rotation-invariant feature comes from in the folded GEMM outputs."""
    real = _real_indices(n_max)
    cplx = _complex_indices(n_max)
    even_pos = {(int(n), int(m)): k for k, (n, m) in enumerate(real[real[:, 1] >= 0])}
    odd_pos = {(int(n), int(m)): k for k, (n, m) in enumerate(real[real[:, 1] < 0])}
    zero_out, zero_even, pair_out, cos_even, sin_odd = [], [], [], [], []
    for k, (n, m) in enumerate(cplx):
        n, m = int(n), int(m)
        if m == 0:
            zero_out.append(k)
            zero_even.append(even_pos[(n, 0)])
        else:
            pair_out.append(k)
            cos_even.append(even_pos[(n, m)])
            sin_odd.append(odd_pos[(n, -m)])
    arr = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
    return {
        "n_features": len(cplx),
        "zero_out": arr(zero_out),
        "zero_even": arr(zero_even),
        "pair_out": arr(pair_out),
        "cos_even": arr(cos_even),
        "sin_odd": arr(sin_odd),
    }


def _as_patch_stack(X, *, name: str = "X") -> np.ndarray:
    """Accept (N, s, s) patches, (N, s*s) flattened patches or an object with
    ``.patches``; return an (N, s, s) array (no copy when possible)."""
    if hasattr(X, "patches") and not isinstance(X, np.ndarray):
        X = X.patches
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise ImageError(f"{name} is a sparse matrix; sparse input is not supported, pass a dense array.")
    try:
        array = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ImageError(f"{name} could not be converted to an array of patches: {exc}") from exc
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ImageError(f"{name} must be numeric patches; its objects are not numbers ({exc}).") from exc
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ImageError(f"{name} must be numeric patches, got dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise ImageError(
            f"Complex data not supported: {name} is complex; pass the magnitude or the real "
            "part of the patches."
        )
    if array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side != array.shape[1]:
            raise ImageError(
                f"{name} is 2-D with {array.shape[1]} features per row, which is not a square "
                "patch flattened; pass patches as an (N, s, s) array."
            )
        array = array.reshape(array.shape[0], side, side)
    if array.ndim != 3:
        raise ImageError(
            f"{name} must be a stack of square patches (N, s, s) or flattened (N, s*s), got "
            f"shape {array.shape}. Reshape your data: for a single patch use patch[None]."
        )
    if array.shape[1] != array.shape[2]:
        raise ImageError(
            f"{name} patches must be square, got {array.shape[1]} x {array.shape[2]}; cut them "
            "with motifkit.extract_patches(image, positions, size)."
        )
    if array.shape[0] == 0:
        raise NotEnoughDataError(
            f"{name} holds no patches: found array with 0 sample(s) (shape {array.shape}); "
            "need at least 1."
        )
    if array.shape[1] < MIN_PATCH_SIZE:
        raise ImageError(f"{name} patches are {array.shape[1]} px; at least {MIN_PATCH_SIZE} px are needed.")
    if array.dtype == bool:
        array = array.astype(np.float32)
    # integer patches (raw detector counts) are converted chunk by chunk in _project.
    # NaN/inf are caught on the (much smaller) moments in _project: any non-finite disk
    # pixel makes every moment of its patch non-finite
    return array


def _raise_if_not_finite(features: np.ndarray, name: str = "patches"):
    finite_rows = np.isfinite(features).all(axis=1)
    if not finite_rows.all():
        bad = np.flatnonzero(~finite_rows)
        raise ImageError(
            f"{name}: {bad.size} patch(es) have NaN/inf pixels inside the disk, or values too "
            f"large for the dtype (first indices {bad[:5].tolist()}); fix the image (e.g. "
            "np.nan_to_num) or drop those patches."
        )


# ----------------------------------------------------------------------------------
# complex moments and rotation
# ----------------------------------------------------------------------------------
def _moment_axis_n_max(values: np.ndarray, n_max, complex_: bool) -> int:
    if values.ndim == 0:
        raise ParameterError("moments must have at least one axis (the moments axis last).")
    if n_max is None:
        return _n_max_from_count(values.shape[-1], complex_)
    n_max = _check_n_max(n_max)
    expected = len(_complex_indices(n_max)) if complex_ else len(_real_indices(n_max))
    if values.shape[-1] != expected:
        kind = "complex" if complex_ else "real"
        raise ParameterError(
            f"n_max={n_max} has {expected} {kind} moments but the last axis has "
            f"{values.shape[-1]}."
        )
    return n_max


@functools.lru_cache(maxsize=64)
def _complex_map(n_max: int):
    real = _real_indices(n_max)
    lookup = {(int(n), int(m)): j for j, (n, m) in enumerate(real)}
    cplx = _complex_indices(n_max)
    cos_j = np.array([lookup[(int(n), int(m))] for n, m in cplx])
    sin_j = np.array([lookup[(int(n), -int(m))] if m > 0 else -1 for n, m in cplx])
    return cos_j, sin_j


def complex_moments(real_moments, n_max: int | None = None) -> np.ndarray:
    """Complex moments ``C_{n,m} = Z_{n,+m} + i Z_{n,-m}`` (``m >= 0``).

    Parameters
    ----------
    real_moments : array_like, shape (..., J)
        Real moments in ``j`` order along the last axis (per patch, or dense maps
        of shape (H, W, J)).
    n_max : int, optional
        Inferred from J when omitted.

    Returns
    -------
    ndarray of complex, shape (..., K)
        Ordered as :func:`complex_indices` (K = 36 for n_max = 10); ``m = 0``
        entries are real. complex64 for float32 input, else complex128.

    Examples
    --------
    >>> complex_moments(np.arange(6.0)).round(1).tolist()
    [0j, (2+1j), (4+0j), (5+3j)]
    """
    values = np.asarray(real_moments)
    n_max = _moment_axis_n_max(values, n_max, complex_=False)
    cos_j, sin_j = _complex_map(n_max)
    ctype = np.complex64 if values.dtype == np.float32 else np.complex128
    out = values[..., cos_j].astype(ctype)
    has_sin = sin_j >= 0
    out[..., has_sin] += 1j * values[..., sin_j[has_sin]]
    return out


def real_moments(complex_values, n_max: int | None = None) -> np.ndarray:
    """Inverse of :func:`complex_moments`: real moments (..., J) in ``j`` order."""
    values = np.asarray(complex_values)
    n_max = _moment_axis_n_max(values, n_max, complex_=True)
    cos_j, sin_j = _complex_map(n_max)
    rtype = np.float32 if values.dtype == np.complex64 else np.float64
    out = np.zeros(values.shape[:-1] + (len(_real_indices(n_max)),), dtype=rtype)
    out[..., cos_j] = values.real
    has_sin = sin_j >= 0
    out[..., sin_j[has_sin]] = values.imag[..., has_sin]
    return out


def rotate_moments(complex_values, angle, n_max: int | None = None) -> np.ndarray:
    """Complex moments of the patch rotated by ``angle``: ``C_{n,m} exp(-i m angle)``.

    Parameters
    ----------
    complex_values : array_like, shape (..., K)
        Complex moments (:func:`complex_moments`).
    angle : float or array_like broadcastable to ``complex_values.shape[:-1]``
        Radians. Positive = counter-clockwise as the image is displayed with row 0 on
        top (the direction of ``scipy.ndimage.rotate(patch, np.degrees(angle))``);
        in the patch's own ``(x, y) = (col, row)`` frame, where ``theta`` grows from
        +x towards +y, the content moves from ``theta`` to ``theta - angle``.

    Returns
    -------
    ndarray of complex, shape (..., K)

    Examples
    --------
    >>> c = complex_moments(np.arange(6.0))
    >>> np.allclose(np.abs(rotate_moments(c, 0.3)), np.abs(c))
    True
    """
    values = np.asarray(complex_values)
    n_max = _moment_axis_n_max(values, n_max, complex_=True)
    m = _complex_indices(n_max)[:, 1]
    angle = np.asarray(angle, dtype=np.float64)[..., None]
    phase = np.exp(-1j * m * angle)
    if values.dtype == np.complex64:
        phase = phase.astype(np.complex64)
    return values * phase


def rotation_invariant_moments(real_moments_, n_max: int | None = None) -> np.ndarray:
    """Rotation-invariant features from real moments: ``Z_{n,0}`` (signed) for
    ``m = 0`` and ``|C_{n,m}|`` for ``m > 0``, in :func:`complex_indices` order.

    Parameters
    ----------
    real_moments_ : array_like, shape (..., J)

    Returns
    -------
    ndarray, shape (..., K)
    """
    values = np.asarray(real_moments_)
    n_max = _moment_axis_n_max(values, n_max, complex_=False)
    cos_j, sin_j = _complex_map(n_max)
    out = values[..., cos_j].copy()
    has_sin = sin_j >= 0
    out[..., has_sin] = np.hypot(values[..., cos_j[has_sin]], values[..., sin_j[has_sin]])
    return out


# ----------------------------------------------------------------------------------
# the scikit-learn transformer
# ----------------------------------------------------------------------------------
class ZernikeFeatures(TransformerMixin, BaseEstimator):
    """Zernike moment features of square image patches (scikit-learn transformer).

    Parameters
    ----------
    n_max : int, default 10
        Highest radial order: 66 real moments or 36 rotation-invariant features.
    rotation_invariant : bool, default True
        True: features are ``Z_{n,0}`` (signed) for ``m = 0`` and ``|C_{n,m}|`` for
        ``m > 0``, ordered by ``n`` then ``m`` (:func:`complex_indices`). False: all
        real moments in ``j`` order; keeps orientation, which separates e.g. the two
        3-fold sublattices of a TMD.
    projection : {"inner", "lstsq"}, default "inner"
        ``"inner"``: the paper's matrix approximation ``<patch, Z_j> / (pi s^2/4)``.
        ``"lstsq"``: exact least squares on the pixel grid (same cost; use it when
        you reconstruct patches or compare moments across patch sizes).
    normalize : {None, "mean", "zscore"}, default None
        Per-patch intensity normalisation over the disk pixels before projection.
        None keeps raw intensities, as the paper does: column brightness (Z-contrast)
        is what tells a vacancy from a full column, and the FR layout's correlation
        metric already ignores a global contrast scale. ``"mean"`` removes each patch's
        mean (drift in background level); ``"zscore"`` also divides by its standard
        deviation (contrast varying across the field of view). Constant patches under
        ``"zscore"`` give all-zero features and a warning with their count.
    edge_taper : float in [0, 1), default 0.15
        Fraction of the disk radius over which pixel weights fall from 1 to 0 as a
        raised cosine before projection (:data:`DEFAULT_EDGE_TAPER`). 0 is the paper's
        hard disk edge, which is not rotation invariant on a pixel grid: the pixels
        that enter or leave the disk when a lattice is rotated by a non-multiple of
        90 degrees change the rotation-invariant features of the same column type by
        up to 9.8 % (MoSe2, 33 px patches, 17-133 degrees); the default taper keeps
        that within 0.5 % without losing accuracy elsewhere.
    dtype : float32 or float64, default float32
        Precision of the GEMM and of the output.
    n_jobs : int or None, default None
        Threads (None: every CPU available to the process; -1 likewise).

    Attributes
    ----------
    patch_size_ : int
        Side length ``s`` of the fitted patches.
    n_features_in_ : int
        ``s * s``.
    basis_ : ZernikeBasis
    feature_indices_ : ndarray, shape (F, 2)
        ``(n, m)`` of each output feature.

    Notes
    -----
    Input is an ``(N, s, s)`` array (or an object with a ``.patches`` array, e.g. a
    PatchSet, or ``(N, s*s)`` flattened patches). Patches are sampled at pixel centres
    on the disk inscribed in the patch (see :class:`ZernikeBasis`). Cost: one folded
    GEMM, ``~0.4 * N * s^2 * J`` multiply-adds (the basis mirror symmetry halves the
    work and pixels outside the disk are skipped), threads over chunks of patches.
    Constant (all-equal) patches are valid input: only their ``m = 0`` features are
    non-zero (with ``"inner"`` also ``m = 4, 8``, which the square pixel grid couples
    to ``m = 0``); a downstream step that needs varying features reports the problem.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> patches = rng.random((100, 21, 21)).astype(np.float32)
    >>> features = ZernikeFeatures(n_max=10).fit_transform(patches)
    >>> features.shape
    (100, 36)
    >>> ZernikeFeatures(rotation_invariant=False).fit(patches).get_feature_names_out()[:3].tolist()
    ['Z_n0_m0', 'Z_n1_m-1', 'Z_n1_m1']
    """

    def __init__(
        self,
        n_max=10,
        *,
        rotation_invariant=True,
        projection="inner",
        normalize=None,
        edge_taper=DEFAULT_EDGE_TAPER,
        dtype=np.float32,
        n_jobs=None,
    ):
        self.n_max = n_max
        self.rotation_invariant = rotation_invariant
        self.projection = projection
        self.normalize = normalize
        self.edge_taper = edge_taper
        self.dtype = dtype
        self.n_jobs = n_jobs

    def _checked_params(self):
        n_max = _check_n_max(self.n_max)
        projection = _check_projection(self.projection)
        if self.normalize not in NORMALIZATIONS:
            raise ParameterError(
                f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}."
            )
        if not isinstance(self.rotation_invariant, (bool, np.bool_)):
            raise ParameterError(
                f"rotation_invariant must be True or False, got {self.rotation_invariant!r}."
            )
        _check_edge_taper(self.edge_taper)
        return n_max, projection, _check_dtype(self.dtype), _check_n_jobs(self.n_jobs)

    def fit(self, X, y=None):
        """Check parameters and patch size; build the basis.

        Parameters
        ----------
        X : ndarray, shape (N, s, s) or (N, s*s), or an object with ``.patches``
        y : ignored

        Returns
        -------
        self
        """
        self._fit(X, check_finite=True)
        return self

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)`` in one pass over the data (NaN/inf are still caught)."""
        patches = self._fit(X, check_finite=False)
        return self._transform(patches)

    def _patches_from(self, X) -> np.ndarray:
        return _as_patch_stack(X)

    def _fit(self, X, check_finite: bool) -> np.ndarray:
        n_max, projection, dtype, _ = self._checked_params()
        patches = self._patches_from(X)
        if check_finite and not np.isfinite(patches).all():
            bad = np.flatnonzero(~np.isfinite(patches).reshape(len(patches), -1).all(axis=1))
            raise ImageError(
                f"X has {bad.size} patch(es) with NaN/inf pixels (first indices "
                f"{bad[:5].tolist()}); fix the image (e.g. np.nan_to_num) or drop those patches."
            )
        size = patches.shape[1]
        basis = ZernikeBasis(size, n_max)
        if projection == "lstsq":
            basis.projector("lstsq")  # raises if n_max is too high for this size
        elif 2 * n_max > size:
            warnings.warn(
                f"n_max={n_max} is high for {size} px patches: moments of order above ~{size // 2} "
                "alias on the pixel grid. Use larger patches or a smaller n_max.",
                UserWarning,
                stacklevel=3,
            )
        self.patch_size_ = size
        self.n_features_in_ = size * size
        self.basis_ = basis
        self.feature_indices_ = (
            _complex_indices(n_max).copy() if self.rotation_invariant else _real_indices(n_max).copy()
        )
        return patches

    def transform(self, X):
        """Zernike features of patches.

        Parameters
        ----------
        X : ndarray, shape (N, s, s) or (N, s*s), or an object with ``.patches``

        Returns
        -------
        ndarray, shape (N, F) of ``dtype``
            F = 36 (rotation invariant) or 66 (real moments) for ``n_max = 10``.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "basis_")
        return self._transform(self._patches_from(X))

    def _transform(self, patches: np.ndarray) -> np.ndarray:
        n_max, projection, dtype, n_jobs = self._checked_params()
        if patches.shape[1] != self.patch_size_ or n_max != self.basis_.n_max:
            raise ParameterError(
                f"ZernikeFeatures was fitted on {self.patch_size_} px patches (n_max="
                f"{self.basis_.n_max}) but got {patches.shape[1]} px (n_max={n_max}); fit again."
            )
        features, n_constant = _project(
            patches, self.basis_._data, projection, dtype, n_jobs,
            normalize=self.normalize, rotation_invariant=bool(self.rotation_invariant),
            edge_taper=float(self.edge_taper),
        )
        if n_constant:
            warnings.warn(
                f"{n_constant} of {len(patches)} patches are constant; normalize='zscore' "
                "cannot scale them and their features are all zero.",
                UserWarning,
                stacklevel=2,
            )
        return features

    def inverse_transform(self, X):
        """Patches rebuilt from real moments (rotation_invariant=False only).

        Parameters
        ----------
        X : array_like, shape (N, J)

        Returns
        -------
        ndarray, shape (N, s, s)
            Exact for ``projection="lstsq"`` when the patches lie in the span of the
            basis; with ``normalize`` the normalised patches are returned, with
            ``edge_taper`` the tapered patches, approximately (a tapered patch is not
            exactly in the span); use ``edge_taper=0`` for an exact round trip.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "basis_")
        if self.rotation_invariant:
            raise ParameterError(
                "Rotation-invariant features drop the phases of the moments and cannot be "
                "inverted; use ZernikeFeatures(rotation_invariant=False)."
            )
        return self.basis_.reconstruct(X)

    reconstruct = inverse_transform

    def get_feature_names_out(self, input_features=None):
        """Names ``Z_n{n}_m{m}`` (real / signed m = 0) and ``absC_n{n}_m{m}`` (|C|)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "feature_indices_")
        names = [
            f"Z_n{n}_m{m}" if (m == 0 or not self.rotation_invariant) else f"absC_n{n}_m{m}"
            for n, m in self.feature_indices_.tolist()
        ]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        try:
            tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        except TypeError:
            tags.transformer_tags.preserves_dtype = []
        return tags


# ----------------------------------------------------------------------------------
# symmetry scores
# ----------------------------------------------------------------------------------
def _check_folds(folds) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(folds))
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 2):
        raise ParameterError(f"folds must be integers >= 2 (e.g. (2, 3, 4, 6)), got {folds!r}.")
    return arr.astype(np.int64)


def _power_by_m(values: np.ndarray, n_max: int, exclude_m):
    """Per-m power ``P_m = sum_n |C_{n,m}|^2`` and ``S_m = sum_n C_{n,m}^2``."""
    cplx = _complex_indices(n_max)
    exclude = {abs(int(v)) for v in np.atleast_1d(exclude_m)}
    ms = np.array(sorted({int(m) for m in cplx[:, 1]} - exclude), dtype=np.int64)
    power = np.zeros(values.shape[:-1] + (len(ms),), dtype=np.float64)
    square = np.zeros(values.shape[:-1] + (len(ms),), dtype=np.complex128)
    for k, m in enumerate(ms):
        cols = np.flatnonzero(cplx[:, 1] == m)
        sub = values[..., cols].astype(np.complex128)
        power[..., k] = (sub.real**2 + sub.imag**2).sum(axis=-1)
        square[..., k] = (sub * sub).sum(axis=-1)
    # scores are undefined (NaN) where the kept moments are round-off compared with the
    # whole patch (a constant or perfectly isotropic patch)
    everything = (values.real.astype(np.float64) ** 2 + values.imag.astype(np.float64) ** 2).sum(axis=-1)
    kept = power.sum(axis=-1)
    undefined = ~(kept > _ISOTROPIC_POWER * everything)
    power[undefined] = 0.0
    square[undefined] = 0.0
    return ms, power, square


def _power_from_real(moments_first: np.ndarray, n_max: int, exclude_m):
    """Like :func:`_power_by_m` but from real moments with the moment axis FIRST,
    shape (J, ...): no complex arrays, contiguous planes for dense maps."""
    real = _real_indices(n_max)
    exclude = {abs(int(v)) for v in np.atleast_1d(exclude_m)}
    ms = np.array(sorted({abs(int(m)) for m in real[:, 1]} - exclude), dtype=np.int64)
    rest = moments_first.shape[1:]
    power = np.zeros(rest + (len(ms),), dtype=np.float64)
    square = np.zeros(rest + (len(ms),), dtype=np.complex128)
    for k, m in enumerate(ms):
        re_part = np.zeros(rest)
        im_part = np.zeros(rest)
        for n in range(m, n_max + 1, 2):
            a = moments_first[nm_to_j(n, m)].astype(np.float64)
            b = moments_first[nm_to_j(n, -m)].astype(np.float64)
            power[..., k] += a * a + b * b
            re_part += a * a - b * b  # (a + ib)^2
            im_part += 2.0 * a * b
        square[..., k] = re_part + 1j * im_part
    everything = np.zeros(rest)
    for plane in moments_first:
        everything += plane.astype(np.float64) ** 2
    undefined = ~(power.sum(axis=-1) > _ISOTROPIC_POWER * everything)
    power[undefined] = 0.0
    square[undefined] = 0.0
    return ms, power, square


def _rotation_from_power(ms, power, folds):
    weights = np.where(ms[None, :] % folds[:, None] == 0, 1.0, -1.0 / (folds[:, None] - 1.0))
    total = power.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (power @ weights.T) / total[..., None]


def _mirror_from_square(ms, square, total, n_angles=None, n_starts=3):
    """max over t of ``f(t) = Re(sum_m S_m exp(-i m t))`` / total, and the axis t*/2.

    ``f`` is a trigonometric polynomial of degree ``m_max``: it is sampled on a grid
    of ``n_angles`` angles and the ``n_starts`` best local maxima of the grid are
    refined by Newton steps on the exact derivatives (numba kernel).
    """
    shape = square.shape[:-1]
    square = square.reshape(-1, len(ms))
    total = total.reshape(-1)
    score = np.full(square.shape[0], np.nan)
    axis = np.full(square.shape[0], np.nan)
    if len(ms) == 0 or square.shape[0] == 0:
        return score.reshape(shape), axis.reshape(shape)
    m_top = int(ms.max())
    n_angles = int(n_angles or max(32, 6 * m_top))
    if n_angles < 2 * m_top + 2:
        raise ParameterError(f"n_angles={n_angles} is too small for m up to {m_top}; use >= {2 * m_top + 2}.")
    ms = np.ascontiguousarray(ms, dtype=np.int64)
    try:
        from ._zernike_kernels import mirror_max
    except ImportError:  # pragma: no cover - numba is a core dependency
        from ._zernike_kernels import mirror_max_numpy

        best, t_best = mirror_max_numpy(square, ms, n_angles, n_starts)
    else:
        best = np.empty(square.shape[0])
        t_best = np.empty(square.shape[0])
        sq_re = np.ascontiguousarray(square.real, dtype=np.float64)
        sq_im = np.ascontiguousarray(square.imag, dtype=np.float64)
        block = 4096
        blocks = [slice(a, min(a + block, len(best))) for a in range(0, len(best), block)]

        def run(part):
            mirror_max(sq_re[part], sq_im[part], ms, n_angles, n_starts, best[part], t_best[part])

        n_workers = min(_available_cpus(), len(blocks))
        if n_workers <= 1:
            for part in blocks:
                run(part)
        else:  # the kernel releases the GIL
            with ThreadPoolExecutor(max_workers=n_workers) as pool:
                list(pool.map(run, blocks))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = best / total
    axis = np.mod(t_best / 2.0, np.pi)
    undefined = ~(total > 0)
    score[undefined] = np.nan
    axis[undefined] = np.nan
    return score.reshape(shape), axis.reshape(shape)


def rotational_symmetry_scores(complex_values, folds=(2, 3, 4, 5, 6), n_max=None, exclude_m=(0, 1)):
    """n-fold rotational symmetry score of each patch.

    Drops the moments with ``|m|`` in ``exclude_m``, L2-normalises the rest and sums
    ``|C_{n,m}|^2`` with weight +1 where ``fold`` divides ``m`` and ``-1/(fold-1)``
    otherwise. A perfectly ``k``-fold pattern scores 1 for ``k`` and for every divisor
    of ``k`` (a hexagon is also 2- and 3-fold); see :meth:`SymmetryScores.order`.

    Parameters
    ----------
    complex_values : array_like, shape (..., K)
        Complex moments (:func:`complex_moments`); lstsq moments are recommended.
    folds : sequence of int >= 2
    n_max : int, optional
    exclude_m : sequence of int
        Azimuthal orders ignored (0: radial profile, 1: off-centring).

    Returns
    -------
    ndarray of float64, shape (..., len(folds))
        In ``[-1/(fold-1), 1]``; NaN where the kept moments are zero up to round-off
        (power below 1e-12 of the total: no anisotropic content, e.g. a constant
        patch).
    """
    values = np.asarray(complex_values)
    n_max = _moment_axis_n_max(values, n_max, complex_=True)
    folds = _check_folds(folds)
    ms, power, _ = _power_by_m(values, n_max, exclude_m)
    return _rotation_from_power(ms, power, folds)


def mirror_symmetry_scores(complex_values, n_max=None, exclude_m=(0, 1), return_axis=False, n_angles=None):
    """Mirror symmetry score of each patch.

    ``max_t sum_m |C_m|^2 cos(2 arg C_m - m t) / sum_m |C_m|^2`` over the moments kept
    after dropping ``|m|`` in ``exclude_m``; 1 for a mirror-symmetric patch. The
    maximum is found on a grid of ``n_angles`` angles and the best local maxima are
    refined by Newton steps on the exact derivatives.

    Parameters
    ----------
    complex_values : array_like, shape (..., K)
    n_max : int, optional
    exclude_m : sequence of int
    return_axis : bool
        Also return the mirror axis angle ``t*/2`` in radians, in ``[0, pi)``,
        measured in the patch frame from +x (columns) towards +y (rows), i.e.
        clockwise as displayed with row 0 on top.
    n_angles : int, optional
        Grid size (default ``max(32, 6 * m_max)``).

    Returns
    -------
    score : ndarray, shape (...)
        In [-1, 1]; NaN where the kept moments are zero up to round-off.
    axis : ndarray, shape (...), only with ``return_axis``
    """
    values = np.asarray(complex_values)
    n_max = _moment_axis_n_max(values, n_max, complex_=True)
    ms, power, square = _power_by_m(values, n_max, exclude_m)
    score, axis = _mirror_from_square(ms, square, power.sum(axis=-1), n_angles)
    return (score, axis) if return_axis else score


@dataclass
class SymmetryScores:
    """Rotational and mirror symmetry scores (per patch or per pixel).

    Attributes
    ----------
    folds : ndarray of int, shape (F,)
    rotation : ndarray, shape (N, F) for patches or (H, W, F) for maps
    mirror : ndarray, shape (N,) or (H, W)
    mirror_axis : ndarray, shape (N,) or (H, W)
        Radians in [0, pi), from +x (columns) towards +y (rows).
    valid : ndarray of bool, shape (H, W), or None
        Maps only: pixels whose whole patch lies inside the image (elsewhere the
        patch overlaps the padded border).
    """

    folds: np.ndarray
    rotation: np.ndarray
    mirror: np.ndarray
    mirror_axis: np.ndarray
    valid: np.ndarray | None = None

    def fold(self, k: int) -> np.ndarray:
        """Scores for one fold ``k``: shape (N,) or (H, W)."""
        hits = np.flatnonzero(self.folds == k)
        if hits.size == 0:
            raise ParameterError(f"fold {k} was not computed; available: {self.folds.tolist()}.")
        return self.rotation[..., hits[0]]

    def order(self, tolerance: float = 0.05) -> np.ndarray:
        """Highest fold whose score is within ``tolerance`` of the best score.

        A ``k``-fold pattern also scores 1 for every divisor of ``k``; this picks
        ``k`` itself. Returns 0 where the scores are NaN.
        """
        rot = self.rotation
        best = np.nanmax(np.where(np.isnan(rot), -np.inf, rot), axis=-1)
        close = rot >= best[..., None] - tolerance
        folds = np.where(close, self.folds, 0)
        return folds.max(axis=-1)


def symmetry_scores(
    patches, n_max: int = 10, folds=(2, 3, 4, 5, 6), projection: str = "lstsq", exclude_m=(0, 1)
) -> SymmetryScores:
    """Rotational and mirror symmetry scores of each patch.

    Parameters
    ----------
    patches : ndarray, shape (N, s, s)
    n_max : int
    folds : sequence of int >= 2
    projection : {"lstsq", "inner"}
        lstsq (default) is exact on the grid, so a symmetric patch scores 1.
    exclude_m : sequence of int

    Returns
    -------
    SymmetryScores

    Examples
    --------
    >>> basis = ZernikeBasis(31, 10)
    >>> trefoil = basis.functions[nm_to_j(3, 3)] + basis.functions[0]
    >>> round(float(symmetry_scores(trefoil[None]).fold(3)[0]), 3)
    1.0
    """
    stack = _as_patch_stack(patches, name="patches")
    basis = ZernikeBasis(stack.shape[1], n_max)
    moments = basis.moments(stack, projection=projection, dtype=np.float64)
    return _scores_from_real(moments.T, basis.n_max, _check_folds(folds), exclude_m)


def _scores_from_real(moments_first, n_max, folds, exclude_m, valid=None) -> SymmetryScores:
    """Scores from real moments with the moment axis first, shape (J, ...)."""
    ms, power, square = _power_from_real(moments_first, n_max, exclude_m)
    rotation = _rotation_from_power(ms, power, folds)
    mirror, axis = _mirror_from_square(ms, square, power.sum(axis=-1))
    return SymmetryScores(folds, rotation, mirror, axis, valid)


# ----------------------------------------------------------------------------------
# dense maps: moments at every pixel by FFT correlation
# ----------------------------------------------------------------------------------
def _image_array(image) -> np.ndarray:
    from .micrograph import validate_image

    data = getattr(image, "data", image)
    return validate_image(data, name="image")


def _tile_plan(height, width, size, tile_size):
    from scipy import fft as sfft

    tile = int(min(tile_size, max(height, width)))
    fft_rows = sfft.next_fast_len(min(tile, height) + size - 1, real=True)
    fft_cols = sfft.next_fast_len(min(tile, width) + size - 1, real=True)
    return tile, (fft_rows, fft_cols)


def _moment_tiles(image, size, n_max, projection, dtype, pad_mode, tile_size, wanted_j):
    """Yield (row0, col0, moments (len(wanted_j), h, w)) tiles of the dense moment maps."""
    from scipy import fft as sfft

    data = _basis_data(size, n_max)
    proj = data.projector(projection, np.float64)  # (s*s, J)
    height, width = image.shape
    before = size // 2
    after = size - 1 - before
    padded = np.pad(image.astype(np.float64), ((before, after), (before, after)), mode=pad_mode)
    tile, fft_shape = _tile_plan(height, width, size, tile_size)
    kernels = proj[:, wanted_j].T.reshape(len(wanted_j), size, size)
    # correlation = convolution with the flipped kernel: pre-transform every kernel once
    spectra = sfft.rfft2(kernels[:, ::-1, ::-1], s=fft_shape, axes=(1, 2), workers=-1)
    ctype = np.complex64 if dtype == np.float32 else np.complex128
    spectra = spectra.astype(ctype)
    for row0 in range(0, height, tile):
        for col0 in range(0, width, tile):
            h = min(tile, height - row0)
            w = min(tile, width - col0)
            block = padded[row0 : row0 + h + size - 1, col0 : col0 + w + size - 1].astype(dtype)
            spectrum = sfft.rfft2(block, s=fft_shape, workers=-1)
            full = sfft.irfft2(spectra * spectrum[None], s=fft_shape, axes=(1, 2), workers=-1)
            # linear convolution index (size - 1 + r) holds the patch whose corner is row r
            moments = full[:, size - 1 : size - 1 + h, size - 1 : size - 1 + w]
            yield row0, col0, moments


def moment_maps(
    image, size: int, n_max: int = 10, projection: str = "lstsq", dtype=np.float64,
    pad_mode: str = "reflect", tile_size: int = 256,
) -> np.ndarray:
    """Real Zernike moments of the patch centred on every pixel (FFT correlation).

    ``maps[r, c]`` are the moments of ``image[r - h : r - h + s, c - h : c - h + s]``
    with ``h = s // 2``, i.e. of the patch centred on pixel ``(x, y) = (c, r)`` for
    odd ``s`` (for even ``s`` the centre is at ``(c - 0.5, r - 0.5)``). Pixels closer
    than ``h`` to the border see the padded image.

    Cost: per tile of ``T x T`` output pixels, one real FFT of the padded tile plus
    one pointwise product and one inverse real FFT per moment, so about
    ``(J + 1) * (T + s)^2 log((T + s)^2)`` operations instead of ``J s^2`` per pixel
    for direct patches (~40x less at s = 32); kernels are transformed once. Memory is
    ``J`` complex planes of one tile.

    Parameters
    ----------
    image : array_like (H, W) or Micrograph
    size : int
        Patch side length ``s`` in pixels.
    n_max : int
    projection : {"lstsq", "inner"}
    dtype : float32 or float64
        Precision of the FFTs.
    pad_mode : str
        ``numpy.pad`` mode for the border (``"reflect"`` or ``"constant"``).
    tile_size : int
        Output tile side; bounds the memory.

    Returns
    -------
    ndarray, shape (H, W, J)

    Examples
    --------
    >>> img = np.random.default_rng(0).random((40, 50))
    >>> moment_maps(img, 9, n_max=4).shape
    (40, 50, 15)
    """
    img = _image_array(image)
    size = _check_size(size)
    n_max = _check_n_max(n_max)
    projection = _check_projection(projection)
    dt = _check_dtype(dtype)
    if size > min(img.shape):
        raise ParameterError(f"size={size} px is larger than the image {img.shape}; use smaller patches.")
    wanted = np.arange(len(_real_indices(n_max)))
    out = np.empty(img.shape + (len(wanted),), dtype=dt)
    for row0, col0, moments in _moment_tiles(img, size, n_max, projection, dt, pad_mode, tile_size, wanted):
        h, w = moments.shape[1:]
        out[row0 : row0 + h, col0 : col0 + w] = np.moveaxis(moments, 0, -1)
    return out


def symmetry_maps(
    image, size: int, n_max: int = 10, folds=(2, 3, 4, 6), projection: str = "lstsq",
    exclude_m=(0, 1), dtype=np.float64, pad_mode: str = "reflect", tile_size: int = 256,
) -> SymmetryScores:
    """Rotational and mirror symmetry scores of the patch centred on every pixel.

    Same scores as :func:`symmetry_scores`, from the dense moment maps of
    :func:`moment_maps` (one image FFT per tile, moments at every pixel); only the
    moments with ``|m|`` not in ``exclude_m`` are computed. See :func:`moment_maps`
    for the pixel <-> patch correspondence, the border and the cost.

    Returns
    -------
    SymmetryScores
        ``rotation`` (H, W, F), ``mirror`` and ``mirror_axis`` (H, W), ``valid`` (H, W).

    Examples
    --------
    >>> img = np.random.default_rng(0).random((48, 48))
    >>> maps = symmetry_maps(img, 11, n_max=6, folds=(2, 3))
    >>> maps.rotation.shape, maps.mirror.shape
    ((48, 48, 2), (48, 48))
    """
    img = _image_array(image)
    size = _check_size(size)
    n_max = _check_n_max(n_max)
    projection = _check_projection(projection)
    folds = _check_folds(folds)
    dt = _check_dtype(dtype)
    if size > min(img.shape):
        raise ParameterError(f"size={size} px is larger than the image {img.shape}; use smaller patches.")
    exclude = tuple(sorted({abs(int(v)) for v in np.atleast_1d(exclude_m)}))
    real = _real_indices(n_max)
    # the kept orders, plus m = 0 (the bulk of a patch's power) for the isotropy test
    wanted = np.flatnonzero([abs(int(m)) not in exclude or m == 0 for m in real[:, 1]])
    height, width = img.shape
    rotation = np.empty((height, width, len(folds)))
    mirror = np.empty((height, width))
    axis = np.empty((height, width))
    for row0, col0, moments in _moment_tiles(img, size, n_max, projection, dt, pad_mode, tile_size, wanted):
        h, w = moments.shape[1:]
        real_tile = np.zeros((len(real), h, w), dtype=moments.dtype)
        real_tile[wanted] = moments
        scores = _scores_from_real(real_tile, n_max, folds, exclude)
        rotation[row0 : row0 + h, col0 : col0 + w] = scores.rotation
        mirror[row0 : row0 + h, col0 : col0 + w] = scores.mirror
        axis[row0 : row0 + h, col0 : col0 + w] = scores.mirror_axis
    valid = np.zeros((height, width), dtype=bool)
    before = size // 2
    after = size - 1 - before
    valid[before : height - after, before : width - after] = True
    return SymmetryScores(folds, rotation, mirror, axis, valid)
