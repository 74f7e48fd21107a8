"""Helpers shared by the paper analyses: input resolution, disk sampling, spatial groups.

Positions are ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from __future__ import annotations

import numpy as np

from ..errors import NotEnoughDataError, ParameterError

__all__ = ["resolve_inputs", "disk_mean", "stack_disk_mean", "spatial_components", "analyze_at_positions"]


def _array_or_none(value, name, ndim=None, dtype=float):
    if value is None:
        return None
    array = np.asarray(value, dtype=dtype)
    if ndim is not None and array.ndim != ndim:
        raise ParameterError(f"{name} must be a {ndim}-D array, got shape {array.shape}.")
    return array


def resolve_inputs(analysis=None, *, required=(), **given) -> dict:
    """Arrays of a ``MotifAnalysis``-like object, overridden by explicitly given arrays.

    Parameters
    ----------
    analysis : object, optional
        Anything with (some of) the attributes ``positions`` (N, 2), ``features`` (N, F),
        ``layout`` (N, 2), ``labels`` (N,), ``patches`` (N, s, s), ``class_averages``
        (K, s, s) and ``micrograph``, e.g. a :class:`motifkit.MotifAnalysis`.
    required : sequence of str
        Names that must be present; a :class:`~motifkit.errors.ParameterError` names
        the missing ones and how to pass them.
    **given
        Arrays passed directly (``None`` = take it from ``analysis``).

    Returns
    -------
    dict
        name -> array (or Micrograph) or None; ``positions`` (N, 2) float, ``labels``
        (N,) int, the others as given. Every per-column array has N rows.
    """
    names = ("positions", "features", "layout", "labels", "patches", "class_averages", "micrograph")
    unknown = set(given) - set(names)
    if unknown:
        raise ParameterError(f"unknown inputs {sorted(unknown)}; use {names}.")
    out = {}
    for name in names:
        value = given.get(name)
        if value is None and analysis is not None:
            value = getattr(analysis, name, None)
        out[name] = value
    missing = [name for name in required if out[name] is None]
    if missing:
        source = type(analysis).__name__ if analysis is not None else "no analysis"
        raise ParameterError(
            f"missing input(s) {missing} ({source} given); pass a MotifAnalysis that has them or "
            f"give them as keyword arguments ({', '.join(f'{m}=...' for m in missing)})."
        )
    positions = _array_or_none(out["positions"], "positions", 2)
    if positions is not None:
        if positions.shape[1] != 2 or not np.all(np.isfinite(positions)):
            raise ParameterError(f"positions must be a finite (N, 2) array of (x, y) pixels, got {positions.shape}.")
        out["positions"] = positions
    n = None if positions is None else len(positions)
    if out["labels"] is not None:
        labels = np.asarray(out["labels"]).reshape(-1)
        if labels.dtype.kind not in "iu":
            raise ParameterError(f"labels must be integer motif labels, got dtype {labels.dtype}.")
        out["labels"] = labels.astype(np.int64)
    for name, ndim in (("features", 2), ("layout", 2), ("patches", 3), ("class_averages", 3)):
        out[name] = _array_or_none(out[name], name, ndim, np.float64 if name != "patches" else np.float32)
    for name in ("features", "layout", "labels", "patches"):
        if out[name] is not None and n is not None and len(out[name]) != n:
            raise ParameterError(f"{name} has {len(out[name])} rows for {n} positions; give one row per column.")
    return out


def _disk_offsets(radius: float) -> np.ndarray:
    """Integer pixel offsets (dy, dx) within ``radius`` px (at least the centre)."""
    reach = int(np.floor(max(radius, 0.0)))
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    inside = dy**2 + dx**2 <= max(radius, 0.0) ** 2
    return np.column_stack([dy[inside], dx[inside]]).astype(float)


def disk_mean(image, points, radius: float) -> np.ndarray:
    """Mean of an image over a disk around each sub-pixel point (bilinear sampling).

    Parameters
    ----------
    image : ndarray, shape (H, W)
    points : array_like, shape (P, 2)
        Disk centres ``(x, y)`` in pixel coordinates of ``image`` (x = column).
    radius : float
        Disk radius in px (0: the bilinear value at the point).

    Returns
    -------
    ndarray, shape (P,)
        Points outside the image sample the nearest edge value.

    Examples
    --------
    >>> img = np.zeros((9, 9)); img[4, 4] = 1.0
    >>> disk_mean(img, [[4.0, 4.0], [4.5, 4.0]], 0.0).tolist()
    [1.0, 0.5]
    """
    from scipy import ndimage as ndi

    image = np.asarray(image, dtype=np.float64)
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    offsets = _disk_offsets(radius)
    rows = points[:, 1:2] + offsets[None, :, 0]
    cols = points[:, 0:1] + offsets[None, :, 1]
    values = ndi.map_coordinates(image, [rows.ravel(), cols.ravel()], order=1, mode="nearest")
    return values.reshape(len(points), len(offsets)).mean(axis=1)


def stack_disk_mean(images, points, radius: float) -> np.ndarray:
    """:func:`disk_mean` of every image of a stack at its own points, vectorised.

    Parameters
    ----------
    images : ndarray, shape (K, H, W)
    points : array_like, shape (K, P, 2)
        Disk centres (x, y) in pixel coordinates of each image.
    radius : float

    Returns
    -------
    ndarray, shape (K, P)

    Examples
    --------
    >>> stack = np.zeros((2, 5, 5)); stack[1, 2, 2] = 2.0
    >>> stack_disk_mean(stack, [[[2.0, 2.0]], [[2.0, 2.0]]], 0.0).tolist()
    [[0.0], [2.0]]
    """
    from scipy import ndimage as ndi

    images = np.asarray(images, dtype=np.float64)
    points = np.asarray(points, dtype=float).reshape(len(images), -1, 2)
    offsets = _disk_offsets(radius)
    n_images, n_points = points.shape[:2]
    rows = points[:, :, None, 1] + offsets[None, None, :, 0]
    cols = points[:, :, None, 0] + offsets[None, None, :, 1]
    index = np.broadcast_to(np.arange(n_images, dtype=float)[:, None, None], rows.shape)
    # integer image index: linear interpolation along it never mixes two images
    values = ndi.map_coordinates(images, [index.ravel(), rows.ravel(), cols.ravel()], order=1, mode="nearest")
    return values.reshape(n_images, n_points, len(offsets)).mean(axis=2)


def spatial_components(points, link: float) -> np.ndarray:
    """Connected components of points linked when closer than ``link`` px.

    Parameters
    ----------
    points : array_like, shape (P, 2)
    link : float

    Returns
    -------
    ndarray of int, shape (P,)
        Component label of every point, 0..C-1.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(points).query_pairs(float(link), output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(points), len(points)))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def analyze_at_positions(
    image,
    positions,
    patch_size: int,
    *,
    n_max: int = 10,
    rotation_invariant: bool = True,
    layout_options: dict | None = None,
    labeling_options: dict | None = None,
    random_state=0,
):
    """The motif chain (patches, Zernike, FR layout, labels) at given centres.

    Like :func:`motifkit.analyze` but the centres are given (e.g. pentagon centres
    found at a coarser scale than single columns) instead of found by
    :func:`motifkit.find_columns`.

    Parameters
    ----------
    image : Micrograph or ndarray, shape (H, W)
    positions : array_like, shape (N, 2)
        Centres (x, y) in pixels.
    patch_size : int
        Odd patch side in px.
    n_max, rotation_invariant
        Zernike options (see :class:`motifkit.ZernikeFeatures`).
    layout_options, labeling_options : dict, optional
        Extra arguments of :class:`motifkit.ForceRelaxedLayout` and
        :class:`motifkit.MotifLabeler`.
    random_state : int, Generator or None

    Returns
    -------
    MotifAnalysis
        Centres too close to the border for a full patch are left out (kept in
        ``border_positions``, counted in ``summary``).
    """
    import warnings

    from ..analysis import analyze

    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    if len(positions) < 3:
        raise NotEnoughDataError(f"only {len(positions)} centres; the motif chain needs at least 3.")
    with warnings.catch_warnings():
        # border centres are counted in summary["n_columns_at_border"]
        warnings.filterwarnings("ignore", message=".*within half a patch")
        return analyze(
            image,
            positions=positions,
            patch_size=int(patch_size),
            n_max=n_max,
            rotation_invariant=rotation_invariant,
            layout_options=layout_options,
            labeling_options=labeling_options,
            random_state=random_state,
            verbose=False,
        )
