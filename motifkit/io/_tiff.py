"""TIFF files (``.tif`` / ``.tiff``), read and written with tifffile.

Calibration sources, first match wins: ImageJ (``unit`` in the description plus
X/YResolution), OME-XML ``PhysicalSizeX/Y``, FEI/Thermo ``PixelWidth/Height``, Zeiss SEM
``Image Pixel Size``, and finally X/YResolution with a physical ResolutionUnit (inch, cm,
mm, µm). Resolutions that correspond to pixels larger than 10 µm are display/print
resolutions (72 dpi = 353 µm per pixel) written by image editors, not calibrations, and
are ignored with a warning.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, ImageError
from ..micrograph import MIN_IMAGE_SIZE
from ._common import (
    RawImage,
    choose_dataset,
    first_number,
    metadata_from_json,
    metadata_to_json,
    pick_frame,
    to_grayscale,
    to_jsonable,
)

#: Pixels larger than this (in nm) from plain resolution tags are display DPI, not calibration.
MAX_RESOLUTION_TAG_PIXEL_NM = 1e4

# TIFF ResolutionUnit codes -> length unit of "pixels per unit".
_RESOLUTION_UNITS = {2: "inch", 3: "cm", 4: "mm", 5: "um"}
_NANOMETRES = {"inch": 2.54e7, "cm": 1e7, "mm": 1e6, "um": 1e3}

# Key under which write_tiff stores the micrograph metadata in the ImageJ "Info" property.
_INFO_KEY = "motifkit"


class _TiffFrames:
    """(frames, H, W[, S]) view of a TIFF series that reads one page per index."""

    def __init__(self, tif, series_index: int, series, frame_shape: tuple[int, ...]):
        self.tif = tif
        self.series_index = series_index
        self.series = series
        self.frame_shape = frame_shape
        n_frames = int(np.prod([series.shape[i] for i, a in enumerate(series.axes) if a not in "YXS"]))
        self.shape = (n_frames, *frame_shape[:2])

    def __getitem__(self, index: int) -> np.ndarray:
        page = self.tif.asarray(key=int(index), series=self.series_index)
        if page.size == int(np.prod(self.frame_shape)):
            return page.reshape(self.frame_shape)
        # Fallback for layouts where a page is not one frame: read all, then index.
        everything = self.series.asarray().reshape((self.shape[0], *self.frame_shape))
        return everything[int(index)]


def read_tiff(path: Path, frame: int | None, dataset) -> RawImage:
    """Read one image (or one frame of a stack) from a TIFF file."""
    import tifffile

    name = path.name
    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise CorruptFileError(f"{name} contains no image pages; the TIFF is empty or corrupt.")
        labels, indices = [], []
        for i, series in enumerate(tif.series):
            shape = dict(zip(series.axes, series.shape))
            if shape.get("Y", 0) >= MIN_IMAGE_SIZE and shape.get("X", 0) >= MIN_IMAGE_SIZE:
                labels.append(f"series {i} ({series.axes} {tuple(series.shape)})")
                indices.append(i)
        series_index = indices[choose_dataset(dataset, labels, name, what="TIFF image series")]
        series = tif.series[series_index]
        axes, shape = series.axes, tuple(series.shape)
        frame_axes = [(a, s) for a, s in zip(axes, shape) if a not in "YXS" and s > 1]
        if len(frame_axes) > 1:
            raise ImageError(
                f"{name} is a {len(frame_axes)}-D hyperstack (axes {axes}, shape {shape}); "
                f"motifkit reads single images or one stack axis. Export a single image or "
                f"a plain stack (e.g. in ImageJ: Image > Hyperstacks > Reduce Dimensionality)."
            )
        page_axes = "".join(a for a in axes if a in "YXS")
        frame_shape = tuple(shape[axes.index(a)] for a in page_axes)
        frames = _TiffFrames(tif, series_index, series, frame_shape)
        # Validate `frame` on a shape-only stand-in, then read just that page.
        _, frame_index, n_frames = pick_frame(_ShapeOnly(frames.shape), frame, name)
        if n_frames == 1:
            frame_array = series.asarray().reshape(frame_shape)
        else:
            frame_array = frames[frame_index]
        # Move a samples axis last, then convert colour to luminance.
        order = [page_axes.index(a) for a in "YXS" if a in page_axes]
        image, colour_note = to_grayscale(np.transpose(frame_array, order))
        page0 = series.keyframe  # the TiffPage holding the tags of this series
        scale_xy, unit, reason, extra = _calibration(tif, page0)
        stored = _stored_metadata(tif)
        metadata = {
            "original_dtype": str(series.dtype),
            "original_shape": list(shape),
            "axes": axes,
            "series": series_index,
            **extra,
            "tags": _tags(tif, page0),
        }
        if colour_note:
            metadata["colour_conversion"] = colour_note
    return RawImage(
        image,
        scale_xy=scale_xy,
        unit=unit,
        missing_reason=reason,
        frame=frame_index,
        n_frames=n_frames,
        metadata={k: v for k, v in metadata.items() if v is not None},
        stored_metadata=stored,
    )


class _ShapeOnly:
    """Stand-in with only a shape, so pick_frame can check a frame index cheaply."""

    def __init__(self, shape):
        self.shape = shape

    def __getitem__(self, index):
        return np.zeros(self.shape[1:], dtype=np.uint8)


def _ratio(value) -> float | None:
    try:
        numerator, denominator = value
        result = float(numerator) / float(denominator)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return result if math.isfinite(result) and result > 0 else None


def _calibration(tif, page):
    """Return (scale_xy, unit, missing_reason, extra_metadata) from the first usable source."""
    extra: dict = {}
    x_res = _ratio(page.tags.valueof(282))
    y_res = _ratio(page.tags.valueof(283))
    reasons = []

    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij:
        extra["imagej"] = to_jsonable({k: v for k, v in ij.items() if k != "Info"})
        if "spacing" in ij:
            extra["frame_spacing"] = first_number(ij.get("spacing"))
        unit = ij.get("unit")
        if unit and x_res and y_res:
            return (1.0 / x_res, 1.0 / y_res), str(unit), "", extra
        reasons.append("its ImageJ metadata has no unit" if not unit else "it has no X/YResolution")

    if tif.is_ome and tif.ome_metadata:
        found = _ome_calibration(tif.ome_metadata)
        if found:
            return (*found, extra)
        reasons.append("its OME-XML has no PhysicalSizeX/Y")

    if tif.is_fei:
        fei = tif.fei_metadata or {}
        extra["fei"] = to_jsonable(fei)
        beam = fei.get("Beam", {}) if isinstance(fei.get("Beam"), dict) else {}
        extra["voltage_kV"] = _kv(first_number(beam.get("HV")))
        for section in ("Scan", "EScan"):
            values = fei.get(section, {})
            if isinstance(values, dict):
                sx = first_number(values.get("PixelWidth"))
                sy = first_number(values.get("PixelHeight"), sx)
                if sx:
                    return (sx, sy), "m", "", extra
        reasons.append("its FEI metadata has no PixelWidth")

    if tif.is_sem:
        sem = tif.sem_metadata or {}
        extra["zeiss_sem"] = to_jsonable({k: v for k, v in sem.items() if k})
        entry = sem.get("ap_image_pixel_size")
        if isinstance(entry, tuple) and len(entry) >= 3 and first_number(entry[1]):
            voltage = sem.get("ap_actualkv")
            if isinstance(voltage, tuple) and len(voltage) >= 2:
                extra["voltage_kV"] = first_number(voltage[1])
            return (entry[1], entry[1]), str(entry[2]), "", extra
        reasons.append("its Zeiss SEM metadata has no image pixel size")

    unit_code = page.tags.valueof(296)
    unit_code = 2 if unit_code is None else int(unit_code)  # TIFF default: inch
    if x_res and y_res and unit_code in _RESOLUTION_UNITS:
        unit = _RESOLUTION_UNITS[unit_code]
        pixel_nm = _NANOMETRES[unit] / x_res
        if pixel_nm <= MAX_RESOLUTION_TAG_PIXEL_NM:
            return (1.0 / x_res, 1.0 / y_res), unit, "", extra
        extra["resolution_tags"] = {"x": x_res, "y": y_res, "per": unit}
        reasons.append(
            f"its resolution tags say {x_res:g} pixels per {unit} ({pixel_nm / 1e3:g} µm per "
            f"pixel), a display/print resolution rather than a sample calibration"
        )
    elif x_res and unit_code == 1:
        reasons.append("its X/YResolution tags have no unit (ResolutionUnit = none)")
    if not reasons:
        reasons.append("it has no calibration tags (ImageJ, OME, FEI, Zeiss or resolution)")
    return None, None, "; ".join(reasons), extra


def _kv(volts: float | None) -> float | None:
    return None if volts is None else volts / 1000.0


def _ome_calibration(xml: str):
    match = re.search(r"<(?:\w+:)?Pixels\b([^>]*)>", xml)
    if not match:
        return None
    attributes = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
    sx = first_number(attributes.get("PhysicalSizeX"))
    sy = first_number(attributes.get("PhysicalSizeY"), sx)
    if not sx:
        return None
    unit = attributes.get("PhysicalSizeXUnit", "µm")  # OME default unit is the micrometre
    return (sx, sy), unit, ""


def _stored_metadata(tif) -> dict:
    if not tif.is_imagej:
        return {}
    info = (tif.imagej_metadata or {}).get("Info")
    stored = metadata_from_json(info).get(_INFO_KEY)
    return stored if isinstance(stored, dict) else {}


def _tags(tif, page) -> dict:
    tags = {}
    for code, key in ((305, "Software"), (306, "DateTime"), (271, "Make"), (272, "Model"),
                      (270, "ImageDescription")):
        value = page.tags.valueof(code)
        if value is not None:
            text = to_jsonable(value)
            tags[key] = text[:2000] if isinstance(text, str) else text
    return tags


def write_tiff(micrograph, path: Path) -> None:
    """Write a float32 ImageJ TIFF calibrated in nm (readable by ImageJ/Fiji and motifkit)."""
    import tifffile

    metadata = {"axes": "YX", "Info": metadata_to_json({_INFO_KEY: micrograph.metadata})}
    options = {}
    pixel_size = micrograph.pixel_size_nm
    if pixel_size is not None:
        metadata["unit"] = "nm"
        options["resolution"] = (1.0 / pixel_size, 1.0 / pixel_size)
        options["resolutionunit"] = tifffile.RESUNIT.NONE  # ImageJ: pixels per `unit`
    tifffile.imwrite(
        path,
        np.ascontiguousarray(micrograph.data, dtype=np.float32),
        imagej=True,
        photometric="minisblack",
        compression=None,
        metadata=metadata,
        **options,
    )
