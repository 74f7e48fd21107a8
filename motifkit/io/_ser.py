"""FEI/Thermo TIA ``.ser`` series files, read with ncempy."""

from __future__ import annotations

from pathlib import Path

from ..errors import CorruptFileError, FileFormatError
from ._common import RawImage, first_number, pick_frame, quiet_stdout, to_jsonable

_IMAGE_ELEMENTS = 0x4122  # TIA DataTypeID of 2-D data elements (0x4120 = 1-D spectra)
_HEADER_KEYS_TO_DROP = {"DataOffsetArray", "TagOffsetArray", "Dimensions"}


class _LazyFrames:
    """Array-like (frames, H, W) view of a SER file that reads a frame only when indexed."""

    def __init__(self, handle, n_frames: int, frame_shape: tuple[int, int]):
        self.handle = handle
        self.shape = (n_frames, *frame_shape)
        self.meta = None

    def __getitem__(self, index):
        data, meta = self.handle.getDataset(int(index))
        if self.meta is None:
            self.meta = meta
        return data


def read_ser(path: Path, frame: int | None, dataset) -> RawImage:
    """Read one image (or one frame of an image series) from a SER file."""
    from ncempy.io import ser

    name = path.name
    if dataset not in (None, 0):
        raise FileFormatError(
            f"{name}: SER files hold a single image series; leave dataset out and use "
            f"frame=i to pick an image."
        )
    with quiet_stdout(), ser.fileSER(path) as handle:
        head = handle.head
        if head["DataTypeID"] != _IMAGE_ELEMENTS:
            raise FileFormatError(
                f"{name} holds 1-D spectra (TIA data type {int(head['DataTypeID']):#06x}), "
                f"not images; motifkit reads image series only."
            )
        n_frames = int(head["ValidNumberElements"])
        if n_frames < 1:
            raise CorruptFileError(
                f"{name} declares no images (ValidNumberElements = 0); the acquisition was "
                f"probably interrupted. Re-export the data from TIA/Velox."
            )
        first, first_meta = handle.getDataset(0)
        frames = _LazyFrames(handle, n_frames, first.shape)
        if n_frames == 1:
            image, frame_index, count = pick_frame(first, frame, name)
            meta = first_meta
        else:
            image, frame_index, count = pick_frame(frames, frame, name)
            meta = frames.meta
        file_meta = handle.getMetadata()
    calibration = meta["Calibration"]
    # TIA stores calibrations per axis in x, y order, in metres.
    scale_xy = (calibration[0]["CalibrationDelta"], calibration[1]["CalibrationDelta"])
    voltage = first_number(file_meta.get("High tension [kV]"))  # from the .emi companion
    tags = {k: v for k, v in file_meta.items() if k not in _HEADER_KEYS_TO_DROP}
    metadata = {
        "voltage_kV": voltage,
        "magnification": first_number(file_meta.get("Magnification [x]")),
        "original_dtype": str(first.dtype),
        "original_shape": [n_frames, *first.shape] if n_frames > 1 else list(first.shape),
        "tags": to_jsonable(tags),
    }
    return RawImage(
        image,
        scale_xy=scale_xy,
        unit="m",
        frame=frame_index,
        n_frames=count,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )
