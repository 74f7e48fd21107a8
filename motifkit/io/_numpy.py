"""NumPy ``.npy`` / ``.npz`` files. Never unpickles (``allow_pickle=False``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, FileFormatError
from ..micrograph import MIN_IMAGE_SIZE
from ._common import RawImage, choose_dataset, metadata_from_json, metadata_to_json, pick_frame

#: Key that marks an ``.npz`` written by :func:`write_npz`.
MARKER_KEY = "motifkit_micrograph"

_NO_CALIBRATION = "NumPy arrays carry no pixel size"


def _load_error(name: str, exc: Exception) -> Exception:
    text = str(exc).lower()
    if "pickle" in text or "python objects" in text:
        return FileFormatError(
            f"{name} holds Python objects (pickled data), which motifkit never loads for "
            f"safety. Save a numeric array instead, e.g. np.save(path, image.astype('float32'))."
        )
    return exc


def _check_magic(path: Path, magic: bytes, what: str) -> None:
    # np.load treats anything without a NumPy/zip header as a pickle; say "corrupt" instead.
    with open(path, "rb") as fh:
        if fh.read(len(magic)) != magic:
            raise CorruptFileError(
                f"{path.name} does not start with the {what} header, so it is truncated or "
                f"corrupt, or not really a {path.suffix} file. Save the array again with "
                f"numpy ({'np.save' if what == 'NumPy .npy' else 'np.savez'})."
            )


def read_npy(path: Path, frame: int | None, dataset) -> RawImage:
    """Read a 2-D image or one frame of a (frames, H, W) stack from an ``.npy`` file."""
    name = path.name
    _check_magic(path, b"\x93NUMPY", "NumPy .npy")
    if dataset is not None:
        raise FileFormatError(
            f"{name}: an .npy file holds a single array; leave dataset out "
            f"(dataset= selects arrays in .npz, HDF5 and multi-image files)."
        )
    try:
        # A memory map reads only the chosen frame of a large stack.
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise _load_error(name, exc) from exc
    image, frame_index, n_frames = pick_frame(array, frame, name)
    image = np.array(image)  # detach from the memory map (and close the file)
    return RawImage(
        image,
        missing_reason=_NO_CALIBRATION,
        frame=frame_index,
        n_frames=n_frames,
        metadata={"original_dtype": str(array.dtype), "original_shape": list(array.shape)},
    )


def _npz_shapes(archive) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shapes and dtypes of the arrays in an npz, read from the headers only."""
    out = {}
    for member in archive.zip.namelist():
        key = member[:-4] if member.endswith(".npy") else member
        with archive.zip.open(member) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:  # rare newer header versions: load the array to learn its shape
                array = archive[key]
                shape, dtype = array.shape, array.dtype
        out[key] = (shape, dtype)
    return out


def read_npz(path: Path, frame: int | None, dataset) -> RawImage:
    """Read an image from an ``.npz`` archive (``dataset=`` key, or the single image array)."""
    name = path.name
    _check_magic(path, b"PK", "zip (.npz)")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise _load_error(name, exc) from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FileFormatError(
            f"{name} is an .npy array saved with an .npz name; rename it to .npy."
        )
    with archive:
        if MARKER_KEY in archive.files and dataset is None:
            return _read_motifkit_npz(archive, name, frame)
        shapes = _npz_shapes(archive)
        images = [
            key for key, (shape, dtype) in shapes.items()
            if len(shape) in (2, 3) and dtype.kind in "biufc" and min(shape[-2:]) >= MIN_IMAGE_SIZE
        ]
        if isinstance(dataset, str) and dataset in archive.files:
            key = dataset
        else:
            key = images[choose_dataset(dataset, images, name, what="image arrays")]
        try:
            array = archive[key]
        except ValueError as exc:
            raise _load_error(f"{name}[{key!r}]", exc) from exc
    image, frame_index, n_frames = pick_frame(array, frame, f"{name}[{key!r}]")
    return RawImage(
        image,
        missing_reason=_NO_CALIBRATION,
        frame=frame_index,
        n_frames=n_frames,
        metadata={
            "dataset": key,
            "original_dtype": str(array.dtype),
            "original_shape": list(array.shape),
        },
    )


def _read_motifkit_npz(archive, name: str, frame) -> RawImage:
    missing = [k for k in ("data", "pixel_size", "unit", "metadata") if k not in archive.files]
    if missing:
        raise FileFormatError(
            f"{name} is marked as a motifkit micrograph but lacks {missing}; write it again "
            f"with motifkit.io.write(micrograph, path)."
        )
    data = archive["data"]
    image, frame_index, n_frames = pick_frame(data, frame, name)
    pixel_size = float(np.asarray(archive["pixel_size"]).reshape(-1)[0])
    unit = str(np.asarray(archive["unit"]).reshape(-1)[0])
    calibrated = np.isfinite(pixel_size)
    return RawImage(
        image,
        scale_xy=(pixel_size, pixel_size) if calibrated else None,
        unit=unit if calibrated else None,
        missing_reason="it was written from an uncalibrated micrograph",
        frame=frame_index,
        n_frames=n_frames,
        metadata={"original_dtype": str(data.dtype), "original_shape": list(data.shape)},
        stored_metadata=metadata_from_json(archive["metadata"]),
    )


def write_npz(micrograph, path: Path) -> None:
    """Write data, pixel size (NaN when uncalibrated), unit and metadata JSON to ``.npz``."""
    pixel_size = micrograph.pixel_size_nm
    with open(path, "wb") as fh:  # a file object stops NumPy from appending ".npz"
        np.savez_compressed(
            fh,
            data=micrograph.data,
            pixel_size=np.float64(np.nan if pixel_size is None else pixel_size),
            unit=np.str_("nm"),
            metadata=np.str_(metadata_to_json(micrograph.metadata)),
            **{MARKER_KEY: np.int8(1)},
        )

