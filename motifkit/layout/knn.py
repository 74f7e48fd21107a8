"""k-nearest neighbours on metric-transformed feature vectors.

Every supported metric is turned into a squared Euclidean problem once, up front:

- ``"correlation"``: rows are mean-centred and L2-normalised (``u``), then
  ``1 - corr(x, y) = |u_x - u_y|^2 / 2``;
- ``"cosine"``: rows are L2-normalised, ``1 - cos(x, y) = |u_x - u_y|^2 / 2``;
- ``"euclidean"``: rows as they are, ``d = |x - y|``.

Two search methods work on the transformed vectors:

- ``"exact"``: blocked brute force. Tiles of the similarity matrix come from a float32
  BLAS product (memory bounded by the tile, never N x N); only the upper triangle of
  tiles is computed and each tile updates the neighbour lists of its rows *and* of its
  columns, halving the work. A numba kernel keeps the k best per row.
- ``"approximate"``: k-means cells; exact search inside each cell, then other cells are
  searched only where a hyperplane lower bound on the distance does not rule them out
  (relaxed by a factor ``reach``; ``reach=1`` is exact). Its recall against the exact
  search is measured in the tests and in ``benchmarks/bench_layout.py``.

Both run in threads (the numba kernels release the GIL) with single-threaded BLAS.

``"auto"`` uses the exact search up to :data:`EXACT_MAX_SAMPLES` points.

The returned distances are recomputed in float64 from the transformed vectors, so they
do not carry the float32 rounding of the search.
"""

from __future__ import annotations

import numpy as np

from ..errors import MotifkitError, NotEnoughDataError, ParameterError

__all__ = ["nearest_neighbors", "transform_for_metric", "knn_recall", "METRICS", "EXACT_MAX_SAMPLES"]

METRICS = ("correlation", "euclidean", "cosine")

#: ``knn="auto"`` switches from the exact to the approximate search above this many points.
EXACT_MAX_SAMPLES = 20_000

_REACH_STEPS = (0.6, 1.0)  # the cell search probes at 0.6 * reach, then at reach
_TILE = 512  # tile side: a 512 x 512 float32 tile (1 MB) stays in L2 and keeps BLAS efficient


def check_features(X, n_neighbors: int | None = None, name: str = "X") -> np.ndarray:
    """Validate a feature matrix: dense, real, 2-D, finite, enough rows for ``n_neighbors``.

    Returns a C-contiguous float64 array (no copy when ``X`` already is one).
    """
    from scipy import sparse
    from sklearn.utils import check_array

    if sparse.issparse(X):
        raise ParameterError(f"{name}: sparse input is not supported; pass a dense array (X.toarray()).")
    if np.ndim(X) != 2:
        raise ParameterError(
            f"{name} must be 2-D with shape (N, n_features), got {np.ndim(X)}-D shape {np.shape(X)}; "
            "reshape it, e.g. patches.reshape(len(patches), -1)."
        )
    if np.iscomplexobj(X):
        raise ParameterError(f"{name}: Complex data not supported; pass real features (e.g. np.abs(X)).")
    try:
        X = check_array(X, accept_sparse=False, dtype=np.float64, order="C", ensure_all_finite=False,
                        ensure_2d=True, allow_nd=False, ensure_min_samples=1, ensure_min_features=1)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a numeric array of shape (N, n_features): {exc}") from exc
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ParameterError(
            f"{name} contains NaN or inf in {len(rows)} rows (first: {rows[:5].tolist()}); "
            "drop or impute those rows before computing the layout."
        )
    if n_neighbors is not None and X.shape[0] <= n_neighbors:
        raise NotEnoughDataError(
            f"Need more samples than n_neighbors: got N={X.shape[0]} samples for "
            f"n_neighbors k={n_neighbors} (k counts the point itself). Use more data or "
            f"lower n_neighbors to at most {max(X.shape[0] - 1, 1)}."
        )
    return X


def transform_for_metric(X, metric: str = "correlation") -> np.ndarray:
    """Transform rows so that ``metric`` becomes a squared Euclidean problem.

    Parameters
    ----------
    X : ndarray, shape (N, n_features)
        Feature vectors, finite.
    metric : {"correlation", "cosine", "euclidean"}

    Returns
    -------
    ndarray of float64, shape (N, n_features)
        ``u`` with ``d_metric(x_i, x_j) = |u_i - u_j|^2 / 2`` for correlation and cosine,
        and ``u = X`` for euclidean.

    Raises
    ------
    MotifkitError
        A row has zero variance (correlation) or zero norm (cosine): the metric is
        undefined for it.

    Examples
    --------
    >>> import numpy as np
    >>> u = transform_for_metric(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 2.0]]))
    >>> np.allclose(np.linalg.norm(u, axis=1), 1.0)
    True
    """
    if metric not in METRICS:
        raise ParameterError(f"metric must be one of {METRICS}, got {metric!r}.")
    X = np.asarray(X, dtype=np.float64)
    if metric == "euclidean":
        return np.ascontiguousarray(X)
    U = X - X.mean(axis=1, keepdims=True) if metric == "correlation" else X.copy()
    norms = np.linalg.norm(U, axis=1)
    # relative test: constant rows leave only rounding noise after centring
    degenerate = norms <= 1e-12 * np.abs(X).max(axis=1)
    if degenerate.any():
        rows = np.nonzero(degenerate)[0]
        what = "all features equal (zero variance)" if metric == "correlation" else "all features zero"
        raise MotifkitError(
            f"The {metric} distance is undefined for {len(rows)} rows with {what} "
            f"(first rows: {rows[:5].tolist()}). Remove those rows (e.g. blank patches) or "
            "use metric='euclidean'."
        )
    U /= norms[:, None]
    return U


def _distances_from_transformed(metric: str, sqdist: np.ndarray) -> np.ndarray:
    sqdist = np.maximum(sqdist, 0.0)
    return np.sqrt(sqdist) if metric == "euclidean" else sqdist / 2.0


def _finish(U: np.ndarray, indices: np.ndarray, metric: str, chunk: int = 4096):
    """Exact float64 distances for the found neighbours, sorted, self first."""
    n, k = indices.shape
    rows = np.arange(n)
    # the point itself belongs in column 0 (exact duplicates may have pushed it out)
    has_self = (indices == rows[:, None]).any(axis=1)
    if not has_self.all():
        indices[~has_self, -1] = rows[~has_self]
    sq = np.empty((n, k))
    for r0 in range(0, n, chunk):  # chunks bound the (chunk, k, d) temporary
        diff = U[indices[r0 : r0 + chunk]] - U[r0 : r0 + chunk, None, :]
        sq[r0 : r0 + chunk] = np.einsum("nkd,nkd->nk", diff, diff)
    sq[indices == rows[:, None]] = -1.0  # sorts self first even among exact duplicates
    order = np.argsort(sq, axis=1, kind="stable")
    indices = np.take_along_axis(indices, order, axis=1)
    sq = np.take_along_axis(sq, order, axis=1)
    sq[:, 0] = 0.0
    return indices.astype(np.int64), _distances_from_transformed(metric, sq)


def _n_threads(parallel: bool) -> int:
    if not parallel:
        return 1
    import numba

    return max(1, int(numba.get_num_threads()))


class _Runner:
    """Run batches of callables in a thread pool (the kernels release the GIL)."""

    def __init__(self, n_threads: int):
        self.n_threads = n_threads
        self.pool = None
        if n_threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=n_threads)

    def __call__(self, tasks) -> None:
        if self.pool is None or len(tasks) <= 1:
            for task in tasks:
                task()
            return
        for future in [self.pool.submit(task) for task in tasks]:
            future.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=True)


class _Tiles:
    """Augmented copies, per-thread tile buffers and shared heaps of a blocked top-k search.

    ``rows = [u, 1]`` and ``cols = [u, -|u|^2 / 2]``, so that ``rows[I] @ cols[J].T`` is
    the score tile ``s(i, j) = <u_i, u_j> - |u_j|^2 / 2`` of :mod:`._kernels`.
    """

    def __init__(self, V: np.ndarray, k: int, tile: int):
        import threading

        from . import _kernels

        self.K = _kernels
        self.tile = tile
        n = len(V)
        self.half_sqnorm = (0.5 * np.einsum("nd,nd->n", V, V, dtype=np.float64)).astype(np.float32)
        self.rows = np.empty((n, V.shape[1] + 1), dtype=np.float32)
        self.rows[:, :-1] = V
        self.rows[:, -1] = 1.0
        self.cols = np.empty_like(self.rows)
        self.cols[:, :-1] = V
        self.cols[:, -1] = -self.half_sqnorm
        self.scores = np.full((n, k), -np.inf, dtype=np.float32)
        self.index = np.full((n, k), -1, dtype=np.int64)
        self._local = threading.local()

    def product(self, rows: np.ndarray, j0: int, j1: int) -> np.ndarray:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = np.empty(self.tile * self.tile, dtype=np.float32)
        S = buffer[: len(rows) * (j1 - j0)].reshape(len(rows), j1 - j0)
        np.dot(rows, self.cols[j0:j1].T, out=S)
        return S

    def rows_vs(self, ids: np.ndarray, c0: int, c1: int) -> None:
        """Heaps of points ``ids`` (at most one tile of them) against points c0..c1."""
        queries = self.rows[ids]
        for j0 in range(c0, c1, self.tile):
            j1 = min(j0 + self.tile, c1)
            self.K.topk_rows(self.product(queries, j0, j1), ids, j0, self.scores, self.index)

    def sq_radius(self) -> np.ndarray:
        """Squared distance to the current k-th neighbour (inf while the heap is not full)."""
        return np.maximum(2.0 * (self.half_sqnorm.astype(np.float64) - self.scores[:, -1]), 0.0)


def _round_robin(n_blocks: int):
    """Rounds of disjoint block pairs covering every pair (i < j) once (circle method)."""
    blocks = list(range(n_blocks)) + ([-1] if n_blocks % 2 else [])
    m = len(blocks)
    rounds = []
    for _ in range(m - 1):
        pairs = [(blocks[i], blocks[m - 1 - i]) for i in range(m // 2)]
        rounds.append([(min(p), max(p)) for p in pairs if -1 not in p])
        blocks = [blocks[0], blocks[-1], *blocks[1:-1]]
    return rounds


def _exact_search(U32: np.ndarray, k: int, n_threads: int, tile: int = _TILE) -> np.ndarray:
    """Blocked brute force over the upper triangle of tiles.

    A tile (I, J) updates the heaps of block I (rows) and of block J (columns), so tiles
    that run at the same time must touch disjoint blocks: the diagonal tiles run as one
    round, the off-diagonal ones in round-robin rounds of disjoint pairs.
    """
    work = _Tiles(U32, k, tile)
    n = len(U32)
    bounds = [(s, min(s + tile, n)) for s in range(0, n, tile)]

    def diagonal(b):
        s, e = bounds[b]
        return lambda: work.rows_vs(np.arange(s, e), s, e)

    def off_diagonal(a, b):
        def task():
            (s, e), (t, u) = bounds[a], bounds[b]
            S = work.product(work.rows[s:e], t, u)
            work.K.topk_rows(S, np.arange(s, e), t, work.scores, work.index)
            work.K.topk_cols(S, s, t, work.half_sqnorm, work.scores, work.index)

        return task

    with _Runner(n_threads) as run:
        run([diagonal(b) for b in range(len(bounds))])
        for pairs in _round_robin(len(bounds)):
            run([off_diagonal(a, b) for a, b in pairs])
    return work.index


def _cell_search(U32: np.ndarray, k: int, rng: np.random.Generator, n_threads: int, reach: float = 0.4,
                 n_cells: int | None = None, tile: int = _TILE):
    """Cell-pruned search: exact within each k-means cell, bound-pruned across cells.

    Points are partitioned by k-means (fitted on a subsample). Every point first gets its
    exact k nearest neighbours inside its own cell, which gives a radius ``r_q``. A point
    ``x`` of another cell ``b`` lies beyond the bisector hyperplane between the centroids
    of ``q``'s cell ``a`` and ``b``, so ``|q - x| >= h = (|q - c_b|^2 - |q - c_a|^2) /
    (2 |c_a - c_b|)``. Cell ``b`` is searched for ``q`` only when ``h < reach * r_q``:
    ``reach = 1`` never misses a neighbour (exact); smaller values also skip cells whose
    bound is merely close, which is where the speed comes from in high dimensions.

    Returns the neighbour indices and the fraction of the N^2 pairs evaluated.
    """
    from sklearn.cluster import KMeans

    n = U32.shape[0]
    if n_cells is None:
        n_cells = int(np.clip(round(np.sqrt(n) / 4), 2, 256))
    n_cells = max(1, min(int(n_cells), n // max(k, 1)))
    sample = rng.choice(n, size=min(n, 64 * n_cells), replace=False)
    kmeans = KMeans(n_clusters=n_cells, init="k-means++", n_init=1, max_iter=30, tol=1e-4,
                    algorithm="lloyd", random_state=int(rng.integers(2**31 - 1)), copy_x=True)
    centroids = kmeans.fit(U32[sample]).cluster_centers_.astype(np.float32)
    sqnorm = np.einsum("nd,nd->n", U32, U32).astype(np.float32)
    csq = np.einsum("cd,cd->c", centroids, centroids)
    labels = np.empty(n, dtype=np.int64)
    own = np.empty(n, dtype=np.float32)  # squared distance to the own centroid
    step = 8 * tile
    for r0 in range(0, n, step):
        d2 = sqnorm[r0 : r0 + step, None] + csq[None, :] - 2.0 * (U32[r0 : r0 + step] @ centroids.T)
        labels[r0 : r0 + step] = d2.argmin(axis=1)
        own[r0 : r0 + step] = d2.min(axis=1)
    order = np.argsort(labels, kind="stable")
    V = np.ascontiguousarray(U32[order])
    own, lab = own[order], labels[order]
    starts = np.searchsorted(lab, np.arange(n_cells + 1))
    work = _Tiles(V, k, tile)
    sq = 2.0 * work.half_sqnorm

    def within(a):
        def task():
            for q0 in range(starts[a], starts[a + 1], tile):
                work.rows_vs(np.arange(q0, min(q0 + tile, starts[a + 1])), starts[a], starts[a + 1])

        return task

    gap = np.sqrt(np.maximum(csq[:, None] + csq[None, :] - 2.0 * centroids @ centroids.T, 0.0))
    n_pairs = int(np.sum(np.diff(starts).astype(np.int64) ** 2))
    edges = np.linspace(0, n, n_threads + 1).astype(np.int64)

    def across(lo, hi, probes):
        # each thread owns a range of query ids: no two threads update the same heap
        def task():
            for b, ids in enumerate(probes):
                mine = ids[(ids >= lo) & (ids < hi)]
                for q0 in range(0, len(mine), tile):
                    work.rows_vs(mine[q0 : q0 + tile], starts[b], starts[b + 1])

        return task

    with _Runner(n_threads) as run:
        # phase 1: exact inside every cell (cells are disjoint, so they run concurrently)
        run([within(a) for a in range(n_cells) if starts[a + 1] > starts[a]])
        # phase 2: other cells where the bisector bound allows, first with a tighter reach;
        # the radii shrink meanwhile, so the second pass adds few cells
        done_limit = np.zeros(n)  # cells with bound < done_limit were searched already
        for fraction in _REACH_STEPS:
            limit = fraction * reach * np.sqrt(work.sq_radius())  # inf while a heap is not full
            probes = []
            for b in range(n_cells):
                if starts[b + 1] == starts[b]:
                    probes.append(np.empty(0, dtype=np.int64))
                    continue
                bound = (sq + csq[b] - 2.0 * (V @ centroids[b]) - own) / (2.0 * np.maximum(gap[lab, b], 1e-12))
                ids = np.nonzero((bound < limit) & ~(bound < done_limit) & (lab != b))[0]
                probes.append(ids)
                n_pairs += len(ids) * int(starts[b + 1] - starts[b])
            run([across(lo, hi, probes) for lo, hi in zip(edges[:-1], edges[1:])])
            done_limit = limit
    out = np.empty((n, k), dtype=np.int64)
    out[order] = order[work.index]
    return out, n_pairs / float(n) ** 2


def nearest_neighbors(X, n_neighbors: int = 10, metric: str = "correlation", method: str = "auto",
                      parallel: bool = True, random_state=None, reach: float = 0.4,
                      n_cells: int | None = None, return_info: bool = False):
    """k nearest neighbours of every row, the row itself included (at position 0).

    Parameters
    ----------
    X : array_like, shape (N, n_features)
        Feature vectors (e.g. Zernike moments), finite.
    n_neighbors : int
        k, counting the point itself (UMAP convention). Needs N > k.
    metric : {"correlation", "euclidean", "cosine"}
        Distance between rows. Correlation distance is ``1 - Pearson r``.
    method : {"auto", "exact", "approximate"}
        ``"exact"``: blocked brute force (memory: one 1 MB tile per thread).
        ``"approximate"``: k-means cells, exact inside a cell, bound-pruned across cells
        (see ``reach``). ``"auto"``: exact up to :data:`EXACT_MAX_SAMPLES` rows.
    parallel : bool
        Use all numba threads (the result does not depend on it).
    random_state : None, int or numpy Generator
        Seeds the k-means partition of the approximate search.
    reach : float in (0, 1]
        Approximate search only: search another cell when its lower bound on the distance
        is below ``reach`` times the current k-th distance. 1 makes it exact.
    n_cells : int, optional
        Approximate search only: number of k-means cells (default ``sqrt(N) / 4``).
    return_info : bool
        Also return a dict with the method used and the fraction of pairs evaluated.

    Returns
    -------
    indices : ndarray of int64, shape (N, k)
        Neighbour indices sorted by distance, ``indices[:, 0] == arange(N)``.
    distances : ndarray of float64, shape (N, k)
        The metric's distances, ``distances[:, 0] == 0``.
    info : dict, only with ``return_info=True``

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 66))
    >>> idx, dist = nearest_neighbors(X, n_neighbors=10, metric="correlation")
    >>> idx.shape, bool((idx[:, 0] == np.arange(200)).all())
    ((200, 10), True)
    """
    from threadpoolctl import threadpool_limits

    from .._utils import check_random_state

    n_neighbors = _check_n_neighbors(n_neighbors)
    X = check_features(X, n_neighbors)
    if method not in ("auto", "exact", "approximate"):
        raise ParameterError(f"method must be 'auto', 'exact' or 'approximate', got {method!r}.")
    if not 0.0 < float(reach) <= 1.0:
        raise ParameterError(f"reach must be in (0, 1], got {reach!r}.")
    U = transform_for_metric(X, metric)
    if np.ptp(U, axis=0).max() == 0.0:
        raise MotifkitError(
            "All samples are identical under the chosen metric, so neighbours are arbitrary "
            "and a layout is meaningless; check the features (e.g. patches all blank)."
        )
    U32 = np.ascontiguousarray(U, dtype=np.float32)
    if method == "auto":
        method = "exact" if len(U) <= EXACT_MAX_SAMPLES else "approximate"
    n_threads = _n_threads(bool(parallel))
    # BLAS threads would fight the search threads (OpenBLAS spins between calls): the
    # parallelism comes from our threads, each running a single-threaded GEMM
    with threadpool_limits(limits=1, user_api="blas"):
        if method == "exact":
            indices = _exact_search(U32, n_neighbors, n_threads)
            fraction = 0.5
        else:
            indices, fraction = _cell_search(U32, n_neighbors, check_random_state(random_state), n_threads,
                                             reach=float(reach), n_cells=n_cells)
    indices, distances = _finish(U, indices, metric)
    if return_info:
        return indices, distances, {"method": method, "pairs_evaluated": fraction, "threads": n_threads}
    return indices, distances


def _check_n_neighbors(n_neighbors) -> int:
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) or n_neighbors < 2:
        raise ParameterError(
            f"n_neighbors must be an integer >= 2 (it counts the point itself), got {n_neighbors!r}."
        )
    return int(n_neighbors)


def knn_recall(approximate_indices, exact_indices) -> float:
    """Mean fraction of the exact neighbours (self excluded) found by an approximate search.

    Parameters
    ----------
    approximate_indices, exact_indices : ndarray of int, shape (N, k)
        Neighbour lists with the point itself in column 0.

    Returns
    -------
    float
        Recall in [0, 1].
    """
    a = np.sort(np.asarray(approximate_indices)[:, 1:], axis=1)
    b = np.sort(np.asarray(exact_indices)[:, 1:], axis=1)
    if a.shape != b.shape:
        raise ParameterError(f"shapes differ: {a.shape} vs {b.shape}.")
    hits = (a[:, :, None] == b[:, None, :]).any(axis=1).sum()
    return float(hits) / b.size
