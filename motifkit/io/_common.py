"""Pieces shared by the format readers: frame selection, units, metadata clean-up."""

from __future__ import annotations

import contextlib
import io as _stdio
import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ImageError, ParameterError
from ..micrograph import MIN_IMAGE_SIZE, unit_to_nm

__all__ = ["CalibrationWarning", "RawImage", "pick_frame", "normalise_calibration"]


class CalibrationWarning(UserWarning):
    """The file carries no usable pixel size, or its calibration needed an assumption.

    The micrograph is still returned; its ``pixel_size`` is None when nothing usable
    was found (motifkit never guesses a pixel size).
    """


@dataclass
class RawImage:
    """What a format reader hands back to :func:`motifkit.io.read`.

    Attributes
    ----------
    data : ndarray, shape (H, W)
        The selected frame, still in the file's dtype.
    scale_xy : tuple of float or None
        Pixel size along x (columns) and y (rows) in ``unit``, as stored in the file.
    unit : str or None
        Length unit of ``scale_xy`` as spelled in the file.
    missing_reason : str
        Why there is no calibration (used in the warning) when ``scale_xy`` is None.
    frame : int or None
        Index of the selected frame in a stack; None for a single image.
    n_frames : int
        Number of frames in the file's image (1 for a single image).
    metadata : dict
        Reader-specific fields (tags, voltage, magnification ...).
    stored_metadata : dict
        Metadata that motifkit itself saved into the file (restored by :func:`read`).
    """

    data: Any
    scale_xy: tuple[float, float] | None = None
    unit: str | None = None
    missing_reason: str = "the file has no pixel-size tags"
    frame: int | None = None
    n_frames: int = 1
    metadata: dict = field(default_factory=dict)
    stored_metadata: dict = field(default_factory=dict)


# Unit spellings found in microscopy files -> a unit `unit_to_nm` knows, times a factor.
_UNIT_ALIASES: dict[str, tuple[str, float]] = {
    "nm": ("nm", 1.0),
    "n_m": ("nm", 1.0),
    "nanometer": ("nm", 1.0),
    "nanometers": ("nm", 1.0),
    "nanometre": ("nm", 1.0),
    "nanometres": ("nm", 1.0),
    "a": ("A", 1.0),
    "å": ("A", 1.0),
    "\u212b": ("A", 1.0),  # ANGSTROM SIGN, distinct from the letter Å
    "ang": ("A", 1.0),
    "angstrom": ("A", 1.0),
    "angstroms": ("A", 1.0),
    "ångström": ("A", 1.0),
    "pm": ("pm", 1.0),
    "p_m": ("pm", 1.0),
    "picometer": ("pm", 1.0),
    "picometre": ("pm", 1.0),
    "um": ("um", 1.0),
    "u_m": ("um", 1.0),
    "µm": ("um", 1.0),  # MICRO SIGN
    "μm": ("um", 1.0),  # GREEK SMALL LETTER MU
    "µ_m": ("um", 1.0),
    "μ_m": ("um", 1.0),
    "micron": ("um", 1.0),
    "microns": ("um", 1.0),
    "micrometer": ("um", 1.0),
    "micrometre": ("um", 1.0),
    "mm": ("mm", 1.0),
    "m_m": ("mm", 1.0),
    "millimeter": ("mm", 1.0),
    "cm": ("mm", 10.0),
    "centimeter": ("mm", 10.0),
    "m": ("m", 1.0),
    "meter": ("m", 1.0),
    "metre": ("m", 1.0),
    "meters": ("m", 1.0),
    "inch": ("mm", 25.4),
}

# Units that mean "no physical calibration".
_NO_UNIT = {"", "px", "pixel", "pixels", "pix", "none", "<undefined>", "_none_", "undefined",
            "t.undefined", "unknown", "a.u.", "au"}


def length_unit_to_nm(unit: Any) -> float | None:
    """Nanometres per ``unit`` for the spellings microscopy files use; None if not a length.

    Parameters
    ----------
    unit : str or bytes
        E.g. ``"nm"``, ``"Å"``, ``"micron"``, ``"\\u00B5m"`` (ImageJ escape), ``"n_m"`` (EMD).

    Returns
    -------
    float or None
        Nanometres per unit, or None for empty, pixel or reciprocal units.
    """
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", "replace")
    if not isinstance(unit, str):
        return None
    text = unit.strip().strip("[]()").strip()
    if "\\u" in text:  # ImageJ writes µ as the escape sequence \u00B5
        with contextlib.suppress(UnicodeDecodeError):
            text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    key = text.lower()
    if key in _NO_UNIT or key not in _UNIT_ALIASES:
        return None
    canonical, factor = _UNIT_ALIASES[key]
    return factor * unit_to_nm(canonical)


def clean_float(value: Any) -> float:
    """Turn a number from a file into a Python float without float32 round-off noise."""
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        return float(str(value))  # shortest repr of the float32, e.g. 0.03987935
    return float(value)


def normalise_calibration(raw: RawImage, name: str) -> tuple[float | None, dict, str | None]:
    """Convert a reader's calibration to a pixel size in nm.

    Returns
    -------
    pixel_size_nm : float or None
    info : dict
        ``original_calibration`` entry for the metadata.
    problem : str or None
        Why there is no usable calibration (warned about by the caller).
    """
    if raw.scale_xy is None:
        return None, {}, raw.missing_reason
    try:
        sx, sy = (clean_float(v) for v in raw.scale_xy)
    except (TypeError, ValueError):
        return None, {}, f"its pixel-size tags are not numbers ({raw.scale_xy!r})"
    unit_text = raw.unit.decode("utf-8", "replace") if isinstance(raw.unit, bytes) else raw.unit
    info = {"original_calibration": {"scale_xy": [sx, sy], "unit": str(unit_text)}}
    factor = length_unit_to_nm(unit_text)
    if factor is None:
        return None, info, f"its pixel size {sx:g} has no length unit (unit {unit_text!r})"
    if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
        return None, info, f"its pixel-size tags are not positive numbers ({sx!r}, {sy!r})"
    if abs(sx - sy) > 1e-3 * max(sx, sy):
        warnings.warn(
            f"{name}: pixels are not square ({sx:g} x {sy:g} {unit_text}); motifkit uses the "
            f"x (column) size {sx:g} {unit_text}. Resample the image to square pixels if the "
            f"difference matters.",
            CalibrationWarning,
            stacklevel=4,
        )
    pixel_size_nm = sx * factor
    if factor != 1.0:
        pixel_size_nm = float(f"{pixel_size_nm:.12g}")  # drop unit-conversion round-off
    return pixel_size_nm, info, None


def pick_frame(array: Any, frame: int | None, name: str) -> tuple[np.ndarray, int | None, int]:
    """Select one 2-D frame from a 2-D image or a (frames, H, W) stack.

    Works on NumPy arrays, memory maps and h5py datasets (only the chosen frame is read).
    Singleton axes are dropped first.

    Returns
    -------
    image : ndarray, shape (H, W)
    frame : int or None
        Non-negative frame index, None for a single image.
    n_frames : int
    """
    shape = tuple(int(s) for s in array.shape)
    if len(shape) not in (2, 3):
        squeezed = tuple(s for s in shape if s != 1)
        if len(squeezed) in (2, 3) and len(squeezed) != len(shape):
            array = np.asarray(array[()]).reshape(squeezed)
            shape = squeezed
        else:
            raise ImageError(
                f"{name} holds data of shape {shape}; motifkit reads 2-D images (H, W) or "
                f"stacks of images (frames, H, W). Export a single image or a plain stack."
            )
    if len(shape) == 2:
        _check_frame_index(frame, 1, name, shape)
        return np.asarray(array[()]), None, 1
    n_frames = shape[0]
    if n_frames == 1:
        _check_frame_index(frame, 1, name, shape[1:])
        return np.asarray(array[0]), None, 1
    if shape[-1] in (3, 4) and min(shape[:2]) >= MIN_IMAGE_SIZE:
        raise ImageError(
            f"{name} has shape {shape}, which looks like a colour (H, W, {shape[-1]}) image. "
            f"Convert it to grayscale first, e.g. image[..., :3] @ [0.299, 0.587, 0.114], "
            f"and save that."
        )
    if frame is None:
        raise ParameterError(
            f"{name} is a stack of {n_frames} frames of {shape[1]} x {shape[2]} px; choose one "
            f"with frame=i (0 <= i < {n_frames}), e.g. motifkit.read(path, frame=0)."
        )
    index = _check_frame_index(frame, n_frames, name, shape[1:])
    return np.asarray(array[index]), index, n_frames


def _check_frame_index(frame: int | None, n_frames: int, name: str, frame_shape) -> int:
    if frame is None:
        return 0
    if not -n_frames <= frame < n_frames:
        if n_frames == 1:
            raise ParameterError(
                f"{name} holds a single {frame_shape[0]} x {frame_shape[1]} px image, so "
                f"frame={frame} does not exist; leave frame out (or use frame=0)."
            )
        raise ParameterError(
            f"frame={frame} is out of range: {name} has {n_frames} frames; use "
            f"0 <= frame < {n_frames} (or a negative index counted from the end)."
        )
    return frame % n_frames


def check_frame_argument(frame: Any) -> int | None:
    """Validate the ``frame`` argument of :func:`read` (None or an integer)."""
    if frame is None:
        return None
    if isinstance(frame, (bool, np.bool_)) or not isinstance(frame, (int, np.integer)):
        raise ParameterError(
            f"frame must be None or an integer frame index, got {frame!r} "
            f"({type(frame).__name__})."
        )
    return int(frame)


# ITU-R BT.601 luma weights, the same as Pillow's "L" conversion.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def to_grayscale(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Turn an (H, W, channels) image into (H, W) float64 luminance.

    1 channel is squeezed, 2 (gray + alpha) keeps the gray one, 3/4 (RGB[A]) use BT.601
    luma weights; alpha is dropped. Returns the image and a note for the metadata.
    """
    if image.ndim == 2:
        return image, None
    channels = image.shape[-1]
    if channels == 1:
        return image[..., 0], None
    if channels == 2:
        return image[..., 0], "gray + alpha: alpha channel dropped"
    if channels in (3, 4):
        rgb = image[..., :3].astype(np.float64)
        gray = rgb @ np.asarray(LUMA_WEIGHTS)
        note = "RGB converted to luminance 0.299 R + 0.587 G + 0.114 B"
        if channels == 4:
            note += "; alpha channel dropped"
        return gray, note
    raise ImageError(
        f"image has {channels} samples per pixel; motifkit reads grayscale or RGB images. "
        f"Export one channel as a grayscale image."
    )


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """Convert tags to JSON-friendly Python values; unknown objects become strings."""
    if depth > 12:
        return str(value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        number = clean_float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, depth + 1) for v in value]
    if isinstance(value, np.ndarray):
        if value.size <= 4096:
            return to_jsonable(value.tolist(), depth + 1)
        return f"<array shape={value.shape} dtype={value.dtype}>"
    return str(value)


def metadata_to_json(metadata: dict) -> str:
    """Serialise a metadata dict for storage inside a written file."""
    return json.dumps(to_jsonable(metadata), ensure_ascii=False, sort_keys=True)


def metadata_from_json(text: Any) -> dict:
    """Parse metadata stored by :func:`metadata_to_json`; {} when it is not such a string."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if isinstance(text, np.ndarray) and text.shape == ():
        text = str(text[()])
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@contextlib.contextmanager
def quiet_stdout():
    """Swallow prints of readers (ncempy prints on bad files) for the duration."""
    with contextlib.redirect_stdout(_stdio.StringIO()):
        yield


def first_number(*values: Any) -> float | None:
    """First of ``values`` that converts to a finite float, else None."""
    for value in values:
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            return number
    return None


def choose_dataset(dataset: Any, candidates: list[str], name: str, what: str = "images") -> int:
    """Index of the requested entry among ``candidates`` (names of images in one file).

    ``dataset`` may be None (only allowed when there is exactly one candidate), an integer
    index, or a name; a name matches a candidate exactly or as its last path components
    (``"data"`` matches ``"/Experiments/x/data"``).
    """
    from ..errors import FileFormatError

    if not candidates:
        raise FileFormatError(
            f"{name} holds no {what} that motifkit can read (2-D images or (frames, H, W) "
            f"stacks at least {MIN_IMAGE_SIZE} x {MIN_IMAGE_SIZE} px)."
        )
    listing = ", ".join(repr(c) for c in candidates[:20])
    if len(candidates) > 20:
        listing += f" and {len(candidates) - 20} more"
    if dataset is None:
        if len(candidates) == 1:
            return 0
        raise ParameterError(
            f"{name} holds {len(candidates)} {what}: {listing}. Choose one with "
            f"dataset=<name or index>, e.g. motifkit.read(path, dataset={candidates[0]!r})."
        )
    if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, (bool, np.bool_)):
        if 0 <= dataset < len(candidates):
            return int(dataset)
        raise ParameterError(
            f"dataset={int(dataset)} is out of range: {name} holds {len(candidates)} {what} "
            f"({listing}); use 0 <= dataset < {len(candidates)} or one of the names."
        )
    if isinstance(dataset, str):
        wanted = dataset.strip("/")
        matches = [
            i for i, c in enumerate(candidates)
            if c.strip("/") == wanted or c.strip("/").endswith("/" + wanted)
        ]
        if len(matches) == 1:
            return matches[0]
    raise ParameterError(
        f"dataset={dataset!r} does not name one of the {what} in {name}: {listing}. "
        f"Pass one of those names or an index."
    )
