"""Deterministic synthetic presets: simulated STEM images with ground truth.

Every preset takes ``shape`` (H, W) px, ``pixel_size`` (Å/px), ``dose`` (electrons/Å^2,
None = noise-free) and ``random_state``, and returns a
:class:`motifkit.simulate.SimulatedImage` (``.image`` a Micrograph with ``unit="A"``,
``.truth`` the column-level ground truth). The same ``random_state`` always gives the
same image and truth. ``PRESETS`` maps names to the functions (used by
``motifkit simulate <name>``).
"""

from __future__ import annotations

from .._utils import check_random_state
from ..errors import ParameterError
from ..simulate import (
    BRAVAIS_CLASSES,
    ImageGeometry,
    SimulatedImage,
    add_vacancies,
    pentagonal_tiling,
    plant_pentagon_occupancy,
    simulate_stem,
    substitute,
    tmd_monolayer,
)
from ..simulate import graphene as _graphene_cell
from ..simulate import random_bravais as _random_bravais_cell
from ..simulate import twisted_bilayer as _twisted_bilayer_structure

__all__ = [
    "mose2_with_vacancies",
    "ws2_fe_te",
    "pentagon_tiling",
    "twisted_bilayer",
    "graphene",
    "random_bravais",
    "PRESETS",
]


def _simulate(structure, geometry, rng, name, **kwargs) -> SimulatedImage:
    return simulate_stem(
        structure,
        geometry.shape,
        geometry.pixel_size,
        rotation=geometry.rotation,
        shift=geometry.shift,
        random_state=rng,
        source=f"motifkit.data.{name}",
        **kwargs,
    )


def mose2_with_vacancies(
    shape=(512, 512),
    pixel_size: float = 0.2,
    *,
    vacancy_density: float = 0.04,
    double_fraction: float = 0.25,
    dose: float | None = None,
    read_noise: float = 0.0,
    probe="gaussian",
    rotation: float = 0.0,
    scan_jitter: float = 0.0,
    random_state=0,
) -> SimulatedImage:
    """Monolayer 2H-MoSe2 with Se vacancies (the paper's Fig. 1 sample).

    A fraction ``vacancy_density`` of the Se2 columns lose atoms: one (``"Se1"``) or,
    with probability ``double_fraction``, both (``"V_Se2"``). Mo columns next to them are
    ``"Mo_nextto_V"`` in ``truth.context_types``.

    Parameters
    ----------
    shape : (int, int)
        Image size (H, W) in px.
    pixel_size : float
        Å/px.
    vacancy_density : float
        Fraction of Se columns with a vacancy.
    double_fraction : float
        Fraction of those that lose both Se atoms.
    dose : float, optional
        Electrons per Å^2 (Poisson noise); None for a noise-free image.
    read_noise : float
        Gaussian read noise (counts when ``dose`` is set).
    probe : str, float or Probe
        See :func:`motifkit.simulate.simulate_stem`.
    rotation : float
        Lattice rotation in degrees.
    scan_jitter : float
        Per-row x jitter in Å.
    random_state : int, Generator or None

    Returns
    -------
    SimulatedImage

    Examples
    --------
    >>> sim = mose2_with_vacancies(shape=(128, 128), random_state=0)
    >>> sim.image.unit, len(sim.truth) > 100
    ('A', True)
    """
    rng = check_random_state(random_state)
    geometry = ImageGeometry(shape, pixel_size, rotation)
    big = tmd_monolayer("MoSe2").tile_for_view(geometry)
    big = add_vacancies(big, "Se", density=vacancy_density, double_fraction=double_fraction, random_state=rng)
    return _simulate(
        big, geometry, rng, "mose2_with_vacancies", probe=probe, dose=dose, read_noise=read_noise, scan_jitter=scan_jitter
    )


def ws2_fe_te(
    shape=(512, 512),
    pixel_size: float = 0.2,
    *,
    fe_density: float = 0.02,
    te_density: float = 0.06,
    te_double_fraction: float = 0.15,
    vacancy_density: float = 0.01,
    dose: float | None = None,
    read_noise: float = 0.0,
    probe="gaussian",
    rotation: float = 0.0,
    random_state=0,
) -> SimulatedImage:
    """Monolayer WS2 doped with Fe (on W sites) and Te (on S sites), the paper's Fig. 3.

    Fe columns (``"Fe"``, darker than W) are fenced by ``"S2_nextto_Fe"`` columns;
    Te-substituted chalcogen columns (``"S1Te1"``, or ``"Te2"`` with probability
    ``te_double_fraction``) are brighter than S2 and make their W neighbours
    ``"W_nextto_Te"``. A few S vacancies are added too.

    Parameters
    ----------
    fe_density : float
        Fraction of W columns replaced by Fe.
    te_density : float
        Fraction of S2 columns receiving Te.
    te_double_fraction : float
        Fraction of those with both S replaced.
    vacancy_density : float
        Fraction of S2 columns losing one S.
    Other parameters as in :func:`mose2_with_vacancies`.

    Returns
    -------
    SimulatedImage
    """
    rng = check_random_state(random_state)
    geometry = ImageGeometry(shape, pixel_size, rotation)
    big = tmd_monolayer("WS2").tile_for_view(geometry)
    big = substitute(big, "W", "Fe", density=fe_density, random_state=rng)
    big = substitute(big, "S", "Te", density=te_density, double_fraction=te_double_fraction, random_state=rng)
    if vacancy_density > 0:
        elements, counts = big.column_counts()
        s_count = counts[:, elements.index("S")]
        eligible = (s_count == 2) & (counts.sum(axis=1) == 2)  # untouched S2 columns only
        n = int(round(vacancy_density * int(eligible.sum())))
        sites = rng.choice(eligible.nonzero()[0], size=n, replace=False) if n else None
        if sites is not None:
            big = add_vacancies(big, "S", sites=sites, random_state=rng)
    return _simulate(big, geometry, rng, "ws2_fe_te", probe=probe, dose=dose, read_noise=read_noise)


def pentagon_tiling(
    shape=(512, 512),
    pixel_size: float = 0.2,
    *,
    edge: float = 6.0,
    fractions=(0.5, 0.25, 0.25),
    coupling: float = 0.5,
    dose: float | None = None,
    read_noise: float = 0.0,
    probe="gaussian",
    rotation: float = 0.0,
    random_state=0,
) -> SimulatedImage:
    """Polyoxometalate analogue: pentagonal units on a Cairo tiling with planted occupancy.

    Each unit is a Nb centre column ringed by five Mo columns (see
    :func:`motifkit.simulate.pentagonal_tiling`). Centres are filled (``"Nb2"``), partly
    filled (``"Nb1"``) or empty (``"V_Nb2"``) with prior ``fractions`` and a square-edge
    ``coupling`` that makes the 4-pentagon square configurations non-uniform (0 draws
    them independently). The truth's ``extra`` holds ``"pentagon_state"`` per column,
    ``"squares"`` (S, 4) row indices of the level-2 squares, and their planted
    ``"square_configs"`` (letters F/P/E in cyclic order) and rotation-canonical forms.

    Parameters
    ----------
    edge : float
        Distance between neighbouring pentagon centres in Å.
    fractions : (float, float, float)
        Prior probabilities of filled, partial, empty centres.
    coupling : float
        Square-edge interaction (positive favours uniform squares).
    Other parameters as in :func:`mose2_with_vacancies`.

    Returns
    -------
    SimulatedImage
    """
    rng = check_random_state(random_state)
    geometry = ImageGeometry(shape, pixel_size, rotation)
    big = pentagonal_tiling(edge).tile_for_view(geometry)
    big = plant_pentagon_occupancy(big, fractions, coupling=coupling, random_state=rng)
    return _simulate(big, geometry, rng, "pentagon_tiling", probe=probe, dose=dose, read_noise=read_noise)


def twisted_bilayer(
    angle: float = 3.15,
    shape=(512, 512),
    pixel_size: float = 0.2,
    *,
    material: str = "MoS2",
    stacking: str = "antiparallel",
    dose: float | None = None,
    read_noise: float = 0.0,
    probe="gaussian",
    rotation: float = 0.0,
    random_state=0,
) -> SimulatedImage:
    """Twisted bilayer (default MoS2 at 3.15 deg, near-2H stacking) with domain labels.

    Layer 2 is rotated by 180 deg + ``angle`` (``stacking="antiparallel"``) so the moiré
    has AA', AB' and A'B domains (period about ``a / (2 sin(angle / 2))``, 57 Å here). The
    truth lists each layer's columns (``truth.layer`` 0/1) with ``extra["domain"]``,
    ``extra["registry_offset"]`` (Å) and ``extra["registry_distance"]`` (Å to the ideal
    registry). ``random_state`` only affects noise.

    Parameters
    ----------
    angle : float
        Twist angle in degrees.
    material : str
        "MoS2", "MoSe2", "WS2", "WSe2", "graphene" or "hBN".
    stacking : {"antiparallel", "parallel"}
    Other parameters as in :func:`mose2_with_vacancies`.

    Returns
    -------
    SimulatedImage
    """
    rng = check_random_state(random_state)
    geometry = ImageGeometry(shape, pixel_size, rotation)
    structure = _twisted_bilayer_structure(material, angle, geometry=geometry, stacking=stacking)
    return _simulate(structure, geometry, rng, "twisted_bilayer", probe=probe, dose=dose, read_noise=read_noise)


def graphene(
    shape=(512, 512),
    pixel_size: float = 0.1,
    *,
    vacancy_density: float = 0.0,
    dose: float | None = None,
    read_noise: float = 0.0,
    probe="atomvision",
    rotation: float = 0.0,
    random_state=0,
) -> SimulatedImage:
    """Graphene (a = 2.46 Å) with optional single-atom vacancies, AtomVision's probe.

    Parameters
    ----------
    vacancy_density : float
        Fraction of C columns removed.
    Other parameters as in :func:`mose2_with_vacancies`.

    Returns
    -------
    SimulatedImage
    """
    rng = check_random_state(random_state)
    geometry = ImageGeometry(shape, pixel_size, rotation)
    big = _graphene_cell().tile_for_view(geometry)
    if vacancy_density > 0:
        big = add_vacancies(big, "C", density=vacancy_density, random_state=rng)
    return _simulate(big, geometry, rng, "graphene", probe=probe, dose=dose, read_noise=read_noise)


def random_bravais(
    bravais: str | None = None,
    shape=(256, 256),
    pixel_size: float = 0.1,
    *,
    dose: float | None = None,
    read_noise: float = 0.0,
    probe="atomvision",
    random_state=0,
) -> SimulatedImage:
    """A random 2-D lattice of a known Bravais class, randomly rotated and shifted.

    AtomVision-style training image (256 x 256 px at 0.1 Å/px by default) for the
    5-class Bravais task; ``truth.bravais`` is the class (one of
    :data:`motifkit.simulate.BRAVAIS_CLASSES`), random when ``bravais`` is None.

    Returns
    -------
    SimulatedImage
    """
    if bravais is not None and bravais not in BRAVAIS_CLASSES:
        raise ParameterError(f"Unknown Bravais class {bravais!r}; use one of {BRAVAIS_CLASSES}.")
    rng = check_random_state(random_state)
    cell = _random_bravais_cell(bravais, random_state=rng)
    rotation = float(rng.uniform(0.0, 360.0))
    shift = tuple(rng.uniform(-5.0, 5.0, 2))
    geometry = ImageGeometry(shape, pixel_size, rotation, shift)
    return _simulate(cell, geometry, rng, "random_bravais", probe=probe, dose=dose, read_noise=read_noise)


#: name -> preset function; each accepts ``shape=`` and ``random_state=``.
PRESETS = {
    "mose2_with_vacancies": mose2_with_vacancies,
    "ws2_fe_te": ws2_fe_te,
    "pentagon_tiling": pentagon_tiling,
    "twisted_bilayer": twisted_bilayer,
    "graphene": graphene,
    "random_bravais": random_bravais,
}
