"""Two-stage force-relaxed (FR) layout of feature vectors (Dan et al., Sci. Adv. 2022).

The FR layout generalises UMAP's optimisation step:

1. Fuzzy kNN graph of the features (:func:`~motifkit.layout.fuzzy_knn_graph`; k = 10
   counting the point itself, correlation distance by default).
2. Initial 2-D layout: the first two principal components of the features, scaled so
   that the largest coordinate is 10 in absolute value.
3. Epochs split evenly into stages, each with ``(N, M, alpha, beta)``. In every epoch,
   for every directed edge ``(i, j, w)`` of the graph (each undirected edge twice):

   - attraction ``F = alpha * d_vec / (1 + d**N)`` with ``d_vec = y_i - y_j`` and
     ``d = |d_vec|`` the Euclidean distance *in the layout*; each coordinate is clipped
     to [-4, 4], multiplied by the learning rate and by ``w``; ``y_i -= F``,
     ``y_j += F`` (both ends move towards each other);
   - then ``s`` negative samples ``r`` drawn uniformly, skipping ``r`` in i's kNN list
     (which contains i): repulsion ``F = beta * d_vec / (1 + d**M)`` with
     ``d_vec = y_i - y_r``, clipped, times the learning rate but *not* weighted;
     ``y_i += F``, ``y_r -= F`` (the two points move apart).

   The learning rate decays linearly within each stage and restarts at the next stage.

Presets (:data:`FR_PRESETS`): ``"reference"`` = the authors' code defaults, stage 1
``(N, M, alpha, beta) = (0, 2, 1, 1)`` (repulsion-dominated), stage 2 ``(2, 4, 5, 2)``
(attraction-dominated), 10 negative samples; ``"paper"`` = the values of the paper's
text, ``{alpha 1, beta 1, n 0, m 2}`` then ``{alpha 5, beta 1, n 2, m 5}``, 5 negatives.

Where ``METHODS.md`` is silent this follows the reference implementation
(``mtflearn.manifold.force_relaxed.ForceGraph8``): the PCA is computed on the raw
features, the clip is applied before the learning rate and the edge weight, the negatives
act on the point i as moved by the edge's attraction, every directed edge draws its own
negatives whatever its weight, and memberships below machine epsilon are kept as
epsilon-weight edges. Deliberate differences, each harmless to the method:

- the ``s`` repulsions of one edge are all evaluated at the same position of i and their
  pushes on i are summed; the reference moves i after each one. The difference is of
  second order in the learning rate (each push is at most ``beta * lr / 2`` for M = 2),
  and it removes a chain of dependent updates (about 25 % faster);
- the random sample is ``(rand32 * N) >> 32`` instead of ``rand32 % N`` (no division);
- learning rate: epoch ``e`` of a stage of ``E`` epochs uses ``lr * (1 - e / E)``; the
  reference updates after the epoch and so runs the first two epochs at the full rate
  (``1, 1, 1 - 1/E, ...``);
- ``n_epochs`` not divisible by the number of stages: the remainder goes to the last
  stages (the reference drops it);
- random numbers: one Tausworthe stream per chunk of 4096 edges instead of one global
  stream, so that the parallel kernel uses the same streams as the serial one.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .._utils import Timer, check_random_state, progress
from ..errors import ParameterError
from .knn import METRICS, _check_n_neighbors, check_features, nearest_neighbors

__all__ = ["ForceRelaxedLayout", "FR_PRESETS"]

#: Named parameter sets: ``stages`` is a tuple of ``(N, M, alpha, beta)`` per stage.
FR_PRESETS = {
    "reference": {"stages": ((0.0, 2.0, 1.0, 1.0), (2.0, 4.0, 5.0, 2.0)), "negative_samples": 10},
    "paper": {"stages": ((0.0, 2.0, 1.0, 1.0), (2.0, 5.0, 5.0, 1.0)), "negative_samples": 5},
}

_EDGE_CHUNK = 4096  # edges per random stream / per parallel work item
_INIT_SCALE = 10.0


def _as_stage(stage, position: int) -> tuple[float, float, float, float]:
    if isinstance(stage, dict):
        lowered = {str(key).lower(): value for key, value in stage.items()}
        unknown = set(lowered) - {"n", "m", "alpha", "beta"}
        missing = {"n", "m", "alpha", "beta"} - set(lowered)
        if unknown or missing:
            raise ParameterError(
                f"stage {position} must have keys n, m, alpha, beta; missing {sorted(missing)}, "
                f"unknown {sorted(unknown)}."
            )
        values = (lowered["n"], lowered["m"], lowered["alpha"], lowered["beta"])
    else:
        try:
            values = tuple(stage)
        except TypeError:
            values = ()
        if len(values) != 4:
            raise ParameterError(
                f"stage {position} must be (N, M, alpha, beta) or a dict with those keys, got {stage!r}."
            )
    try:
        n_exp, m_exp, alpha, beta = (float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"stage {position} values must be numbers, got {values!r}.") from exc
    if not all(np.isfinite(v) and v >= 0 for v in (n_exp, m_exp, alpha, beta)):
        raise ParameterError(
            f"stage {position}: N, M, alpha and beta must be finite and >= 0, got {values!r}."
        )
    return n_exp, m_exp, alpha, beta


def pca_init(X, scale: float = _INIT_SCALE) -> np.ndarray:
    """First two principal components of ``X`` scaled so that ``max |y| == scale``.

    Parameters
    ----------
    X : ndarray, shape (N, n_features)
    scale : float

    Returns
    -------
    ndarray of float64, shape (N, 2)
    """
    from threadpoolctl import threadpool_limits

    from .baselines import principal_components

    # a 66 x 66 covariance is far too small for threaded BLAS: on a busy machine the
    # threads' spinning and hand-offs cost seconds of wall time for ~0.05 s of work
    with threadpool_limits(limits=1, user_api="blas"):
        Y = principal_components(X, 2)
    peak = np.abs(Y).max()
    return Y * (scale / peak) if peak > 0 else Y


class ForceRelaxedLayout(TransformerMixin, BaseEstimator):
    """Two-stage force-relaxed 2-D layout of feature vectors (e.g. Zernike moments).

    Parameters
    ----------
    n_neighbors : int, default 10
        k of the kNN graph, counting the point itself.
    metric : {"correlation", "euclidean", "cosine"}, default "correlation"
        Distance between feature vectors for the kNN graph.
    preset : {"reference", "paper"}, default "reference"
        Named stages and number of negative samples, see :data:`FR_PRESETS`.
    stages : sequence of (N, M, alpha, beta) or of dicts, optional
        Custom stages (overrides the preset's). The epochs are split evenly among them.
    n_epochs : int, default 100
        Total epochs over all stages.
    negative_samples : int, optional
        Negative samples per directed edge and epoch (default: the preset's).
    learning_rate : float, default 1.0
        Initial learning rate of every stage.
    knn : {"auto", "exact", "approximate"}, default "auto"
        kNN search method, see :func:`~motifkit.layout.nearest_neighbors`.
    init : {"pca", "random"} or ndarray of shape (N, 2), default "pca"
        Initial layout: PCA of the features (scaled to +-10), uniform in [-10, 10]^2, or
        given coordinates.
    parallel : bool, default False
        Run the layout epochs on all numba threads, Hogwild-style (lock-free, like
        umap-learn): faster but not bitwise reproducible. The serial kernel gives the
        same layout for the same ``random_state``. (The kNN search always uses threads;
        its result does not depend on them.)
    random_state : None, int or numpy Generator
        Seeds the initial layout (``"random"``), the approximate kNN and the negative
        sampling.
    verbose : bool, default False
        Show a progress bar over epochs.

    Attributes
    ----------
    embedding_ : ndarray of float64, shape (N, 2)
        The layout (arbitrary units, about +-10 to +-50).
    graph_ : scipy.sparse.csr_matrix, shape (N, N)
        Symmetric fuzzy kNN graph.
    knn_indices_, knn_distances_ : ndarray, shape (N, k)
        Neighbours (self in column 0) and their distances.
    stages_ : tuple of (N, M, alpha, beta)
        The stages used.
    epochs_per_stage_ : tuple of int
    negative_samples_ : int
    knn_method_ : str
        "exact" or "approximate".
    timings_ : dict
        Seconds spent in ``knn``, ``graph``, ``init``, ``layout`` and ``total``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from motifkit.layout import ForceRelaxedLayout
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(m, 1.0, size=(150, 20)) for m in rng.normal(0, 2, (3, 20))])
    >>> Y = ForceRelaxedLayout(random_state=0).fit_transform(X)
    >>> Y.shape
    (450, 2)
    """

    def __init__(self, n_neighbors=10, metric="correlation", preset="reference", stages=None,
                 n_epochs=100, negative_samples=None, learning_rate=1.0, knn="auto", init="pca",
                 parallel=False, random_state=None, verbose=False):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.preset = preset
        self.stages = stages
        self.n_epochs = n_epochs
        self.negative_samples = negative_samples
        self.learning_rate = learning_rate
        self.knn = knn
        self.init = init
        self.parallel = parallel
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _resolve_parameters(self):
        if self.metric not in METRICS:
            raise ParameterError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        if self.preset not in FR_PRESETS:
            raise ParameterError(f"preset must be one of {sorted(FR_PRESETS)}, got {self.preset!r}.")
        preset = FR_PRESETS[self.preset]
        raw = preset["stages"] if self.stages is None else self.stages
        if isinstance(raw, dict) or not hasattr(raw, "__len__") or len(raw) == 0:
            raise ParameterError(f"stages must be a non-empty sequence of stages, got {raw!r}.")
        stages = tuple(_as_stage(stage, i) for i, stage in enumerate(raw))
        if not isinstance(self.n_epochs, numbers.Integral) or self.n_epochs < len(stages):
            raise ParameterError(
                f"n_epochs must be an integer >= the number of stages ({len(stages)}), got {self.n_epochs!r}."
            )
        n_negative = preset["negative_samples"] if self.negative_samples is None else self.negative_samples
        if not isinstance(n_negative, numbers.Integral) or n_negative < 0:
            raise ParameterError(f"negative_samples must be an integer >= 0, got {n_negative!r}.")
        if not isinstance(self.learning_rate, numbers.Real) or not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ParameterError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")
        if self.knn not in ("auto", "exact", "approximate"):
            raise ParameterError(f"knn must be 'auto', 'exact' or 'approximate', got {self.knn!r}.")
        base, extra = divmod(int(self.n_epochs), len(stages))
        epochs = tuple(base + (1 if i >= len(stages) - extra else 0) for i in range(len(stages)))
        return stages, epochs, int(n_negative)

    def _initial_layout(self, X, rng) -> np.ndarray:
        init = self.init
        if isinstance(init, str):
            if init == "pca":
                return pca_init(X)
            if init == "random":
                return rng.uniform(-_INIT_SCALE, _INIT_SCALE, size=(len(X), 2))
            raise ParameterError(f"init must be 'pca', 'random' or an (N, 2) array, got {init!r}.")
        Y = np.array(init, dtype=np.float64)
        if Y.shape != (len(X), 2) or not np.isfinite(Y).all():
            raise ParameterError(f"init array must be finite with shape ({len(X)}, 2), got {Y.shape}.")
        return Y

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None):
        """Compute the layout of ``X`` (N, n_features); returns ``self``."""
        from . import _kernels
        from .graph import fuzzy_knn_graph

        timer = Timer()
        with timer("total"):
            k = _check_n_neighbors(self.n_neighbors)
            stages, epochs, n_negative = self._resolve_parameters()
            X = check_features(X, k)
            rng = check_random_state(self.random_state)
            with timer("knn"):
                indices, distances, info = nearest_neighbors(
                    X, n_neighbors=k, metric=self.metric, method=self.knn, parallel=True,
                    random_state=rng, return_info=True,
                )
            with timer("graph"):
                graph = fuzzy_knn_graph(indices, distances)
            with timer("init"):
                Y = np.ascontiguousarray(self._initial_layout(X, rng))
            with timer("layout"):
                coo = graph.tocoo()
                head = coo.row.astype(np.int64)
                tail = coo.col.astype(np.int64)
                weight = coo.data.astype(np.float64)
                chunks = np.append(np.arange(0, len(head), _EDGE_CHUNK), len(head)).astype(np.int64)
                states = _kernels.seed_states(rng, len(chunks) - 1)
                knn = np.ascontiguousarray(indices, dtype=np.int32)  # N < 2**31: half the bytes to test
                epoch = _kernels.fr_epoch_parallel if self.parallel else _kernels.fr_epoch_serial
                bar = progress(total=int(self.n_epochs), verbose=self.verbose, desc="FR layout", unit="epoch")
                for stage, n_stage in zip(stages, epochs):
                    forces = _kernels.stage_forces(*stage)
                    for e in range(n_stage):
                        lr = float(self.learning_rate) * (1.0 - e / n_stage)
                        epoch(chunks, head, tail, weight, Y, knn, forces, n_negative, lr, states)
                        bar.update(1)
                bar.close()
        self.embedding_ = Y
        self.graph_ = graph
        self.knn_indices_ = indices
        self.knn_distances_ = distances
        self.knn_method_ = info["method"]
        self.stages_ = stages
        self.epochs_per_stage_ = epochs
        self.negative_samples_ = n_negative
        self.n_features_in_ = X.shape[1]
        self.timings_ = dict(timer)
        return self

    def fit_transform(self, X, y=None):
        """Fit and return the layout, ndarray of float64 with shape (N, 2)."""
        return self.fit(X).embedding_
