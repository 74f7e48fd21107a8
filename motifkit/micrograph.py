"""The :class:`Micrograph` container: pixels plus calibration and metadata."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ImageError, ParameterError

__all__ = ["Micrograph", "as_micrograph", "validate_image", "MIN_IMAGE_SIZE"]

#: Smallest accepted side length in pixels; smaller images hold too few columns.
MIN_IMAGE_SIZE = 8

# Conversion factors from a length unit to nanometres.
_UNIT_TO_NM = {
    "pm": 1e-3,
    "a": 0.1,
    "å": 0.1,
    "angstrom": 0.1,
    "nm": 1.0,
    "um": 1e3,
    "µm": 1e3,
    "micron": 1e3,
    "mm": 1e6,
    "m": 1e9,
}


def unit_to_nm(unit: str) -> float:
    """Return how many nanometres one ``unit`` is.

    Parameters
    ----------
    unit : str
        Length unit such as ``"nm"``, ``"A"``, ``"Å"``, ``"pm"`` or ``"um"``.

    Returns
    -------
    float
        Nanometres per unit.
    """
    key = str(unit).strip().lower()
    if key not in _UNIT_TO_NM:
        raise ParameterError(
            f"Unknown length unit {unit!r}; use one of {sorted(set(_UNIT_TO_NM))}."
        )
    return _UNIT_TO_NM[key]


def validate_image(
    data: Any, *, name: str = "image", min_size: int = MIN_IMAGE_SIZE, allow_constant: bool = False
) -> np.ndarray:
    """Check that ``data`` is a usable 2-D image and return it as float32.

    Parameters
    ----------
    data : array_like, shape (H, W)
        Image intensities.
    name : str
        What to call the data in error messages.
    min_size : int
        Smallest accepted side length in pixels.
    allow_constant : bool
        Accept an image whose pixels all have the same value.

    Returns
    -------
    ndarray of float32, shape (H, W)

    Raises
    ------
    ImageError
        Not 2-D, non-numeric, too small, containing NaN/inf, or constant.
    """
    try:
        array = np.asarray(data)
    except Exception as exc:  # ragged lists and the like
        raise ImageError(f"{name} could not be converted to an array: {exc}") from exc
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise ImageError(f"{name} must be numeric, got dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise ImageError(
            f"{name} is complex; pass its magnitude (np.abs) or real part instead."
        )
    if array.ndim != 2:
        squeezed = np.squeeze(array)
        hint = (
            " It has singleton axes: pass np.squeeze(image)."
            if squeezed.ndim == 2
            else " For a stack, pick one frame (e.g. read(path, frame=0))."
        )
        raise ImageError(f"{name} must be 2-D (H, W), got shape {array.shape}.{hint}")
    if min(array.shape) < min_size:
        raise ImageError(
            f"{name} is {array.shape[0]} x {array.shape[1]} px; at least "
            f"{min_size} x {min_size} px is needed to hold atom columns."
        )
    image = array.astype(np.float32, copy=False)
    finite = np.isfinite(image)
    if not finite.all():
        bad = int(image.size - finite.sum())
        raise ImageError(
            f"{name} contains {bad} NaN/inf pixel(s). Replace them first, e.g. "
            f"np.nan_to_num(image, nan=np.nanmedian(image))."
        )
    if not allow_constant and float(image.max()) == float(image.min()):
        raise ImageError(
            f"{name} is constant (every pixel = {float(image.min())}); there is nothing to analyse."
        )
    return image


@dataclass
class Micrograph:
    """A 2-D micrograph with its calibration.

    Parameters
    ----------
    data : ndarray, shape (H, W)
        Intensities; stored as float32.
    pixel_size : float or None
        Size of one (square) pixel in ``unit``; None when the file carried no calibration.
    unit : str
        Length unit of ``pixel_size`` (``"nm"`` by default).
    metadata : dict
        Anything the reader found (microscope, voltage, original dtype, tags...).
    source : str or None
        Where the data came from (file path, preset name).

    Notes
    -----
    Positions everywhere in motifkit are ``(x, y) = (column, row)`` in pixels; the
    helpers here convert them to and from physical units.

    Examples
    --------
    >>> import numpy as np
    >>> m = Micrograph(np.random.default_rng(0).random((64, 64)), pixel_size=0.04)
    >>> m.to_physical([[10.0, 5.0]])
    array([[0.4, 0.2]])
    """

    data: np.ndarray
    pixel_size: float | None = None
    unit: str = "nm"
    metadata: dict = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self):
        self.data = validate_image(self.data, name="Micrograph data", allow_constant=True)
        if self.pixel_size is not None:
            try:
                pixel_size = float(self.pixel_size)
            except (TypeError, ValueError) as exc:
                raise ParameterError(
                    f"pixel_size must be a positive number or None, got {self.pixel_size!r}."
                ) from exc
            if not np.isfinite(pixel_size) or pixel_size <= 0:
                raise ParameterError(
                    f"pixel_size must be a positive finite number or None, got {pixel_size}."
                )
            self.pixel_size = pixel_size
        unit_to_nm(self.unit)  # validates the unit
        self.metadata = dict(self.metadata or {})

    # -- shape helpers -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return self.data.shape  # type: ignore[return-value]

    @property
    def calibrated(self) -> bool:
        """True when the pixel size is known."""
        return self.pixel_size is not None

    @property
    def pixel_size_nm(self) -> float | None:
        """Pixel size in nanometres (None when uncalibrated)."""
        if self.pixel_size is None:
            return None
        return self.pixel_size * unit_to_nm(self.unit)

    @property
    def field_of_view(self) -> tuple[float, float] | None:
        """(width, height) in ``unit``; None when uncalibrated."""
        if self.pixel_size is None:
            return None
        h, w = self.shape
        return (w * self.pixel_size, h * self.pixel_size)

    def extent(self) -> tuple[float, float, float, float]:
        """Matplotlib ``imshow`` extent (left, right, bottom, top) in ``unit`` (pixels if uncalibrated)."""
        scale = self.pixel_size or 1.0
        h, w = self.shape
        return (-0.5 * scale, (w - 0.5) * scale, (h - 0.5) * scale, -0.5 * scale)

    # -- conversions ---------------------------------------------------------------
    def _require_calibration(self):
        if self.pixel_size is None:
            raise ParameterError(
                "This micrograph has no pixel size; set it first, e.g. "
                "micrograph.pixel_size = 0.04 (in micrograph.unit)."
            )

    def to_physical(self, pixels, unit: str | None = None) -> np.ndarray:
        """Convert pixel coordinates or lengths to physical units.

        Parameters
        ----------
        pixels : array_like
            Pixel values, e.g. positions of shape (N, 2) as (x, y).
        unit : str, optional
            Target unit; defaults to ``self.unit``.

        Returns
        -------
        ndarray
            Same shape, in ``unit``.
        """
        self._require_calibration()
        factor = self.pixel_size
        if unit is not None:
            factor = factor * unit_to_nm(self.unit) / unit_to_nm(unit)
        return np.asarray(pixels, dtype=float) * factor

    def to_pixels(self, physical, unit: str | None = None) -> np.ndarray:
        """Convert physical coordinates or lengths (in ``unit``) to pixels."""
        self._require_calibration()
        factor = self.pixel_size
        if unit is not None:
            factor = factor * unit_to_nm(self.unit) / unit_to_nm(unit)
        return np.asarray(physical, dtype=float) / factor

    # -- derived micrographs -------------------------------------------------------
    def with_data(self, data: np.ndarray, **metadata_updates) -> "Micrograph":
        """Return a copy with new pixels (same calibration), metadata updated."""
        meta = copy.deepcopy(self.metadata)
        meta.update(metadata_updates)
        return Micrograph(data, self.pixel_size, self.unit, meta, self.source)

    def crop(self, x0: int, y0: int, width: int, height: int) -> "Micrograph":
        """Return the sub-image ``[y0:y0+height, x0:x0+width]`` with the same calibration."""
        h, w = self.shape
        if not (0 <= x0 < w and 0 <= y0 < h and width > 0 and height > 0):
            raise ParameterError(
                f"Crop ({x0}, {y0}, {width}, {height}) lies outside the {w} x {h} image."
            )
        sub = self.data[y0 : y0 + height, x0 : x0 + width]
        return self.with_data(sub, crop_origin_xy=(int(x0), int(y0)))

    def __repr__(self) -> str:
        h, w = self.shape
        cal = f"{self.pixel_size:g} {self.unit}/px" if self.pixel_size else "uncalibrated"
        src = f", source={self.source!r}" if self.source else ""
        return f"Micrograph({w} x {h} px, {cal}{src})"


def as_micrograph(image, *, pixel_size: float | None = None, unit: str = "nm") -> Micrograph:
    """Wrap an array (or pass a Micrograph through) as a :class:`Micrograph`.

    Parameters
    ----------
    image : Micrograph or array_like, shape (H, W)
    pixel_size : float, optional
        Used only when ``image`` is an array (or an uncalibrated Micrograph).
    unit : str
        Unit of ``pixel_size``.
    """
    if isinstance(image, Micrograph):
        if image.pixel_size is None and pixel_size is not None:
            return Micrograph(image.data, pixel_size, unit, image.metadata, image.source)
        validate_image(image.data)
        return image
    return Micrograph(validate_image(image), pixel_size, unit)
