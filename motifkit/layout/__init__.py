"""2-D layouts of feature vectors: the two-stage force-relaxed (FR) layout and baselines.

- :class:`ForceRelaxedLayout`: the FR layout of Dan et al. (Sci. Adv. 2022), with the
  presets in :data:`FR_PRESETS`;
- :func:`nearest_neighbors`: exact (blocked brute force) or approximate (cell-pruned) kNN
  for the correlation, cosine and Euclidean metrics;
- :func:`fuzzy_knn_graph`: UMAP's symmetrised fuzzy kNN graph;
- baselines with the same ``fit_transform(X) -> (N, 2)`` interface: :class:`PCALayout`,
  :class:`TSNELayout` (scikit-learn), :class:`UMAPLayout` (umap-learn, optional).

numba is imported only when a layout is fitted.
"""

from .baselines import PCALayout, TSNELayout, UMAPLayout, principal_components
from .fr import FR_PRESETS, ForceRelaxedLayout
from .graph import fuzzy_knn_graph, membership_strengths
from .knn import knn_recall, nearest_neighbors, transform_for_metric

__all__ = [
    "ForceRelaxedLayout",
    "FR_PRESETS",
    "PCALayout",
    "TSNELayout",
    "UMAPLayout",
    "fuzzy_knn_graph",
    "membership_strengths",
    "nearest_neighbors",
    "knn_recall",
    "transform_for_metric",
    "principal_components",
]
