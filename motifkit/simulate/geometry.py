"""Where a structure lands in the image: field of view, pixel size, rotation and shift."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

__all__ = ["ImageGeometry", "rotation_matrix"]


def rotation_matrix(degrees: float) -> np.ndarray:
    """2x2 matrix rotating (x, y) vectors counter-clockwise (in the x-y frame) by ``degrees``."""
    t = np.radians(float(degrees))
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s], [s, c]])


@dataclass(frozen=True)
class ImageGeometry:
    """Map structure coordinates (Å) to image pixels.

    A structure point ``p`` (x, y in Å, structure frame) lands at the pixel position
    ``(R(rotation) @ p + shift) / pixel_size + centre`` where ``centre = ((W - 1) / 2,
    (H - 1) / 2)`` is the middle of the image and ``R`` rotates counter-clockwise in the
    (x, y) = (column, row) frame (which looks clockwise on screen when row 0 is drawn at the
    top). Pixel ``image[row, col]`` has its centre at (x=col, y=row). Rotation and shift act
    on the atoms, never on the pixels, so no interpolation blurs the image.

    Parameters
    ----------
    shape : (int, int)
        Image size (H, W) in pixels.
    pixel_size : float
        Å per pixel.
    rotation : float
        Rotation of the structure in degrees.
    shift : (float, float)
        Translation (dx, dy) of the structure in Å, applied after the rotation.

    Examples
    --------
    >>> g = ImageGeometry((64, 64), 0.25)
    >>> g.to_pixels([[0.0, 0.0], [1.0, 0.0]])
    array([[31.5, 31.5],
           [35.5, 31.5]])
    """

    shape: tuple
    pixel_size: float
    rotation: float = 0.0
    shift: tuple = (0.0, 0.0)

    def __post_init__(self):
        try:
            shape = tuple(int(s) for s in self.shape)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"shape must be (H, W) integers, got {self.shape!r}.") from exc
        if len(shape) != 2 or min(shape) < 8:
            raise ParameterError(
                f"shape must be (H, W) with both sides >= 8 px, got {self.shape!r}."
            )
        try:
            pixel_size = float(self.pixel_size)
            rotation = float(self.rotation)
            shift = tuple(float(v) for v in np.asarray(self.shift, dtype=float).reshape(2))
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                "pixel_size and rotation must be numbers and shift a pair (dx, dy) in Å; "
                f"got pixel_size={self.pixel_size!r}, rotation={self.rotation!r}, "
                f"shift={self.shift!r}."
            ) from exc
        if not np.isfinite(pixel_size) or pixel_size <= 0:
            raise ParameterError(f"pixel_size must be a positive number of Å/px, got {pixel_size}.")
        if not (np.isfinite(rotation) and np.all(np.isfinite(shift))):
            raise ParameterError("rotation and shift must be finite numbers.")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "pixel_size", pixel_size)
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "shift", shift)

    @property
    def centre(self) -> np.ndarray:
        """Image centre (x, y) in pixels."""
        h, w = self.shape
        return np.array([(w - 1) / 2.0, (h - 1) / 2.0])

    @property
    def matrix(self) -> np.ndarray:
        """Rotation matrix applied to structure coordinates."""
        return rotation_matrix(self.rotation)

    def to_pixels(self, xy) -> np.ndarray:
        """Structure-frame positions (N, 2) in Å -> image positions (N, 2) (x, y) in px."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return (xy @ self.matrix.T + np.asarray(self.shift)) / self.pixel_size + self.centre

    def vectors_to_pixels(self, vectors) -> np.ndarray:
        """Rotate and scale direction vectors (N, 2) in Å to px (no translation)."""
        vectors = np.asarray(vectors, dtype=float).reshape(-1, 2)
        return vectors @ self.matrix.T / self.pixel_size

    def to_structure(self, xy_px) -> np.ndarray:
        """Image positions (N, 2) (x, y) in px -> structure-frame positions in Å."""
        xy_px = np.asarray(xy_px, dtype=float).reshape(-1, 2)
        return ((xy_px - self.centre) * self.pixel_size - np.asarray(self.shift)) @ self.matrix

    def structure_corners(self, margin: float = 0.0) -> np.ndarray:
        """Corners (4, 2) in Å (structure frame) of the field of view grown by ``margin`` Å."""
        h, w = self.shape
        m = margin / self.pixel_size
        corners = np.array(
            [[-0.5 - m, -0.5 - m], [w - 0.5 + m, -0.5 - m], [w - 0.5 + m, h - 0.5 + m], [-0.5 - m, h - 0.5 + m]]
        )
        return self.to_structure(corners)

    def inside(self, xy_px, margin_px: float = 0.0) -> np.ndarray:
        """Boolean (N,): positions inside the pixel area ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``
        grown by ``margin_px`` on every side (negative values shrink it)."""
        xy_px = np.asarray(xy_px, dtype=float).reshape(-1, 2)
        h, w = self.shape
        lo = -0.5 - margin_px
        return (
            (xy_px[:, 0] >= lo)
            & (xy_px[:, 0] < w - 0.5 + margin_px)
            & (xy_px[:, 1] >= lo)
            & (xy_px[:, 1] < h - 0.5 + margin_px)
        )
