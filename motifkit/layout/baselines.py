"""Baseline 2-D layouts under the same interface as :class:`ForceRelaxedLayout`.

``PCALayout`` (own implementation), ``TSNELayout`` (scikit-learn) and ``UMAPLayout``
(umap-learn, an optional dependency imported only when fitted). Each is a scikit-learn
estimator with ``fit(X)``, ``fit_transform(X) -> (N, 2)`` and ``embedding_``; every
behaviour-defining argument of the wrapped library is passed explicitly.

For ``metric="correlation"``/``"cosine"`` the features are first transformed by
:func:`~motifkit.layout.knn.transform_for_metric` (centred and L2-normalised rows), so
that squared Euclidean distances are twice the correlation distance.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._utils import Timer, check_random_state
from ..errors import ParameterError, require
from .knn import METRICS, check_features, transform_for_metric

__all__ = ["PCALayout", "TSNELayout", "UMAPLayout", "principal_components"]


def principal_components(X, n_components: int = 2) -> np.ndarray:
    """Scores on the leading principal components (eigendecomposition of the covariance).

    The sign of each component is fixed so that its largest-magnitude loading is
    positive, which makes the result deterministic.

    Parameters
    ----------
    X : ndarray, shape (N, n_features)
    n_components : int

    Returns
    -------
    ndarray of float64, shape (N, n_components)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 5)) * [5, 1, 1, 1, 1]
    >>> principal_components(X, 2).shape
    (50, 2)
    """
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)
    if X.shape[1] < n_components:  # pad: fewer features than components
        centred = np.hstack([centred, np.zeros((len(X), n_components - X.shape[1]))])
    covariance = centred.T @ centred
    values, vectors = np.linalg.eigh(covariance)
    vectors = vectors[:, ::-1][:, :n_components]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(n_components)])
    signs[signs == 0] = 1.0
    return centred @ (vectors * signs)


def _prepare(X, metric: str, min_samples: int) -> np.ndarray:
    if metric not in METRICS:
        raise ParameterError(f"metric must be one of {METRICS}, got {metric!r}.")
    X = check_features(X, min_samples - 1)
    return transform_for_metric(X, metric)


class PCALayout(TransformerMixin, BaseEstimator):
    """Layout by the first two principal components.

    Parameters
    ----------
    metric : {"euclidean", "correlation", "cosine"}, default "euclidean"
        "correlation"/"cosine" first centre and normalise the rows.
    random_state : ignored
        Accepted for a uniform interface (PCA is deterministic).

    Attributes
    ----------
    embedding_ : ndarray, shape (N, 2)
    timings_ : dict

    Examples
    --------
    >>> import numpy as np
    >>> PCALayout().fit_transform(np.random.default_rng(0).normal(size=(30, 6))).shape
    (30, 2)
    """

    def __init__(self, metric="euclidean", random_state=None):
        self.metric = metric
        self.random_state = random_state

    def fit(self, X, y=None):
        timer = Timer()
        with timer("total"):
            U = _prepare(X, self.metric, 2)
            self.embedding_ = principal_components(U, 2)
        self.n_features_in_ = U.shape[1]
        self.timings_ = dict(timer)
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).embedding_


class TSNELayout(TransformerMixin, BaseEstimator):
    """t-SNE layout (scikit-learn, Barnes-Hut).

    Parameters
    ----------
    perplexity : float, default 30
    metric : {"euclidean", "correlation", "cosine"}, default "euclidean"
    max_iter : int, default 1000
    learning_rate : float or "auto", default "auto"
    early_exaggeration : float, default 12
    init : {"pca", "random"}, default "pca"
    method : {"barnes_hut", "exact"}, default "barnes_hut"
        scikit-learn's gradient method; "exact" is O(N^2), for small N only.
    random_state : None, int or Generator

    Attributes
    ----------
    embedding_ : ndarray, shape (N, 2)
    timings_ : dict

    Examples
    --------
    >>> import numpy as np
    >>> TSNELayout(perplexity=5, max_iter=250, random_state=0).fit_transform(
    ...     np.random.default_rng(0).normal(size=(40, 6))).shape
    (40, 2)
    """

    def __init__(self, perplexity=30.0, metric="euclidean", max_iter=1000, learning_rate="auto",
                 early_exaggeration=12.0, init="pca", method="barnes_hut", random_state=None):
        self.perplexity = perplexity
        self.metric = metric
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.early_exaggeration = early_exaggeration
        self.init = init
        self.method = method
        self.random_state = random_state

    def fit(self, X, y=None):
        from sklearn.manifold import TSNE

        timer = Timer()
        with timer("total"):
            if not isinstance(self.perplexity, numbers.Real) or self.perplexity <= 0:
                raise ParameterError(f"perplexity must be > 0, got {self.perplexity!r}.")
            U = _prepare(X, self.metric, int(np.ceil(self.perplexity)) + 2)
            seed = int(check_random_state(self.random_state).integers(2**31 - 1))
            # squared Euclidean distances of the transformed rows are 2 x the correlation
            # (cosine) distance; the perplexity calibration absorbs the factor
            tsne = TSNE(n_components=2, perplexity=float(self.perplexity),
                        early_exaggeration=float(self.early_exaggeration),
                        learning_rate=self.learning_rate, max_iter=int(self.max_iter),
                        n_iter_without_progress=300, min_grad_norm=1e-7, metric="euclidean",
                        init=self.init, verbose=0, random_state=seed, method=self.method,
                        angle=0.5, n_jobs=None)
            self.embedding_ = tsne.fit_transform(U)
        self.n_features_in_ = U.shape[1]
        self.timings_ = dict(timer)
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).embedding_


class UMAPLayout(TransformerMixin, BaseEstimator):
    """UMAP layout (umap-learn, optional: ``pip install umap-learn``).

    Parameters
    ----------
    n_neighbors : int, default 15
        umap-learn's default.
    min_dist : float, default 0.1
    metric : {"euclidean", "correlation", "cosine"}, default "euclidean"
        Passed to umap-learn as is.
    n_epochs : int, optional
        None = umap-learn's choice (200 for large data, 500 for small).
    random_state : None or int
        An int makes umap-learn reproducible but single-threaded.

    Attributes
    ----------
    embedding_ : ndarray, shape (N, 2)
    timings_ : dict

    Raises
    ------
    MissingDependencyError
        umap-learn is not installed.
    """

    def __init__(self, n_neighbors=15, min_dist=0.1, metric="euclidean", n_epochs=None, random_state=None):
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.n_epochs = n_epochs
        self.random_state = random_state

    def fit(self, X, y=None):
        umap = require("umap", "bench", "the UMAP baseline layout")
        timer = Timer()
        with timer("total"):
            if self.metric not in METRICS:
                raise ParameterError(f"metric must be one of {METRICS}, got {self.metric!r}.")
            X = check_features(X, int(self.n_neighbors))
            seed = self.random_state
            if isinstance(seed, np.random.Generator):
                seed = int(seed.integers(2**31 - 1))
            model = umap.UMAP(n_neighbors=int(self.n_neighbors), n_components=2, metric=self.metric,
                              n_epochs=self.n_epochs, learning_rate=1.0, init="spectral",
                              min_dist=float(self.min_dist), spread=1.0, set_op_mix_ratio=1.0,
                              local_connectivity=1.0, repulsion_strength=1.0, negative_sample_rate=5,
                              random_state=seed, verbose=False)
            self.embedding_ = np.asarray(model.fit_transform(X), dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        self.timings_ = dict(timer)
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).embedding_
