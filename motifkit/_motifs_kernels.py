"""numba kernels for motif reconstruction, with plain-NumPy references for the tests."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _bilinear(patch, u, v):
    size = patch.shape[0]
    u0 = int(np.floor(u))
    v0 = int(np.floor(v))
    fu = u - u0
    fv = v - v0
    total = 0.0
    for dv in range(2):
        for du in range(2):
            uu = u0 + du
            vv = v0 + dv
            if 0 <= uu < size and 0 <= vv < size:
                w = (fu if du else 1.0 - fu) * (fv if dv else 1.0 - fv)
                total += w * patch[vv, uu]
    return total


@njit(cache=True)
def _splat(height, width, positions, labels, averages, window):
    image = np.zeros((height, width), dtype=np.float32)
    weight = np.zeros((height, width), dtype=np.float32)
    size = averages.shape[1]
    half = (size - 1) / 2.0
    for k in range(positions.shape[0]):
        x = positions[k, 0]
        y = positions[k, 1]
        patch = averages[labels[k]]
        x_lo = max(int(np.ceil(x - half)), 0)
        x_hi = min(int(np.floor(x + half)), width - 1)
        y_lo = max(int(np.ceil(y - half)), 0)
        y_hi = min(int(np.floor(y + half)), height - 1)
        for py in range(y_lo, y_hi + 1):
            v = py - y + half
            for px in range(x_lo, x_hi + 1):
                u = px - x + half
                w = _bilinear(window, u, v)
                image[py, px] += w * _bilinear(patch, u, v)
                weight[py, px] += w
    return image, weight


def splat_patches(height, width, positions, labels, averages, window):
    """Accumulate window-weighted, bilinearly resampled patches at sub-pixel centres.

    Parameters
    ----------
    height, width : int
        Output shape in pixels.
    positions : ndarray of float64, shape (N, 2)
        (x, y) centres in pixels.
    labels : ndarray of int64, shape (N,)
        Which of ``averages`` goes at each centre.
    averages : ndarray of float32, shape (K, s, s)
    window : ndarray of float32, shape (s, s)
        Blending weight.

    Returns
    -------
    image, weight : ndarray of float32, shape (H, W)
        Weighted sum and sum of weights (divide to blend).
    """
    return _splat(
        int(height),
        int(width),
        np.ascontiguousarray(positions, dtype=np.float64),
        np.ascontiguousarray(labels, dtype=np.int64),
        np.ascontiguousarray(averages, dtype=np.float32),
        np.ascontiguousarray(window, dtype=np.float32),
    )


def splat_patches_reference(height, width, positions, labels, averages, window):
    """Plain-NumPy version of :func:`splat_patches` (slow; for tests)."""
    from scipy.ndimage import map_coordinates

    image = np.zeros((height, width), dtype=np.float64)
    weight = np.zeros((height, width), dtype=np.float64)
    size = averages.shape[1]
    half = (size - 1) / 2.0
    for (x, y), label in zip(positions, labels):
        xs = np.arange(max(int(np.ceil(x - half)), 0), min(int(np.floor(x + half)), width - 1) + 1)
        ys = np.arange(max(int(np.ceil(y - half)), 0), min(int(np.floor(y + half)), height - 1) + 1)
        if not len(xs) or not len(ys):
            continue
        py, px = np.meshgrid(ys, xs, indexing="ij")
        coords = np.array([py - y + half, px - x + half])
        w = map_coordinates(window.astype(np.float64), coords, order=1, mode="constant", cval=0.0)
        p = map_coordinates(averages[label].astype(np.float64), coords, order=1, mode="constant", cval=0.0)
        image[py, px] += w * p
        weight[py, px] += w
    return image.astype(np.float32), weight.astype(np.float32)
