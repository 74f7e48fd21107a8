"""Tests of motifkit.cells: lattice vectors, Bravais type, indexing, cell types, Voronoi cells."""

import numpy as np
import pytest

from motifkit.cells import (
    BRAVAIS_TYPES,
    MISSING,
    Lattice,
    LatticeError,
    classify_bravais,
    crystal_symmetry,
    find_lattice,
    index_columns,
    lattice_cells,
    lattice_point_group,
    neighbourhood_offsets,
    reduce_basis,
    voronoi_cells,
)
from motifkit.errors import NotEnoughDataError, ParameterError

# (|a|, |b|, gamma in degrees), each a few % away from the class boundaries
CELLS = {
    "hexagonal": (10.0, 10.0, 120.0),
    "square": (10.0, 10.0, 90.0),
    "rectangular": (9.0, 13.0, 90.0),
    "centred_rectangular": (10.0, 10.0, 76.0),
    "oblique": (9.0, 12.0, 104.0),
}


def _rotation(degrees):
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _cell(kind, rotation=0.0):
    a, b, gamma = CELLS[kind]
    g = np.radians(gamma)
    return np.array([[a, 0.0], [b * np.cos(g), b * np.sin(g)]]) @ _rotation(rotation).T


def _points(cell, n=32, basis=((0.0, 0.0),), noise=0.2, missing=0.0, seed=0, origin=(300.0, 300.0)):
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    ij = np.column_stack([i.ravel(), j.ravel()])
    idx = np.vstack([ij] * len(basis))
    site = np.repeat(np.arange(len(basis)), len(ij))
    xy = (idx + np.asarray(basis, dtype=float)[site]) @ cell + np.asarray(origin)
    xy = xy + rng.normal(0.0, noise, xy.shape)
    keep = rng.random(len(xy)) >= missing
    return xy[keep], idx[keep], site[keep]


def _same_lattice(found, true, tol=0.02):
    """True when the rows of ``true`` are integer, unimodular combinations of ``found``."""
    coords = np.asarray(true) @ np.linalg.inv(found)
    integer = np.round(coords)
    return np.all(np.abs(coords - integer) < tol) and abs(round(np.linalg.det(integer))) == 1


def _affine_integer_map(found_cells, true_cells):
    """Check found = M @ true + t for one integer matrix M (|det| = 1) and offset t."""
    X = np.column_stack([true_cells, np.ones(len(true_cells))])
    coef, *_ = np.linalg.lstsq(X, found_cells.astype(float), rcond=None)
    resid = np.abs(X @ coef - found_cells)
    M = np.round(coef[:2])
    return resid.max() < 1e-6 and abs(round(np.linalg.det(M))) == 1


# --------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("rotation", [0.0, 23.0, 61.0])
def test_lattice_vectors_and_bravais_recovered_with_noise_missing_points_and_rotation(kind, rotation):
    cell = _cell(kind, rotation)
    xy, _, _ = _points(cell, noise=0.3, missing=0.1, seed=int(rotation))
    lattice = find_lattice(xy)
    assert lattice.bravais == kind
    assert _same_lattice(lattice.vectors, cell)
    found = np.sort(np.linalg.norm(lattice.vectors, axis=1))
    assert np.allclose(found, np.sort(np.linalg.norm(reduce_basis(cell), axis=1)), rtol=2e-3)
    assert lattice.fit_fraction > 0.99
    assert lattice.residual_rms < 0.6


def test_second_form_of_centred_rectangular_lattice():
    cell = np.array([[10.0, 0.0], [-5.0, 13.1]])  # 2 |a.b| = |a|^2, |b| != |a|
    xy, _, _ = _points(cell, noise=0.2, seed=4)
    assert classify_bravais(cell) == "centred_rectangular"
    assert find_lattice(xy).bravais == "centred_rectangular"


def test_point_group_orders_match_the_bravais_types():
    orders = {kind: len(lattice_point_group(reduce_basis(_cell(kind, 17.0)))) for kind in CELLS}
    assert orders == {"hexagonal": 12, "square": 8, "rectangular": 4, "centred_rectangular": 4, "oblique": 2}
    for kind in CELLS:
        group = lattice_point_group(reduce_basis(_cell(kind)))
        G = reduce_basis(_cell(kind)) @ reduce_basis(_cell(kind)).T
        for M in group:  # every operation preserves the metric and the set is closed
            assert np.allclose(M.T @ G @ M, G, rtol=1e-6, atol=1e-6)
            for N in group:
                assert any(np.array_equal(M @ N, K) for K in group)


def test_classification_tolerance_boundaries():
    assert classify_bravais([[10.0, 0.0], [0.0, 10.05]]) == "square"  # 0.5 % off
    assert classify_bravais([[10.0, 0.0], [0.0, 10.4]]) == "rectangular"  # 4 % off
    assert classify_bravais([[10.0, 0.0], [-5.0, 8.66]]) == "hexagonal"
    assert classify_bravais([[10.0, 0.0], [-5.4, 8.66]]) == "centred_rectangular" or classify_bravais(
        [[10.0, 0.0], [-5.4, 8.66]]
    ) == "oblique"
    # an unreduced description of a square lattice is still square
    assert classify_bravais([[10.0, 0.0], [30.0, 10.0]]) == "square"


def test_classification_agrees_with_the_simulator_on_random_cells():
    simulate = pytest.importorskip("motifkit.simulate")
    rng = np.random.default_rng(3)
    for kind in BRAVAIS_TYPES:
        for _ in range(10):
            a = rng.uniform(2.8, 4.5)
            if kind == "hexagonal":
                cell = [[a, 0], [-a / 2, a * np.sqrt(3) / 2]]
            elif kind == "square":
                cell = [[a, 0], [0, a]]
            elif kind == "rectangular":
                cell = [[a, 0], [0, a * rng.uniform(1.1, 1.5)]]
            elif kind == "centred_rectangular":
                g = np.radians(rng.uniform(70, 85))
                cell = [[a, 0], [a * np.cos(g), a * np.sin(g)]]
            else:
                g = np.radians(rng.uniform(95, 115))
                cell = [[a, 0], [1.2 * a * np.cos(g), 1.2 * a * np.sin(g)]]
            cell = np.asarray(cell) @ _rotation(rng.uniform(0, 360)).T
            assert classify_bravais(cell) == kind
            assert simulate.classify_bravais(cell) == kind


def test_reduce_basis_is_reduced_and_spans_the_same_lattice():
    rng = np.random.default_rng(0)
    for _ in range(50):
        cell = rng.normal(size=(2, 2)) * 5
        if abs(np.linalg.det(cell)) < 1:
            continue
        unimodular = np.array([[1, rng.integers(-3, 4)], [0, 1]]) @ np.array([[1, 0], [rng.integers(-3, 4), 1]])
        a, b = reduce_basis(unimodular @ cell)
        assert a @ a <= b @ b + 1e-9
        assert abs(a @ b) <= a @ a / 2 + 1e-9 and a @ b <= 1e-9
        assert _same_lattice(np.array([a, b]), cell, tol=1e-6)
    with pytest.raises(ParameterError, match="parallel"):
        reduce_basis([[1.0, 0.0], [2.0, 0.0]])


# --------------------------------------------------------------------------------------
# indexing and sites
# --------------------------------------------------------------------------------------
def test_every_column_is_indexed_consistently_with_the_true_lattice():
    cell = _cell("oblique", 40.0)
    xy, ij, _ = _points(cell, n=25, noise=0.3, missing=0.05, seed=5)
    lattice = find_lattice(xy)
    cells, sites, fractional, residual = index_columns(xy, lattice)
    assert _affine_integer_map(cells, ij)
    assert np.all(residual <= lattice.tolerance_px)
    assert np.all((fractional > -0.05) & (fractional < 1.05))


def test_two_site_basis_gives_two_sites_far_from_the_cell_edges():
    cell = _cell("hexagonal", 12.0) * 1.2
    xy, ij, site = _points(cell, n=30, basis=((0, 0), (1 / 3, 2 / 3)), noise=0.25, missing=0.03, seed=6)
    lattice = find_lattice(xy)
    assert lattice.n_sites == 2 and lattice.bravais == "hexagonal"
    cells, sites, fractional, _ = index_columns(xy, lattice)
    # one sublattice per found site, and the cell index follows the true lattice
    assert len(np.unique(np.column_stack([sites, site]), axis=0)) == 2
    assert _affine_integer_map(cells[site == 0], ij[site == 0])
    # the cell origin keeps both sites well inside [0, 1)^2: noise never crosses an edge
    assert np.all((lattice.sites > 0.2) & (lattice.sites < 0.8))
    assert np.all((fractional > 0.05) & (fractional < 0.95))
    # the metal and chalcogen of one cell are nearest neighbours
    pair = (lattice.sites[1] - lattice.sites[0]) @ lattice.vectors
    assert np.isclose(np.linalg.norm(pair), np.linalg.norm(cell[0]) / np.sqrt(3), rtol=0.02)


def test_mild_nonlinear_distortion_is_absorbed():
    cell = _cell("square", 8.0)
    xy, ij, _ = _points(cell, n=40, noise=0.2, seed=7)
    centre = xy.mean(axis=0)
    span = np.ptp(xy, axis=0).max()
    # quadratic scan distortion moving the corners by about a third of a cell
    xy = xy + 3.5 * ((xy - centre) / span) ** 2 * 4 * np.array([1.0, -0.6])
    quadratic = find_lattice(xy, distortion_order=2)
    affine = find_lattice(xy, distortion_order=1)
    assert quadratic.fit_fraction > 0.99
    assert quadratic.residual_rms < affine.residual_rms
    cells, _, _, _ = index_columns(xy, quadratic)
    assert _affine_integer_map(cells, ij)


def test_lattice_agrees_with_simulator_ground_truth():
    simulate = pytest.importorskip("motifkit.simulate")
    geometry = simulate.ImageGeometry((256, 256), 0.25, 21.0)
    structure = simulate.tmd_monolayer("WS2").tile_for_view(geometry)
    sim = simulate.simulate_stem(structure, geometry.shape, geometry.pixel_size, rotation=21.0, random_state=0)
    lattice = find_lattice(sim.truth.positions)
    assert lattice.bravais == sim.truth.bravais == "hexagonal"
    assert _same_lattice(lattice.vectors, sim.truth.lattice_vectors)
    assert lattice.n_sites == 2


# --------------------------------------------------------------------------------------
# cells and their types
# --------------------------------------------------------------------------------------
def _tmd(n=30, seed=0, rotation=8.0, noise=0.25):
    cell = _cell("hexagonal", rotation) * 1.2
    xy, ij, site = _points(cell, n=n, basis=((0, 0), (1 / 3, 2 / 3)), noise=noise, seed=seed)
    labels = np.where(site == 0, "Mo", "Se2").astype(object)
    return xy, labels, ij, site


def test_tmd_cell_holds_one_metal_and_one_chalcogen_and_crystal_symmetry_is_3m():
    xy, labels, ij, site = _tmd()
    cells = lattice_cells(xy, labels)
    assert cells.lattice.n_sites == 2
    assert cells.type_patterns.shape == (1, 2)
    assert sorted(cells.content_names[int(c)] for c in cells.crystal_content) == ["Mo", "Se2"]
    assert len(cells.operations) == 6  # C3v: 3 rotations x mirrors, not the 12 of the lattice
    rotations = [op for op in cells.operations if op.is_rotation]
    assert len(rotations) == 3
    # a honeycomb of identical columns (graphene) keeps all 12 operations
    same = lattice_cells(xy, np.zeros(len(xy), dtype=int))
    assert len(same.operations) == 12
    assert len(crystal_symmetry(cells.lattice, cells.crystal_content, "translation")) == 1
    # every column of a complete cell is assigned; the outermost ring is border
    inner = cells.column_cell >= 0
    assert inner.mean() > 0.8
    assert cells.summary["n_border_columns"] == int((~inner).sum())
    assert np.all(np.bincount(cells.column_cell[inner], minlength=cells.n_cells) == 2)


def test_missing_column_hole_and_off_site_column():
    cell = _cell("square", 0.0)
    xy, ij, _ = _points(cell, n=20, noise=0.1, seed=8)
    labels = np.zeros(len(xy), dtype=int)
    # remove one column (a vacancy on a one-site lattice is an empty cell: a hole)
    hole = np.flatnonzero((ij[:, 0] == 10) & (ij[:, 1] == 10))[0]
    keep = np.ones(len(xy), dtype=bool)
    keep[hole] = False
    # an interstitial in the middle of another cell
    extra = ((np.array([5.5, 6.5])) @ cell + 300.0)[None]
    xy2 = np.vstack([xy[keep], extra])
    labels2 = np.concatenate([labels[keep], [1]])
    cells = lattice_cells(xy2, labels2, label_names=["host", "guest"])
    missing = np.flatnonzero(cells.content[:, 0] == MISSING)
    assert len(missing) == 1
    assert cells.summary["n_off_site_columns"] == 1
    names = {cells.content_names[int(c)] for c in cells.content[:, 0]}
    assert "missing" in names and "guest~+host" in names
    assert cells.type_counts[0] == cells.n_cells - 2


def test_two_columns_on_one_site_are_combined_not_dropped():
    cell = _cell("square", 0.0)
    xy, ij, _ = _points(cell, n=15, noise=0.05, seed=9)
    labels = np.zeros(len(xy), dtype=int)
    twin = xy[np.flatnonzero((ij[:, 0] == 7) & (ij[:, 1] == 7))[0]] + [0.4, 0.0]
    cells = lattice_cells(np.vstack([xy, twin]), np.concatenate([labels, [1]]))
    assert cells.summary["n_shared_sites"] == 1
    assert "0+1" in cells.content_names.values()


def test_neighbourhood_is_invariant_under_the_lattice_point_group():
    sizes = {}
    for kind in CELLS:
        lattice = Lattice.from_vectors(_cell(kind, 11.0))
        offsets = neighbourhood_offsets(lattice)
        sizes[kind] = len(offsets)
        as_set = {tuple(o) for o in offsets}
        for M in lattice.point_group:
            assert {tuple(M @ o) for o in offsets} == as_set
    assert sizes["hexagonal"] == 6 and sizes["square"] == 4 and sizes["rectangular"] == 4
    lattice = Lattice.from_vectors(_cell("hexagonal"))
    assert len(neighbourhood_offsets(lattice, "von_neumann")) == 4
    assert len(neighbourhood_offsets(lattice, "moore")) == 8
    with pytest.raises(ParameterError, match="neighbourhood"):
        neighbourhood_offsets(lattice, "hexagonal")


def test_lattice_round_trips_through_a_dict():
    xy, labels, _, _ = _tmd(n=12)
    lattice = find_lattice(xy)
    again = Lattice.from_dict(lattice.to_dict())
    probe = np.array([[1.3, -2.2], [10.0, 4.5]])
    assert np.allclose(again.to_pixels(probe), lattice.to_pixels(probe))
    assert np.allclose(again.to_fractional(lattice.to_pixels(probe)), probe)
    assert again.bravais == lattice.bravais


# --------------------------------------------------------------------------------------
# Voronoi cells
# --------------------------------------------------------------------------------------
def test_voronoi_cells_of_columns_and_of_centres():
    cell = _cell("hexagonal", 5.0)
    xy, ij, _ = _points(cell, n=14, noise=0.1, seed=10)
    labels = np.zeros(len(xy), dtype=int)
    labels[:5] = 1
    cells = voronoi_cells(xy, labels)
    assert cells.n_cells == len(xy)
    degree = np.bincount(cells.adjacency_pairs.ravel(), minlength=len(xy))
    assert np.all(degree[cells.complete] == 6)  # hexagonal Voronoi cells
    assert cells.type_names[0] == "0" and list(cells.dominant) == [0]
    # centres given as a mask: every column goes to its nearest centre
    centres = (ij[:, 0] % 2 == 0) & (ij[:, 1] % 2 == 0)
    coarse = voronoi_cells(xy, labels, centres=centres)
    assert coarse.n_cells == centres.sum()
    assert np.all(np.bincount(coarse.column_cell, minlength=coarse.n_cells) >= 1)
    assert any("+" in name for name in coarse.type_names)


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def test_amorphous_points_raise_a_lattice_error_that_says_what_to_do():
    xy = np.random.default_rng(0).uniform(0, 300, (800, 2))
    with pytest.raises(LatticeError, match="voronoi"):
        find_lattice(xy)


def test_bad_positions_and_labels_are_rejected_with_clear_messages():
    with pytest.raises(NotEnoughDataError, match="at least"):
        find_lattice(np.arange(10.0).reshape(5, 2))
    with pytest.raises(ParameterError, match=r"\(N, 2\)"):
        find_lattice(np.zeros((20, 3)))
    bad = np.zeros((20, 2))
    bad[3, 0] = np.nan
    with pytest.raises(ParameterError, match="non-finite"):
        find_lattice(bad)
    with pytest.raises(ParameterError, match="coincide"):
        find_lattice(np.ones((20, 2)))
    xy, labels, _, _ = _tmd(n=8)
    with pytest.raises(ParameterError, match="one per column"):
        lattice_cells(xy, labels[:-1])
    with pytest.raises(ParameterError, match="distortion_order"):
        find_lattice(xy, distortion_order=3)
    with pytest.raises(NotEnoughDataError, match="4"):
        voronoi_cells(xy[:3], labels[:3])
