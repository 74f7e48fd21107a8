"""Rendering kernels: add peak-normalised probes at sub-pixel emitter positions.

Each emitter (a column, or an atom of a column whose atoms do not coincide) adds
``weight * P(r)`` to every pixel within the probe cutoff, where ``P`` is evaluated
analytically at the pixel centre, so peaks sit exactly at the emitter position.

    P(r) = (exp(-r^2 / (2 sigma^2)) + ratio * h^2 / (r^2 + h^2)) / (1 + ratio),  r <= cutoff
    P(r) = 0,                                                                  r >  cutoff

(a pixel is inside the cutoff when ``|j - x| <= sqrt(cutoff^2 - dy^2)`` in its row;
both implementations use this same rule so they agree at the boundary)

(all lengths in pixels; ``h`` is the Lorentzian half width, ``P(0) = 1``). Optional
per-row displacements ``row_dx``, ``row_dy`` (pixels) model scan distortions: in row i
the emitter is drawn at ``(x + row_dx[i], y + row_dy[i])``.

``render_numba`` is parallel over horizontal bands of rows (each thread owns its rows,
so there are no write races); ``render_reference`` is the plain-NumPy version that the
tests compare against. Both add emitters in the given order (sorted by y).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["render_numba", "render_reference", "BAND_ROWS"]

#: Rows per parallel band in :func:`render_numba`.
BAND_ROWS = 32


@njit(parallel=True, cache=True)
def render_numba(x, y, w, out, sigma, lor_h, lor_ratio, cutoff, row_dx, row_dy, band_rows):  # pragma: no cover - compiled
    """Add probes to ``out`` (H, W) float32 in place; ``y`` must be sorted ascending."""
    height, width = out.shape
    cutoff2 = cutoff * cutoff
    inv2s2 = 0.5 / (sigma * sigma)
    h2 = lor_h * lor_h
    norm = 1.0 / (1.0 + lor_ratio)
    has_lorentz = lor_ratio > 0.0
    distorted = False
    max_dy = 0.0
    for i in range(height):
        if row_dx[i] != 0.0 or row_dy[i] != 0.0:
            distorted = True
        if abs(row_dy[i]) > max_dy:
            max_dy = abs(row_dy[i])
    reach = cutoff + max_dy + 1.0
    n_bands = (height + band_rows - 1) // band_rows
    window = int(2.0 * cutoff) + 3
    for band in prange(n_bands):
        r0 = band * band_rows
        r1 = min(height, r0 + band_rows)
        lo = np.searchsorted(y, r0 - reach)
        hi = np.searchsorted(y, r1 - 1 + reach, side="right")
        gx = np.empty(window)
        dx2 = np.empty(window)
        for k in range(lo, hi):
            xc = x[k]
            yc = y[k]
            wk = w[k] * norm
            if not distorted:
                j0 = max(0, int(math.ceil(xc - cutoff)))
                j1 = min(width - 1, int(math.floor(xc + cutoff)))
                i0 = max(r0, int(math.ceil(yc - cutoff)))
                i1 = min(r1 - 1, int(math.floor(yc + cutoff)))
                if j1 < j0 or i1 < i0:
                    continue
                for j in range(j0, j1 + 1):
                    d = j - xc
                    d2 = d * d
                    dx2[j - j0] = d2
                    gx[j - j0] = math.exp(-d2 * inv2s2)
                for i in range(i0, i1 + 1):
                    dy = i - yc
                    dy2 = dy * dy
                    if dy2 > cutoff2:
                        continue
                    half = math.sqrt(cutoff2 - dy2)
                    ja = max(j0, int(math.ceil(xc - half)))
                    jb = min(j1, int(math.floor(xc + half)))
                    wgy = wk * math.exp(-dy2 * inv2s2)
                    if has_lorentz:
                        for j in range(ja, jb + 1):
                            out[i, j] += wgy * gx[j - j0] + wk * (lor_ratio * h2 / (dx2[j - j0] + dy2 + h2))
                    else:
                        for j in range(ja, jb + 1):
                            out[i, j] += wgy * gx[j - j0]
            else:
                i0 = max(r0, int(math.ceil(yc - cutoff - max_dy)))
                i1 = min(r1 - 1, int(math.floor(yc + cutoff + max_dy)))
                for i in range(i0, i1 + 1):
                    dy = i - (yc + row_dy[i])
                    dy2 = dy * dy
                    if dy2 > cutoff2:
                        continue
                    xs = xc + row_dx[i]
                    half = math.sqrt(cutoff2 - dy2)
                    ja = max(0, int(math.ceil(xs - half)))
                    jb = min(width - 1, int(math.floor(xs + half)))
                    wgy = wk * math.exp(-dy2 * inv2s2)
                    for j in range(ja, jb + 1):
                        d = j - xs
                        d2 = d * d
                        v = wgy * math.exp(-d2 * inv2s2)
                        if has_lorentz:
                            v += wk * (lor_ratio * h2 / (d2 + dy2 + h2))
                        out[i, j] += v


def render_reference(x, y, w, out, sigma, lor_h, lor_ratio, cutoff, row_dx, row_dy):
    """Plain-NumPy version of :func:`render_numba` (same arguments, no band size)."""
    height, width = out.shape
    cutoff2 = cutoff * cutoff
    inv2s2 = 0.5 / (sigma * sigma)
    h2 = lor_h * lor_h
    norm = 1.0 / (1.0 + lor_ratio)
    max_dy = float(np.abs(row_dy).max()) if len(row_dy) else 0.0
    rows_all = np.arange(height)
    for xc, yc, wk in zip(x, y, w):
        i0 = max(0, int(math.ceil(yc - cutoff - max_dy)))
        i1 = min(height - 1, int(math.floor(yc + cutoff + max_dy)))
        if i1 < i0:
            continue
        rows = rows_all[i0 : i1 + 1]
        dy = rows - (yc + row_dy[rows])  # (R,)
        xs = xc + row_dx[rows]  # (R,)
        j0 = max(0, int(math.ceil(xs.min() - cutoff)))
        j1 = min(width - 1, int(math.floor(xs.max() + cutoff)))
        if j1 < j0:
            continue
        cols = np.arange(j0, j1 + 1)
        dx = cols[None, :] - xs[:, None]  # (R, C)
        dy2 = (dy * dy)[:, None]
        inside_rows = dy2 <= cutoff2
        half = np.sqrt(np.where(inside_rows, cutoff2 - dy2, 0.0))
        # the same per-row span rule as the compiled kernel: |j - x| <= sqrt(cutoff^2 - dy^2)
        ja = np.ceil(xs[:, None] - half)
        jb = np.floor(xs[:, None] + half)
        span = inside_rows & (cols[None, :] >= ja) & (cols[None, :] <= jb)
        wgy = wk * norm * np.exp(-dy2 * inv2s2)
        value = wgy * np.exp(-(dx * dx) * inv2s2)
        if lor_ratio > 0:
            value = value + (wk * norm) * (lor_ratio * h2 / (dx * dx + dy2 + h2))
        value = np.where(span, value, 0.0)
        block = out[i0 : i1 + 1, j0 : j1 + 1]
        # add in float64 and round once, like the compiled kernel
        out[i0 : i1 + 1, j0 : j1 + 1] = (block.astype(np.float64) + value).astype(out.dtype)
