"""Dopants and vacancies in a 2-D crystal and their composed neighbourhoods (paper Fig. 3).

The paper's Fig. 3 analyses monolayer WS2 doped with Fe and Te: the FR layout of Zernike
features separates W- and S-centred motifs, motifs centred on the dopants (Fe on W
sites, Te on S sites) and *peripheral* motifs (host columns with a dopant among their
nearest neighbours, "S#1-3" and "W#1-3"); S vacancies show up once rotation invariance
is on. The motifs containing dopants are then composed into a hierarchy: Fe surrounded
by three S columns that are fenced by W, Te surrounded by three W fenced by S.

Here the interpretation of the motifs, which the paper does by eye, is read off their
class averages (:func:`read_motif_roles`):

1. The lattice and its basis sites come from the column positions
   (:func:`motifkit.cells.find_lattice`); every motif sits on the site most of its
   columns occupy (motifs spread over several sites are ``"unresolved"``).
2. Its *centre contrast* is the class average's intensity at the centre relative to
   the host motif of that site (count-weighted median over the site's motifs), after
   subtracting the background (the darkest pixel of the most common class average):
   ``"(dark)"`` below ``-centre_threshold`` (a lighter substituent, or a vacancy),
   ``"(bright)"`` above ``+centre_threshold`` (a heavier substituent).
3. Its *ring contrasts* are the same ratios at the nearest-neighbour sites (from the
   lattice), against the host ring: a host column with a darker or brighter neighbour
   is ``"next to dark"`` / ``"next to bright"``.

Roles name the site, e.g. ``"metal"``, ``"metal (dark)"`` (Fe in WS2),
``"chalcogen (bright)"`` (Te), ``"chalcogen next to dark"`` (S beside Fe),
``"metal next to bright"`` (W beside Te), ``"chalcogen (dark)"`` (S vacancy). With two
sites the brighter one is called ``"metal"`` (heavy-metal dichalcogenides in HAADF);
pass ``site_names`` otherwise. The role labels then go through
:func:`motifkit.build_hierarchy` on lattice cells, and the *composed neighbourhood* of
each dopant role is the motif-cell holding one dopant site and exactly its nearest
neighbours in the matching "next to" role.

Positions are ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..errors import NotEnoughDataError, ParameterError
from ._common import resolve_inputs, stack_disk_mean

__all__ = [
    "MotifRoles",
    "DopantAnalysis",
    "UNRESOLVED",
    "read_motif_roles",
    "dopant_analysis",
    "neighbour_offsets",
    "plot_dopants",
]

#: Role of columns in motifs spread over several lattice sites.
UNRESOLVED = "unresolved"


def neighbour_offsets(lattice, site: int, *, shell: float = 1.2) -> np.ndarray:
    """Pixel offsets (x, y) from a column on ``site`` to its nearest-neighbour sites.

    Parameters
    ----------
    lattice : motifkit.cells.Lattice
    site : int
        Basis site index.
    shell : float
        Neighbours are sites closer than ``shell`` times the shortest site distance.

    Returns
    -------
    ndarray, shape (K, 2)
        Offsets in px in the image frame (3 for a TMD monolayer, 6 on a triangular
        one-site lattice).
    """
    n = np.array([(p, q) for p in range(-2, 3) for q in range(-2, 3)], dtype=float)
    nearest = lattice.site_distance
    found = []
    for other in range(lattice.n_sites):
        vectors = (n + lattice.sites[other] - lattice.sites[site]) @ lattice.vectors
        length = np.linalg.norm(vectors, axis=1)
        found.append(vectors[(length > 1e-6 * nearest) & (length < shell * nearest)])
    return np.vstack(found)


@dataclass
class MotifRoles:
    """What each motif's class average says: site, centre and ring contrasts, role.

    Attributes
    ----------
    table : list of dict
        One row per motif: ``label``, ``count``, ``site``, ``site_name``,
        ``site_purity`` (fraction of its columns on that site), ``centre_contrast``,
        ``ring_max_contrast``, ``ring_min_contrast`` (relative to the host, 0 = host)
        and ``role``.
    roles : ndarray of object, shape (N,)
        Role of every column: its motif's role, or its own reading where that differs
        (when patches were given).
    motif_roles : ndarray of object, shape (N,)
        Role of every column's motif (class-average reading only).
    column_site : ndarray of int, shape (N,)
        Nearest basis site of every column.
    site_names : list of str
    host_levels : ndarray, shape (S,)
        Background-subtracted host intensity at the centre of each site's motifs.
    background : float
    lattice : motifkit.cells.Lattice
    n_reread : int
        Columns whose own patch gave a different role than their motif's class average.
    """

    table: list
    roles: np.ndarray
    motif_roles: np.ndarray
    column_site: np.ndarray
    site_names: list
    host_levels: np.ndarray
    background: float
    lattice: object
    n_reread: int = 0

    def motifs_with_role(self, role: str) -> list:
        """Motif labels whose role is ``role``."""
        return [row["label"] for row in self.table if row["role"] == role]

    @property
    def role_counts(self) -> dict:
        """Role -> number of columns, most common first."""
        return dict(Counter(self.roles.tolist()).most_common())


def _site_names(n_sites: int, brightness: np.ndarray, site_names) -> list:
    if site_names is not None:
        names = [str(s) for s in site_names]
        if len(names) != n_sites:
            raise ParameterError(f"site_names has {len(names)} names for a lattice with {n_sites} basis sites.")
        return names
    if n_sites == 2:
        names = ["", ""]
        names[int(np.argmax(brightness))] = "metal"
        names[int(np.argmin(brightness))] = "chalcogen"
        return names
    return [f"site {k}" for k in range(n_sites)]


def _role(site_name, centre_contrast, ring_max, ring_min, centre_threshold, ring_threshold) -> str:
    """Role name from the contrasts of one reading (see module notes)."""
    role = site_name
    if centre_contrast < -centre_threshold:
        role += " (dark)"
    elif centre_contrast > centre_threshold:
        role += " (bright)"
    context = [word for word, hit in (("bright", ring_max > ring_threshold), ("dark", ring_min < -ring_threshold)) if hit]
    if context:
        role += " next to " + "+".join(context)
    return role


def _readings(images, sites, lattice, radius, background):
    """Background-subtracted centre (K,) and nearest-neighbour values of centred images.

    ``rings`` is a list with one array per image: the values at the neighbour sites of
    that image's site (their number depends on the site).
    """
    images = np.asarray(images)
    sites = np.asarray(sites, dtype=np.int64)
    half = (images.shape[1] - 1) / 2.0
    centre = stack_disk_mean(images, np.full((len(images), 1, 2), half), radius)[:, 0] - background
    rings = [None] * len(images)
    for site in np.unique(sites):
        rows = np.flatnonzero(sites == site)
        offsets = neighbour_offsets(lattice, int(site)) + half
        values = stack_disk_mean(images[rows], np.broadcast_to(offsets, (len(rows),) + offsets.shape), radius)
        for r, v in zip(rows, values - background):
            rings[r] = v
    return centre, rings


def read_motif_roles(
    class_averages,
    labels,
    positions,
    lattice=None,
    *,
    patches=None,
    site_names=None,
    centre_threshold: float = 0.2,
    ring_threshold: float = 0.2,
    min_site_purity: float = 0.8,
    sample_radius: float | None = None,
    random_state=0,
) -> MotifRoles:
    """Name every motif from its class average: site, dopant and neighbour contrasts.

    Parameters
    ----------
    class_averages : ndarray, shape (K, s, s)
        Mean patch of each motif (odd ``s``, centred on the column).
    labels : ndarray of int, shape (N,)
        Motif of every column (0..K-1; negative = unassigned, role ``"unresolved"``).
    positions : ndarray, shape (N, 2)
        Column positions (x, y) in pixels.
    lattice : motifkit.cells.Lattice, optional
        Found with :func:`motifkit.cells.find_lattice` when omitted.
    patches : ndarray, shape (N, s, s), optional
        The columns' own patches. Layout labels sometimes fold a few rare columns into a
        large motif (e.g. density-clustering noise attached to the nearest motif), which
        blurs that motif's class average. With patches, every column is also read on
        its own patch, and a column whose own role differs from its motif's takes its
        own role (counted in ``n_reread``); so do columns of unresolved motifs.
    site_names : sequence of str, optional
        One name per basis site; default ``"metal"``/``"chalcogen"`` (brighter/dimmer)
        on two-site lattices, ``"site k"`` otherwise.
    centre_threshold, ring_threshold : float
        Relative intensity change (fraction of the host level) that makes a centre or
        a neighbour "dark"/"bright".
    min_site_purity : float
        Motifs with a smaller fraction of their columns on one site are ``"unresolved"``.
    sample_radius : float, optional
        Radius (px) of the disk averaged at each sampled site; default 0.15 x the
        shortest site distance.
    random_state : int, Generator or None
        Passed to the lattice search.

    Returns
    -------
    MotifRoles

    Raises
    ------
    ParameterError
        Inconsistent shapes or thresholds out of range.
    """
    from ..cells import find_lattice, index_columns

    averages = np.asarray(class_averages, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    positions = np.asarray(positions, dtype=float)
    if averages.ndim != 3 or averages.shape[1] != averages.shape[2] or averages.shape[1] % 2 == 0:
        raise ParameterError(f"class_averages must be (K, s, s) with odd s, got {averages.shape}.")
    if positions.shape != (len(labels), 2):
        raise ParameterError(f"positions {positions.shape} and labels {labels.shape} must describe the same columns.")
    if labels.max(initial=-1) >= len(averages):
        raise ParameterError(f"label {labels.max()} has no class average (only {len(averages)} given).")
    if patches is not None:
        patches = np.asarray(patches)
        if patches.shape != (len(labels),) + averages.shape[1:]:
            raise ParameterError(f"patches must be (N, s, s) = {(len(labels),) + averages.shape[1:]}, "
                                 f"got {patches.shape}.")
    if not (0 < centre_threshold < 1 and 0 < ring_threshold < 1 and 0 < min_site_purity <= 1):
        raise ParameterError("centre_threshold and ring_threshold must be in (0, 1), min_site_purity in (0, 1].")
    if lattice is None:
        lattice = find_lattice(positions, random_state=random_state)
    _, column_site, _, _ = index_columns(positions, lattice)
    n_motifs = len(averages)
    radius = 0.15 * lattice.site_distance if sample_radius is None else float(sample_radius)
    valid = labels >= 0
    counts = np.bincount(labels[valid], minlength=n_motifs)
    site_counts = np.zeros((n_motifs, lattice.n_sites), dtype=np.int64)
    np.add.at(site_counts, (labels[valid], column_site[valid]), 1)
    motif_site = site_counts.argmax(axis=1)
    purity = site_counts.max(axis=1) / np.maximum(counts, 1)

    background = float(averages[int(np.argmax(counts))].min())
    centre, rings = _readings(averages, motif_site, lattice, radius, background)
    resolved = (purity >= min_site_purity) & (counts > 0)
    host_levels = np.full(lattice.n_sites, np.nan)
    host_rings = np.full(lattice.n_sites, np.nan)
    for s in range(lattice.n_sites):
        members = np.flatnonzero(resolved & (motif_site == s))
        if len(members) == 0:
            continue
        weights = counts[members]
        host_levels[s] = _weighted_median(centre[members], weights)
        host_rings[s] = _weighted_median(np.array([np.median(rings[k]) for k in members]), weights)
    names = _site_names(lattice.n_sites, np.nan_to_num(host_levels, nan=-np.inf), site_names)
    usable = np.isfinite(host_levels) & (host_levels > 0) & np.isfinite(host_rings) & (host_rings > 0)
    thresholds = (centre_threshold, ring_threshold)

    table = []
    motif_role = []
    for k in range(n_motifs):
        s = int(motif_site[k])
        ok = bool(resolved[k] and usable[s] and len(rings[k]))
        centre_contrast = float(centre[k] / host_levels[s] - 1.0) if ok else float("nan")
        ring_max = float(rings[k].max() / host_rings[s] - 1.0) if ok else float("nan")
        ring_min = float(rings[k].min() / host_rings[s] - 1.0) if ok else float("nan")
        role = _role(names[s], centre_contrast, ring_max, ring_min, *thresholds) if ok else UNRESOLVED
        motif_role.append(role)
        table.append({
            "label": int(k),
            "count": int(counts[k]),
            "site": s,
            "site_name": names[s],
            "site_purity": float(purity[k]),
            "centre_contrast": centre_contrast,
            "ring_max_contrast": ring_max,
            "ring_min_contrast": ring_min,
            "role": role,
        })
    roles = np.full(len(labels), UNRESOLVED, dtype=object)
    roles[valid] = np.asarray(motif_role, dtype=object)[labels[valid]]
    motif_of_column = roles.copy()
    n_reread = 0
    if patches is not None:
        own_centre, own_rings = _readings(patches, column_site, lattice, radius, background)
        for c in range(len(labels)):
            s = int(column_site[c])
            if not usable[s]:
                continue
            own = _role(names[s], own_centre[c] / host_levels[s] - 1.0, own_rings[c].max() / host_rings[s] - 1.0,
                        own_rings[c].min() / host_rings[s] - 1.0, *thresholds)
            if own != roles[c]:
                roles[c] = own
                n_reread += 1
    return MotifRoles(table=table, roles=roles, motif_roles=motif_of_column, column_site=column_site,
                      site_names=names, host_levels=host_levels, background=background, lattice=lattice,
                      n_reread=n_reread)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


@dataclass
class DopantAnalysis:
    """Result of :func:`dopant_analysis` (paper Fig. 3).

    Attributes
    ----------
    positions : ndarray, shape (N, 2)
        Column positions (x, y) in pixels.
    labels : ndarray of int, shape (N,)
        Motif of every column (as given).
    roles : ndarray of object, shape (N,)
        Role of every column (see module notes).
    motif_roles : MotifRoles or None
        The class-average reading (None when roles were given).
    hierarchy : motifkit.MotifHierarchy
        Hierarchy of motif-cells built on the roles.
    dopant_roles : list of str
        Roles with a dark or bright centre (dopants and vacancies).
    neighbourhoods : dict
        Dopant role -> composed neighbourhood: ``node`` (hierarchy node id or None),
        ``level``, ``count`` (occurrences of the isolated neighbourhood), ``context_role``,
        ``n_neighbours``, ``shape_names``, ``n_nodes_with_dopant`` and
        ``n_dopant_columns``.
    site_names : list of str
    summary : dict
    """

    positions: np.ndarray
    labels: np.ndarray
    roles: np.ndarray
    motif_roles: MotifRoles | None
    hierarchy: object
    dopant_roles: list
    neighbourhoods: dict
    site_names: list
    summary: dict = field(default_factory=dict)

    @property
    def role_counts(self) -> dict:
        """Role -> number of columns, most common first."""
        return dict(Counter(self.roles.tolist()).most_common())

    def columns_with_role(self, role: str) -> np.ndarray:
        """Indices of the columns with a given role."""
        return np.flatnonzero(self.roles == role)

    def plot(self, image=None, **kwargs):
        """See :func:`plot_dopants`."""
        return plot_dopants(self, image, **kwargs)


def _site_names_from_roles(roles, positions, lattice) -> list:
    """Name of each lattice site: the site word most of its columns' roles start with."""
    from ..cells import index_columns

    _, column_site, _, _ = index_columns(positions, lattice)
    names = []
    for site in range(lattice.n_sites):
        words = Counter(str(r).split(" ")[0] for r in roles[column_site == site] if r != UNRESOLVED)
        names.append(words.most_common(1)[0][0] if words else f"site {site}")
    return names


def _is_dopant(role: str) -> bool:
    centre = role.split(" next to ")[0]
    return centre.endswith("(dark)") or centre.endswith("(bright)")


def _composed_neighbourhood(hierarchy, dopant_role, context_role, n_neighbours):
    """Most frequent motif-cell holding exactly one ``dopant_role`` and its ring of context."""
    want = Counter({dopant_role: 1, context_role: n_neighbours})
    best = None
    n_with = 0
    for node, data in hierarchy.graph.nodes(data=True):
        contents = Counter(name.split(": ", 1)[1] for name in data["shape_names"])
        if contents.get(dopant_role, 0) == 0:
            continue
        n_with += 1
        if contents == want and (best is None or data["count"] > hierarchy.graph.nodes[best]["count"]):
            best = node
    return best, n_with


def dopant_analysis(
    analysis=None,
    *,
    positions=None,
    labels=None,
    class_averages=None,
    patches=None,
    reread: bool = True,
    roles=None,
    lattice=None,
    site_names=None,
    centre_threshold: float = 0.2,
    ring_threshold: float = 0.2,
    min_site_purity: float = 0.8,
    hierarchy_options: dict | None = None,
    random_state=0,
) -> DopantAnalysis:
    """Dopant- and vacancy-centred motifs and their composed neighbourhoods (Fig. 3).

    Parameters
    ----------
    analysis : MotifAnalysis-like, optional
        Supplies ``positions``, ``labels`` and ``class_averages``.
    positions : ndarray, shape (N, 2), optional
        Column positions (x, y) in pixels.
    labels : ndarray of int, shape (N,), optional
        Motif labels (from the FR layout).
    class_averages : ndarray, shape (K, s, s), optional
    patches : ndarray, shape (N, s, s), optional
        The columns' patches (a MotifAnalysis keeps them by default).
    reread : bool
        Read every column's own patch too and let it override a motif role it
        contradicts (see :func:`read_motif_roles`); needs ``patches``.
    roles : array_like of str, shape (N,), optional
        Column roles given directly (e.g. from a ground truth), skipping the class-average
        reading; use the names of :func:`read_motif_roles` (``"<site> (dark)"``,
        ``"<site> next to bright"``...) so that the neighbourhoods are found.
    lattice : motifkit.cells.Lattice, optional
        Found from the positions when omitted.
    site_names : sequence of str, optional
        See :func:`read_motif_roles`.
    centre_threshold, ring_threshold, min_site_purity : float
        See :func:`read_motif_roles`.
    hierarchy_options : dict, optional
        Extra arguments of :func:`motifkit.build_hierarchy`.
    random_state : int, Generator or None

    Returns
    -------
    DopantAnalysis

    Raises
    ------
    ParameterError
        Missing inputs or inconsistent shapes.
    NotEnoughDataError
        Too few columns for a lattice.

    Examples
    --------
    >>> from motifkit.data import ws2_fe_te                           # doctest: +SKIP
    >>> result = dopant_analysis(motifkit.analyze(ws2_fe_te().image, rotation_invariant=False))  # doctest: +SKIP
    >>> result.neighbourhoods["metal (dark)"]["count"]               # doctest: +SKIP
    """
    from ..cells import find_lattice, index_columns
    from ..hierarchy import build_hierarchy

    need = ("positions",) if roles is not None else ("positions", "labels", "class_averages")
    data = resolve_inputs(analysis, required=need, positions=positions, labels=labels,
                          class_averages=class_averages, patches=patches)
    positions = data["positions"]
    if len(positions) < 12:
        raise NotEnoughDataError(f"only {len(positions)} columns; a dopant analysis needs a lattice of at least 12.")
    if lattice is None:
        lattice = find_lattice(positions, random_state=random_state)
    motif_roles = None
    if roles is None:
        motif_roles = read_motif_roles(
            data["class_averages"], data["labels"], positions, lattice,
            patches=data["patches"] if reread else None, site_names=site_names,
            centre_threshold=centre_threshold, ring_threshold=ring_threshold, min_site_purity=min_site_purity,
        )
        roles = motif_roles.roles
        names = motif_roles.site_names
    else:
        roles = np.asarray(roles, dtype=object).reshape(-1)
        if len(roles) != len(positions):
            raise ParameterError(f"roles has {len(roles)} entries for {len(positions)} columns; give one per column.")
        names = _site_names_from_roles(roles, positions, lattice) if site_names is None else list(site_names)
    n_unresolved = int(np.sum(roles == UNRESOLVED))
    if n_unresolved:
        warnings.warn(
            f"{n_unresolved} columns have no readable role (no motif label, or a motif spread over several "
            "lattice sites without patches to read them one by one); they enter the hierarchy as "
            f"'{UNRESOLVED}'. Pass the patches, or finer motif labels, to resolve them.",
            stacklevel=2,
        )
    options = {"lattice": lattice, "random_state": random_state}
    options.update(hierarchy_options or {})
    hierarchy = build_hierarchy(positions=positions, labels=np.asarray(roles, dtype=str), **options)

    dopant_roles = sorted({r for r in roles.tolist() if r != UNRESOLVED and _is_dopant(r)})
    site_of_name = {name: k for k, name in enumerate(names)}
    neighbourhoods = {}
    for role in dopant_roles:
        centre_part = role.split(" next to ")[0]
        site_name, shade = centre_part.rsplit(" (", 1)
        shade = shade.rstrip(")")
        n_dopant_columns = int(np.sum(roles == role))
        entry = {"node": None, "level": None, "count": 0, "context_role": None, "n_neighbours": 0,
                 "shape_names": [], "n_nodes_with_dopant": 0, "n_dopant_columns": n_dopant_columns}
        if site_name in site_of_name and hierarchy.mode == "lattice":
            site = site_of_name[site_name]
            offsets = neighbour_offsets(lattice, site)
            # the neighbours' site (the nearest one, e.g. chalcogen around a metal)
            ideal = lattice.site_positions(np.zeros((1, 2), dtype=np.int64), [site])
            _, neighbour_sites, _, _ = index_columns(ideal + offsets, lattice)
            other = Counter(neighbour_sites.tolist()).most_common(1)[0][0]
            context_role = f"{names[other]} next to {shade}"
            node, n_with = _composed_neighbourhood(hierarchy, role, context_role, len(offsets))
            entry.update({"context_role": context_role, "n_neighbours": int(len(offsets)), "n_nodes_with_dopant": n_with})
            if node is not None:
                attrs = hierarchy.graph.nodes[node]
                entry.update({"node": int(node), "level": int(attrs["level"]), "count": int(attrs["count"]),
                              "shape_names": list(attrs["shape_names"])})
        neighbourhoods[role] = entry
    summary = {
        "n_columns": int(len(positions)),
        "n_unresolved_columns": n_unresolved,
        "n_reread_columns": 0 if motif_roles is None else int(motif_roles.n_reread),
        "role_counts": dict(Counter(roles.tolist()).most_common()),
        "bravais": lattice.bravais,
        "n_sites": int(lattice.n_sites),
        "hierarchy_mode": hierarchy.mode,
        "n_motif_cells": len(hierarchy),
        "neighbourhood_counts": {role: entry["count"] for role, entry in neighbourhoods.items()},
    }
    return DopantAnalysis(
        positions=positions,
        labels=data["labels"] if data["labels"] is not None else np.full(len(positions), -1, dtype=np.int64),
        roles=roles,
        motif_roles=motif_roles,
        hierarchy=hierarchy,
        dopant_roles=dopant_roles,
        neighbourhoods=neighbourhoods,
        site_names=list(names),
        summary=summary,
    )


def plot_dopants(result: DopantAnalysis, image=None, *, axes=None, max_nodes_per_level: int = 6, marker_size=12.0):
    """Figure like paper Fig. 3B/C/E: columns coloured by role, and the dopant hierarchy.

    Parameters
    ----------
    result : DopantAnalysis
    image : Micrograph or ndarray, optional
        Drawn underneath the columns.
    axes : sequence of two matplotlib Axes, optional
    max_nodes_per_level : int
        Motif-cells shown per hierarchy level.
    marker_size : float

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(13, 6))
    else:
        fig = axes[0].figure
    ax = axes[0]
    if image is not None:
        pixels = getattr(image, "data", image)
        ax.imshow(np.asarray(pixels), cmap="gray", origin="upper")
    roles = result.roles
    host = [r for r in result.role_counts if not _is_dopant(r) and " next to " not in r and r != UNRESOLVED]
    colours = plt.get_cmap("tab10")
    others = [r for r in result.role_counts if r not in host]
    for r in host:
        m = roles == r
        ax.scatter(result.positions[m, 0], result.positions[m, 1], s=marker_size * 0.4, c="0.6", label=r, linewidths=0)
    for k, r in enumerate(others):
        m = roles == r
        ax.scatter(result.positions[m, 0], result.positions[m, 1], s=marker_size, color=colours(k % 10),
                   label=f"{r} ({int(m.sum())})", linewidths=0)
    ax.set_aspect("equal")
    if image is None:
        ax.invert_yaxis()
    ax.set_title("columns by motif role")
    ax.legend(fontsize=7, markerscale=1.5, loc="upper right")
    result.hierarchy.draw(axes[1], max_nodes_per_level=max_nodes_per_level,
                          title="motif-cells around dopants (counts in parentheses)")
    fig.tight_layout()
    return fig
