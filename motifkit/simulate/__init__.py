"""STEM image simulation (convolution approximation) with column-level ground truth.

Lengths are in ångström throughout this subpackage; returned micrographs have
``unit="A"`` and positions in the truth are ``(x, y) = (column, row)`` pixels.

Typical use::

    from motifkit.simulate import ImageGeometry, tmd_monolayer, add_vacancies, simulate_stem
    geometry = ImageGeometry((512, 512), pixel_size=0.2)
    big = tmd_monolayer("MoSe2").tile_for_view(geometry)
    big = add_vacancies(big, "Se", density=0.03, double_fraction=0.2, random_state=0)
    sim = simulate_stem(big, geometry.shape, geometry.pixel_size, dose=2e4, random_state=0)
    sim.image, sim.truth.positions, sim.truth.context_types

Building blocks
    :class:`Structure` and builders (:func:`tmd_monolayer`, :func:`graphene`, :func:`hbn`,
    :func:`bravais_lattice`, :func:`random_bravais`, :func:`pentagonal_tiling`,
    :func:`twisted_bilayer`, :func:`from_ase`), defects (:func:`add_vacancies`,
    :func:`substitute`, :func:`plant_pentagon_occupancy`), :class:`ImageGeometry`,
    :class:`Probe`, :func:`render_stem`, :func:`simulate_stem`, noise
    (:func:`scan_distortion`, :func:`apply_dose`, :func:`add_read_noise`) and the results
    :class:`SimulatedImage` / :class:`GroundTruth`.
"""

from __future__ import annotations

from .geometry import ImageGeometry, rotation_matrix
from .noise import add_read_noise, apply_dose, scan_distortion
from .render import Probe, render_stem, simulate_stem
from .structures import (
    BRAVAIS_CLASSES,
    PENTAGON_STATES,
    TMD_MATERIALS,
    Structure,
    add_vacancies,
    bravais_lattice,
    classify_bravais,
    column_label,
    from_ase,
    graphene,
    hbn,
    pentagon_squares,
    pentagonal_tiling,
    plant_pentagon_occupancy,
    random_bravais,
    reduce_basis,
    substitute,
    tmd_monolayer,
    twisted_bilayer,
)
from .truth import GroundTruth, SimulatedImage

__all__ = [
    "BRAVAIS_CLASSES",
    "PENTAGON_STATES",
    "TMD_MATERIALS",
    "GroundTruth",
    "ImageGeometry",
    "Probe",
    "SimulatedImage",
    "Structure",
    "add_read_noise",
    "add_vacancies",
    "apply_dose",
    "bravais_lattice",
    "classify_bravais",
    "column_label",
    "from_ase",
    "graphene",
    "hbn",
    "pentagon_squares",
    "pentagonal_tiling",
    "plant_pentagon_occupancy",
    "random_bravais",
    "reduce_basis",
    "render_stem",
    "rotation_matrix",
    "scan_distortion",
    "simulate_stem",
    "substitute",
    "tmd_monolayer",
    "twisted_bilayer",
]
