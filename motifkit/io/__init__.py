"""Read and write micrographs with their calibration.

:func:`read` turns a microscope file into a :class:`~motifkit.micrograph.Micrograph`
(float32 pixels, pixel size in nm, metadata, source path):

========================  ==========================================================
Extensions                Format
========================  ==========================================================
``.dm3 .dm4``             Gatan DigitalMicrograph (ncempy)
``.ser``                  FEI/Thermo TIA series (ncempy; ``.emi`` metadata if present)
``.emd``                  Berkeley EMD or Thermo Fisher Velox EMD (ncempy)
``.tif .tiff``            TIFF: ImageJ, OME, FEI, Zeiss SEM or resolution-tag calibration
``.hspy .hdf5 .h5``       HyperSpy HDF5, or plain HDF5 (``dataset=`` picks the array)
``.npy .npz``             NumPy arrays (``dataset=`` picks an ``.npz`` key)
``.png .jpg .jpeg .bmp``  8/16-bit images, colour converted to grayscale (Pillow)
========================  ==========================================================

:func:`write` (alias :func:`save_image`) stores a micrograph as ImageJ TIFF, ``.npz`` or
HyperSpy-layout HDF5, so that ``read(write(m, path))`` gives back the pixels and the
calibration.

A file without a usable calibration gives a :class:`CalibrationWarning` and
``pixel_size=None``: motifkit never guesses a pixel size. Every problem with the file or
the arguments raises a :class:`~motifkit.errors.MotifkitError` subclass that says what to do.

Examples
--------
>>> import motifkit
>>> m = motifkit.read("WSe2_Ti_1028_ADF1_2.dm4")      # doctest: +SKIP
>>> m.shape, m.pixel_size, m.unit                    # doctest: +SKIP
((512, 512), 0.03987935, 'nm')
>>> frame = motifkit.read("series.tif", frame=3)      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import CorruptFileError, FileFormatError, MissingFileError, MotifkitError, ParameterError
from ..micrograph import Micrograph, as_micrograph, validate_image
from ._common import CalibrationWarning, RawImage, check_frame_argument, normalise_calibration

__all__ = [
    "read",
    "write",
    "save_image",
    "CalibrationWarning",
    "FileFormat",
    "FORMATS",
    "SUPPORTED_EXTENSIONS",
    "WRITABLE_EXTENSIONS",
    "supported_formats",
    "format_for_path",
]


@dataclass(frozen=True)
class FileFormat:
    """One supported file format.

    Attributes
    ----------
    name : str
        Short name stored in ``metadata["reader"]``.
    description : str
        Human-readable name used in messages.
    extensions : tuple of str
        Lower-case extensions with the dot.
    reader : str
        ``"module:function"`` inside :mod:`motifkit.io`, imported on first use.
    writer : str or None
        Same for the writer; None when the format is read-only.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    reader: str
    writer: str | None = None

    def _load(self, spec: str) -> Callable:
        module, function = spec.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), function)

    def load_reader(self) -> Callable[..., RawImage]:
        """The reader function ``(path, frame, dataset) -> RawImage``."""
        return self._load(self.reader)

    def load_writer(self) -> Callable[[Micrograph, Path], None]:
        """The writer function ``(micrograph, path) -> None``."""
        if self.writer is None:
            raise FileFormatError(f"motifkit cannot write {self.description} files.")
        return self._load(self.writer)


#: Every format :func:`read` understands, in the order listed in messages.
FORMATS: tuple[FileFormat, ...] = (
    FileFormat("dm", "Gatan DigitalMicrograph", (".dm3", ".dm4"), "_dm:read_dm"),
    FileFormat("ser", "FEI/Thermo TIA series", (".ser",), "_ser:read_ser"),
    FileFormat("emd", "EMD (Berkeley or Velox)", (".emd",), "_hdf5:read_hdf5"),
    FileFormat("tiff", "TIFF", (".tif", ".tiff"), "_tiff:read_tiff", "_tiff:write_tiff"),
    FileFormat(
        "hdf5", "HyperSpy / HDF5", (".hspy", ".hdf5", ".h5"), "_hdf5:read_hdf5", "_hdf5:write_hspy"
    ),
    FileFormat("npy", "NumPy array", (".npy",), "_numpy:read_npy"),
    FileFormat("npz", "NumPy archive", (".npz",), "_numpy:read_npz", "_numpy:write_npz"),
    FileFormat("image", "PNG/JPEG/BMP image", (".png", ".jpg", ".jpeg", ".bmp"), "_pillow:read_pillow"),
)

_BY_EXTENSION = {ext: fmt for fmt in FORMATS for ext in fmt.extensions}
#: Extensions :func:`read` accepts.
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_BY_EXTENSION)
#: Extensions :func:`write` accepts.
WRITABLE_EXTENSIONS: tuple[str, ...] = tuple(e for e, f in _BY_EXTENSION.items() if f.writer)


def supported_formats(writable: bool = False) -> dict[str, str]:
    """Map each supported extension to its format description.

    Parameters
    ----------
    writable : bool
        Only the extensions :func:`write` can produce.

    Examples
    --------
    >>> supported_formats(writable=True)[".tif"]
    'TIFF'
    """
    return {
        ext: fmt.description for ext, fmt in _BY_EXTENSION.items() if fmt.writer or not writable
    }


def _listing(extensions) -> str:
    return ", ".join(extensions)


def _as_path(path) -> Path:
    if isinstance(path, Micrograph) or not isinstance(path, (str, os.PathLike)):
        raise ParameterError(
            f"Expected a file path (str or pathlib.Path), got {type(path).__name__}. To wrap "
            f"an array use motifkit.micrograph.as_micrograph(array, pixel_size=...)."
        )
    return Path(os.fspath(path)).expanduser()


def format_for_path(path, *, writing: bool = False) -> FileFormat:
    """The :class:`FileFormat` that handles ``path``'s extension.

    Raises
    ------
    FileFormatError
        Unknown (or, with ``writing=True``, read-only) extension; the message lists
        the supported ones.
    """
    path = _as_path(path)
    extension = path.suffix.lower()
    fmt = _BY_EXTENSION.get(extension)
    if fmt is None:
        what = f"extension {extension!r}" if extension else "no extension"
        allowed = WRITABLE_EXTENSIONS if writing else SUPPORTED_EXTENSIONS
        verb = "write" if writing else "read"
        raise FileFormatError(
            f"{path.name} has {what}; motifkit can {verb} {_listing(allowed)}. Convert the "
            f"file to one of these (TIFF is the most portable) or fix its extension."
        )
    if writing and fmt.writer is None:
        raise FileFormatError(
            f"motifkit reads {fmt.description} ({extension}) but cannot write it; save as "
            f"one of {_listing(WRITABLE_EXTENSIONS)} instead."
        )
    return fmt


def read(path, frame: int | None = None, *, dataset=None) -> Micrograph:
    """Read a micrograph (one 2-D image) from a file.

    Parameters
    ----------
    path : str or pathlib.Path
        File to read; the extension selects the reader (see :data:`SUPPORTED_EXTENSIONS`).
    frame : int, optional
        Frame of a (frames, H, W) stack or image series; required when the file holds
        more than one frame. Negative values count from the end.
    dataset : str or int, optional
        Which image of a multi-image file: an HDF5 dataset path, a HyperSpy signal name,
        an ``.npz`` key, an EMD/Velox/DM/TIFF-series index or name. Required when the file
        holds several images; the error message lists them.

    Returns
    -------
    Micrograph
        ``data`` float32 (H, W); ``pixel_size`` in nm (``unit="nm"``) or None when the
        file has no calibration; ``metadata`` with ``reader``, ``format``,
        ``original_dtype``, ``original_shape``, ``frame``, ``n_frames``, the original
        calibration and, where the file has them, ``voltage_kV``, ``magnification`` and
        the acquisition ``tags``; ``source`` the path as a string.

    Raises
    ------
    MissingFileError
        The file does not exist (also a :class:`FileNotFoundError`).
    FileFormatError
        Unknown extension, a folder, or a layout without a readable image.
    CorruptFileError
        Truncated or corrupt content.
    ParameterError
        A stack without ``frame``, a frame out of range, a multi-image file without
        ``dataset`` or a ``dataset`` that does not exist.
    ImageError
        Not 2-D, NaN/inf pixels, a constant image or one smaller than 8 x 8 px.

    Warns
    -----
    CalibrationWarning
        No usable pixel size (``pixel_size`` is None), non-square pixels, or a unit that
        had to be assumed.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from motifkit.micrograph import Micrograph
    >>> folder = tempfile.mkdtemp()
    >>> image = Micrograph(np.random.default_rng(0).random((32, 32)), pixel_size=0.05)
    >>> path = write(image, os.path.join(folder, "image.tif"))
    >>> read(path).pixel_size
    0.05
    """
    file_path = _as_path(path)
    frame = check_frame_argument(frame)
    if not file_path.exists():
        raise MissingFileError(
            f"{file_path} does not exist (working directory: {Path.cwd()}). Check the "
            f"spelling and the folder, or pass an absolute path.",
            filename=str(file_path),
        )
    if file_path.is_dir():
        raise FileFormatError(f"{file_path} is a folder; pass the path of a file inside it.")
    fmt = format_for_path(file_path)
    try:
        size = file_path.stat().st_size
    except OSError as exc:
        raise FileFormatError(f"{file_path} cannot be accessed: {exc}.") from exc
    if size == 0:
        raise CorruptFileError(
            f"{file_path.name} is empty (0 bytes); the copy or the acquisition did not "
            f"finish. Copy or export the file again."
        )
    try:
        raw = fmt.load_reader()(file_path, frame, dataset)
    except MotifkitError:
        raise
    except PermissionError as exc:
        raise FileFormatError(
            f"{file_path} cannot be opened: permission denied. Check its permissions or "
            f"copy it somewhere you can read."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - every reader failure means a bad file
        detail = f"{type(exc).__name__}: {exc}"[:300]
        raise CorruptFileError(
            f"{file_path.name} could not be read as a {fmt.description} file ({detail}). "
            f"It is probably truncated or corrupt, or not really a {file_path.suffix} file; "
            f"check that the copy finished, or re-export it from the acquisition software."
        ) from exc
    return _to_micrograph(raw, file_path, fmt)


def _to_micrograph(raw: RawImage, path: Path, fmt: FileFormat) -> Micrograph:
    label = path.name if raw.frame is None else f"{path.name} (frame {raw.frame})"
    image = validate_image(raw.data, name=label)
    if not image.flags.writeable or not image.flags.c_contiguous:
        image = np.array(image, dtype=np.float32, order="C")
    pixel_size, calibration, problem = normalise_calibration(raw, path.name)
    if problem:
        warnings.warn(
            f"{path.name}: no usable pixel size ({problem}), so pixel_size is None; motifkit "
            f"never guesses one. Set it yourself, e.g. micrograph.pixel_size = 0.04 (nm per "
            f"pixel), if you know it.",
            CalibrationWarning,
            stacklevel=3,
        )
    elif "unit_assumed" in raw.metadata:
        calibration["original_calibration"]["unit"] = None  # the file had none
        warnings.warn(
            f"{path.name}: the file gives a pixel size of {pixel_size:g} without a unit; "
            f"motifkit assumes {raw.metadata['unit_assumed']}. Set micrograph.pixel_size "
            f"if that is wrong.",
            CalibrationWarning,
            stacklevel=3,
        )
    metadata = dict(raw.metadata)
    metadata.update(calibration)
    # What motifkit saved into the file (the original acquisition's metadata) wins over
    # what the reader sees in the copy, except the fields describing this read.
    metadata.update(raw.stored_metadata)
    metadata.update(
        reader=fmt.name,
        format=fmt.description,
        frame=raw.frame,
        n_frames=raw.n_frames,
    )
    return Micrograph(image, pixel_size, "nm", metadata, source=str(path))


def write(micrograph, path, *, overwrite: bool = False) -> Path:
    """Save a micrograph with its calibration and metadata.

    Parameters
    ----------
    micrograph : Micrograph or array_like, shape (H, W)
        What to save; an array is saved uncalibrated.
    path : str or pathlib.Path
        Destination; the extension picks the format: ``.tif``/``.tiff`` (float32 ImageJ
        TIFF calibrated in nm, metadata as JSON in the ImageJ ``Info`` property), ``.npz``
        (``data``, ``pixel_size`` in nm or NaN, ``unit``, ``metadata`` JSON) or
        ``.hspy``/``.hdf5``/``.h5`` (HyperSpy layout, axes in nm).
    overwrite : bool
        Replace an existing file. By default an existing file is never touched.

    Returns
    -------
    pathlib.Path
        The written path; ``read(path)`` returns the same pixels and pixel size (in nm).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from motifkit.micrograph import Micrograph
    >>> image = Micrograph(np.arange(256.0).reshape(16, 16), pixel_size=0.5, unit="A")
    >>> path = write(image, os.path.join(tempfile.mkdtemp(), "image.npz"))
    >>> read(path).pixel_size_nm
    0.05
    """
    file_path = _as_path(path)
    fmt = format_for_path(file_path, writing=True)
    micrograph = micrograph if isinstance(micrograph, Micrograph) else as_micrograph(micrograph)
    if file_path.exists() and not overwrite:
        raise FileFormatError(
            f"{file_path} already exists; pass overwrite=True to replace it or choose "
            f"another name."
        )
    if not file_path.parent.is_dir():
        raise FileFormatError(
            f"The folder {file_path.parent} does not exist; create it first "
            f"(e.g. Path(...).mkdir(parents=True))."
        )
    fmt.load_writer()(micrograph, file_path)
    return file_path


#: Alias of :func:`write`.
save_image = write
