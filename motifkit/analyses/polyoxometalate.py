"""Pentagonal motifs of a polyoxometalate and their square hierarchy (paper Fig. 4).

The paper's Mo-V-Te-Nb oxide is a tiling of pentagonal units whose centre column is
empty, partly filled or filled (Fig. 4A-C). The Voronoi tessellation of the unit centres
is a type-4 (Cairo) pentagonal tiling (Fig. 4E). Level-2 motifs are squares of four
pentagons whose corners are filled or not (2^4 = 16 configurations, the partly filled
ones omitted); level-3 motifs are squares of four level-2 squares (2^16 possible). The
observed distributions are far from uniform: low configurational entropy (Fig. 4F).

:func:`pom_analysis` runs this from the image:

1. Pentagon centres: local maxima of the image smoothed at the scale of a whole unit
   (:func:`find_pentagon_centres`), so empty units are found as well as filled ones.
2. Motifs: the motif chain (patches, rotation-invariant Zernike features, FR layout,
   labels) at those centres.
3. States: each motif's class average is read at its centre, relative to the brightest
   motif (taken as filled): ``"empty"`` below ``state_thresholds[0]``, ``"filled"``
   from ``state_thresholds[1]``, ``"partial"`` between.
4. Voronoi cells of the centres (:func:`motifkit.cells.voronoi_cells`) and the count of
   their edges; level-2 and level-3 squares with :func:`motifkit.hierarchy.square_motifs`;
   entropies against the uniform case.

Positions are ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import NotEnoughDataError, ParameterError
from ._common import analyze_at_positions, disk_mean

__all__ = [
    "PENTAGON_STATE_NAMES",
    "POMAnalysis",
    "find_pentagon_centres",
    "pentagon_states",
    "pom_analysis",
    "binary_states",
    "voronoi_polygon_sides",
    "plot_pom",
]

#: State names, from the darkest to the brightest centre.
PENTAGON_STATE_NAMES = ("empty", "partial", "filled")


def find_pentagon_centres(image, *, spacing: float | None = None, smoothing: float = 0.2,
                          exclude_border: int = 1) -> np.ndarray:
    """Centres of pentagonal units, empty or filled, from the pixels.

    The image is smoothed with a Gaussian of ``smoothing * spacing`` px, which merges
    each unit's ring of columns (and its centre column, when present) into one blob;
    the blobs' maxima are found and refined by centre of mass with
    :func:`motifkit.find_columns`.

    Parameters
    ----------
    image : Micrograph or ndarray, shape (H, W)
    spacing : float, optional
        Distance (px) between neighbouring unit centres; default
        :func:`motifkit.columns.estimate_lattice_spacing` of the image (on a pentagonal
        tiling the units dominate the autocorrelation).
    smoothing : float
        Gaussian sigma as a fraction of ``spacing``.
    exclude_border : int
        Maxima within this many px of the edge are rejected.

    Returns
    -------
    ndarray, shape (M, 2)
        Unit centres (x, y) in pixels.

    Raises
    ------
    ParameterError
        ``smoothing`` or ``spacing`` out of range.
    """
    from scipy import ndimage as ndi

    from ..columns import estimate_lattice_spacing, find_columns
    from ..micrograph import validate_image

    pixels = validate_image(getattr(image, "data", image), name="image")
    if not 0 < smoothing < 1:
        raise ParameterError(f"smoothing must be a fraction of the unit spacing in (0, 1), got {smoothing}.")
    if spacing is None:
        spacing = float(estimate_lattice_spacing(pixels))
    if not np.isfinite(spacing) or spacing <= 2:
        raise ParameterError(f"spacing must be the unit-centre distance in px (> 2), got {spacing}.")
    smoothed = ndi.gaussian_filter(pixels.astype(np.float64), smoothing * spacing, mode="reflect")
    return find_columns(smoothed, smoothing="none", threshold="mean", min_separation=0.5 * spacing,
                        refine="com", refine_radius=0.3 * spacing, exclude_border=exclude_border)


def pentagon_states(class_averages, *, spacing: float, state_thresholds=(0.3, 0.75),
                    centre_radius: float = 0.06):
    """State of each pentagon motif from its class average's centre.

    Parameters
    ----------
    class_averages : ndarray, shape (K, s, s)
    spacing : float
        Unit-centre distance in px (sets the sampled disk: ``centre_radius * spacing``).
    state_thresholds : (float, float)
        Centre level, as a fraction of the brightest motif's (background subtracted),
        below which a motif is empty, and from which it is filled.
    centre_radius : float

    Returns
    -------
    states : ndarray of object, shape (K,)
        ``"empty"``, ``"partial"`` or ``"filled"``.
    levels : ndarray, shape (K,)
        Centre level relative to the brightest motif (1 = brightest).
    """
    averages = np.asarray(class_averages, dtype=np.float64)
    if averages.ndim != 3 or averages.shape[1] % 2 == 0:
        raise ParameterError(f"class_averages must be (K, s, s) with odd s, got {averages.shape}.")
    low, high = (float(t) for t in state_thresholds)
    if not 0 < low < high < 1:
        raise ParameterError(f"state_thresholds must satisfy 0 < empty < filled < 1, got {state_thresholds}.")
    half = (averages.shape[1] - 1) / 2.0
    centre = np.array([disk_mean(a, [[half, half]], centre_radius * spacing)[0] - a.min() for a in averages])
    top = centre.max()
    levels = centre / top if top > 0 else np.zeros_like(centre)
    states = np.where(levels < low, "empty", np.where(levels < high, "partial", "filled")).astype(object)
    return states, levels


def binary_states(states, partial: str = "omit"):
    """Filled (1) / not filled (0) per pentagon for the level-2 squares.

    Parameters
    ----------
    states : array_like of str, shape (M,)
    partial : {"omit", "empty", "filled"}
        Partly filled pentagons are left out (the paper's choice), or counted as empty
        or as filled.

    Returns
    -------
    keep : ndarray of bool, shape (M,)
        Pentagons that enter the squares.
    binary : ndarray of int, shape (M,)
        1 for filled, 0 for empty (meaningless where ``keep`` is False).
    """
    states = np.asarray(states, dtype=object).reshape(-1)
    if partial not in ("omit", "empty", "filled"):
        raise ParameterError(f"partial must be 'omit', 'empty' or 'filled', got {partial!r}.")
    unknown = set(states.tolist()) - set(PENTAGON_STATE_NAMES)
    if unknown:
        raise ParameterError(f"unknown pentagon states {sorted(unknown)}; use {PENTAGON_STATE_NAMES}.")
    is_partial = states == "partial"
    keep = ~is_partial if partial == "omit" else np.ones(len(states), dtype=bool)
    binary = ((states == "filled") | (is_partial & (partial == "filled"))).astype(np.int64)
    return keep, binary


def voronoi_polygon_sides(centres, complete, *, merge: float = 0.25) -> np.ndarray:
    """Number of edges of the Voronoi polygon of each complete cell (0 for the others).

    Parameters
    ----------
    centres : ndarray, shape (M, 2)
    complete : ndarray of bool, shape (M,)
        Cells to measure (e.g. :attr:`motifkit.cells.VoronoiCells.complete`).
    merge : float
        Edges shorter than ``merge`` times the median edge length are not counted: where
        four cells meet (the 4-valent vertices of the Cairo tiling) a slightly perturbed
        centre splits the vertex into two joined by a tiny edge.

    Returns
    -------
    ndarray of int, shape (M,)
    """
    from scipy.spatial import Voronoi

    centres = np.asarray(centres, dtype=float)
    vor = Voronoi(centres)
    sides = np.zeros(len(centres), dtype=np.int64)
    edges = [np.linalg.norm(vor.vertices[r[0]] - vor.vertices[r[1]]) for r in vor.ridge_vertices if -1 not in r]
    tiny = merge * (float(np.median(edges)) if edges else 1.0)
    for k in np.flatnonzero(np.asarray(complete, dtype=bool)):
        region = vor.regions[vor.point_region[k]]
        if not region or -1 in region:
            continue
        vertices = vor.vertices[region]
        step = np.linalg.norm(vertices - np.roll(vertices, -1, axis=0), axis=1)
        sides[k] = int((step > tiny).sum())
    return sides


@dataclass
class POMAnalysis:
    """Result of :func:`pom_analysis` (paper Fig. 4).

    Attributes
    ----------
    centres : ndarray, shape (M, 2)
        Pentagon centres (x, y) in pixels (those analysed).
    states : ndarray of object, shape (M,)
        ``"empty"``, ``"partial"`` or ``"filled"``.
    motif_table : list of dict
        Per pentagon motif: ``label``, ``count``, ``level`` (centre relative to the
        brightest motif) and ``state``.
    abundances : dict
        State -> fraction of the pentagons.
    voronoi : motifkit.cells.VoronoiCells
        Voronoi cells of the centres (cell type = state).
    polygon_sides : ndarray of int, shape (M,)
        Edges of each complete Voronoi cell (0 for border cells).
    level2, level3 : motifkit.hierarchy.SquareMotifs or None
        Squares of four pentagons (corner states 1 = filled, 0 = empty) and squares of
        four level-2 squares.
    entropy : dict
        Per level (2, 3): ``entropy_bits``, ``uniform_bits`` (every configuration equally
        likely), ``sample_limit_bits`` (log2 of the number of squares: the most a sample
        of this size can show), ``n_squares``, ``n_configurations``.
    analysis : MotifAnalysis
        The motif chain at the pentagon centres.
    partial : str
        How partly filled pentagons entered the squares.
    summary : dict
    """

    centres: np.ndarray
    states: np.ndarray
    motif_table: list
    abundances: dict
    voronoi: object
    polygon_sides: np.ndarray
    level2: object
    level3: object
    entropy: dict
    analysis: object
    partial: str
    summary: dict = field(default_factory=dict)

    def level2_frequencies(self) -> dict:
        """All 16 level-2 configurations (corner tuples of 0/1) -> fraction of squares."""
        if self.level2 is None:
            return {}
        return self.level2.frequencies(all_states=(0, 1))

    def dominant_configurations(self, level: int = 2, share: float = 0.8) -> list:
        """Most common configurations that together cover ``share`` of the squares.

        Returns
        -------
        list of (configuration, fraction)
        """
        squares = self.level2 if level == 2 else self.level3
        if squares is None:
            return []
        total = len(squares.configurations)
        out, covered = [], 0.0
        for config, count in squares.counts.items():
            if covered >= share:
                break
            out.append((config, count / total))
            covered += count / total
        return out

    def plot(self, image=None, **kwargs):
        """See :func:`plot_pom`."""
        return plot_pom(self, image, **kwargs)


def _level_entropy(squares, n_states: int) -> dict:
    if squares is None:
        return {"entropy_bits": float("nan"), "uniform_bits": float("nan"), "sample_limit_bits": 0.0,
                "n_squares": 0, "n_configurations": 0}
    n = len(squares.configurations)
    return {
        "entropy_bits": float(squares.entropy_bits),
        "uniform_bits": float(4 * np.log2(n_states)),
        "sample_limit_bits": float(np.log2(n)) if n else 0.0,
        "n_squares": int(n),
        "n_configurations": int(len(squares.counts)),
    }


def pom_analysis(
    image=None,
    *,
    centres=None,
    analysis=None,
    spacing: float | None = None,
    patch_size: int | None = None,
    smoothing: float = 0.2,
    state_thresholds=(0.3, 0.75),
    partial: str = "omit",
    edge_tolerance: float = 0.25,
    layout_options: dict | None = None,
    labeling_options: dict | None = None,
    random_state=0,
) -> POMAnalysis:
    """Pentagon motifs, their Voronoi tiling and level-2/3 square motifs (Fig. 4).

    Parameters
    ----------
    image : Micrograph or ndarray, shape (H, W), optional
        The micrograph; needed unless ``analysis`` is given.
    centres : ndarray, shape (M, 2), optional
        Pentagon centres (x, y) in px; found with :func:`find_pentagon_centres` when
        omitted.
    analysis : MotifAnalysis-like, optional
        A motif analysis already run at the pentagon centres (``positions``,
        ``labels``, ``class_averages``); skips steps 1-2.
    spacing : float, optional
        Unit-centre distance in px (default: estimated from the image, or the median
        nearest-neighbour distance of the centres).
    patch_size : int, optional
        Odd patch side; default the odd number nearest ``0.8 * spacing`` (one unit).
    smoothing : float
        See :func:`find_pentagon_centres`.
    state_thresholds : (float, float)
        See :func:`pentagon_states`.
    partial : {"omit", "empty", "filled"}
        See :func:`binary_states`.
    edge_tolerance : float
        Square detection tolerance (see :func:`motifkit.hierarchy.square_motifs`).
    layout_options, labeling_options : dict, optional
        Passed to the motif chain.
    random_state : int, Generator or None

    Returns
    -------
    POMAnalysis

    Raises
    ------
    ParameterError
        Neither an image nor an analysis given, or bad options.
    NotEnoughDataError
        Too few pentagons for squares.
    """
    from scipy.spatial import cKDTree

    from ..cells import voronoi_cells
    from ..hierarchy import square_motifs

    if analysis is None:
        if image is None:
            raise ParameterError("give the micrograph (image=...) or a motif analysis at the pentagon centres.")
        if centres is None:
            centres = find_pentagon_centres(image, spacing=spacing, smoothing=smoothing)
        centres = np.asarray(centres, dtype=float).reshape(-1, 2)
        if len(centres) < 4:
            raise NotEnoughDataError(f"only {len(centres)} pentagon centres found; a square needs 4.")
        if spacing is None:
            spacing = float(np.median(cKDTree(centres).query(centres, k=2)[0][:, 1]))
        if patch_size is None:
            patch_size = int(round(0.8 * spacing)) // 2 * 2 + 1
        analysis = analyze_at_positions(image, centres, patch_size, rotation_invariant=True,
                                        layout_options=layout_options, labeling_options=labeling_options,
                                        random_state=random_state)
    for name in ("positions", "labels", "class_averages"):
        if getattr(analysis, name, None) is None:
            raise ParameterError(f"the analysis has no {name!r}; run the motif chain at the pentagon centres first.")
    positions = np.asarray(analysis.positions, dtype=float)
    labels = np.asarray(analysis.labels, dtype=np.int64)
    if spacing is None:
        spacing = float(np.median(cKDTree(positions).query(positions, k=2)[0][:, 1]))
    motif_states, levels = pentagon_states(analysis.class_averages, spacing=spacing,
                                           state_thresholds=state_thresholds)
    if (labels < 0).any():
        raise ParameterError(f"{int((labels < 0).sum())} pentagons have no motif label; assign every pentagon.")
    states = motif_states[labels]
    counts = np.bincount(labels, minlength=len(motif_states))
    motif_table = [{"label": int(k), "count": int(counts[k]), "level": float(levels[k]), "state": motif_states[k]}
                   for k in range(len(motif_states))]
    abundances = {name: float(np.mean(states == name)) for name in PENTAGON_STATE_NAMES}

    state_codes = np.array([PENTAGON_STATE_NAMES.index(s) for s in states])
    cells = voronoi_cells(positions, state_codes, label_names=list(PENTAGON_STATE_NAMES))
    sides = voronoi_polygon_sides(positions, cells.complete)

    keep, binary = binary_states(states, partial)
    level2 = level3 = None
    try:
        level2 = square_motifs(positions[keep], binary[keep], edge_tolerance=edge_tolerance)
    except NotEnoughDataError as exc:
        warnings.warn(f"no level-2 squares: {exc}", stacklevel=2)
    if level2 is not None:
        try:
            level3 = level2.next_level(edge_tolerance=edge_tolerance)
        except NotEnoughDataError as exc:
            warnings.warn(f"no level-3 squares: {exc}", stacklevel=2)
    entropy = {2: _level_entropy(level2, 2), 3: _level_entropy(level3, 16)}
    complete = cells.complete
    summary = {
        "n_pentagons": int(len(positions)),
        "n_motifs": int(len(motif_states)),
        "abundances": abundances,
        "n_complete_cells": int(complete.sum()),
        "fraction_pentagonal_cells": float(np.mean(sides[complete] == 5)) if complete.any() else float("nan"),
        "n_partial_omitted": int((~keep).sum()),
        "spacing_px": float(spacing),
        "entropy": entropy,
    }
    return POMAnalysis(
        centres=positions, states=states, motif_table=motif_table, abundances=abundances, voronoi=cells,
        polygon_sides=sides, level2=level2, level3=level3, entropy=entropy, analysis=analysis, partial=partial,
        summary=summary,
    )


_STATE_COLOURS = {"empty": "#1f3b73", "partial": "#7fb3e6", "filled": "#f28e2b"}


def _config_label(config) -> str:
    return "".join("F" if c else "o" for c in config)


def plot_pom(result: POMAnalysis, image=None, *, axes=None, top_level3: int = 8):
    """Figure like paper Fig. 4: states, Voronoi tiling, level-2 and level-3 statistics.

    Parameters
    ----------
    result : POMAnalysis
    image : Micrograph or ndarray, optional
        Drawn under the Voronoi tiling.
    axes : sequence of three matplotlib Axes, optional
    top_level3 : int
        Level-3 configurations listed.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from scipy.spatial import Voronoi

    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(18, 6))
    else:
        fig = axes[0].figure
    ax = axes[0]
    if image is not None:
        ax.imshow(np.asarray(getattr(image, "data", image)), cmap="gray", origin="upper")
    vor = Voronoi(result.centres)
    polygons, colours = [], []
    for k in np.flatnonzero(result.voronoi.complete):
        region = vor.regions[vor.point_region[k]]
        polygons.append(vor.vertices[region])
        colours.append(_STATE_COLOURS[result.states[k]])
    ax.add_collection(PolyCollection(polygons, facecolors=colours, edgecolors="white", linewidths=0.6,
                                     alpha=0.45 if image is not None else 0.9))
    for name, colour in _STATE_COLOURS.items():
        m = result.states == name
        ax.scatter(result.centres[m, 0], result.centres[m, 1], s=10, color=colour,
                   label=f"{name} {100 * result.abundances[name]:.1f} %")
    ax.set_aspect("equal")
    ax.autoscale_view()
    if image is None:
        ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("pentagon motifs and the Voronoi tiling of their centres")

    ax = axes[1]
    freq = result.level2_frequencies()
    configs = sorted(freq, key=lambda c: -freq[c])
    ax.bar(range(len(configs)), [100 * freq[c] for c in configs], color="#4a7fb0")
    ax.axhline(100 / 16, color="0.4", ls="--", lw=1, label="uniform (6.25 %)")
    ax.set_xticks(range(len(configs)))
    ax.set_xticklabels([_config_label(c) for c in configs], rotation=90, fontsize=8, family="monospace")
    e2 = result.entropy[2]
    ax.set_ylabel("squares (%)")
    ax.set_title(f"level 2: {e2['n_squares']} squares, entropy {e2['entropy_bits']:.2f} of {e2['uniform_bits']:.0f} bits")
    ax.legend(fontsize=8)

    ax = axes[2]
    e3 = result.entropy[3]
    if result.level3 is not None:
        top = list(result.level3.counts.items())[:top_level3]
        ax.barh(range(len(top)), [c for _, c in top], color="#59a14f")
        ax.set_yticks(range(len(top)))
        ax.set_yticklabels([" ".join(str(s) for s in config) for config, _ in top], fontsize=7, family="monospace")
        ax.invert_yaxis()
        ax.set_xlabel("occurrences")
    ax.set_title(f"level 3: {e3['n_squares']} squares, {e3['n_configurations']} kinds, entropy "
                 f"{e3['entropy_bits']:.2f} bits (uniform {e3['uniform_bits']:.0f}, sample limit "
                 f"{e3['sample_limit_bits']:.1f})", fontsize=9)
    fig.tight_layout()
    return fig
