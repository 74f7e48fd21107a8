"""UMAP's fuzzy k-nearest-neighbour graph, as used by the force-relaxed layout.

For each point i with neighbour distances ``d_i1 <= ... <= d_i,k-1`` (the point itself,
at distance 0, is column 0 and gets no edge):

- ``rho_i = d_i1``, the distance to the nearest other point;
- ``beta_i`` by bisection so that ``sum_j exp(-max(d_ij - rho_i, 0) * beta_i) = log2(k)``;
- directed memberships ``P_ij = exp(-max(d_ij - rho_i, 0) * beta_i)``, raised to machine
  epsilon so that every kNN pair keeps an edge (as the reference does);
- symmetrised fuzzy union ``W = P + P^T - P o P^T`` (a sparse matrix, weights in (0, 1]).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..errors import ParameterError

__all__ = ["smooth_knn_distances", "membership_strengths", "fuzzy_knn_graph"]

_EPS = np.finfo(np.float64).eps
_BISECTION_STEPS = 100
_TOLERANCE = 1e-5


def _check_knn(knn_indices, knn_distances):
    indices = np.asarray(knn_indices)
    distances = np.asarray(knn_distances, dtype=np.float64)
    if indices.ndim != 2 or indices.shape != distances.shape:
        raise ParameterError(
            f"knn_indices and knn_distances must both have shape (N, k), got {indices.shape} "
            f"and {distances.shape}."
        )
    if indices.shape[1] < 2:
        raise ParameterError(f"need k >= 2 neighbours (self included), got k={indices.shape[1]}.")
    if not np.isfinite(distances).all() or (distances < 0).any():
        raise ParameterError("knn_distances must be finite and non-negative.")
    n = len(indices)
    if (indices[:, 0] != np.arange(n)).any():
        raise ParameterError(
            "column 0 of knn_indices must be the point itself (as nearest_neighbors returns)."
        )
    if (np.diff(distances, axis=1) < 0).any():
        raise ParameterError("knn_distances must be sorted in increasing order along each row.")
    return indices.astype(np.int64), np.ascontiguousarray(distances)


def smooth_knn_distances(knn_distances, n_neighbors: int | None = None):
    """Per-point ``rho`` and ``beta`` of the fuzzy set (numba, parallel over points).

    Parameters
    ----------
    knn_distances : ndarray, shape (N, k)
        Sorted neighbour distances, column 0 = the point itself.
    n_neighbors : int, optional
        k of the target ``log2(k)``; defaults to ``knn_distances.shape[1]``.

    Returns
    -------
    rho, beta : ndarray of float64, shape (N,)
    """
    from . import _kernels

    distances = np.ascontiguousarray(knn_distances, dtype=np.float64)
    k = distances.shape[1] if n_neighbors is None else int(n_neighbors)
    return _kernels.smooth_knn(distances, float(np.log2(k)), _BISECTION_STEPS, _TOLERANCE)


def membership_strengths(knn_indices, knn_distances, n_neighbors: int | None = None) -> sparse.csr_matrix:
    """Directed fuzzy memberships ``P`` as a sparse (N, N) matrix without self-loops.

    Each row sums to ``log2(k)`` (up to the bisection tolerance) unless ties at
    ``rho_i`` make that impossible.

    Parameters
    ----------
    knn_indices : ndarray of int, shape (N, k)
        Neighbours with the point itself in column 0 (see :func:`nearest_neighbors`).
    knn_distances : ndarray, shape (N, k)
        Matching sorted distances.
    n_neighbors : int, optional
        k of the target ``log2(k)`` (default: the number of columns).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (N, N)
    """
    indices, distances = _check_knn(knn_indices, knn_distances)
    n, k = indices.shape
    rho, beta = smooth_knn_distances(distances, n_neighbors)
    strengths = np.exp(-np.maximum(distances[:, 1:] - rho[:, None], 0.0) * beta[:, None])
    strengths = np.maximum(strengths, _EPS)
    rows = np.repeat(np.arange(n), k - 1)
    P = sparse.csr_matrix((strengths.ravel(), (rows, indices[:, 1:].ravel())), shape=(n, n))
    P.sum_duplicates()
    return P


def fuzzy_knn_graph(knn_indices, knn_distances, n_neighbors: int | None = None) -> sparse.csr_matrix:
    """Symmetric fuzzy kNN graph ``W = P + P^T - P o P^T`` (UMAP's fuzzy union).

    Parameters
    ----------
    knn_indices : ndarray of int, shape (N, k)
        Neighbours with the point itself in column 0 (see :func:`nearest_neighbors`).
    knn_distances : ndarray, shape (N, k)
        Matching distances, sorted in increasing order.
    n_neighbors : int, optional
        k of the calibration target ``log2(k)`` (default: the number of columns).

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (N, N)
        Symmetric, zero diagonal, weights in (0, 1], sorted indices.

    Examples
    --------
    >>> import numpy as np
    >>> from motifkit.layout import nearest_neighbors, fuzzy_knn_graph
    >>> X = np.random.default_rng(0).normal(size=(100, 8))
    >>> W = fuzzy_knn_graph(*nearest_neighbors(X, n_neighbors=10))
    >>> bool(abs(W - W.T).max() < 1e-12)
    True
    """
    P = membership_strengths(knn_indices, knn_distances, n_neighbors)
    Pt = P.T.tocsr()
    W = (P + Pt - P.multiply(Pt)).tocsr()
    W.eliminate_zeros()
    W.sort_indices()
    return W
