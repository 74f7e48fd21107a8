"""Detector noise and scan distortions for simulated STEM images (all seeded).

Scan distortions are returned as per-row displacements that the renderer applies to the
atoms (exactly, no resampling) and that the ground truth applies to the column positions;
dose and read noise act on the rendered pixels.
"""

from __future__ import annotations

import numpy as np

from .._utils import check_random_state
from ..errors import ParameterError

__all__ = ["scan_distortion", "apply_dose", "add_read_noise"]


def scan_distortion(
    n_rows: int,
    pixel_size: float,
    *,
    scan_jitter: float = 0.0,
    drift=(0.0, 0.0),
    drift_sine=None,
    random_state=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row displacements of the specimen during a raster scan.

    Row ``i`` is scanned at time ``i``; the specimen then appears displaced by
    ``(row_dx[i], row_dy[i])`` pixels.

    Parameters
    ----------
    n_rows : int
        Number of image rows H.
    pixel_size : float
        Å per pixel.
    scan_jitter : float
        Standard deviation in Å of independent x shifts of each scan line (fast-scan noise).
    drift : (float, float)
        Linear drift: total displacement (dx, dy) in Å between the first and last row.
    drift_sine : (float, float) or (float, float, float), optional
        Sinusoidal x displacement ``(amplitude Å, period Å along y[, phase rad])`` such as
        mains pick-up: ``amplitude * sin(2 pi * row * pixel_size / period + phase)``.
    random_state : int, Generator or None
        Used for the jitter.

    Returns
    -------
    row_dx, row_dy : ndarray of float64, shape (H,)
        Displacements in pixels.

    Examples
    --------
    >>> dx, dy = scan_distortion(5, 0.5, drift=(2.0, 0.0))
    >>> dx
    array([0., 1., 2., 3., 4.])
    """
    if n_rows < 1 or pixel_size <= 0:
        raise ParameterError("scan_distortion needs n_rows >= 1 and pixel_size > 0.")
    if scan_jitter < 0:
        raise ParameterError(f"scan_jitter is a standard deviation in Å and must be >= 0, got {scan_jitter}.")
    rng = check_random_state(random_state)
    rows = np.arange(n_rows, dtype=float)
    t = rows / max(n_rows - 1, 1)
    drift = np.asarray(drift, dtype=float).reshape(2)
    row_dx = drift[0] * t / pixel_size
    row_dy = drift[1] * t / pixel_size
    if drift_sine is not None:
        params = tuple(float(v) for v in drift_sine)
        if len(params) not in (2, 3) or params[1] <= 0:
            raise ParameterError("drift_sine must be (amplitude Å, period Å > 0[, phase rad]).")
        amplitude, period = params[0], params[1]
        phase = params[2] if len(params) == 3 else 0.0
        row_dx = row_dx + amplitude / pixel_size * np.sin(2 * np.pi * rows * pixel_size / period + phase)
    if scan_jitter > 0:
        row_dx = row_dx + rng.normal(0.0, scan_jitter / pixel_size, n_rows)
    return row_dx.astype(np.float64), row_dy.astype(np.float64)


def apply_dose(image: np.ndarray, dose: float, pixel_size: float, random_state=None) -> tuple[np.ndarray, float]:
    """Poisson counting noise for an electron dose.

    The image is scaled so that its mean equals ``dose * pixel_size**2`` electrons per
    pixel, then each pixel is drawn from a Poisson distribution.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Noise-free, non-negative intensities.
    dose : float
        Electrons per Å^2.
    pixel_size : float
        Å per pixel.
    random_state : int, Generator or None

    Returns
    -------
    counts : ndarray of float32, shape (H, W)
    scale : float
        Counts per unit of ``image`` intensity.
    """
    if not np.isfinite(dose) or dose <= 0:
        raise ParameterError(f"dose must be a positive number of electrons per Å^2, got {dose}.")
    rng = check_random_state(random_state)
    mean = float(np.mean(image, dtype=np.float64))
    if mean <= 0:
        raise ParameterError("Cannot apply a dose to an image with zero mean intensity (no atoms in view).")
    scale = dose * pixel_size**2 / mean
    lam = np.clip(image.astype(np.float64) * scale, 0.0, None)
    return rng.poisson(lam).astype(np.float32), scale


def add_read_noise(image: np.ndarray, sigma: float, random_state=None) -> np.ndarray:
    """Add Gaussian read noise of standard deviation ``sigma`` (image units) -> float32."""
    if sigma < 0:
        raise ParameterError(f"read_noise must be >= 0, got {sigma}.")
    if sigma == 0:
        return image.astype(np.float32, copy=True)
    rng = check_random_state(random_state)
    return (image + rng.normal(0.0, sigma, image.shape)).astype(np.float32)
