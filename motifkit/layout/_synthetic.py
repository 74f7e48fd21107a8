"""Synthetic feature sets for testing and benchmarking layouts."""

from __future__ import annotations

import numpy as np

from .._utils import check_random_state


def make_imbalanced_mixture(n_samples: int, n_features: int = 66, n_clusters: int = 6,
                            small_ratio: float = 0.1, cluster_std: float = 1.25, random_state=0):
    """Isotropic Gaussian clusters, the last one ``small_ratio`` times the size of the others.

    Centres are standard normal vectors; each point adds ``cluster_std`` times standard
    normal noise in every dimension, so the within-cluster noise fills all dimensions
    (the hard case for approximate neighbour search). With the defaults (66-d, six
    clusters, one 10x smaller) this is the benchmark of ``METHODS.md``.

    Parameters
    ----------
    n_samples, n_features, n_clusters : int
    small_ratio : float
        Size of the last cluster relative to each of the others.
    cluster_std : float
    random_state : None, int or Generator

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_features)
    labels : ndarray of int64, shape (n_samples,)
        Cluster index; ``n_clusters - 1`` is the small cluster.
    """
    rng = check_random_state(random_state)
    weights = np.ones(n_clusters)
    weights[-1] = small_ratio
    sizes = np.floor(weights / weights.sum() * n_samples).astype(int)
    sizes[0] += n_samples - sizes.sum()
    centres = rng.standard_normal((n_clusters, n_features))
    labels = np.repeat(np.arange(n_clusters), sizes)
    X = centres[labels] + cluster_std * rng.standard_normal((n_samples, n_features))
    return X, labels
