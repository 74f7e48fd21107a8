"""Exceptions raised by motifkit.

Every error a user can trigger with bad input is a :class:`MotifkitError` (or a
subclass) whose message names the problem and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "MotifkitError",
    "FileFormatError",
    "CorruptFileError",
    "ImageError",
    "ParameterError",
    "NotEnoughDataError",
    "MissingDependencyError",
    "MissingFileError",
]


class MotifkitError(Exception):
    """Base class of every error motifkit raises on bad input."""


class FileFormatError(MotifkitError, ValueError):
    """A file cannot be read: missing, unknown extension or unsupported layout."""


class CorruptFileError(FileFormatError):
    """A file has a known extension but its content is truncated or corrupt."""


class ImageError(MotifkitError, ValueError):
    """Image data is unusable: not 2-D, non-finite values, constant, too small."""


class ParameterError(MotifkitError, ValueError):
    """A parameter value is out of range or inconsistent with the data."""


class NotEnoughDataError(MotifkitError, ValueError):
    """Too few columns, patches, cells or images for the requested step."""


class MissingDependencyError(MotifkitError, ImportError):
    """An optional dependency (an extra) is not installed."""

    def __init__(self, package: str, extra: str, purpose: str = ""):
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"{package!r} is needed{what} but is not installed. "
            f"Install it with: pip install 'motifkit[{extra}]'"
        )
        self.package = package
        self.extra = extra


def require(module: str, extra: str, purpose: str = ""):
    """Import an optional dependency or raise :class:`MissingDependencyError`.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"torch"``.
    extra : str
        Name of the motifkit extra that installs it, e.g. ``"ml"``.
    purpose : str, optional
        What it is needed for, used in the message.

    Returns
    -------
    module
        The imported module.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from exc


class MissingFileError(FileFormatError, FileNotFoundError):
    """A file to read does not exist (also a :class:`FileNotFoundError`).

    Parameters
    ----------
    message : str
        What is missing and how to fix it.
    filename : str, optional
        The missing path (``.filename`` like any :class:`FileNotFoundError`).
    """

    def __init__(self, message: str, filename: str | None = None):
        super().__init__(message)
        self.errno = 2  # ENOENT
        self.strerror = message
        self.filename = filename

    def __str__(self) -> str:
        return self.strerror
