"""Motif labels from a 2-D layout, class averages, and image reconstruction.

A *motif* is a group of atom columns whose surroundings look alike: points that form
one island in the force-relaxed layout. Two labelling methods are offered:

``"density"`` (default)
    HDBSCAN on the layout with a minimum cluster size. Points HDBSCAN calls noise are
    attached to the nearest cluster (their count is reported), so no column is lost.
``"raster"``
    The reference implementation's behaviour: rasterise the layout onto a
    ``raster_size`` x ``raster_size`` grid, dilate, take connected components. It tends
    to shatter hard data into many small islands; kept for comparison.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from .errors import NotEnoughDataError, ParameterError

__all__ = ["MotifLabeler", "label_motifs", "class_averages", "reconstruct", "relabel_by_size"]


def _check_layout(layout) -> np.ndarray:
    layout = np.asarray(layout, dtype=float)
    if layout.ndim != 2 or layout.shape[1] != 2:
        raise ParameterError(f"layout must have shape (N, 2), got {layout.shape}.")
    if not np.isfinite(layout).all():
        raise ParameterError("layout contains NaN/inf; recompute it from finite features.")
    if len(layout) < 2:
        raise NotEnoughDataError(f"Need at least 2 points to label motifs, got {len(layout)}.")
    return layout


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0..K-1 from the most to the least populated (-1 kept as -1)."""
    labels = np.asarray(labels)
    valid = labels[labels >= 0]
    uniques, counts = np.unique(valid, return_counts=True)
    order = uniques[np.argsort(-counts, kind="stable")]
    mapping = np.full(labels.max() + 1 if labels.size and labels.max() >= 0 else 1, -1, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    out = np.full(labels.shape, -1, dtype=np.int64)
    out[labels >= 0] = mapping[labels[labels >= 0]]
    return out


def _raster_labels(layout: np.ndarray, raster_size: int, dilation: int) -> np.ndarray:
    from scipy import ndimage

    low, high = layout.min(axis=0), layout.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    cells = np.clip(((layout - low) / span * (raster_size - 1)).round().astype(int), 0, raster_size - 1)
    occupied = np.zeros((raster_size, raster_size), dtype=bool)
    occupied[cells[:, 1], cells[:, 0]] = True
    if dilation > 0:
        yy, xx = np.mgrid[-dilation : dilation + 1, -dilation : dilation + 1]
        occupied = ndimage.binary_dilation(occupied, structure=(xx**2 + yy**2) <= dilation**2)
    components, _ = ndimage.label(occupied)
    return components[cells[:, 1], cells[:, 0]] - 1


class MotifLabeler(ClusterMixin, BaseEstimator):
    """Label motifs as islands of a 2-D layout.

    Parameters
    ----------
    method : {"density", "raster"}
        HDBSCAN with a minimum cluster size, or the reference raster connected components.
    min_cluster_size : int or None
        Smallest motif (number of columns) for ``"density"``; None uses
        ``min(max(10, N // 1000), 50)``: small enough that a rare dopant motif of a few
        dozen columns survives in a 100k-column image.
    min_samples : int or None
        HDBSCAN ``min_samples`` (None: same as ``min_cluster_size`` capped at 15).
    assign_noise : bool
        Attach HDBSCAN noise points to the cluster of their nearest labelled neighbour in
        the layout. When False they keep the label -1.
    raster_size : int
        Grid side for ``"raster"``.
    dilation : int
        Dilation radius in grid cells for ``"raster"``.

    Attributes
    ----------
    labels_ : ndarray of int, shape (N,)
        Motif label per point, 0 = the most populated motif.
    n_motifs_ : int
    counts_ : ndarray of int, shape (n_motifs_,)
    n_noise_reassigned_ : int
        How many noise points were attached to their nearest cluster.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> layout = np.vstack([rng.normal(0, 0.3, (200, 2)), rng.normal(5, 0.3, (100, 2))])
    >>> MotifLabeler(min_cluster_size=20).fit(layout).n_motifs_
    2
    """

    def __init__(
        self,
        method: str = "density",
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        assign_noise: bool = True,
        raster_size: int = 256,
        dilation: int = 2,
    ):
        self.method = method
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.assign_noise = assign_noise
        self.raster_size = raster_size
        self.dilation = dilation

    def fit(self, X, y=None):
        layout = _check_layout(X)
        n = len(layout)
        self.n_noise_reassigned_ = 0
        if self.method == "raster":
            if int(self.raster_size) < 8:
                raise ParameterError(f"raster_size must be >= 8, got {self.raster_size}.")
            labels = _raster_labels(layout, int(self.raster_size), int(self.dilation))
        elif self.method == "density":
            import hdbscan

            size = self.min_cluster_size if self.min_cluster_size is not None else min(max(10, n // 1000), 50)
            size = int(size)
            if size < 2:
                raise ParameterError(f"min_cluster_size must be >= 2, got {size}.")
            if n < size:
                raise NotEnoughDataError(
                    f"{n} points are fewer than min_cluster_size={size}; lower min_cluster_size."
                )
            samples = self.min_samples if self.min_samples is not None else min(size, 15)
            # The hdbscan package's Boruvka kd-tree MST is O(N log N) in 2-D;
            # scikit-learn's HDBSCAN builds its MST in O(N^2) (160 s at 90k columns).
            clusterer = hdbscan.HDBSCAN(
                min_cluster_size=size,
                min_samples=int(samples),
                cluster_selection_epsilon=0.0,
                cluster_selection_method="eom",
                metric="euclidean",
                algorithm="boruvka_kdtree",
                allow_single_cluster=True,
                core_dist_n_jobs=1,
            )
            labels = clusterer.fit_predict(layout)
            noise = labels < 0
            if noise.all():
                labels = np.zeros(n, dtype=np.int64)
            elif noise.any() and self.assign_noise:
                from scipy.spatial import cKDTree

                _, nearest = cKDTree(layout[~noise]).query(layout[noise], k=1)
                labels[noise] = labels[~noise][nearest]
                self.n_noise_reassigned_ = int(noise.sum())
        else:
            raise ParameterError(f"method must be 'density' or 'raster', got {self.method!r}.")
        self.labels_ = relabel_by_size(labels)
        self.n_motifs_ = int(self.labels_.max() + 1) if (self.labels_ >= 0).any() else 0
        self.counts_ = np.bincount(self.labels_[self.labels_ >= 0], minlength=self.n_motifs_)
        return self


def label_motifs(layout, method: str = "density", **kwargs) -> np.ndarray:
    """Label motifs in a 2-D layout; see :class:`MotifLabeler` for the options.

    Parameters
    ----------
    layout : ndarray, shape (N, 2)
        The embedding, e.g. from :class:`motifkit.ForceRelaxedLayout`.

    Returns
    -------
    ndarray of int, shape (N,)
        Motif labels, 0 = the most populated motif.
    """
    return MotifLabeler(method=method, **kwargs).fit(layout).labels_


def class_averages(patches, labels, n_motifs: int | None = None) -> np.ndarray:
    """Average the patches of each motif.

    Parameters
    ----------
    patches : ndarray, shape (N, s, s)
        Patches sampled at the column centres.
    labels : ndarray of int, shape (N,)
        Motif label per patch; negative labels are ignored.
    n_motifs : int, optional
        Number of motifs (defaults to ``labels.max() + 1``).

    Returns
    -------
    ndarray of float32, shape (n_motifs, s, s)
        Mean patch per motif (zeros for a motif with no member).
    """
    patches = np.asarray(patches, dtype=np.float32)
    labels = np.asarray(labels)
    if patches.ndim != 3 or len(patches) != len(labels):
        raise ParameterError(
            f"patches must be (N, s, s) with one label each; got {patches.shape} and {labels.shape}."
        )
    k = int(labels.max()) + 1 if n_motifs is None else int(n_motifs)
    valid = labels >= 0
    flat = patches[valid].reshape(int(valid.sum()), -1)
    sums = np.zeros((k, flat.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[valid], flat)
    counts = np.bincount(labels[valid], minlength=k).astype(np.float64)
    averages = sums / np.maximum(counts, 1)[:, None]
    return averages.reshape(k, *patches.shape[1:]).astype(np.float32)


def reconstruct(shape, positions, labels, averages, *, window: str = "gaussian", return_weight=False):
    """Rebuild an image from motif class averages placed at the column positions.

    Each column's class average is resampled at the column's sub-pixel position
    (bilinear) and blended with its neighbours through a smooth window, so overlapping
    patches average rather than overwrite (paper Fig. 1I).

    Parameters
    ----------
    shape : tuple of int
        (H, W) of the output image in pixels.
    positions : ndarray, shape (N, 2)
        Column centres as (x, y) = (column, row) pixels.
    labels : ndarray of int, shape (N,)
        Motif per column; negative labels are skipped.
    averages : ndarray, shape (K, s, s)
        Class averages (odd ``s``), e.g. from :func:`class_averages`.
    window : {"gaussian", "flat"}
        Blending weight across a patch.
    return_weight : bool
        Also return the accumulated weight map (0 where no patch reached).

    Returns
    -------
    image : ndarray of float32, shape (H, W)
        Reconstruction; pixels no patch covers are 0.
    weight : ndarray of float32, shape (H, W)
        Only when ``return_weight``.
    """
    from ._motifs_kernels import splat_patches

    averages = np.asarray(averages, dtype=np.float32)
    positions = np.asarray(positions, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if averages.ndim != 3 or averages.shape[1] != averages.shape[2]:
        raise ParameterError(f"averages must be (K, s, s), got {averages.shape}.")
    if positions.shape != (len(labels), 2):
        raise ParameterError(
            f"positions must be (N, 2) with one label each; got {positions.shape} and {labels.shape}."
        )
    if labels.size and labels.max() >= len(averages):
        raise ParameterError(f"label {labels.max()} has no class average (only {len(averages)}).")
    size = averages.shape[1]
    half = (size - 1) / 2.0
    if window == "gaussian":
        yy, xx = np.mgrid[:size, :size] - half
        weights = np.exp(-(xx**2 + yy**2) / (2 * (size / 4.0) ** 2)).astype(np.float32)
    elif window == "flat":
        weights = np.ones((size, size), dtype=np.float32)
    else:
        raise ParameterError(f"window must be 'gaussian' or 'flat', got {window!r}.")
    height, width = int(shape[0]), int(shape[1])
    keep = labels >= 0
    image, weight = splat_patches(
        height, width, positions[keep], labels[keep], averages, weights
    )
    covered = weight > 1e-6
    image[covered] /= weight[covered]
    image[~covered] = 0.0
    if return_weight:
        return image, weight
    return image


def reconstruction_residual(image, reconstruction, weight) -> dict:
    """Residual statistics of a reconstruction over the pixels it covers.

    Returns
    -------
    dict
        ``rms`` (intensity units), ``relative_rms`` (rms / std of the image over the
        covered pixels), ``coverage`` (fraction of pixels covered).
    """
    image = np.asarray(image, dtype=np.float64)
    covered = np.asarray(weight) > 0.05 * float(np.max(weight)) if np.max(weight) > 0 else np.zeros(image.shape, bool)
    if not covered.any():
        warnings.warn("The reconstruction covers no pixel; residual is undefined.", stacklevel=2)
        return {"rms": float("nan"), "relative_rms": float("nan"), "coverage": 0.0}
    diff = image[covered] - np.asarray(reconstruction, dtype=np.float64)[covered]
    rms = float(np.sqrt(np.mean(diff**2)))
    spread = float(np.std(image[covered])) or 1.0
    return {"rms": rms, "relative_rms": rms / spread, "coverage": float(covered.mean())}
