"""PNG, JPEG and BMP images, read with Pillow and converted to grayscale.

These formats carry no physical calibration (their DPI fields are display settings), so
the micrograph is always uncalibrated; the DPI, if any, is kept in the metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ._common import RawImage, pick_frame, to_grayscale, to_jsonable

#: Pillow plugins tried, whatever the extension says (a PNG saved as .jpg still reads).
PILLOW_FORMATS = ("PNG", "JPEG", "BMP")

# Pillow modes that np.asarray turns into a single-channel array without loss.
_SINGLE_CHANNEL = {"1", "L", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"}


class _PillowFrames:
    """(frames, H, W) view of a (possibly animated) Pillow image."""

    def __init__(self, image, n_frames: int):
        self.image = image
        self.shape = (n_frames, image.height, image.width)
        self.notes: list[str] = []

    def __getitem__(self, index):
        if index != ():
            self.image.seek(int(index))
        gray, note = _grayscale(self.image)
        if note:
            self.notes.append(note)
        return gray


def _grayscale(image) -> tuple[np.ndarray, str | None]:
    mode = image.mode
    if mode in _SINGLE_CHANNEL:
        return np.asarray(image), None
    if mode == "LA":
        return np.asarray(image.getchannel("L")), "gray + alpha: alpha channel dropped"
    rgb = image if mode in {"RGB", "RGBA"} else image.convert("RGB")
    gray, note = to_grayscale(np.asarray(rgb))
    return gray, f"{mode} image: {note}"


def read_pillow(path: Path, frame: int | None, dataset) -> RawImage:
    """Read a PNG/JPEG/BMP image (one frame of an animated PNG) as grayscale."""
    from PIL import Image

    name = path.name
    if dataset is not None:
        raise FileFormatError(
            f"{name}: PNG/JPEG/BMP files hold one image; leave dataset out."
        )
    with Image.open(path, formats=PILLOW_FORMATS) as image:
        n_frames = int(getattr(image, "n_frames", 1))
        frames = _PillowFrames(image, n_frames)
        if n_frames == 1:
            image.load()
            gray, note = _grayscale(image)
            data, frame_index, count = pick_frame(gray, frame, name)
            notes = [note] if note else []
        else:
            data, frame_index, count = pick_frame(frames, frame, name)
            notes = frames.notes
        metadata = {
            "pillow_format": image.format,
            "colour_mode": image.mode,
            "original_shape": [n_frames, image.height, image.width] if n_frames > 1
            else [image.height, image.width],
            "dpi": to_jsonable(image.info.get("dpi")),
        }
    if notes:
        metadata["colour_conversion"] = notes[0]
    else:
        metadata["original_dtype"] = str(np.asarray(data).dtype)
    return RawImage(
        data,
        missing_reason=f"{metadata['pillow_format']} images carry no physical pixel size",
        frame=frame_index,
        n_frames=count,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )
