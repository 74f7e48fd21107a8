"""Gatan DigitalMicrograph ``.dm3`` / ``.dm4`` files, read with ncempy."""

from __future__ import annotations

from pathlib import Path

from ..errors import FileFormatError
from ._common import RawImage, choose_dataset, first_number, pick_frame, quiet_stdout, to_jsonable


def read_dm(path: Path, frame: int | None, dataset) -> RawImage:
    """Read one image (or one frame of a stack) from a DM3/DM4 file."""
    from ncempy.io import dm

    name = path.name
    with quiet_stdout(), dm.fileDM(path, on_memory=True) as handle:
        # ncempy skips the RGB thumbnail that DM stores as the first object.
        n_images = handle.numObjects - 1 if handle.numObjects > 1 else handle.numObjects
        if n_images < 1:
            raise FileFormatError(
                f"{name} holds no image data (only tags); open it in DigitalMicrograph "
                f"and save the image again."
            )
        index = choose_dataset(dataset, [f"image {i}" for i in range(n_images)], name)
        found = handle.getDataset(index)
        tags = handle.getMetadata(index)
    data = found["data"]
    image, frame_index, n_frames = pick_frame(data, frame, name)
    sizes = list(found.get("pixelSize", []))
    units = list(found.get("pixelUnit", []))
    scale_xy = unit = None
    if len(sizes) >= 2 and len(units) >= 2:
        # ncempy lists calibrations in array (C) order: [..., y, x].
        scale_xy = (sizes[-1], sizes[-2])
        unit = units[-1] if units[-1] == units[-2] else f"{units[-1]} / {units[-2]}"
    voltage = first_number(tags.get("Microscope Info Voltage"))
    metadata = {
        "voltage_kV": voltage / 1000.0 if voltage is not None else None,
        "magnification": first_number(tags.get("Microscope Info Indicated Magnification")),
        "signal": tags.get("DataBar Signal Name"),
        "acquisition_date": tags.get("DataBar Acquisition Date"),
        "acquisition_time": tags.get("DataBar Acquisition Time"),
        "dataset_index": index,
        "n_datasets": n_images,
        "original_dtype": str(data.dtype),
        "original_shape": list(data.shape),
        "tags": to_jsonable(tags),
    }
    return RawImage(
        image,
        scale_xy=scale_xy,
        unit=unit,
        missing_reason="its DM tags have no spatial calibration",
        frame=frame_index,
        n_frames=n_frames,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )

