"""t-SNE of raw images and of bond-angle-cosine histograms (AtomVision), with a separation score.

NumPy/scikit-learn only (no torch). Bond angles come from the bond graph of column
positions within a cutoff (:func:`bond_graph`, shared with :mod:`motifkit.learn.graph`):
for bonds ``j-i`` and ``j-k`` (``i != k``, both shorter than the cutoff) the cosine of the
angle at ``j``. Positions are ``(x, y) = (column, row)`` pixels; lengths in Å.
"""

from __future__ import annotations

import numpy as np

from .._utils import progress
from ..errors import NotEnoughDataError, ParameterError


def bond_graph(positions, pixel_size: float, cutoff: float = 4.0):
    """Bonds (both directions) and bond-angle cosines of points closer than ``cutoff``.

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        ``(x, y)`` pixels.
    pixel_size : float
        Å per pixel.
    cutoff : float
        Bond cutoff in Å.

    Returns
    -------
    edge_index : ndarray of int64, shape (2, E)
        Directed bonds ``source -> target``, grouped by source.
    edge_lengths : ndarray, shape (E,)
        Å.
    angle_index : ndarray of int64, shape (2, T)
        Line-graph edges: bond ``i -> j`` (row 0) to bond ``j -> k`` (row 1), ``k != i``.
    angle_cosines : ndarray, shape (T,)
        Cosine of the angle at ``j`` between ``r_i - r_j`` and ``r_k - r_j``.

    Examples
    --------
    >>> tri = [[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]]
    >>> e, d, a, c = bond_graph(tri, 1.0, cutoff=1.5)
    >>> e.shape[1], a.shape[1], bool(np.allclose(c, 0.5))
    (6, 6, True)
    """
    from scipy.spatial import cKDTree

    if not (pixel_size is not None and np.isfinite(pixel_size) and pixel_size > 0):
        raise ParameterError(f"pixel_size must be a positive number of Å per pixel, got {pixel_size}.")
    if not cutoff > 0:
        raise ParameterError(f"cutoff must be > 0 Å, got {cutoff}.")
    p = np.asarray(positions, dtype=float).reshape(-1, 2) * float(pixel_size)
    if len(p) < 2:
        return np.zeros((2, 0), np.int64), np.zeros(0), np.zeros((2, 0), np.int64), np.zeros(0)
    pairs = cKDTree(p).query_pairs(float(cutoff), output_type="ndarray").astype(np.int64).reshape(-1, 2)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((dst, src))  # edges grouped by source atom (CSR)
    src, dst = src[order], dst[order]
    lengths = np.linalg.norm(p[dst] - p[src], axis=1)
    # line graph: edge e = (i -> j) meets every f = (j -> k) leaving its target j
    starts = np.searchsorted(src, np.arange(len(p) + 1))
    n_follow = np.diff(starts)[dst]
    e_idx = np.repeat(np.arange(len(src)), n_follow)
    offsets = np.arange(len(e_idx)) - np.repeat(np.cumsum(n_follow) - n_follow, n_follow)
    f_idx = starts[dst[e_idx]] + offsets
    keep = dst[f_idx] != src[e_idx]
    e_idx, f_idx = e_idx[keep], f_idx[keep]
    centre = p[dst[e_idx]]
    u = p[src[e_idx]] - centre
    v = p[dst[f_idx]] - centre
    cosines = np.einsum("ij,ij->i", u, v) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    return np.stack([src, dst]), lengths, np.stack([e_idx, f_idx]).astype(np.int64), np.clip(cosines, -1.0, 1.0)


def mask_positions(mask) -> np.ndarray:
    """Centres ``(x, y)`` in pixels of the connected components (8-connectivity) of a 0/1 mask.

    Meant for masks of disjoint atom disks (e.g. :attr:`BravaisDataset.masks`, whose disks
    never touch); touching atoms need :func:`motifkit.learn.segment.detect_blobs`.

    Examples
    --------
    >>> m = np.zeros((8, 8)); m[1:4, 1:4] = 1; m[5:8, 4:7] = 1
    >>> mask_positions(m).tolist()
    [[2.0, 2.0], [5.0, 6.0]]
    """
    from scipy import ndimage

    mask = np.asarray(mask) > 0
    components, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return np.zeros((0, 2))
    centres = ndimage.center_of_mass(mask, components, np.arange(1, n + 1))
    return np.asarray(centres, dtype=float).reshape(-1, 2)[:, ::-1].copy()


def bond_angle_histogram(positions, pixel_size: float, cutoff: float = 4.0, bins: int = 200) -> np.ndarray:
    """Normalised histogram of bond-angle cosines on ``bins`` equal bins of [-1, 1].

    Parameters
    ----------
    positions : array_like, shape (N, 2)
        Column centres ``(x, y) = (column, row)`` in pixels.
    pixel_size : float
        Å per pixel.
    cutoff : float
        Bond cutoff in Å (AtomVision: 4 Å).
    bins : int
        AtomVision uses 200.

    Returns
    -------
    ndarray, shape (bins,)
        Sums to 1.

    Raises
    ------
    NotEnoughDataError
        No two bonds share an atom (too few positions or a too small cutoff).

    Examples
    --------
    >>> square = [[x, y] for x in range(4) for y in range(4)]
    >>> h = bond_angle_histogram(square, 1.0, cutoff=1.2, bins=4)
    >>> h.round(3).tolist()  # cos = -1 (straight) and 0 (right angle) only
    [0.308, 0.0, 0.692, 0.0]
    """
    bins = int(bins)
    if bins < 1:
        raise ParameterError(f"bins must be >= 1, got {bins}.")
    cosines = bond_graph(positions, pixel_size, cutoff)[3]
    if len(cosines) == 0:
        raise NotEnoughDataError(
            f"no bond angles: {len(np.asarray(positions).reshape(-1, 2))} positions have no two bonds "
            f"shorter than {cutoff} Å sharing an atom; pass more positions or a larger cutoff."
        )
    counts, _ = np.histogram(cosines, bins=bins, range=(-1.0, 1.0))
    return counts / counts.sum()


def dataset_angle_histograms(dataset, cutoff: float = 4.0, bins: int = 200, verbose: bool = False):
    """Bond-angle histograms of every image of a :class:`BravaisDataset` (true column masks).

    Returns
    -------
    histograms : ndarray, shape (N, bins)
        Rows of images without any bond angle are all zero.
    n_empty : int
        Number of such images (reported, not dropped, so rows match the dataset).
    """
    out = np.zeros((len(dataset), int(bins)))
    n_empty = 0
    for i in progress(range(len(dataset)), verbose=verbose, desc="angle histograms", total=len(dataset)):
        try:
            out[i] = bond_angle_histogram(mask_positions(dataset.masks[i]), float(dataset.pixel_sizes[i]), cutoff, bins)
        except NotEnoughDataError:
            n_empty += 1
    return out, n_empty


def tsne_embedding(features, *, n_components: int = 2, perplexity: float = 30.0, early_exaggeration: float = 12.0,
                   learning_rate="auto", max_iter: int = 1000, metric: str = "euclidean", init: str = "pca",
                   method: str = "barnes_hut", angle: float = 0.5, random_state=0) -> np.ndarray:
    """t-SNE embedding of feature rows (``sklearn.manifold.TSNE``, every behaviour argument explicit).

    Parameters
    ----------
    features : array_like, shape (N, D)
        E.g. flattened images (N, H*W) or bond-angle histograms (N, 200).
    n_components, perplexity, early_exaggeration, learning_rate, max_iter, metric, init, method, angle
        Passed to TSNE. ``perplexity`` is lowered to ``(N - 1) / 3`` for small N.
    random_state : int

    Returns
    -------
    ndarray, shape (N, n_components)

    Examples
    --------
    >>> x = np.random.default_rng(0).random((20, 5))
    >>> tsne_embedding(x, random_state=0).shape
    (20, 2)
    """
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=float)
    if x.ndim != 2:
        raise ParameterError(f"features must be a 2-D (samples, features) array, got shape {x.shape}.")
    if len(x) < 5:
        raise NotEnoughDataError(f"t-SNE needs at least 5 samples, got {len(x)}.")
    if not np.all(np.isfinite(x)):
        raise ParameterError("features contain NaN or inf; clean them before embedding.")
    perplexity = float(min(perplexity, (len(x) - 1) / 3.0))
    tsne = TSNE(n_components=int(n_components), perplexity=perplexity, early_exaggeration=float(early_exaggeration),
                learning_rate=learning_rate, max_iter=int(max_iter), n_iter_without_progress=300, min_grad_norm=1e-7,
                metric=metric, metric_params=None, init=init, verbose=0, random_state=random_state, method=method,
                angle=float(angle), n_jobs=1)
    return tsne.fit_transform(x)


def separation_score(embedding, labels, n_neighbors: int = 10) -> dict:
    """How well classes separate in an embedding.

    Parameters
    ----------
    embedding : array_like, shape (N, D)
    labels : array_like, shape (N,)
    n_neighbors : int

    Returns
    -------
    dict
        ``knn_accuracy``: leave-one-out majority vote of the ``n_neighbors`` nearest other
        points (ties to the smallest label); ``silhouette``: mean silhouette (Euclidean);
        ``chance``: accuracy of always predicting the most common class.

    Examples
    --------
    >>> emb = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10] + np.random.default_rng(0).random((10, 2))
    >>> separation_score(emb, [0] * 5 + [1] * 5, n_neighbors=3)["knn_accuracy"]
    1.0
    """
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import NearestNeighbors

    emb = np.asarray(embedding, dtype=float)
    y = np.asarray(labels)
    if len(emb) != len(y):
        raise ParameterError(f"embedding has {len(emb)} rows but labels has {len(y)}.")
    classes, y_index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise NotEnoughDataError("separation needs at least two classes.")
    k = int(min(n_neighbors, len(emb) - 1))
    _, neighbours = NearestNeighbors(n_neighbors=k + 1, algorithm="auto", metric="euclidean").fit(emb).kneighbors(emb)
    votes = np.zeros((len(emb), len(classes)))
    neighbour_labels = y_index[neighbours[:, 1:]]  # column 0 is the point itself
    np.add.at(votes, (np.repeat(np.arange(len(emb)), k), neighbour_labels.ravel()), 1)
    predicted = votes.argmax(axis=1)
    return {"knn_accuracy": float(np.mean(predicted == y_index)),
            "silhouette": float(silhouette_score(emb, y_index, metric="euclidean")),
            "chance": float(np.bincount(y_index).max() / len(y_index))}
