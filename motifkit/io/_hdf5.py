"""HDF5-based files: HyperSpy ``.hspy``, Berkeley and Velox ``.emd``, plain HDF5.

The layout decides the reader, not the extension: a HyperSpy file saved as ``.h5`` or
a Berkeley EMD saved as ``.hdf5`` are read correctly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CorruptFileError, FileFormatError
from ..micrograph import MIN_IMAGE_SIZE
from ._common import (
    RawImage,
    choose_dataset,
    first_number,
    metadata_from_json,
    metadata_to_json,
    pick_frame,
    quiet_stdout,
    to_jsonable,
)

#: Dataset in the ``original_metadata`` group where :func:`write_hspy` keeps the metadata
#: (UTF-8 JSON as bytes).
METADATA_DATASET = "motifkit_metadata_json"


def read_hdf5(path: Path, frame: int | None, dataset) -> RawImage:
    """Read an image from any supported HDF5 layout."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptFileError(
            f"{path.name} is not a readable HDF5 file ({exc}). It is truncated or corrupt, "
            f"or not HDF5 at all; re-export it from the acquisition software."
        ) from exc
    with handle:
        kind = _layout(handle)
        if kind == "hyperspy":
            return _read_hyperspy(handle, path.name, frame, dataset)
        if kind == "plain":
            return _read_plain(handle, path.name, frame, dataset)
    # ncempy opens the file itself.
    if kind == "velox":
        return _read_velox(path, frame, dataset)
    return _read_berkeley(path, frame, dataset)


def _layout(handle) -> str:
    import h5py

    if "Experiments" in handle and isinstance(handle["Experiments"], h5py.Group):
        return "hyperspy"
    if "Data" in handle and isinstance(handle["Data"], h5py.Group) and "Image" in handle["Data"]:
        return "velox"
    found = []

    def visit(_name, obj):
        if isinstance(obj, h5py.Group) and obj.attrs.get("emd_group_type", None) == 1:
            found.append(obj)
            return True
        return None

    handle.visititems(visit)
    return "berkeley" if found else "plain"


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
        return _text(value)
    return str(value)


def _is_image_dataset(obj) -> bool:
    import h5py

    return (
        isinstance(obj, h5py.Dataset)
        and obj.ndim in (2, 3)
        and obj.dtype.kind in "biufc"
        and min(obj.shape[-2:]) >= MIN_IMAGE_SIZE
    )


# -- HyperSpy ---------------------------------------------------------------------------
_AXIS_KEYS = ("scale", "units", "navigate")


def _read_hyperspy(handle, name: str, frame, dataset) -> RawImage:
    import h5py

    experiments = handle["Experiments"]
    names = [
        key for key, group in experiments.items()
        if isinstance(group, h5py.Group) and "data" in group
    ]
    chosen = names[choose_dataset(dataset, names, name, what="HyperSpy signals")]
    group = experiments[chosen]
    data = group["data"]
    if not isinstance(data, h5py.Dataset):
        raise FileFormatError(f"{name}: Experiments/{chosen}/data is not a dataset.")
    # Only the attributes needed: a corrupt attribute can hang the HDF5 library itself.
    axes = [
        {key: group[f"axis-{i}"].attrs[key] for key in _AXIS_KEYS if key in group[f"axis-{i}"].attrs}
        if f"axis-{i}" in group else {}
        for i in range(data.ndim)
    ]
    if any("navigate" in ax for ax in axes):
        signal_axes = [i for i, ax in enumerate(axes) if not bool(ax.get("navigate", False))]
        if signal_axes != [data.ndim - 2, data.ndim - 1]:
            raise FileFormatError(
                f"{name}: signal {chosen!r} has {len(signal_axes)} signal axis/axes "
                f"(shape {data.shape}); motifkit reads image signals (2 signal axes, last in "
                f"the array). Convert it with HyperSpy (e.g. s.as_signal2D((0, 1))) first."
            )
    image, frame_index, n_frames = pick_frame(data, frame, f"{name} ({chosen})")
    metadata = {
        "signal": chosen,
        "original_dtype": str(data.dtype),
        "original_shape": list(data.shape),
    }
    metadata.update(_hyperspy_metadata(group))
    stored = {}
    if f"original_metadata/{METADATA_DATASET}" in group:
        stored_bytes = group[f"original_metadata/{METADATA_DATASET}"]
        if isinstance(stored_bytes, h5py.Dataset) and stored_bytes.dtype == np.uint8:
            stored = metadata_from_json(stored_bytes[()].tobytes())
    scale_xy = unit = None
    reason = "its axes have no scale"
    if len(axes) >= 2 and "scale" in axes[-1] and "scale" in axes[-2]:
        sx, sy = axes[-1]["scale"], axes[-2]["scale"]
        ux, uy = _hs_unit(axes[-1].get("units")), _hs_unit(axes[-2].get("units"))
        if ux is None and uy is None:
            if float(sx) == 1.0 and float(sy) == 1.0:
                reason = "its axes have the default scale 1 and no units"
            else:
                # HyperSpy leaves units undefined when the writer did not set them; atomap
                # and most STEM tools then mean nanometres.
                scale_xy, unit = (sx, sy), "nm"
                metadata["unit_assumed"] = "nm (axes have a scale but no units)"
        else:
            scale_xy = (sx, sy)
            unit = f"{ux} / {uy}" if ux and uy and ux != uy else (ux or uy)
    return RawImage(
        image,
        scale_xy=scale_xy,
        unit=unit,
        missing_reason=reason,
        frame=frame_index,
        n_frames=n_frames,
        metadata=metadata,
        stored_metadata=stored,
    )


def _hs_unit(value) -> str | None:
    text = _text(value)
    if text is None or text.strip() in {"", "_None_", "<undefined>", "<Undefined>"}:
        return None
    return text


def _hyperspy_metadata(group) -> dict:
    import h5py

    out: dict = {}
    if "metadata" not in group:
        return out
    tree: dict = {}

    def visit(key, obj):
        if isinstance(obj, h5py.Group) and len(tree) < 500:
            tree[key] = to_jsonable(dict(obj.attrs))

    group["metadata"].visititems(visit)
    out["tags"] = tree
    tem = tree.get("Acquisition_instrument/TEM", {})
    out["voltage_kV"] = first_number(tem.get("beam_energy"))
    out["magnification"] = first_number(tem.get("magnification"))
    title = tree.get("General", {}).get("title")
    if title:
        out["title"] = title
    return {k: v for k, v in out.items() if v is not None}


# -- Berkeley EMD ------------------------------------------------------------------------
def _read_berkeley(path: Path, frame, dataset) -> RawImage:
    from ncempy.io import emd

    name = path.name
    with quiet_stdout(), emd.fileEMD(path, readonly=True) as handle:
        groups = [g for g in handle.list_emds if _is_image_dataset(g.get("data"))]
        names = [g.name for g in groups]
        group = groups[choose_dataset(dataset, names, name, what="EMD image datasets")]
        data = group["data"]
        image, frame_index, n_frames = pick_frame(data, frame, f"{name} ({group.name})")
        dims = handle.get_emddims(group)
        file_meta = handle.getMetadata(group)
        original_dtype, original_shape = str(data.dtype), list(data.shape)
    scale_xy = unit = None
    reason = "its dim vectors have fewer than 2 points"
    (vy, _, uy), (vx, _, ux) = dims[-2], dims[-1]
    if len(vx) >= 2 and len(vy) >= 2:
        scale_xy = (float(vx[1] - vx[0]), float(vy[1] - vy[0]))
        ux, uy = _text(ux), _text(uy)
        unit = ux if ux == uy else f"{ux} / {uy}"
    metadata = {
        "dataset": group.name,
        "original_dtype": original_dtype,
        "original_shape": original_shape,
        "voltage_kV": _volts_to_kv(file_meta.get("voltage", file_meta.get("high_tension"))),
        "magnification": first_number(file_meta.get("magnification")),
        "tags": to_jsonable(file_meta),
    }
    return RawImage(
        image,
        scale_xy=scale_xy,
        unit=unit,
        missing_reason=reason,
        frame=frame_index,
        n_frames=n_frames,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


def _volts_to_kv(value) -> float | None:
    number = first_number(value)
    if number is None:
        return None
    return number / 1000.0 if number > 1000 else number


# -- Velox EMD ---------------------------------------------------------------------------
class _VeloxFrames:
    """(frames, H, W) view of Velox's (H, W, frames) dataset; reads one frame per index."""

    def __init__(self, dataset):
        self.dataset = dataset
        h, w, n = dataset.shape
        self.shape = (n, h, w)

    def __getitem__(self, index):
        if index == ():
            return np.moveaxis(self.dataset[()], -1, 0)
        return self.dataset[:, :, int(index)]


def _read_velox(path: Path, frame, dataset) -> RawImage:
    from ncempy.io import emdVelox

    name = path.name
    with quiet_stdout(), emdVelox.fileEMDVelox(path) as handle:
        groups = [g for g in handle.list_data if "Data" in g]
        labels = []
        for group in groups:
            try:
                detector = handle.parseMetaData(group).get("detectorName", "")
            except Exception:  # noqa: BLE001 - a group without readable metadata keeps its id
                detector = ""
            labels.append(f"{detector} {group.name.split('/')[-1]}".strip())
        group = groups[choose_dataset(dataset, labels, name, what="Velox images")]
        data = group["Data"]
        if data.ndim != 3:
            raise CorruptFileError(
                f"{name}: Velox image {group.name} has shape {data.shape}, expected "
                f"(H, W, frames). Re-export it from Velox."
            )
        image, frame_index, n_frames = pick_frame(_VeloxFrames(data), frame, f"{name} ({group.name})")
        summary = handle.parseMetaData(group)
        full = handle.metaDataJSON or {}
        original_dtype, original_shape = str(data.dtype), list(data.shape)
    binary = full.get("BinaryResult", {})
    size = binary.get("PixelSize", {})
    scale_xy = (size.get("width"), size.get("height")) if size else None
    unit = binary.get("PixelUnitX")
    optics = full.get("Optics", {})
    metadata = {
        "detector": summary.get("detectorName"),
        "dataset": group.name,
        "original_dtype": original_dtype,
        "original_shape": original_shape,
        "voltage_kV": _volts_to_kv(optics.get("AccelerationVoltage")),
        "magnification": first_number(optics.get("NominalMagnification")),
        "tags": to_jsonable(full),
    }
    return RawImage(
        image,
        scale_xy=scale_xy,
        unit=unit,
        missing_reason="its BinaryResult metadata has no PixelSize",
        frame=frame_index,
        n_frames=n_frames,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )


# -- plain HDF5 --------------------------------------------------------------------------
_SCALE_KEYS = ("pixel_size", "pixelSize", "pixel_size_nm", "scale")
_UNIT_KEYS = ("unit", "units", "pixel_unit", "pixelUnit")


def _read_plain(handle, name: str, frame, dataset) -> RawImage:
    import h5py

    candidates: list[str] = []

    def visit(key, obj):
        if _is_image_dataset(obj):
            candidates.append("/" + key)

    handle.visititems(visit)
    if isinstance(dataset, str) and dataset.strip("/") and "/" + dataset.strip("/") in handle:
        target = handle["/" + dataset.strip("/")]
        if not isinstance(target, h5py.Dataset):
            raise FileFormatError(
                f"{name}: {dataset!r} is a group, not a dataset; image datasets in the file: "
                f"{candidates or 'none'}."
            )
        path_in_file = target.name
    else:
        path_in_file = candidates[choose_dataset(dataset, candidates, name, what="image datasets")]
        target = handle[path_in_file]
    image, frame_index, n_frames = pick_frame(target, frame, f"{name} ({path_in_file})")
    attrs = dict(target.attrs)
    scale = next((attrs[k] for k in _SCALE_KEYS if k in attrs), None)
    unit = "nm" if "pixel_size_nm" in attrs else next(
        (_text(attrs[k]) for k in _UNIT_KEYS if k in attrs), None
    )
    scale_xy = None
    if scale is not None:
        values = np.atleast_1d(np.asarray(scale, dtype=float)).ravel()
        # Per-axis scales are in array order (..., y, x); one value means square pixels.
        scale_xy = (values[-1], values[-2]) if values.size >= 2 else (values[0], values[0])
        if unit is None:
            unit = ""
    return RawImage(
        image,
        scale_xy=scale_xy,
        unit=unit,
        missing_reason=f"dataset {path_in_file} has no pixel_size/unit attributes",
        frame=frame_index,
        n_frames=n_frames,
        metadata={
            "dataset": path_in_file,
            "original_dtype": str(target.dtype),
            "original_shape": list(target.shape),
            "tags": to_jsonable(attrs),
        },
    )


# -- writer ------------------------------------------------------------------------------
def write_hspy(micrograph, path: Path) -> None:
    """Write a HyperSpy-layout HDF5 file (``Experiments/<title>/data`` + calibrated axes).

    Strings are stored fixed-length (not variable-length): a damaged variable-length string
    can send the HDF5 library into an endless loop when the file is read back.
    """
    import h5py

    def text(value: str) -> np.bytes_:
        return np.bytes_(value.encode("utf-8"))

    title = "__unnamed__"
    with h5py.File(path, "w") as handle:
        handle.attrs["file_format"] = text("HyperSpy")
        handle.attrs["file_format_version"] = text("3.1")
        group = handle.create_group(f"Experiments/{title}")
        group.attrs["package"] = text("motifkit")
        group.create_dataset("data", data=micrograph.data)
        pixel_size = micrograph.pixel_size_nm
        for index, (axis_name, size) in enumerate(zip(("y", "x"), micrograph.shape)):
            axis = group.create_group(f"axis-{index}")
            axis.attrs["name"] = text(axis_name)
            axis.attrs["size"] = np.int64(size)
            axis.attrs["offset"] = 0.0
            axis.attrs["scale"] = float(pixel_size) if pixel_size is not None else 1.0
            axis.attrs["units"] = text("nm" if pixel_size is not None else "<undefined>")
            axis.attrs["navigate"] = False
            axis.attrs["is_binned"] = False
            axis.attrs["_type"] = text("UniformDataAxis")
        general = group.create_group("metadata/General")
        general.attrs["title"] = text(str(micrograph.metadata.get("title", "")))
        signal = group.create_group("metadata/Signal")
        signal.attrs["signal_type"] = text("")
        signal.attrs["record_by"] = text("image")
        original = group.create_group("original_metadata")
        # A byte dataset, not an attribute: attributes are limited to 64 KiB.
        encoded = np.frombuffer(metadata_to_json(micrograph.metadata).encode("utf-8"), np.uint8)
        original.create_dataset(METADATA_DATASET, data=encoded)
