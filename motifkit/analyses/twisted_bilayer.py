"""Domains of a twisted bilayer from anchor motifs (paper Fig. 5).

In a twisted bilayer the local stacking changes continuously, so the FR layout of the
Zernike features is a continuum rather than separate motifs (paper Fig. 5C). The paper
fixes the picture with *anchor motifs*, the high-symmetry stackings (AA', AB' and A'B
for 2H-derived, antiparallel bilayers), colours every column by its distances to them
in feature space, and compares the domains through the KL divergence of per-feature
histograms of their Zernike features.

:func:`bilayer_analysis` does this without a human picking the anchors:

1. **Cores.** High-symmetry stackings keep the ``fold``-fold rotational symmetry of the
   monolayer about each column, which the twist breaks in between. Columns whose patch
   scores at least ``core_threshold`` (:func:`motifkit.zernike.symmetry_scores`) are
   core columns; spatially connected groups of them are core regions.
2. **Anchors.** The columns within ``anchor_radius`` of each core-region centre are
   described by their mean (standardised) features; the regions are grouped into
   ``n_anchors`` anchor types by average-linkage clustering. An anchor is the set of
   columns of all regions of a type (several column kinds: e.g. the metal-over-metal and
   the lone chalcogen columns of AB').
3. **Distances and colours.** Each column's distance to an anchor is its feature-space
   distance to the nearest of ``n_sub`` k-means centres of the anchor's columns,
   averaged over a ``smoothing_radius`` neighbourhood in the image (the stacking varies
   slowly). Colours (RGB) and a barycentric *anchor layout* follow from the inverse
   distances: the anchors sit at the corners of a triangle and fix the layout.
4. **Domains.** ``method="moire"`` (default): the registry of a uniformly twisted
   bilayer is a similarity transform of the position, so the stacking domain of a point
   is that of the nearest high-symmetry centre. A triangular *moiré lattice* is fitted
   to the core-region centres (:func:`motifkit.cells.find_lattice`), extended over the
   whole field of view, its points typed by the 3-colouring the anchors agree with
   best, and every column takes the type of its nearest moiré point (one domain
   instance per point). With fewer than 12 core regions (field of view under about two
   moiré periods), several anchor types other than 3, or a non-hexagonal fit, it falls
   back (with a warning) to the nearest core-region centre. ``method="features"``:
   every column takes its nearest anchor (smoothed distances), instances are connected
   groups of equal domain.
5. **KL divergences.** Per domain instance with at least ``min_domain_columns``
   columns, a histogram per feature (common bins over the 1-99 % range of every
   column); the divergence of two instances is the symmetrised KL divergence averaged
   over the features.

``anchor_names="auto"`` names the anchor types of 2H-derived bilayers from the spread of
their column intensities: AA' (every column a metal over a chalcogen) has the smallest,
AB' (metal-over-metal columns beside lone chalcogen columns) the largest, A'B
(chalcogen-over-chalcogen beside lone metals) lies between.

Positions are ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import NotEnoughDataError, ParameterError
from ._common import resolve_inputs, spatial_components

__all__ = ["BilayerAnalysis", "bilayer_analysis", "histogram_kl", "plot_bilayer", "ANTIPARALLEL_NAMES"]

#: Anchor names of antiparallel (2H-derived) bilayers, by increasing column-intensity spread.
ANTIPARALLEL_NAMES = ("AA'", "A'B", "AB'")


def histogram_kl(features_a, features_b, edges, *, pseudo_count: float = 0.5) -> float:
    """Symmetrised KL divergence of per-feature histograms, averaged over the features.

    Parameters
    ----------
    features_a, features_b : ndarray, shape (Na, F) and (Nb, F)
        Feature vectors of two groups of columns.
    edges : ndarray, shape (F, B + 1)
        Bin edges per feature (values outside go to the end bins).
    pseudo_count : float
        Added to every bin before normalising (empty bins would make KL infinite).

    Returns
    -------
    float
        ``mean_f (KL(P_f || Q_f) + KL(Q_f || P_f)) / 2`` in nats.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(0, 1, (500, 2)), rng.normal(3, 1, (500, 2))
    >>> edges = np.tile(np.linspace(-4, 7, 21), (2, 1))
    >>> histogram_kl(a, a[::-1], edges) < 1e-12 < histogram_kl(a, b, edges)
    True
    """
    pa, pb = _histograms(features_a, edges, pseudo_count), _histograms(features_b, edges, pseudo_count)
    return float(np.mean(0.5 * np.sum((pa - pb) * (np.log(pa) - np.log(pb)), axis=1)))


def _histograms(features, edges, pseudo_count):
    features = np.asarray(features, dtype=float)
    n_bins = edges.shape[1] - 1
    out = np.empty((edges.shape[0], n_bins))
    for f in range(edges.shape[0]):
        index = np.clip(np.searchsorted(edges[f], features[:, f], side="right") - 1, 0, n_bins - 1)
        out[f] = np.bincount(index, minlength=n_bins) + pseudo_count
    return out / out.sum(axis=1, keepdims=True)


@dataclass
class BilayerAnalysis:
    """Result of :func:`bilayer_analysis` (paper Fig. 5).

    Attributes
    ----------
    positions : ndarray, shape (N, 2)
        Column positions (x, y) in pixels.
    anchor_names : list of str
        Name of each anchor type (A of them).
    anchor_columns : list of ndarray of int
        Columns forming each anchor.
    regions : ndarray, shape (R, 2)
        Centres of the core regions (x, y) px; ``region_type`` (R,) their anchor type.
    region_type : ndarray of int, shape (R,)
    symmetry : ndarray, shape (N,)
        ``fold``-fold rotational symmetry score of every column's patch.
    distances : ndarray, shape (N, A)
        Feature-space distance of every column to every anchor (standardised features).
    smoothed_distances : ndarray, shape (N, A)
        The same averaged over ``smoothing_radius``.
    colours : ndarray, shape (N, 3)
        RGB in [0, 1] from the inverse smoothed distances (anchor k = colour channel k
        for three anchors).
    anchor_layout : ndarray, shape (N, 2)
        Barycentric layout: anchor k at the k-th corner of a regular polygon, each column
        at the inverse-distance-weighted mean of the corners.
    domain : ndarray of int, shape (N,)
        Anchor type of every column's domain.
    instance : ndarray of int, shape (N,)
        Domain instance of every column (-1: none).
    instances : list of dict
        Per instance: ``id``, ``type``, ``name``, ``n_columns``, ``centre`` (px) and
        ``used`` (enough columns for the KL comparison).
    kl : ndarray, shape (I, I)
        Symmetrised KL divergences between the used instances (order of
        ``kl_instances``).
    kl_instances : list of int
    method : str
        Domain method used (``"moire"``, ``"nearest-core"`` fallback or ``"features"``).
    moire_lattice : motifkit.cells.Lattice or None
    summary : dict
    """

    positions: np.ndarray
    anchor_names: list
    anchor_columns: list
    regions: np.ndarray
    region_type: np.ndarray
    symmetry: np.ndarray
    distances: np.ndarray
    smoothed_distances: np.ndarray
    colours: np.ndarray
    anchor_layout: np.ndarray
    domain: np.ndarray
    instance: np.ndarray
    instances: list
    kl: np.ndarray
    kl_instances: list
    method: str
    moire_lattice: object = None
    summary: dict = field(default_factory=dict)

    @property
    def domain_names(self) -> np.ndarray:
        """Domain name of every column, shape (N,)."""
        return np.asarray(self.anchor_names, dtype=object)[self.domain]

    def kl_statistics(self) -> dict:
        """Mean and spread of the KL divergences between instances of equal/different type.

        Returns
        -------
        dict
            ``same_mean``, ``same_std``, ``different_mean``, ``different_std``,
            ``n_same``, ``n_different`` and ``nearest_same_fraction`` (instances whose
            closest other instance is of the same type, among those with a same-type
            partner).
        """
        types = np.array([self.instances[i]["type"] for i in self.kl_instances])
        n = len(types)
        iu = np.triu_indices(n, 1)
        same = (types[:, None] == types[None, :])[iu]
        values = self.kl[iu]
        nearest = []
        for i in range(n):
            if (types == types[i]).sum() < 2:
                continue
            others = np.delete(np.arange(n), i)
            nearest.append(types[others[np.argmin(self.kl[i, others])]] == types[i])
        return {
            "same_mean": float(values[same].mean()) if same.any() else float("nan"),
            "same_std": float(values[same].std()) if same.any() else float("nan"),
            "different_mean": float(values[~same].mean()) if (~same).any() else float("nan"),
            "different_std": float(values[~same].std()) if (~same).any() else float("nan"),
            "n_same": int(same.sum()),
            "n_different": int((~same).sum()),
            "nearest_same_fraction": float(np.mean(nearest)) if nearest else float("nan"),
        }

    def plot(self, image=None, **kwargs):
        """See :func:`plot_bilayer`."""
        return plot_bilayer(self, image, **kwargs)


def _polygon_corners(n: int) -> np.ndarray:
    angles = np.pi / 2 + 2 * np.pi * np.arange(n) / n
    return np.column_stack([np.cos(angles), np.sin(angles)])


def _inverse_weights(distances: np.ndarray, power: float = 2.0) -> np.ndarray:
    inverse = 1.0 / np.maximum(distances, 1e-12) ** power
    return inverse / inverse.sum(axis=1, keepdims=True)


def _neighbour_mean(positions, values, radius):
    from scipy.spatial import cKDTree

    if radius <= 0:
        return values.copy()
    neighbours = cKDTree(positions).query_ball_point(positions, radius)
    return np.array([values[n].mean(axis=0) for n in neighbours])


def _moire_domains(positions, centres, centre_type, n_types, shape, random_state):
    """Moiré lattice through the core centres, typed by its 3-colouring; None if it fails."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial import cKDTree

    from ..cells import LatticeError, find_lattice, index_columns

    reason = None
    if n_types != 3:
        reason = f"{n_types} anchor types (the moiré 3-colouring needs 3)"
    elif len(centres) < 12:
        reason = f"only {len(centres)} core regions (a moiré lattice fit needs 12, about two moiré periods)"
    lattice = None
    if reason is None:
        try:
            lattice = find_lattice(centres, distortion_order=1, random_state=random_state)
        except (LatticeError, NotEnoughDataError) as exc:
            reason = f"no moiré lattice through the core centres ({exc})"
    if lattice is not None and (lattice.n_sites != 1 or lattice.bravais not in ("hexagonal", "centred_rectangular")):
        reason = f"the core centres form a {lattice.bravais} lattice with {lattice.n_sites} sites, not a triangular one"
    if reason is not None:
        return None, reason
    cells, _, _, _ = index_columns(centres, lattice)
    best = None
    for sign in (1, -1):
        colour = (cells[:, 0] + sign * cells[:, 1]) % 3
        agreement = np.zeros((3, n_types), dtype=np.int64)
        np.add.at(agreement, (colour, centre_type), 1)
        rows, cols = linear_sum_assignment(-agreement)
        score = agreement[rows, cols].sum()
        if best is None or score > best[0]:
            best = (score, sign, dict(zip(rows.tolist(), cols.tolist())))
    _, sign, mapping = best
    height, width = shape
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=float)
    corners = np.vstack([corners, positions.min(axis=0), positions.max(axis=0)])
    frac = lattice.to_fractional(corners)
    lo, hi = np.floor(frac.min(axis=0)) - 2, np.ceil(frac.max(axis=0)) + 2
    gi, gj = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
    grid = np.column_stack([gi.ravel(), gj.ravel()]).astype(np.int64)
    points = lattice.site_positions(grid, np.zeros(len(grid), dtype=np.int64))
    point_type = np.array([mapping[int(c)] for c in (grid[:, 0] + sign * grid[:, 1]) % 3])
    nearest = cKDTree(points).query(positions)[1]
    used, instance = np.unique(nearest, return_inverse=True)
    agreement_fraction = best[0] / len(centres)
    return {
        "lattice": lattice,
        "domain": point_type[nearest],
        "instance": instance.reshape(-1),
        "instance_centres": points[used],
        "instance_type": point_type[used],
        "agreement": float(agreement_fraction),
    }, None


def _auto_names(patches, anchor_columns, anchor_names):
    """Anchor names from the spread of the columns' peak intensities (see module notes)."""
    n = len(anchor_columns)
    half = patches.shape[1] // 2
    peak = patches[:, half, half].astype(float)
    floor = float(np.percentile(patches.min(axis=(1, 2)), 5))
    spread = np.array([
        np.percentile(peak[c] - floor, 90) / max(np.percentile(peak[c] - floor, 10), 1e-12) for c in anchor_columns
    ])
    order = np.argsort(spread)
    if anchor_names == "auto":
        if n != 3:
            warnings.warn(f"automatic AA'/A'B/AB' names need 3 anchor types, found {n}; using generic names.",
                          stacklevel=3)
            anchor_names = None
        else:
            names = [""] * n
            for rank, k in enumerate(order):
                names[k] = ANTIPARALLEL_NAMES[rank]
            return names, spread
    if anchor_names is None:
        names = [""] * n
        for rank, k in enumerate(order):
            names[k] = f"anchor {rank}"
        return names, spread
    raise ParameterError(f"anchor_names must be 'auto' or None, got {anchor_names!r}.")


def bilayer_analysis(
    analysis=None,
    *,
    positions=None,
    features=None,
    patches=None,
    anchors=None,
    anchor_names="auto",
    n_anchors: int = 3,
    method: str = "moire",
    fold: int = 3,
    core_threshold: float = 0.7,
    min_core_columns: int = 8,
    anchor_radius: float = 4.0,
    smoothing_radius: float = 4.0,
    n_sub: int = 3,
    n_bins: int = 20,
    min_domain_columns: int = 60,
    image_shape=None,
    random_state=0,
) -> BilayerAnalysis:
    """Anchor motifs, anchor distances, domains and their KL divergences (Fig. 5).

    Parameters
    ----------
    analysis : MotifAnalysis-like, optional
        Supplies ``positions``, ``features`` (rotation-invariant Zernike features are the
        paper's choice), ``patches`` and ``micrograph``.
    positions : ndarray, shape (N, 2), optional
        Column positions (x, y) in pixels.
    features : ndarray, shape (N, F), optional
    patches : ndarray, shape (N, s, s), optional
        Column patches (for the symmetry scores and the automatic names).
    anchors : dict, optional
        name -> (K, 2) array of anchor-region centres (x, y) px, given instead of the
        automatic search (e.g. picked by hand); every given centre becomes a core region.
    anchor_names : "auto" or None
        See module notes; ignored when ``anchors`` is a dict.
    n_anchors : int
        Number of anchor types found automatically.
    method : {"moire", "features"}
        Domain assignment (see module notes).
    fold : int
        Rotational symmetry of the high-symmetry stackings about a column (3 for
        hexagonal bilayers).
    core_threshold : float
        Symmetry score from which a column is a core column.
    min_core_columns : int
        Smallest core region.
    anchor_radius, smoothing_radius : float
        In units of the median nearest-neighbour column distance.
    n_sub : int
        k-means centres per anchor (column kinds of a stacking).
    n_bins : int
        Histogram bins per feature.
    min_domain_columns : int
        Smallest domain instance compared by KL divergence.
    image_shape : (int, int), optional
        (H, W) of the image (default from the analysis' micrograph or the positions).
    random_state : int, Generator or None

    Returns
    -------
    BilayerAnalysis

    Raises
    ------
    ParameterError
        Missing inputs or bad options.
    NotEnoughDataError
        Fewer core regions than anchor types (no high-symmetry stacking found: lower
        ``core_threshold``, or image a larger area).
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial import cKDTree
    from sklearn.cluster import KMeans

    from .._utils import check_random_state
    from ..zernike import symmetry_scores

    if method not in ("moire", "features"):
        raise ParameterError(f"method must be 'moire' or 'features', got {method!r}.")
    if not 0 < core_threshold < 1:
        raise ParameterError(f"core_threshold must be in (0, 1), got {core_threshold}.")
    if anchor_names not in ("auto", None):
        raise ParameterError(f"anchor_names must be 'auto' or None (names of given anchors are the keys of "
                             f"`anchors`), got {anchor_names!r}.")
    if int(n_anchors) < 2 or int(n_sub) < 1 or int(n_bins) < 2 or int(fold) < 2:
        raise ParameterError("need n_anchors >= 2, n_sub >= 1, n_bins >= 2 and fold >= 2.")
    data = resolve_inputs(analysis, required=("positions", "features", "patches"), positions=positions,
                          features=features, patches=patches)
    positions, features, patches = data["positions"], data["features"], data["patches"]
    n = len(positions)
    if n < 50:
        raise NotEnoughDataError(f"only {n} columns; a bilayer domain analysis needs hundreds.")
    if image_shape is None:
        micrograph = data["micrograph"]
        image_shape = micrograph.shape if micrograph is not None else tuple(
            (np.ceil(positions.max(axis=0)) + 1).astype(int)[::-1])
    rng = check_random_state(random_state)
    seed = int(rng.integers(0, 2**31 - 1))
    tree = cKDTree(positions)
    nearest = float(np.median(tree.query(positions, k=2)[0][:, 1]))
    scale = features.std(axis=0)
    z = (features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    symmetry = symmetry_scores(patches, n_max=10, folds=(int(fold),)).rotation[:, 0]
    symmetry = np.nan_to_num(symmetry, nan=-1.0)

    # 1-2: core regions and anchor types
    if anchors is None:
        core = np.flatnonzero(symmetry >= core_threshold)
        region_of = spatial_components(positions[core], 1.6 * nearest)
        sizes = np.bincount(region_of) if len(core) else np.zeros(0, dtype=np.int64)
        big = np.flatnonzero(sizes >= min_core_columns)
        if len(big) < n_anchors:
            raise NotEnoughDataError(
                f"found {len(big)} high-symmetry core regions (>= {min_core_columns} columns scoring >= "
                f"{core_threshold}) for {n_anchors} anchor types; lower core_threshold or min_core_columns, or "
                "image a field of view spanning at least one moiré period."
            )
        centres = np.array([np.average(positions[core[region_of == r]], axis=0,
                                       weights=symmetry[core[region_of == r]]) for r in big])
        members = [np.flatnonzero(np.linalg.norm(positions - c, axis=1) <= anchor_radius * nearest) for c in centres]
        descriptors = np.array([z[m].mean(axis=0) for m in members])
        region_type = fcluster(linkage(descriptors, method="average"), int(n_anchors), criterion="maxclust") - 1
        n_types = int(region_type.max()) + 1
        anchor_columns = [np.unique(np.concatenate([members[r] for r in np.flatnonzero(region_type == t)]))
                          for t in range(n_types)]
        names, spread = _auto_names(patches, anchor_columns, anchor_names)
    else:
        if not isinstance(anchors, dict) or len(anchors) < 2:
            raise ParameterError("anchors must be a dict name -> (K, 2) array of anchor-region centres (x, y) px, "
                                 "with at least two names.")
        names = [str(k) for k in anchors]
        centre_list, type_list = [], []
        for t, name in enumerate(names):
            pts = np.asarray(anchors[name], dtype=float).reshape(-1, 2)
            centre_list.append(pts)
            type_list.append(np.full(len(pts), t))
        centres = np.vstack(centre_list)
        region_type = np.concatenate(type_list)
        n_types = len(names)
        members = [np.flatnonzero(np.linalg.norm(positions - c, axis=1) <= anchor_radius * nearest) for c in centres]
        if any(len(m) == 0 for m in members):
            raise ParameterError("an anchor centre has no column within anchor_radius; check the (x, y) pixel "
                                 "positions of the anchors.")
        anchor_columns = [np.unique(np.concatenate([members[r] for r in np.flatnonzero(region_type == t)]))
                          for t in range(n_types)]
        spread = None

    # 3: distances, colours, layout
    distances = np.empty((n, n_types))
    for t, cols in enumerate(anchor_columns):
        k = min(int(n_sub), len(cols))
        centroids = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(z[cols]).cluster_centers_
        distances[:, t] = np.min(np.linalg.norm(z[:, None, :] - centroids[None, :, :], axis=2), axis=1)
    smoothed = _neighbour_mean(positions, distances, smoothing_radius * nearest)
    weights = _inverse_weights(smoothed)
    if n_types == 3:
        colours = weights.copy()
    else:
        from matplotlib import colormaps

        palette = np.asarray(colormaps["tab10"](np.arange(n_types) % 10))[:, :3]
        colours = weights @ palette
    colours = colours / np.maximum(colours.max(axis=1, keepdims=True), 1e-12)
    anchor_layout = weights @ _polygon_corners(n_types)

    # 4: domains
    used_method = method
    moire = None
    if method == "moire":
        moire, reason = _moire_domains(positions, centres, region_type, n_types, image_shape, seed)
        if moire is None:
            warnings.warn(f"moiré lattice not used: {reason}; each column takes the type of the nearest "
                          "core-region centre instead.", stacklevel=2)
            used_method = "nearest-core"
    if moire is not None:
        domain = moire["domain"]
        instance = moire["instance"]
        instance_centres = moire["instance_centres"]
        instance_type = moire["instance_type"]
    elif used_method == "nearest-core":
        nearest_centre = cKDTree(centres).query(positions)[1]
        domain = region_type[nearest_centre]
        used, instance = np.unique(nearest_centre, return_inverse=True)
        instance_centres, instance_type = centres[used], region_type[used]
    else:
        domain = np.argmin(smoothed, axis=1)
        instance = np.full(n, -1, dtype=np.int64)
        instance_centres, instance_type, next_id = [], [], 0
        for t in range(n_types):
            rows = np.flatnonzero(domain == t)
            groups = spatial_components(positions[rows], 1.6 * nearest)
            for g in range(groups.max() + 1 if len(groups) else 0):
                instance[rows[groups == g]] = next_id
                instance_centres.append(positions[rows[groups == g]].mean(axis=0))
                instance_type.append(t)
                next_id += 1
        instance_centres, instance_type = np.array(instance_centres).reshape(-1, 2), np.array(instance_type)
    instance = np.asarray(instance, dtype=np.int64).reshape(-1)

    # 5: KL divergences between instances
    lo, hi = np.percentile(features, [1, 99], axis=0)
    hi = np.where(hi > lo, hi, lo + 1e-9)
    edges = np.linspace(lo, hi, int(n_bins) + 1).T
    instances = []
    for i in range(len(instance_type)):
        count = int(np.sum(instance == i))
        instances.append({"id": i, "type": int(instance_type[i]), "name": names[int(instance_type[i])],
                          "n_columns": count, "centre": np.asarray(instance_centres[i], dtype=float),
                          "used": count >= min_domain_columns})
    kl_instances = [d["id"] for d in instances if d["used"]]
    kl = np.zeros((len(kl_instances), len(kl_instances)))
    for a in range(len(kl_instances)):
        for b in range(a + 1, len(kl_instances)):
            value = histogram_kl(features[instance == kl_instances[a]], features[instance == kl_instances[b]], edges)
            kl[a, b] = kl[b, a] = value
    result = BilayerAnalysis(
        positions=positions, anchor_names=list(names), anchor_columns=anchor_columns, regions=centres,
        region_type=np.asarray(region_type, dtype=np.int64), symmetry=symmetry, distances=distances,
        smoothed_distances=smoothed, colours=colours, anchor_layout=anchor_layout,
        domain=np.asarray(domain, dtype=np.int64), instance=instance, instances=instances, kl=kl,
        kl_instances=kl_instances, method=used_method, moire_lattice=None if moire is None else moire["lattice"],
    )
    result.summary = {
        "n_columns": int(n),
        "nearest_neighbour_px": nearest,
        "n_core_columns": int(np.sum(symmetry >= core_threshold)),
        "n_core_regions": int(len(centres)),
        "anchor_names": list(names),
        "anchor_sizes": [int(len(c)) for c in anchor_columns],
        "intensity_spread": None if spread is None else [float(s) for s in spread],
        "method": used_method,
        "moire_agreement": None if moire is None else moire["agreement"],
        "domain_fractions": {names[t]: float(np.mean(domain == t)) for t in range(n_types)},
        "n_instances": len(instances),
        "n_instances_compared": len(kl_instances),
        "kl": result.kl_statistics() if len(kl_instances) > 1 else {},
    }
    return result


def plot_bilayer(result: BilayerAnalysis, image=None, *, axes=None, marker_size: float = 6.0):
    """Figure like paper Fig. 5: anchor colours, anchor layout, domains and KL matrix.

    Parameters
    ----------
    result : BilayerAnalysis
    image : Micrograph or ndarray, optional
        Drawn under the coloured columns.
    axes : sequence of four matplotlib Axes, optional
    marker_size : float

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 4, figsize=(22, 5.5))
    else:
        fig = axes[0].figure
    x, y = result.positions[:, 0], result.positions[:, 1]
    ax = axes[0]
    if image is not None:
        ax.imshow(np.asarray(getattr(image, "data", image)), cmap="gray", origin="upper")
    ax.scatter(x, y, s=marker_size, c=result.colours, linewidths=0)
    for t, name in enumerate(result.anchor_names):
        m = result.region_type == t
        ax.scatter(result.regions[m, 0], result.regions[m, 1], marker="*", s=120, edgecolor="k",
                   color=result.colours[result.anchor_columns[t]].mean(axis=0), label=f"anchor {name}")
    ax.set_aspect("equal")
    if image is None:
        ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("columns coloured by distance to the anchors")

    ax = axes[1]
    corners = _polygon_corners(len(result.anchor_names))
    ax.scatter(result.anchor_layout[:, 0], result.anchor_layout[:, 1], s=marker_size, c=result.colours, linewidths=0)
    closed = np.vstack([corners, corners[:1]])
    ax.plot(closed[:, 0], closed[:, 1], color="0.5", lw=0.8)
    for (cx, cy), name in zip(corners, result.anchor_names):
        ax.annotate(name, (cx, cy), ha="center", va="center", fontsize=10, weight="bold")
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("layout fixed by the anchors")

    ax = axes[2]
    cmap = plt.get_cmap("tab10")
    for t, name in enumerate(result.anchor_names):
        m = result.domain == t
        ax.scatter(x[m], y[m], s=marker_size, color=cmap(t), linewidths=0, label=f"{name} {100 * m.mean():.0f} %")
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper right", markerscale=2)
    ax.set_title(f"domains ({result.method})")

    ax = axes[3]
    order = np.argsort([result.instances[i]["type"] for i in result.kl_instances], kind="stable")
    labels = [f"{result.instances[result.kl_instances[k]]['name']}#{result.kl_instances[k]}" for k in order]
    shown = ax.imshow(result.kl[np.ix_(order, order)], cmap="viridis")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=6)
    fig.colorbar(shown, ax=ax, fraction=0.046, label="KL divergence (nats)")
    stats = result.kl_statistics() if len(result.kl_instances) > 1 else {}
    if stats:
        ax.set_title(f"KL same type {stats['same_mean']:.3f}, different {stats['different_mean']:.3f}", fontsize=9)
    fig.tight_layout()
    return fig
