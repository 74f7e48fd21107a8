"""Tests for motifkit.simulate: the rendered pixels agree with the ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from motifkit.errors import FileFormatError, MotifkitError, NotEnoughDataError, ParameterError
from motifkit.simulate import (
    BRAVAIS_CLASSES,
    GroundTruth,
    ImageGeometry,
    Probe,
    Structure,
    add_vacancies,
    apply_dose,
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
    render_stem,
    scan_distortion,
    simulate_stem,
    substitute,
    tmd_monolayer,
    twisted_bilayer,
)
from motifkit.simulate.render import _render_points, as_probe

Z17 = {"Mo": 42**1.7, "Se": 34**1.7, "W": 74**1.7, "S": 16**1.7, "Fe": 26**1.7, "Te": 52**1.7}


# ---------------------------------------------------------------------------------------
# helpers: peak estimators that know nothing about the renderer
# ---------------------------------------------------------------------------------------
def _local_max(image, x, y):
    ix, iy = int(round(x)), int(round(y))
    for _ in range(4):
        window = image[iy - 1 : iy + 2, ix - 1 : ix + 2]
        dy, dx = np.unravel_index(np.argmax(window), window.shape)
        if dx == 1 and dy == 1:
            break
        ix, iy = ix + dx - 1, iy + dy - 1
    return ix, iy


def log_parabola_peaks(image, positions):
    """Sub-pixel peaks from a parabola through the log of the 3 x 3 maximum (exact for Gaussians)."""
    out = []
    for x, y in positions:
        ix, iy = _local_max(image, x, y)
        logs = np.log(np.maximum(image[iy - 1 : iy + 2, ix - 1 : ix + 2].astype(float), 1e-30))
        ox = 0.5 * (logs[1, 0] - logs[1, 2]) / (logs[1, 0] - 2 * logs[1, 1] + logs[1, 2])
        oy = 0.5 * (logs[0, 1] - logs[2, 1]) / (logs[0, 1] - 2 * logs[1, 1] + logs[2, 1])
        out.append((ix + ox, iy + oy))
    return np.array(out)


def fitted_peaks(image, positions, probe, pixel_size, half=6):
    """Least-squares fit of amplitude * probe profile (free centre) around each peak."""
    from scipy.optimize import least_squares

    out = []
    for x, y in positions:
        ix, iy = _local_max(image, x, y)
        rows, cols = np.mgrid[iy - half : iy + half + 1, ix - half : ix + half + 1]
        patch = image[iy - half : iy + half + 1, ix - half : ix + half + 1].astype(float)

        def residual(p):
            r = np.hypot(cols - p[0], rows - p[1]) * pixel_size
            return (p[2] * probe.profile(r) - patch).ravel()

        fit = least_squares(residual, [ix, iy, patch.max()], x_scale=[1.0, 1.0, patch.max()])
        out.append(fit.x[:2])
    return np.array(out)


def peak_weights(image, truth, probe):
    """Column weight estimated from the nearest pixel: value / probe(distance)."""
    ix = np.round(truth.positions[:, 0]).astype(int)
    iy = np.round(truth.positions[:, 1]).astype(int)
    r = np.hypot(ix - truth.positions[:, 0], iy - truth.positions[:, 1]) * truth.pixel_size
    return image[iy, ix] / probe.profile(r)


@pytest.fixture(scope="module")
def mose2_defects():
    geometry = ImageGeometry((300, 310), 0.1, rotation=7.0, shift=(0.13, -0.27))
    big = tmd_monolayer("MoSe2").tile_for_view(geometry)
    big = add_vacancies(big, "Se", density=0.05, double_fraction=0.4, random_state=3)
    return geometry, big


# ---------------------------------------------------------------------------------------
# positions
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("probe", ["gaussian", 0.3])
def test_isolated_peaks_lie_on_truth_gaussian(probe):
    lattice = bravais_lattice(4.0, 4.0, 90.0, [(0, 0, "Mo")])
    sim = simulate_stem(lattice, (150, 140), 0.2, rotation=17.0, shift=(0.37, -0.21), probe=probe)
    keep = ~sim.truth.near_edge
    assert keep.sum() > 30
    found = log_parabola_peaks(sim.noise_free, sim.truth.positions[keep])
    error = np.linalg.norm(found - sim.truth.positions[keep], axis=1)
    assert error.max() < 0.01  # well inside the 0.1 px requirement


def test_isolated_peaks_lie_on_truth_atomvision_probe():
    lattice = bravais_lattice(4.5, 4.0, 90.0, [(0, 0, "W")])
    probe = Probe.atomvision()
    sim = simulate_stem(lattice, (200, 200), 0.15, rotation=-23.0, shift=(0.05, 0.11), probe=probe)
    keep = ~sim.truth.near_edge
    found = fitted_peaks(sim.noise_free, sim.truth.positions[keep], probe, 0.15)
    error = np.linalg.norm(found - sim.truth.positions[keep], axis=1)
    assert keep.sum() > 20 and error.max() < 0.1


def test_mose2_peaks_on_truth_away_from_defects(mose2_defects):
    geometry, big = mose2_defects
    sim = simulate_stem(big, geometry.shape, geometry.pixel_size, rotation=geometry.rotation, shift=geometry.shift)
    t = sim.truth
    clean = (t.defect_neighbors == 0) & t.occupied & ~t.near_edge & np.isin(t.column_types, ["Mo", "Se2"])
    assert clean.sum() > 100
    found = log_parabola_peaks(sim.noise_free, t.positions[clean])
    error = np.linalg.norm(found - t.positions[clean], axis=1)
    assert error.max() < 0.1
    assert np.median(error) < 0.02


def test_shift_and_rotation_move_truth_consistently(mose2_defects):
    _, big = mose2_defects
    base = simulate_stem(big, (100, 100), 0.2)
    shifted = simulate_stem(big, (100, 100), 0.2, shift=(1.0, 0.6))
    common, ia, ib = np.intersect1d(base.truth.column_ids, shifted.truth.column_ids, return_indices=True)
    assert len(common) > 60
    delta = shifted.truth.positions[ib] - base.truth.positions[ia]
    np.testing.assert_allclose(delta, np.tile([5.0, 3.0], (len(common), 1)), atol=1e-9)
    # a whole-pixel shift moves the pixels too
    one_px = simulate_stem(big, (100, 100), 0.2, shift=(0.2, 0.0))
    np.testing.assert_allclose(one_px.noise_free[:, 1:], base.noise_free[:, :-1], rtol=1e-5, atol=1e-3)

    rotated = simulate_stem(big, (100, 100), 0.2, rotation=30.0)
    common, ia, ib = np.intersect1d(base.truth.column_ids, rotated.truth.column_ids, return_indices=True)
    centre = np.array([49.5, 49.5])
    t = np.radians(30.0)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    expected = (base.truth.positions[ia] - centre) @ rot.T + centre
    np.testing.assert_allclose(rotated.truth.positions[ib], expected, atol=1e-9)
    lattice = rotated.truth.lattice_vectors
    np.testing.assert_allclose(np.linalg.norm(lattice, axis=1), 3.29 / 0.2)
    keep = ~rotated.truth.near_edge & (rotated.truth.defect_neighbors == 0) & rotated.truth.occupied
    found = log_parabola_peaks(rotated.noise_free, rotated.truth.positions[keep])
    assert np.abs(found - rotated.truth.positions[keep]).max() < 0.1


def test_scan_distortions_move_truth_to_the_imaged_peaks():
    lattice = bravais_lattice(5.0, 5.0, 90.0, [(0, 0, "Mo")])
    sim = simulate_stem(
        lattice, (200, 200), 0.2, scan_jitter=0.15, drift=(1.5, 2.0), drift_sine=(0.3, 12.0), random_state=4
    )
    t = sim.truth
    assert np.abs(t.positions - t.positions_undistorted).max() > 2.0
    keep = ~t.near_edge
    image = sim.noise_free.astype(float)
    rows, cols = np.mgrid[0:200, 0:200]
    for (x, y) in t.positions[keep]:
        window = np.hypot(cols - x, rows - y) <= 8.0  # 1.6 A: the blob, not its neighbours
        com = np.array([(image * cols)[window].sum(), (image * rows)[window].sum()]) / image[window].sum()
        assert np.linalg.norm(com - [x, y]) < 0.1


def test_tiled_beyond_field_of_view_no_empty_border():
    sim = simulate_stem(tmd_monolayer("MoS2"), (120, 120), 0.2, rotation=11.0)
    image = sim.noise_free
    border = np.concatenate([image[:3].ravel(), image[-3:].ravel(), image[:, :3].ravel(), image[:, -3:].ravel()])
    assert abs(border.mean() / image.mean() - 1.0) < 0.15
    h, w = image.shape
    pos = sim.truth.positions
    assert np.all((pos >= -0.5) & (pos < np.array([w, h]) - 0.5))
    # every column of the drawn structure inside the pixel area is listed, none outside
    px = ImageGeometry((120, 120), 0.2, 11.0).to_pixels(sim.structure.column_xy)
    inside = (px[:, 0] >= -0.5) & (px[:, 0] < w - 0.5) & (px[:, 1] >= -0.5) & (px[:, 1] < h - 0.5)
    assert inside.sum() == len(sim.truth)


# ---------------------------------------------------------------------------------------
# intensities and labels
# ---------------------------------------------------------------------------------------
def test_stacked_column_ratios_follow_z17_sums(mose2_defects):
    geometry, big = mose2_defects
    probe = Probe.gaussian(0.3)  # narrow: neighbour tails below 1e-8
    sim = simulate_stem(big, geometry.shape, geometry.pixel_size, rotation=7.0, probe=probe)
    t = sim.truth
    weights = peak_weights(sim.noise_free, t, probe)
    inner = ~t.near_edge
    mo = np.median(weights[inner & (t.column_types == "Mo")])
    se2 = np.median(weights[inner & (t.column_types == "Se2")])
    se1 = np.median(weights[inner & (t.column_types == "Se1")])
    np.testing.assert_allclose(mo, Z17["Mo"], rtol=1e-3)
    np.testing.assert_allclose(se2 / mo, 2 * Z17["Se"] / Z17["Mo"], rtol=1e-3)
    np.testing.assert_allclose(se1 / se2, 0.5, rtol=1e-3)
    empty = inner & (t.column_types == "V_Se2")
    assert empty.sum() >= 1
    assert np.all(sim.noise_free[np.round(t.positions[empty, 1]).astype(int), np.round(t.positions[empty, 0]).astype(int)] < 0.01 * mo)
    np.testing.assert_allclose(t.intensities[t.column_types == "Se2"], 2 * Z17["Se"])

    once = simulate_stem(big, geometry.shape, geometry.pixel_size, rotation=7.0, probe=probe, count_stacked_once=True)
    w_once = peak_weights(once.noise_free, once.truth, probe)
    np.testing.assert_allclose(np.median(w_once[inner & (t.column_types == "Se2")]), Z17["Se"], rtol=1e-3)
    np.testing.assert_allclose(np.median(w_once[inner & (t.column_types == "Se1")]), Z17["Se"], rtol=1e-3)


def test_defect_labels_match_dark_and_bright_sites():
    geometry = ImageGeometry((150, 150), 0.15)
    big = tmd_monolayer("WS2").tile_for_view(geometry)
    big = substitute(big, "W", "Fe", density=0.05, random_state=1)
    big = substitute(big, "S", "Te", density=0.1, double_fraction=0.3, random_state=2)
    probe = Probe.gaussian(0.35)
    sim = simulate_stem(big, geometry.shape, geometry.pixel_size, probe=probe)
    t = sim.truth
    weights = peak_weights(sim.noise_free, t, probe)
    types = set(t.column_types)
    assert {"W", "Fe", "S2", "S1Te1", "Te2"} <= types
    level = {k: np.median(weights[t.column_types == k]) for k in ("W", "Fe", "S2", "S1Te1", "Te2")}
    assert level["Fe"] < 0.5 * level["W"]
    assert level["S2"] < level["S1Te1"] < level["Te2"]
    np.testing.assert_allclose(level["S1Te1"], Z17["S"] + Z17["Te"], rtol=2e-3)
    # context: S2 next to Fe, W next to Te
    fe_neighbours = t.context_types[(t.column_types == "S2") & (np.char.find(t.context_types, "Fe") > 0)]
    assert len(fe_neighbours) > 0 and all(c.startswith("S2_nextto_") for c in fe_neighbours)
    assert np.any(t.context_types == "W_nextto_Te")


def test_context_labels_mark_metal_next_to_vacancy():
    geometry = ImageGeometry((80, 80), 0.2)
    big = tmd_monolayer("MoSe2").tile_for_view(geometry)
    centre = big.nearest_columns([[0.0, 0.0]])[0]  # Mo at the origin
    se = big.nearest_columns([[1.645, 0.95]])[0]  # the Se2 column at (a1 + a2) / 3
    assert big.column_site[centre] == "Mo" and big.column_site[se] == "Se2"
    vac = add_vacancies(big, "Se", sites=[se])
    sim = simulate_stem(vac, geometry.shape, geometry.pixel_size)
    t = sim.truth
    row = np.flatnonzero(t.column_ids == se)[0]
    assert t.column_types[row] == "Se1"
    near = np.linalg.norm(t.positions - t.positions[row], axis=1) < 1.2 * 3.29 / np.sqrt(3) / 0.2
    neighbours = near & (np.arange(len(t)) != row)
    assert neighbours.sum() == 3
    assert set(t.context_types[neighbours]) == {"Mo_nextto_V"}
    assert np.all(t.defect_neighbors[neighbours] == 1)
    assert np.sum(t.context_types == "Mo_nextto_V") == 3
    double = add_vacancies(big, "Se", sites=[se], double_fraction=1.0)
    t2 = simulate_stem(double, geometry.shape, geometry.pixel_size).truth
    assert t2.column_types[np.flatnonzero(t2.column_ids == se)[0]] == "V_Se2"
    assert t2.composition[np.flatnonzero(t2.column_ids == se)[0]] == {}


def test_column_label_rules():
    assert column_label({"Se": 2}, {"Se": 2}) == "Se2"
    assert column_label({"Se": 1}, {"Se": 2}) == "Se1"
    assert column_label({"Te": 1, "Se": 1}, {"Se": 2}) == "Se1Te1"
    assert column_label({}, {"Mo": 1}) == "V_Mo"
    assert column_label({"Ti": 1}, {"W": 1}) == "Ti"


# ---------------------------------------------------------------------------------------
# kernels and noise
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("probe", ["gaussian", "atomvision", Probe(0.3, 0.4, 0.7, 1.1)])
@pytest.mark.parametrize("distorted", [False, True])
def test_numba_kernel_equals_numpy_reference(probe, distorted):
    rng = np.random.default_rng(0)
    geometry = ImageGeometry((70, 90), 0.2)
    xy = rng.uniform(-10, 100, (300, 2))
    w = rng.uniform(1, 500, 300)
    shifts = (rng.normal(0, 2, 70), np.linspace(-3, 3, 70)) if distorted else None
    fast = _render_points(xy, w, geometry, as_probe(probe), shifts, "numba")
    slow = _render_points(xy, w, geometry, as_probe(probe), shifts, "numpy")
    assert fast.dtype == np.float32 and fast.max() > 100
    np.testing.assert_allclose(fast, slow, rtol=1e-6, atol=1e-6 * float(slow.max()))


def test_render_stem_methods_agree_and_tile_unit_cells():
    geometry = ImageGeometry((64, 64), 0.25, rotation=5.0)
    a = render_stem(hbn(), geometry, probe="atomvision")
    b = render_stem(hbn(), geometry, probe="atomvision", method="numpy")
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * float(b.max()))
    assert a.min() > 0  # covered everywhere


def test_noise_is_seeded_and_dose_sets_counts():
    structure = tmd_monolayer("MoSe2")
    kwargs = dict(shape=(96, 96), pixel_size=0.2, dose=5e4, read_noise=2.0, scan_jitter=0.1)
    a = simulate_stem(structure, random_state=7, **kwargs)
    b = simulate_stem(structure, random_state=7, **kwargs)
    c = simulate_stem(structure, random_state=8, **kwargs)
    np.testing.assert_array_equal(a.image.data, b.image.data)
    np.testing.assert_array_equal(a.truth.positions, b.truth.positions)
    assert not np.array_equal(a.image.data, c.image.data)
    clean = simulate_stem(structure, (96, 96), 0.2)
    counts, scale = apply_dose(clean.noise_free, 5e4, 0.2, random_state=0)
    np.testing.assert_allclose(counts.mean(), 5e4 * 0.04, rtol=0.01)
    assert np.all(counts == np.round(counts))
    np.testing.assert_allclose(scale * clean.noise_free.mean(), 5e4 * 0.04)
    assert a.image.unit == "A" and a.image.pixel_size == 0.2


def test_scan_distortion_shapes_and_values():
    dx, dy = scan_distortion(11, 0.5, drift=(5.0, -2.5))
    np.testing.assert_allclose(dx, np.linspace(0, 10, 11))
    np.testing.assert_allclose(dy, np.linspace(0, -5, 11))
    jx, _ = scan_distortion(1000, 0.1, scan_jitter=0.2, random_state=0)
    np.testing.assert_allclose(jx.std(), 2.0, rtol=0.1)
    sx, _ = scan_distortion(100, 0.1, drift_sine=(0.5, 2.5))
    np.testing.assert_allclose(np.abs(sx).max(), 5.0, rtol=0.05)


# ---------------------------------------------------------------------------------------
# structures
# ---------------------------------------------------------------------------------------
def test_tmd_builders_lattice_constants_and_sites():
    for material, a in [("MoS2", 3.16), ("MoSe2", 3.29), ("WS2", 3.15), ("WSe2", 3.28)]:
        s = tmd_monolayer(material)
        np.testing.assert_allclose(np.linalg.norm(s.cell, axis=1), a)
        assert s.n_atoms == 3 and s.n_columns == 2 and s.bravais == "hexagonal"
        np.testing.assert_allclose(s.neighbor_distance, a / np.sqrt(3))
    assert graphene().sites == {"C": {"C": 1}}
    np.testing.assert_allclose(np.linalg.norm(hbn().cell[0]), 2.50)


def test_vacancies_and_substitutions_counts():
    geometry = ImageGeometry((100, 100), 0.2)
    big = tmd_monolayer("MoSe2").tile_for_view(geometry)
    n_se_columns = int((big.column_site == "Se2").sum())
    vac = add_vacancies(big, "Se", density=0.1, double_fraction=0.5, random_state=0)
    elements, counts = vac.column_counts()
    se = counts[:, elements.index("Se")]
    changed = (big.column_site == "Se2") & (se < 2)
    assert changed.sum() == round(0.1 * n_se_columns)
    assert 0 < (se[changed] == 0).sum() < changed.sum()
    again = add_vacancies(big, "Se", density=0.1, double_fraction=0.5, random_state=0)
    np.testing.assert_array_equal(again.positions, vac.positions)
    sub = substitute(big, "Mo", "Ti", count=4, random_state=1)
    assert int((sub.numbers == 22).sum()) == 4
    assert big.n_atoms == sub.n_atoms and int((big.numbers == 22).sum()) == 0  # input untouched
    with pytest.raises(ParameterError):
        add_vacancies(big, "Se", density=1.5)
    with pytest.raises(ParameterError):
        add_vacancies(big, "Se", density=0.1, count=3)
    with pytest.raises(ParameterError, match="hold no Se"):
        add_vacancies(big, "Se", sites=[int(np.flatnonzero(big.column_site == "Mo")[0])])
    with pytest.raises(ParameterError):
        substitute(big, "Mo", "Xx", count=1)


def test_from_ase_groups_stacked_atoms_into_columns():
    from ase import Atoms
    from ase.build import mx2

    s = from_ase(mx2("MoS2", a=3.16))
    assert sorted(s.sites) == ["Mo", "S2"] and s.periodic and s.bravais == "hexagonal"
    sim = simulate_stem(s, (64, 64), 0.2)
    ref = simulate_stem(tmd_monolayer("MoS2"), (64, 64), 0.2)
    assert set(sim.truth.column_types) == {"Mo", "S2"}
    assert abs(len(sim.truth) - len(ref.truth)) <= 4
    molecule = Atoms("CO2", positions=[[0, 0, 0], [0, 0, 1.16], [2.0, 0, 0]])
    m = from_ase(molecule)
    assert not m.periodic and m.n_columns == 2 and set(m.column_site) == {"C1O1", "O"}
    tilted = mx2("MoS2")
    tilted.rotate(30, "x", rotate_cell=True)
    with pytest.raises(ParameterError, match="projection axis"):
        from_ase(tilted)
    with pytest.raises(ParameterError):
        from_ase("not atoms")


def test_bravais_classification_and_random_lattices():
    assert classify_bravais([[3.0, 0.0], [1.5, 3.0 * np.sqrt(3) / 2]]) == "hexagonal"
    assert classify_bravais([[3.0, 0.0], [0.0, 3.0]]) == "square"
    assert classify_bravais([[3.0, 0.0], [0.0, 4.5]]) == "rectangular"
    assert classify_bravais([[3.0, 0.0], [1.5, 4.0]]) == "centred_rectangular"  # centred, unreduced
    assert classify_bravais([[3.0, 0.0], [1.1, 4.0]]) == "oblique"
    assert classify_bravais([[3.0, 0.0], [3.0 + 3.0, 3.0]]) == "square"  # unreduced square
    a, b = reduce_basis([[3.0, 0.0], [9.5, 1.0]])
    assert np.linalg.norm(a) <= np.linalg.norm(b) and a @ b <= 0 and abs(a @ b) <= a @ a / 2 + 1e-12
    for k, name in enumerate(BRAVAIS_CLASSES):
        s = random_bravais(name, random_state=k)
        assert s.bravais == name == classify_bravais(s.cell)
        sim = simulate_stem(s, (64, 64), 0.1, rotation=33.0)
        assert sim.truth.bravais == name
        assert classify_bravais(sim.truth.lattice_vectors) == name
    with pytest.raises(ParameterError):
        random_bravais("triclinic")
    with pytest.raises(ParameterError):
        classify_bravais([[1.0, 0.0], [2.0, 0.0]])


def test_twisted_bilayer_domains():
    angle = 6.0
    s = twisted_bilayer("MoS2", angle, radius=45.0)
    assert set(s.column_layer) == {0, 1}
    domains = s.column_data["domain"]
    fractions = np.array([np.mean(domains == d) for d in ("AA'", "AB'", "A'B")])
    assert np.all((fractions > 0.2) & (fractions < 0.47))
    origin = s.nearest_columns([[0.0, 0.0]])
    assert domains[origin[0]] == "AA'"
    # AA' regions repeat with the moire period a / (2 sin(angle / 2))
    period = 3.16 / (2 * np.sin(np.radians(angle) / 2))
    sim = simulate_stem(s, (400, 400), 0.2)
    t = sim.truth
    registry = t.extra["registry_distance"]
    assert registry.max() < 3.16 / 3 + 1e-6  # farthest point from a triangular lattice of spacing a/sqrt3
    aa = t.positions[(t.extra["domain"] == "AA'") & (registry < 0.15)] * 0.2
    centre = aa[np.argmin(np.linalg.norm(aa - 40.0, axis=1))]
    others = np.linalg.norm(aa - centre, axis=1)
    others = others[others > period / 2]
    np.testing.assert_allclose(others.min(), period, rtol=0.1)
    parallel = twisted_bilayer("MoS2", angle, radius=20.0, stacking="parallel")
    assert set(parallel.column_data["domain"]) == {"AA", "AB", "BA"}
    with pytest.raises(ParameterError):
        twisted_bilayer("MoS2", 2.0)


def test_pentagonal_tiling_and_planted_occupancy():
    unit = pentagonal_tiling(6.0)
    assert unit.bravais == "square" and unit.n_columns == 24
    centres = unit.column_xy[:4]
    d = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    np.testing.assert_allclose(np.sort(d[0])[1:3], [6.0, 6.0])  # square of edge 6 A
    geometry = ImageGeometry((200, 200), 0.2)
    big = unit.tile_for_view(geometry)
    planted = plant_pentagon_occupancy(big, (0.4, 0.3, 0.3), random_state=0)
    sim = simulate_stem(planted, geometry.shape, geometry.pixel_size)
    t = sim.truth
    state = t.extra["pentagon_state"]
    centre = state != ""
    expected = {"filled": "Nb2", "partial": "Nb1", "empty": "V_Nb2"}
    assert all(t.column_types[i] == expected[state[i]] for i in np.flatnonzero(centre))
    squares = t.extra["squares"]
    assert len(squares) > 10
    letters = np.array([s[:1].upper() for s in state])
    assert all("".join(letters[row]) == c for row, c in zip(squares, t.extra["square_configs"]))
    # each square's corners are 6 A apart in cyclic order
    side = np.linalg.norm(t.positions[squares] - t.positions[np.roll(squares, 1, axis=1)], axis=2) * 0.2
    np.testing.assert_allclose(side, 6.0, atol=1e-6)
    # a strong positive coupling plants uniform squares far more often than chance
    coupled = plant_pentagon_occupancy(big, (0.4, 0.3, 0.3), coupling=1.0, random_state=0)
    rows = np.flatnonzero(coupled.column_data["pentagon_centre"])
    sq = pentagon_squares(coupled.column_cell[rows], coupled.column_basis[rows], np.ones(len(rows), bool))
    states = coupled.column_data["pentagon_state"][rows][sq]
    uniform = np.mean(np.all(states == states[:, :1], axis=1))
    assert uniform > 0.3  # independent draws: 0.4^4 + 2 * 0.3^4 = 0.042
    with pytest.raises(ParameterError):
        plant_pentagon_occupancy(tmd_monolayer().tile_for_view(geometry))


# ---------------------------------------------------------------------------------------
# truth container and bad input
# ---------------------------------------------------------------------------------------
def test_truth_save_load_subset_and_mask(tmp_path, mose2_defects):
    geometry, big = mose2_defects
    sim = simulate_stem(big, geometry.shape, geometry.pixel_size, rotation=7.0)
    t = sim.truth
    path = tmp_path / "truth.npz"
    t.save(path)
    loaded = GroundTruth.load(path)
    np.testing.assert_array_equal(loaded.positions, t.positions)
    np.testing.assert_array_equal(loaded.context_types, t.context_types)
    assert loaded.composition == t.composition and loaded.bravais == "hexagonal"
    sub = t.subset(t.column_types == "Mo")
    assert len(sub) == int((t.column_types == "Mo").sum())
    mask = t.mask(2.0)
    assert mask.shape == geometry.shape and 0.01 < mask.mean() < 0.6
    ids, names = t.label_ids("context")
    assert names[ids[0]] == t.context_types[0]
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(FileFormatError):
        GroundTruth.load(tmp_path / "bad.npz")


def test_bad_input_raises_motifkit_errors():
    s = tmd_monolayer("MoSe2")
    with pytest.raises(ParameterError):
        tmd_monolayer("MoTe3")
    with pytest.raises(ParameterError):
        simulate_stem(s, (64, 64), -0.1)
    with pytest.raises(ParameterError):
        simulate_stem(s, (4, 64), 0.2)
    with pytest.raises(ParameterError):
        simulate_stem(s, (64, 64), 0.2, probe="airy")
    with pytest.raises(ParameterError):
        simulate_stem(s, (64, 64), 0.2, dose=-5)
    with pytest.raises(ParameterError):
        simulate_stem(s, (64, 64), 0.2, method="fortran")
    with pytest.raises(ParameterError):
        Probe(sigma=0.0)
    with pytest.raises(ParameterError):
        Structure([[0, 0, 0]], [42], [0], [[0, 0]], ["Mo"], {"Mo": {"Mo": 1}})  # periodic, no cell
    with pytest.raises(ParameterError):
        Structure([[0, 0, 0]], [42], [3], [[0, 0]], ["Mo"], {"Mo": {"Mo": 1}}, periodic=False)
    with pytest.raises(ParameterError):
        ImageGeometry((64, 64), 0.2, rotation=float("nan"))
    empty = Structure.from_atoms([[0.0, 0.0, 0.0]], ["Mo"], periodic=False)
    with pytest.raises(ParameterError, match="zero mean"):
        simulate_stem(empty, (32, 32), 0.2, shift=(500.0, 0.0), dose=10.0)
    assert issubclass(NotEnoughDataError, MotifkitError)
