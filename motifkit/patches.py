"""Cut atom-centred patches sampled at sub-pixel column positions.

The motif pipeline describes every column by the image patch around it. Patches are
*interpolated at the refined sub-pixel centre*: cutting them at rounded integer
positions shifts each patch by up to half a pixel at random, and that jitter alone
splits defect-free columns into spurious motifs (METHODS.md, "Column finding").

All samples of one patch share the same fractional offset, so interpolation reduces
to a fixed small weighted sum of integer-shifted windows per patch (bilinear: 4
windows, in a numba kernel with a NumPy reference in :mod:`motifkit._columns_kernels`;
cubic B-spline: 4 x 4 on prefiltered coefficients, vectorised NumPy, separable). Both
give the values of :func:`scipy.ndimage.map_coordinates` to float32 rounding.

Positions are ``(N, 2)`` arrays of ``(x, y) = (column, row)`` pixels; pixel
``image[row, col]`` has its centre at ``(x=col, y=row)``. Patch element
``patches[k, i, j]`` samples the image at ``(x_k + j - h, y_k + i - h)`` with
``h = size // 2``, so ``patches[k, h, h]`` is the value at the centre.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from .errors import NotEnoughDataError, ParameterError
from .micrograph import Micrograph, validate_image

__all__ = ["PatchSet", "extract_patches", "BORDER_MODES", "NORMALIZATIONS"]

#: Border handling: drop patches that do not fit, or extend the image.
BORDER_MODES = ("drop", "reflect", "nearest", "pad")
#: Per-patch normalisations.
NORMALIZATIONS = (None, "zscore", "minmax")
_PAD_MODES = {"drop": "symmetric", "reflect": "symmetric", "nearest": "edge", "pad": "constant"}
# extra margin for the cubic prefilter: its boundary influence decays as 0.268^k
_SPLINE_GUARD = 12


@dataclass
class PatchSet:
    """Patches cut around columns, with the bookkeeping of what was kept.

    Attributes
    ----------
    patches : ndarray of float32, shape (M, size, size)
        One patch per kept column.
    positions : ndarray, shape (M, 2)
        Their centres ``(x, y)`` in pixels.
    kept : ndarray of int64, shape (M,)
        Index of each patch's column in the ``positions`` passed in.
    dropped : ndarray of int64, shape (K,)
        Indices of the columns that got no patch (too close to the border with
        ``border="drop"``, or centred outside the image).
    size, order : int
        Patch side in pixels and interpolation order.
    border : str
        Border mode used.
    normalize : str or None
        Per-patch normalisation applied.
    image_shape : (int, int)
        (H, W) of the source image.

    Examples
    --------
    >>> import numpy as np
    >>> ps = extract_patches(np.random.default_rng(0).random((32, 32)), [[16.3, 15.7]], 9)
    >>> ps.patches.shape, ps.n_dropped
    ((1, 9, 9), 0)
    """

    patches: np.ndarray
    positions: np.ndarray
    kept: np.ndarray
    dropped: np.ndarray
    size: int
    order: int
    border: str
    normalize: str | None = None
    image_shape: tuple = field(default=(0, 0))

    @property
    def n_dropped(self) -> int:
        """Number of columns without a patch."""
        return int(self.dropped.size)

    def __len__(self) -> int:
        return int(self.patches.shape[0])

    def __array__(self, dtype=None, copy=None):
        return self.patches if dtype is None else self.patches.astype(dtype)

    def flat(self) -> np.ndarray:
        """Patches as rows, shape (M, size * size) (a view)."""
        return self.patches.reshape(len(self), -1)

    def __repr__(self) -> str:
        return (
            f"PatchSet({len(self)} patches of {self.size} x {self.size} px, order={self.order}, "
            f"border={self.border!r}, {self.n_dropped} dropped)"
        )


def _cubic_bspline_weights(t: np.ndarray) -> np.ndarray:
    """Weights of the 4 coefficients at offsets -1, 0, 1, 2 for fractional part ``t``."""
    t = t[:, None]
    one = 1.0 - t
    return np.concatenate(
        [
            one**3 / 6.0,
            (3.0 * t**3 - 6.0 * t**2 + 4.0) / 6.0,
            (-3.0 * t**3 + 3.0 * t**2 + 3.0 * t + 1.0) / 6.0,
            t**3 / 6.0,
        ],
        axis=1,
    ).astype(np.float32)


def _interpolate_chunk(windows, positions, size, order, margin):
    """Order-0 and order-3 patches for a chunk of positions from the padded image's
    window view (order 1 has its own kernel, see extract_patches)."""
    half = size // 2
    x = positions[:, 0] + margin
    y = positions[:, 1] + margin
    if order == 0:
        cx = np.floor(x + 0.5).astype(np.int64)
        cy = np.floor(y + 0.5).astype(np.int64)
        return windows[cy - half, cx - half].astype(np.float32)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    tx = (x - x0).astype(np.float32)
    ty = (y - y0).astype(np.float32)
    # cubic B-spline on prefiltered coefficients, separably: x then y
    w = windows[y0 - half - 1, x0 - half - 1]  # (n, s+3, s+3)
    wx = _cubic_bspline_weights(tx)
    wy = _cubic_bspline_weights(ty)
    along_x = sum(wx[:, j, None, None] * w[:, :, j : j + size] for j in range(4))  # (n, s+3, s)
    return sum(wy[:, i, None, None] * along_x[:, i : i + size, :] for i in range(4))


def _normalise(patches: np.ndarray, how: str | None) -> np.ndarray:
    if how is None:
        return patches
    flat = patches.reshape(patches.shape[0], -1)
    if how == "zscore":
        mean = flat.mean(axis=1, keepdims=True)
        std = flat.std(axis=1, keepdims=True)
        flat = (flat - mean) / np.where(std > 0, std, 1.0)
    else:  # minmax
        low = flat.min(axis=1, keepdims=True)
        span = flat.max(axis=1, keepdims=True) - low
        flat = (flat - low) / np.where(span > 0, span, 1.0)
    return flat.reshape(patches.shape).astype(np.float32, copy=False)


def extract_patches(
    image,
    positions,
    size: int,
    *,
    order: int = 1,
    border: str = "drop",
    fill_value: float | None = None,
    normalize: str | None = None,
    chunk_size: int = 8192,
    warn: bool = True,
) -> PatchSet:
    """Cut square patches centred on sub-pixel column positions.

    Parameters
    ----------
    image : ndarray (H, W) or Micrograph
    positions : array_like, shape (N, 2)
        Column centres ``(x, y)`` in pixels (sub-pixel, e.g. from
        :func:`motifkit.columns.find_columns`).
    size : int
        Patch side in pixels; must be odd so the patch has a centre pixel (see
        :func:`motifkit.columns.suggest_patch_size`).
    order : {1, 3, 0}
        Interpolation: 1 bilinear (default), 3 cubic B-spline (smoother, slower),
        0 nearest pixel, i.e. cutting at rounded integer positions (the reference
        implementation's behaviour; only for comparison).
    border : {"drop", "reflect", "nearest", "pad"}
        Columns whose patch does not fit inside the image are dropped (``"drop"``,
        counted in ``dropped`` and reported with a warning), or the image is extended
        by mirroring (``"reflect"``), repeating the edge (``"nearest"``) or a constant
        ``fill_value`` (``"pad"``). Columns centred outside the image are always
        dropped.
    fill_value : float, optional
        Value outside the image for ``border="pad"``; default the image mean.
    normalize : {None, "zscore", "minmax"}
        Per-patch normalisation: zero mean and unit standard deviation, or range
        [0, 1]. Constant patches are left at 0.
    chunk_size : int
        Patches computed at once for ``order`` 0 and 3 (bounds temporary memory).
    warn : bool
        Warn when columns are dropped.

    Returns
    -------
    PatchSet
        ``patches`` (M, size, size) float32 plus ``positions``, ``kept`` and ``dropped``.

    Raises
    ------
    ParameterError
        Even or non-positive ``size``, a patch larger than the image, bad ``order``,
        ``border`` or ``normalize``, positions not (N, 2) or not finite.
    ImageError
        The image is not 2-D or contains NaN/inf.
    NotEnoughDataError
        Every column was dropped.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :40]
    >>> img = np.exp(-((xx - 20.4) ** 2 + (yy - 19.7) ** 2) / 8.0)
    >>> ps = extract_patches(img, [[20.4, 19.7], [1.0, 1.0]], 11, warn=False)
    >>> ps.kept.tolist(), ps.dropped.tolist()
    ([0], [1])
    >>> round(float(ps.patches[0, 5, 5]), 2)  # the centre pixel samples the peak
    0.95
    """
    pixels = validate_image(image.data if isinstance(image, Micrograph) else image, allow_constant=True)
    height, width = pixels.shape
    try:
        xy = np.asarray(positions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"positions must be numeric (N, 2) (x, y) pixels: {exc}") from exc
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ParameterError(f"positions must have shape (N, 2) holding (x, y) in pixels, got {xy.shape}.")
    if not np.isfinite(xy).all():
        raise ParameterError("positions contain NaN/inf; remove those rows first.")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ParameterError(f"size must be a positive odd integer (pixels), got {size!r}.")
    size = int(size)
    if size % 2 == 0:
        raise ParameterError(
            f"size must be odd so the patch has a centre pixel, got {size}; use {size + 1}."
        )
    if size > min(height, width):
        raise ParameterError(
            f"Patch size {size} px is larger than the {width} x {height} px image; "
            "use a smaller size (see motifkit.suggest_patch_size)."
        )
    if order not in (0, 1, 3):
        raise ParameterError(f"order must be 0 (nearest), 1 (bilinear) or 3 (cubic), got {order!r}.")
    if border not in BORDER_MODES:
        raise ParameterError(f"border must be one of {BORDER_MODES}, got {border!r}.")
    if normalize not in NORMALIZATIONS:
        raise ParameterError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}.")
    chunk_size = max(1, int(chunk_size))

    half = size // 2
    centred = (xy[:, 0] >= -0.5) & (xy[:, 0] < width - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] < height - 0.5)
    if border == "drop":
        if order == 0:
            cx, cy = np.floor(xy[:, 0] + 0.5), np.floor(xy[:, 1] + 0.5)
            fits = (cx - half >= 0) & (cx + half <= width - 1) & (cy - half >= 0) & (cy + half <= height - 1)
        else:  # every sample point of the patch lies on the pixel grid's area
            fits = (
                (xy[:, 0] - half >= 0)
                & (xy[:, 0] + half <= width - 1)
                & (xy[:, 1] - half >= 0)
                & (xy[:, 1] + half <= height - 1)
            )
        ok = centred & fits
    else:
        ok = centred
    kept = np.nonzero(ok)[0].astype(np.int64)
    dropped = np.nonzero(~ok)[0].astype(np.int64)
    if kept.size == 0 and xy.shape[0] > 0:
        raise NotEnoughDataError(
            f"All {xy.shape[0]} columns are too close to the border for {size} px patches "
            "(or outside the image). Use a smaller size or border='reflect'."
        )
    if dropped.size and warn:
        reason = (
            "their patch would cross the image border (use border='reflect' to keep them)"
            if border == "drop"
            else "they lie outside the image"
        )
        warnings.warn(
            f"extract_patches: {dropped.size} of {xy.shape[0]} columns dropped because {reason}; "
            "their indices are in PatchSet.dropped.",
            UserWarning,
            stacklevel=2,
        )

    # pad once so that every window read below is in bounds
    margin = half + 3 + (_SPLINE_GUARD if order == 3 else 0)
    if border == "pad":
        fill = float(pixels.mean()) if fill_value is None else float(fill_value)
        if not math.isfinite(fill):
            raise ParameterError(f"fill_value must be finite, got {fill_value!r}.")
        padded = np.pad(pixels, margin, mode="constant", constant_values=fill)
    else:
        padded = np.pad(pixels, margin, mode=_PAD_MODES[border])
    if order == 3:
        padded = ndi.spline_filter(padded, order=3, mode="mirror", output=np.float32)
    window = {0: size, 1: size + 1, 3: size + 3}[order]
    windows = np.lib.stride_tricks.sliding_window_view(padded, (window, window))

    centres = xy[kept]
    if order == 1:
        from ._columns_kernels import bilinear_patches

        out = bilinear_patches(padded, centres[:, 0] + margin, centres[:, 1] + margin, size)
    else:
        out = np.empty((kept.size, size, size), np.float32)
        for start in range(0, kept.size, chunk_size):
            stop = min(start + chunk_size, kept.size)
            out[start:stop] = _interpolate_chunk(windows, centres[start:stop], size, order, margin)
    out = _normalise(out, normalize)
    return PatchSet(
        patches=out,
        positions=centres.copy(),
        kept=kept,
        dropped=dropped,
        size=size,
        order=int(order),
        border=border,
        normalize=normalize,
        image_shape=(height, width),
    )
