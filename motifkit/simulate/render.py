"""STEM images by the convolution approximation, with ground truth.

The incoherent HAADF image is ``I(r) = sum_i Z_i^power P(r - r_i)`` (power 1.7): every
atom contributes its ``Z^1.7`` times the probe ``P``. Atoms that share a column (same x, y)
are summed first, so an S2 column is twice as bright as one S atom, and the probe is
evaluated analytically at each pixel centre around each column, so peaks sit exactly at
the sub-pixel column positions (no delta deposition on the pixel grid, no FFT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._utils import Timer, check_random_state
from ..errors import ParameterError
from ..micrograph import Micrograph
from .geometry import ImageGeometry
from .noise import add_read_noise, apply_dose, scan_distortion
from .structures import Structure

__all__ = ["Probe", "render_stem", "simulate_stem", "column_emitters"]


@dataclass(frozen=True)
class Probe:
    """Peak-normalised probe profile: a Gaussian plus an optional Lorentzian tail.

    ``P(r) = (exp(-r^2 / (2 sigma^2)) + ratio * (w/2)^2 / (r^2 + (w/2)^2)) / (1 + ratio)``
    for ``r <= cutoff``, 0 beyond, so ``P(0) = 1`` and an isolated column of weight
    ``sum Z^1.7`` peaks at that weight.

    Parameters
    ----------
    sigma : float
        Gaussian standard deviation in Å (default 0.5 Å).
    lorentz_width : float
        Full width at half maximum ``w`` of the Lorentzian in Å (0: no tail).
    lorentz_ratio : float
        Peak height of the Lorentzian relative to the Gaussian.
    cutoff : float, optional
        Radius in Å beyond which the probe is zero; defaults to 5 sigma for a pure
        Gaussian (truncation error below 4e-6 of the peak) and to 4 sigma + the
        Lorentzian's 8 half widths otherwise.

    Examples
    --------
    >>> Probe.atomvision()
    Probe(sigma=0.5, lorentz_width=0.5, lorentz_ratio=0.5, cutoff=2.0)
    >>> float(Probe().profile(0.0))
    1.0
    """

    sigma: float = 0.5
    lorentz_width: float = 0.0
    lorentz_ratio: float = 0.0
    cutoff: float | None = None

    def __post_init__(self):
        values = (self.sigma, self.lorentz_width, self.lorentz_ratio)
        if not all(np.isfinite(v) for v in values) or self.sigma <= 0:
            raise ParameterError(f"probe sigma must be > 0 Å, got {self.sigma}.")
        if self.lorentz_width < 0 or self.lorentz_ratio < 0:
            raise ParameterError("lorentz_width and lorentz_ratio must be >= 0.")
        if self.lorentz_ratio > 0 and self.lorentz_width == 0:
            raise ParameterError("a Lorentzian tail (lorentz_ratio > 0) needs lorentz_width > 0 Å.")
        if self.cutoff is None:
            if self.lorentz_ratio > 0:
                cutoff = 4.0 * self.sigma + 4.0 * self.lorentz_width
            else:
                cutoff = 5.0 * self.sigma
            object.__setattr__(self, "cutoff", float(cutoff))
        elif not np.isfinite(self.cutoff) or self.cutoff <= 0:
            raise ParameterError(f"probe cutoff must be > 0 Å, got {self.cutoff}.")
        else:
            object.__setattr__(self, "cutoff", float(self.cutoff))

    @classmethod
    def gaussian(cls, sigma: float = 0.5, cutoff: float | None = None) -> "Probe":
        """A Gaussian probe of standard deviation ``sigma`` Å."""
        return cls(sigma=sigma, cutoff=cutoff)

    @classmethod
    def atomvision(cls) -> "Probe":
        """AtomVision's probe: Gaussian (0.5 Å) + 0.5 x Lorentzian (0.5 Å), peak 1, cut at 2 Å."""
        return cls(sigma=0.5, lorentz_width=0.5, lorentz_ratio=0.5, cutoff=2.0)

    def profile(self, r) -> np.ndarray:
        """Probe value at radius ``r`` Å (peak 1)."""
        r = np.asarray(r, dtype=float)
        value = np.exp(-(r**2) / (2 * self.sigma**2))
        if self.lorentz_ratio > 0:
            h2 = (self.lorentz_width / 2) ** 2
            value = value + self.lorentz_ratio * h2 / (r**2 + h2)
        return np.where(r <= self.cutoff, value / (1 + self.lorentz_ratio), 0.0)

    def row_weights(self, dy) -> np.ndarray:
        """Integral of the probe along x at vertical offset ``dy`` Å (for centres of mass)."""
        dy = np.asarray(dy, dtype=float)
        x = np.linspace(-self.cutoff, self.cutoff, 401)
        r = np.sqrt(x[None, :] ** 2 + dy.reshape(-1, 1) ** 2)
        return self.profile(r).sum(axis=1).reshape(dy.shape) * (x[1] - x[0])

    def _kernel_args(self, pixel_size: float):
        return (
            self.sigma / pixel_size,
            self.lorentz_width / 2 / pixel_size,
            float(self.lorentz_ratio),
            self.cutoff / pixel_size,
        )


def as_probe(probe) -> Probe:
    """Turn ``"gaussian"``, ``"atomvision"``, a sigma in Å or a :class:`Probe` into a Probe."""
    if isinstance(probe, Probe):
        return probe
    if isinstance(probe, str):
        if probe == "gaussian":
            return Probe.gaussian()
        if probe == "atomvision":
            return Probe.atomvision()
        raise ParameterError(f"Unknown probe {probe!r}; use 'gaussian', 'atomvision', a sigma in Å or a Probe.")
    if isinstance(probe, (int, float, np.floating)) and not isinstance(probe, bool):
        return Probe.gaussian(float(probe))
    raise ParameterError(f"probe must be 'gaussian', 'atomvision', a sigma in Å or a Probe, got {probe!r}.")


def atom_weights(structure: Structure, power: float, count_stacked_once: bool) -> np.ndarray:
    """Per-atom scattering weights ``Z^power``.

    With ``count_stacked_once`` only the first atom of each element in a column counts,
    reproducing AtomVision's fancy-index ``+=`` (stacked atoms of one element landing on
    the same pixels are added once).
    """
    weights = structure.numbers.astype(np.float64) ** float(power)
    if count_stacked_once and structure.n_atoms:
        key = structure.column_index * 256 + structure.numbers
        _, first = np.unique(key, return_index=True)
        once = np.zeros(structure.n_atoms, dtype=bool)
        once[first] = True
        weights = np.where(once, weights, 0.0)
    return weights


def column_emitters(structure: Structure, geometry: ImageGeometry, weights: np.ndarray, tol: float = 1e-4):
    """Points to draw: one per column whose atoms coincide, else one per atom.

    Parameters
    ----------
    structure : Structure
    geometry : ImageGeometry
    weights : ndarray, shape (n_atoms,)
        Per-atom weights.
    tol : float
        Largest in-plane spread (Å) of a column's atoms for it to be drawn as one point.

    Returns
    -------
    xy : ndarray, shape (E, 2)
        Emitter positions (x, y) in pixels.
    w : ndarray, shape (E,)
        Emitter weights.
    """
    m = structure.n_columns
    ci = structure.column_index
    xy = structure.positions[:, :2]
    total = np.bincount(ci, weights, minlength=m)
    count = np.bincount(ci, minlength=m)
    safe = np.where(count > 0, count, 1)
    mean = np.column_stack([np.bincount(ci, xy[:, 0], m), np.bincount(ci, xy[:, 1], m)]) / safe[:, None]
    spread = np.zeros(m)
    if structure.n_atoms:
        np.maximum.at(spread, ci, np.abs(xy - mean[ci]).max(axis=1))
    whole = (total > 0) & (spread <= tol)
    split_atoms = (spread[ci] > tol) & (weights > 0)
    points = np.concatenate([mean[whole], xy[split_atoms]])
    w = np.concatenate([total[whole], weights[split_atoms]])
    return geometry.to_pixels(points), w


def render_stem(
    structure: Structure,
    geometry: ImageGeometry,
    *,
    probe="gaussian",
    power: float = 1.7,
    count_stacked_once: bool = False,
    row_shifts=None,
    method: str = "numba",
) -> np.ndarray:
    """Noise-free convolution-approximation image of a structure.

    Parameters
    ----------
    structure : Structure
        A finite structure covering the field of view (see
        :meth:`Structure.tile_for_view`); a periodic one is tiled first.
    geometry : ImageGeometry
        Image shape, pixel size (Å/px), rotation and shift.
    probe : str, float or Probe
        ``"gaussian"`` (sigma 0.5 Å), ``"atomvision"``, a Gaussian sigma in Å, or a Probe.
    power : float
        Exponent of Z (1.7).
    count_stacked_once : bool
        Reproduce AtomVision's counting of stacked same-element atoms once.
    row_shifts : (row_dx, row_dy), optional
        Per-row displacements in pixels from :func:`scan_distortion`.
    method : {"numba", "numpy"}
        Compiled kernel (default) or the plain-NumPy reference.

    Returns
    -------
    ndarray of float32, shape (H, W)
        Intensity in units of ``Z^power`` (an isolated column peaks at its weight).
    """
    probe = as_probe(probe)
    if structure.periodic:
        structure = structure.tile_for_view(geometry, margin=probe.cutoff + 1.0 + _max_shift(row_shifts, geometry))
    weights = atom_weights(structure, power, count_stacked_once)
    xy, w = column_emitters(structure, geometry, weights)
    return _render_points(xy, w, geometry, probe, row_shifts, method)


def _max_shift(row_shifts, geometry) -> float:
    if row_shifts is None:
        return 0.0
    return float(max(np.abs(row_shifts[0]).max(), np.abs(row_shifts[1]).max())) * geometry.pixel_size


def _render_points(xy, w, geometry, probe, row_shifts, method):
    h, width = geometry.shape
    if row_shifts is None:
        row_dx = np.zeros(h)
        row_dy = np.zeros(h)
    else:
        row_dx = np.ascontiguousarray(row_shifts[0], dtype=np.float64)
        row_dy = np.ascontiguousarray(row_shifts[1], dtype=np.float64)
        if row_dx.shape != (h,) or row_dy.shape != (h,):
            raise ParameterError(f"row_shifts must be two arrays of length H = {h}.")
    sigma, lor_h, lor_ratio, cutoff = probe._kernel_args(geometry.pixel_size)
    reach = cutoff + 1.0 + max(float(np.abs(row_dx).max()), float(np.abs(row_dy).max()))
    near = (xy[:, 0] > -reach) & (xy[:, 0] < width - 1 + reach) & (xy[:, 1] > -reach) & (xy[:, 1] < h - 1 + reach)
    xy, w = xy[near], w[near]
    order = np.argsort(xy[:, 1], kind="stable")
    x = np.ascontiguousarray(xy[order, 0], dtype=np.float64)
    y = np.ascontiguousarray(xy[order, 1], dtype=np.float64)
    w = np.ascontiguousarray(w[order], dtype=np.float64)
    out = np.zeros((h, width), dtype=np.float32)
    if method == "numba":
        from ._kernels import BAND_ROWS, render_numba

        render_numba(x, y, w, out, sigma, lor_h, lor_ratio, cutoff, row_dx, row_dy, BAND_ROWS)
    elif method == "numpy":
        from ._kernels import render_reference

        render_reference(x, y, w, out, sigma, lor_h, lor_ratio, cutoff, row_dx, row_dy)
    else:
        raise ParameterError(f"method must be 'numba' or 'numpy', got {method!r}.")
    return out


def simulate_stem(
    structure: Structure,
    shape=(512, 512),
    pixel_size: float = 0.2,
    *,
    rotation: float = 0.0,
    shift=(0.0, 0.0),
    probe="gaussian",
    power: float = 1.7,
    count_stacked_once: bool = False,
    margin: float = 8.0,
    dose: float | None = None,
    read_noise: float = 0.0,
    scan_jitter: float = 0.0,
    drift=(0.0, 0.0),
    drift_sine=None,
    edge_margin: float = 0.0,
    method: str = "numba",
    random_state=None,
    source: str | None = None,
):
    """Simulate a HAADF-STEM image and its ground truth.

    Steps: tile the structure over the field of view plus ``margin`` (if it is a unit
    cell), draw scan distortions, render the noise-free image, compute the ground truth,
    then apply the dose (Poisson) and read noise. Random numbers are drawn in that order
    from one generator, so the same ``random_state`` gives the same image.

    Parameters
    ----------
    structure : Structure
        Unit cell (tiled over the field of view) or finite structure (e.g. with defects,
        from :meth:`Structure.tile_for_view`), drawn as is; it must cover the field of
        view, otherwise the image has empty regions.
    shape : (int, int)
        Image size (H, W) in pixels.
    pixel_size : float
        Å per pixel.
    rotation : float
        Rotation of the atoms in degrees (see :class:`ImageGeometry`).
    shift : (float, float)
        Translation of the atoms in Å.
    probe : str, float or Probe
        ``"gaussian"`` (sigma 0.5 Å), ``"atomvision"``, a Gaussian sigma in Å, or a Probe.
    power : float
        Z exponent.
    count_stacked_once : bool
        AtomVision compatibility: count stacked same-element atoms once.
    margin : float
        Tiling margin in Å beyond the field of view (raised to the probe radius plus the
        largest scan displacement if smaller).
    dose : float, optional
        Electrons per Å^2; None gives the noise-free intensity (plus read noise).
    read_noise : float
        Standard deviation of Gaussian read noise, in counts when ``dose`` is set, else
        in intensity units (``Z^power``).
    scan_jitter : float
        Per-row x jitter standard deviation in Å.
    drift : (float, float)
        Linear drift (dx, dy) in Å accumulated over the frame.
    drift_sine : tuple, optional
        ``(amplitude Å, period Å[, phase])`` sinusoidal x drift.
    edge_margin : float
        Truth keeps columns whose (distorted) position lies inside the pixel area
        ``[-0.5, W - 0.5) x [-0.5, H - 0.5)`` grown by ``edge_margin`` px (negative
        shrinks it).
    method : {"numba", "numpy"}
    random_state : int, Generator or None
    source : str, optional
        Stored as the micrograph's ``source``.

    Returns
    -------
    SimulatedImage
        ``.image`` (Micrograph, unit "A"), ``.truth`` (GroundTruth), ``.noise_free``,
        ``.structure`` (the finite structure drawn, which ``truth.column_ids`` index) and
        ``.params``.

    Examples
    --------
    >>> from motifkit.simulate import tmd_monolayer, simulate_stem
    >>> sim = simulate_stem(tmd_monolayer("MoSe2"), (128, 128), 0.2, random_state=0)
    >>> sim.image.shape, sim.image.unit, sorted(set(sim.truth.column_types.tolist()))
    ((128, 128), 'A', ['Mo', 'Se2'])
    """
    from .truth import SimulatedImage, build_truth

    timer = Timer()
    geometry = ImageGeometry(shape, pixel_size, rotation, shift)
    probe = as_probe(probe)
    if not np.isfinite(power) or power <= 0:
        raise ParameterError(f"power must be a positive exponent (1.7 for HAADF), got {power}.")
    if read_noise < 0:
        raise ParameterError(f"read_noise must be >= 0, got {read_noise}.")
    rng = check_random_state(random_state)
    with timer("distortion"):
        row_dx, row_dy = scan_distortion(
            geometry.shape[0], pixel_size, scan_jitter=scan_jitter, drift=drift, drift_sine=drift_sine, random_state=rng
        )
        distorted = bool(np.any(row_dx) or np.any(row_dy))
        row_shifts = (row_dx, row_dy) if distorted else None
    with timer("tiling"):
        # a unit cell is tiled; a finite structure is used as is, so truth.column_ids index it
        needed = probe.cutoff + 1.0 + _max_shift(row_shifts, geometry)
        finite = structure.tile_for_view(geometry, margin=max(float(margin), needed)) if structure.periodic else structure
    with timer("render"):
        weights = atom_weights(finite, power, count_stacked_once)
        xy, w = column_emitters(finite, geometry, weights)
        clean = _render_points(xy, w, geometry, probe, row_shifts, method)
    with timer("truth"):
        truth = build_truth(
            finite, geometry, probe=probe, weights=weights, row_shifts=row_shifts, edge_margin=edge_margin
        )
    with timer("noise"):
        data = clean.copy()
        scale = None
        if dose is not None:
            data, scale = apply_dose(clean, float(dose), pixel_size, rng)
        if read_noise > 0:
            data = add_read_noise(data, float(read_noise), rng)
    params = {
        "shape": tuple(geometry.shape),
        "pixel_size": pixel_size,
        "rotation": geometry.rotation,
        "shift": tuple(geometry.shift),
        "probe": {
            "sigma": probe.sigma,
            "lorentz_width": probe.lorentz_width,
            "lorentz_ratio": probe.lorentz_ratio,
            "cutoff": probe.cutoff,
        },
        "power": power,
        "count_stacked_once": bool(count_stacked_once),
        "dose": dose,
        "counts_per_intensity": scale,
        "read_noise": read_noise,
        "scan_jitter": scan_jitter,
        "drift": tuple(float(v) for v in np.asarray(drift, dtype=float).reshape(2)),
        "drift_sine": None if drift_sine is None else tuple(float(v) for v in drift_sine),
        "structure": finite.name,
        "timings": dict(timer),
    }
    image = Micrograph(
        data,
        pixel_size=pixel_size,
        unit="A",
        metadata={"simulated": True, **{k: v for k, v in params.items() if k != "timings"}},
        source=source or f"motifkit.simulate: {finite.name}",
    )
    return SimulatedImage(image=image, truth=truth, noise_free=clean, structure=finite, params=params)
