"""numba kernels of the layout package, each paired with a plain-Python/NumPy reference.

The references are slow but obviously correct; ``tests/test_layout.py`` checks that every
kernel agrees with its reference on small problems. Nothing here validates input: the
public wrappers in :mod:`motifkit.layout.knn`, :mod:`~motifkit.layout.graph` and
:mod:`~motifkit.layout.fr` do that and pass contiguous arrays of the documented dtypes.

Kernels
-------
- random numbers: ``tau_rand_int`` (Tausworthe "tau88" generator, states kept in
  ``[0, 2**32)`` so the Python reference reproduces it bit for bit);
- force-relaxed layout epoch: ``fr_epoch_serial`` / ``fr_epoch_parallel``
  (reference ``fr_epoch_reference``, bitwise equal results). Their cost is almost all in
  the negative samples (10 random rows of ``Y`` per edge); the kernel draws an edge's
  negatives and reads their rows before using them (the loads overlap), keeps the
  random state in registers, and is compiled separately for the presets' integer
  exponents and k = 10 so the power and the neighbour test unroll (about 1.4x faster
  than a plain loop at N = 50,000, same floating-point operations);
- fuzzy-graph calibration: ``smooth_knn`` (reference ``smooth_knn_reference``);
- kNN top-k selection from similarity tiles: ``topk_rows`` / ``topk_cols`` (reference
  ``topk_tile_reference``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

MASK32 = 0xFFFFFFFF


# --------------------------------------------------------------------------- random numbers
@njit(cache=True, inline="always")
def _tau88_step(s0, s1, s2):
    """Advance the three tau88 components (values in ``[0, 2**32)``)."""
    s0 = (((s0 & 4294967294) << 12) & MASK32) ^ ((((s0 << 13) & MASK32) ^ s0) >> 19)
    s1 = (((s1 & 4294967288) << 4) & MASK32) ^ ((((s1 << 2) & MASK32) ^ s1) >> 25)
    s2 = (((s2 & 4294967280) << 17) & MASK32) ^ ((((s2 << 3) & MASK32) ^ s2) >> 11)
    return s0, s1, s2


@njit(cache=True, inline="always")
def tau_rand_int(state):
    """Next value in ``[0, 2**32)`` of a Tausworthe tau88 generator (updates ``state``).

    ``state`` is an int64 array of 3 values in ``[16, 2**32)``; all intermediate values
    stay below ``2**32`` so there is no signed overflow and the Python reference matches.
    """
    s0, s1, s2 = _tau88_step(state[0], state[1], state[2])
    state[0] = s0
    state[1] = s1
    state[2] = s2
    return s0 ^ s1 ^ s2


def tau_rand_int_reference(state) -> int:
    """Pure-Python twin of :func:`tau_rand_int`."""
    s0, s1, s2 = (int(v) for v in state)
    s0 = (((s0 & 4294967294) << 12) & MASK32) ^ ((((s0 << 13) & MASK32) ^ s0) >> 19)
    s1 = (((s1 & 4294967288) << 4) & MASK32) ^ ((((s1 << 2) & MASK32) ^ s1) >> 25)
    s2 = (((s2 & 4294967280) << 17) & MASK32) ^ ((((s2 << 3) & MASK32) ^ s2) >> 11)
    state[0], state[1], state[2] = s0, s1, s2
    return s0 ^ s1 ^ s2


def seed_states(rng: np.random.Generator, n_streams: int) -> np.ndarray:
    """``(n_streams, 3)`` int64 tau88 seeds drawn from ``rng`` (valid seeds are >= 16)."""
    return rng.integers(16, 2**32, size=(n_streams, 3), dtype=np.int64)


# --------------------------------------------------------------------------- FR layout epoch
@njit(cache=True, inline="always")
def _clip(value):
    # branch-free: with branches, mispredictions cost as much as the rest of the update
    return min(max(value, -4.0), 4.0)


def power_plan(exponent: float) -> tuple[int, int]:
    """How :func:`_dist_pow` evaluates ``d ** exponent``: ``(half, odd)``.

    Integer exponents up to 32 use ``half`` multiplications by ``d^2`` and, when ``odd``,
    one by ``d``; ``half = -1`` means ``math.pow`` (non-integer exponents).
    """
    exponent = float(exponent)
    if exponent == int(exponent) and 0 <= exponent <= 32:
        return int(exponent) // 2, int(exponent) % 2
    return -1, 0


@njit(cache=True, inline="always")
def _dist_pow(d2, half, odd, exponent):
    """``d ** exponent`` for ``d = sqrt(d2)``; note ``d ** 0 == 1``, also at d = 0."""
    if half < 0:
        return math.pow(math.sqrt(d2), exponent)
    out = 1.0
    for _ in range(half):
        out *= d2
    if odd:
        out *= math.sqrt(d2)
    return out


@njit(cache=True, inline="always")
def _fr_edges(start, stop, head, tail, weight, Y, knn, n_knn, alpha, beta, attr_exp, rep_exp, n_negative,
              lr, state, a_half, a_odd, r_half, r_odd):
    # Returns a sum of coordinates read ahead of use (see below); callers pass it on so that
    # the compiler cannot drop those reads.
    n_points = Y.shape[0]
    # the tau88 state lives in registers for the whole chunk (same sequence as tau_rand_int)
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    negatives = np.empty(max(n_negative, 1), dtype=np.int64)
    touched = 0.0
    for e in range(start, stop):
        # draw the edge's negatives first and read their rows: these independent, random
        # loads overlap, and the dependent updates below find the rows in L1 (the random
        # rows of Y dominate the cost; the values used are re-read after the attraction)
        for q in range(n_negative):
            s0, s1, s2 = _tau88_step(s0, s1, s2)
            r = ((s0 ^ s1 ^ s2) * n_points) >> 32  # uniform in [0, N) without a division
            negatives[q] = r
            touched += Y[r, 0]
        i = head[e]
        j = tail[e]
        # attraction along the edge, weighted by its membership strength; moves both ends
        yi0 = Y[i, 0]
        yi1 = Y[i, 1]
        dx = yi0 - Y[j, 0]
        dy = yi1 - Y[j, 1]
        force = alpha / (1.0 + _dist_pow(dx * dx + dy * dy, a_half, a_odd, attr_exp))
        gx = _clip(dx * force) * lr * weight[e]
        gy = _clip(dy * force) * lr * weight[e]
        yi0 -= gx
        yi1 -= gy
        Y[j, 0] += gx
        Y[j, 1] += gy
        # unweighted repulsion from random non-neighbours; moves both points. All negatives
        # of this edge see the same (attracted) y_i and their pushes on i are summed, so
        # they do not form one long dependency chain.
        push0 = 0.0
        push1 = 0.0
        row = knn[i]
        for q in range(n_negative):
            r = negatives[q]
            neighbour = False
            for t in range(n_knn):
                neighbour |= row[t] == r
            if neighbour:
                continue
            dx = yi0 - Y[r, 0]
            dy = yi1 - Y[r, 1]
            force = beta / (1.0 + _dist_pow(dx * dx + dy * dy, r_half, r_odd, rep_exp))
            gx = _clip(dx * force) * lr
            gy = _clip(dy * force) * lr
            push0 += gx
            push1 += gy
            Y[r, 0] -= gx
            Y[r, 1] -= gy
        Y[i, 0] = yi0 + push0
        Y[i, 1] = yi1 + push1
    state[0] = s0
    state[1] = s1
    state[2] = s2
    return touched


@njit(cache=True, inline="always")
def _fr_chunk(c, chunks, head, tail, weight, Y, knn, forces, n_negative, lr, states):
    """Edges of chunk ``c`` with the power evaluations specialised for the presets' exponents.

    Literal exponent plans let the compiler unroll ``_dist_pow`` (no loop, no branch); any
    other plan takes the generic path. All paths do the same floating-point operations.
    """
    attr_exp, rep_exp, alpha, beta = forces[0], forces[1], forces[2], forces[3]
    a_half, a_odd = int(forces[4]), int(forces[5])
    r_half, r_odd = int(forces[6]), int(forces[7])
    start, stop, state = chunks[c], chunks[c + 1], states[c]
    if knn.shape[1] == 10:  # the default k: the neighbour test unrolls into vector compares
        if a_half == 0 and a_odd == 0 and r_half == 1 and r_odd == 0:  # (N, M) = (0, 2)
            return _fr_edges(start, stop, head, tail, weight, Y, knn, 10, alpha, beta, attr_exp, rep_exp,
                             n_negative, lr, state, 0, 0, 1, 0)
        if a_half == 1 and a_odd == 0 and r_half == 2 and r_odd == 0:  # (2, 4)
            return _fr_edges(start, stop, head, tail, weight, Y, knn, 10, alpha, beta, attr_exp, rep_exp,
                             n_negative, lr, state, 1, 0, 2, 0)
        if a_half == 1 and a_odd == 0 and r_half == 2 and r_odd == 1:  # (2, 5)
            return _fr_edges(start, stop, head, tail, weight, Y, knn, 10, alpha, beta, attr_exp, rep_exp,
                             n_negative, lr, state, 1, 0, 2, 1)
    return _fr_edges(start, stop, head, tail, weight, Y, knn, knn.shape[1], alpha, beta, attr_exp, rep_exp,
                     n_negative, lr, state, a_half, a_odd, r_half, r_odd)


@njit(cache=True)
def fr_epoch_serial(chunks, head, tail, weight, Y, knn, forces, n_negative, lr, states):
    """One epoch over all directed edges, chunk by chunk (bitwise reproducible).

    ``chunks`` (n_chunks + 1,) are edge offsets; chunk ``c`` draws its negatives from
    ``states[c]``. ``forces`` is ``stage_forces(N, M, alpha, beta)``. ``Y`` (N, 2) float64
    is updated in place. Returns a checksum of the rows read ahead (ignore it).
    """
    touched = 0.0
    for c in range(chunks.shape[0] - 1):
        touched += _fr_chunk(c, chunks, head, tail, weight, Y, knn, forces, n_negative, lr, states)
    return touched


@njit(cache=True, parallel=True)
def fr_epoch_parallel(chunks, head, tail, weight, Y, knn, forces, n_negative, lr, states):
    """Hogwild-parallel twin of :func:`fr_epoch_serial`: chunks run concurrently.

    Threads update ``Y`` without locks (as umap-learn does), so results depend on thread
    timing and are not bitwise reproducible; the random streams are the same.
    """
    touched = 0.0
    for c in prange(chunks.shape[0] - 1):
        touched += _fr_chunk(c, chunks, head, tail, weight, Y, knn, forces, n_negative, lr, states)
    return touched


def stage_forces(n_exp: float, m_exp: float, alpha: float, beta: float) -> np.ndarray:
    """Pack a stage for the kernels: ``[N, M, alpha, beta, *power_plan(N), *power_plan(M)]``."""
    return np.array([n_exp, m_exp, alpha, beta, *power_plan(n_exp), *power_plan(m_exp)], dtype=np.float64)


def _dist_pow_reference(d2: float, exponent: float) -> float:
    half, odd = power_plan(exponent)
    if half < 0:
        return math.pow(math.sqrt(d2), exponent)
    out = 1.0
    for _ in range(half):
        out *= d2
    if odd:
        out *= math.sqrt(d2)
    return out


def fr_epoch_reference(chunks, head, tail, weight, Y, knn, forces, n_negative, lr, states):
    """Plain-Python reference of :func:`fr_epoch_serial` (same operations, same order)."""
    n_points = Y.shape[0]
    attr_exp, rep_exp, alpha, beta = (float(v) for v in forces[:4])
    clip = lambda v: min(max(v, -4.0), 4.0)  # noqa: E731
    for c in range(len(chunks) - 1):
        state = states[c]
        for e in range(int(chunks[c]), int(chunks[c + 1])):
            i, j, w = int(head[e]), int(tail[e]), float(weight[e])
            yi = [float(Y[i, 0]), float(Y[i, 1])]
            dx = yi[0] - float(Y[j, 0])
            dy = yi[1] - float(Y[j, 1])
            force = alpha / (1.0 + _dist_pow_reference(dx * dx + dy * dy, attr_exp))
            gx = clip(dx * force) * lr * w
            gy = clip(dy * force) * lr * w
            yi = [yi[0] - gx, yi[1] - gy]
            Y[j, 0] += gx
            Y[j, 1] += gy
            push = [0.0, 0.0]
            for _ in range(n_negative):
                r = (tau_rand_int_reference(state) * n_points) >> 32
                if r in knn[i]:
                    continue
                dx = yi[0] - float(Y[r, 0])
                dy = yi[1] - float(Y[r, 1])
                force = beta / (1.0 + _dist_pow_reference(dx * dx + dy * dy, rep_exp))
                gx = clip(dx * force) * lr
                gy = clip(dy * force) * lr
                push = [push[0] + gx, push[1] + gy]
                Y[r, 0] -= gx
                Y[r, 1] -= gy
            Y[i, 0] = yi[0] + push[0]
            Y[i, 1] = yi[1] + push[1]


# --------------------------------------------------------------------------- fuzzy graph
@njit(cache=True, parallel=True)
def smooth_knn(distances, target, n_iter, tolerance):
    """Per-point ``rho`` and ``beta`` of UMAP's fuzzy set (bisection on ``beta``).

    ``distances`` (N, k) are sorted, column 0 is the point itself. ``rho_i`` is the
    distance to the nearest non-self neighbour; ``beta_i`` solves
    ``sum_{j >= 1} exp(-max(d_ij - rho_i, 0) * beta_i) = target``.
    """
    n, k = distances.shape
    rho = np.empty(n)
    beta = np.empty(n)
    for i in prange(n):
        rho[i] = distances[i, 1]
        lo = 0.0
        hi = np.inf
        b = 1.0
        for _ in range(n_iter):
            total = 0.0
            for j in range(1, k):
                d = distances[i, j] - rho[i]
                total += math.exp(-(d if d > 0.0 else 0.0) * b)
            if abs(total - target) < tolerance:
                break
            if total > target:  # too flat: sharpen
                lo = b
                b = b * 2.0 if hi == np.inf else (b + hi) / 2.0
            else:
                hi = b
                b = (b + lo) / 2.0
        beta[i] = b
    return rho, beta


def smooth_knn_reference(distances, target, n_iter, tolerance):
    """NumPy reference of :func:`smooth_knn`: the same bisection, vectorised over rows."""
    distances = np.asarray(distances, dtype=np.float64)
    rho = distances[:, 1].copy()
    shifted = np.maximum(distances[:, 1:] - rho[:, None], 0.0)
    n = len(distances)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    b = np.ones(n)
    active = np.ones(n, dtype=bool)
    for _ in range(n_iter):
        total = np.exp(-shifted * b[:, None]).sum(axis=1)
        active &= ~(np.abs(total - target) < tolerance)
        up = active & (total > target)
        down = active & ~(total > target)
        lo = np.where(up, b, lo)
        b_up = np.where(np.isinf(hi), b * 2.0, (b + hi) / 2.0)
        hi = np.where(down, b, hi)
        b = np.where(up, b_up, np.where(down, (b + lo) / 2.0, b))
    return rho, b


# --------------------------------------------------------------------------- kNN top-k
# The searches score candidate j for point i as s(i, j) = <u_i, u_j> - |u_j|^2 / 2
# (larger is closer: s = (|u_i|^2 - |u_i - u_j|^2) / 2). One GEMM of the augmented rows
# [u_i, 1] and columns [u_j, -|u_j|^2 / 2] gives a tile S with S[r, c] = s(row, col).
# Heaps are per-point arrays sorted by decreasing score, initialised to -inf.


@njit(cache=True, inline="always")
def _insert_desc(scores, index, row, score, idx):
    pos = scores.shape[1] - 1
    while pos > 0 and scores[row, pos - 1] < score:
        scores[row, pos] = scores[row, pos - 1]
        index[row, pos] = index[row, pos - 1]
        pos -= 1
    scores[row, pos] = score
    index[row, pos] = idx


@njit(cache=True, fastmath=True, nogil=True)
def topk_rows(S, row_ids, col0, scores, index):
    """Merge tile ``S[r, c] = s(row_ids[r], col0 + c)`` into the heaps of ``row_ids``.

    Releases the GIL; callers run disjoint sets of rows in parallel threads.
    """
    last = scores.shape[1] - 1
    n_cols = S.shape[1]
    for r in range(S.shape[0]):
        g = row_ids[r]
        threshold = scores[g, last]
        row = S[r]
        c = 0
        while c + 32 <= n_cols:
            x = row[c : c + 32]
            # reject test with four independent maxima (vectorises, no dependency chain)
            m0 = x[0]
            m1 = x[8]
            m2 = x[16]
            m3 = x[24]
            for t in range(1, 8):
                m0 = max(m0, x[t])
                m1 = max(m1, x[t + 8])
                m2 = max(m2, x[t + 16])
                m3 = max(m3, x[t + 24])
            if max(max(m0, m1), max(m2, m3)) > threshold:
                for t in range(32):
                    if x[t] > threshold:
                        _insert_desc(scores, index, g, x[t], col0 + c + t)
                        threshold = scores[g, last]
            c += 32
        for cc in range(c, n_cols):
            if row[cc] > threshold:
                _insert_desc(scores, index, g, row[cc], col0 + cc)
                threshold = scores[g, last]


@njit(cache=True, fastmath=True, nogil=True)
def topk_cols(S, row0, col0, half_sqnorm, scores, index):
    """Merge the transposed tile into the heaps of points ``col0 + c``.

    For column point j and row point i the score is
    ``s(j, i) = S[i, j] + |u_j|^2 / 2 - |u_i|^2 / 2``; the test runs row by row against
    per-column thresholds shifted by ``|u_j|^2 / 2``.
    """
    last = scores.shape[1] - 1
    n_cols = S.shape[1]
    threshold = np.empty(n_cols, dtype=np.float32)
    for c in range(n_cols):
        threshold[c] = scores[col0 + c, last] - half_sqnorm[col0 + c]
    for r in range(S.shape[0]):
        h = half_sqnorm[row0 + r]
        row = S[r]
        c = 0
        while c + 32 <= n_cols:
            x = row[c : c + 32]
            th = threshold[c : c + 32]
            m0 = x[0] - th[0]
            m1 = x[8] - th[8]
            m2 = x[16] - th[16]
            m3 = x[24] - th[24]
            for t in range(1, 8):
                m0 = max(m0, x[t] - th[t])
                m1 = max(m1, x[t + 8] - th[t + 8])
                m2 = max(m2, x[t + 16] - th[t + 16])
                m3 = max(m3, x[t + 24] - th[t + 24])
            if max(max(m0, m1), max(m2, m3)) > h:
                for t in range(32):
                    if x[t] - th[t] > h:
                        j = col0 + c + t
                        _insert_desc(scores, index, j, x[t] - h + half_sqnorm[j], row0 + r)
                        threshold[c + t] = scores[j, last] - half_sqnorm[j]
            c += 32
        for cc in range(c, n_cols):
            if row[cc] - threshold[cc] > h:
                j = col0 + cc
                _insert_desc(scores, index, j, row[cc] - h + half_sqnorm[j], row0 + r)
                threshold[cc] = scores[j, last] - half_sqnorm[j]


def topk_tile_reference(V, k):
    """NumPy reference of the searches: indices of the k largest scores per row.

    Returns ``(scores, index)`` sorted by decreasing score ``s(i, j)`` (ties in index
    order).
    """
    V = np.asarray(V, dtype=np.float64)
    score = V @ V.T - 0.5 * (V * V).sum(axis=1)[None, :]
    order = np.argsort(-score, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(score, order, axis=1), order
