"""Tests for motifkit.stm: volumetric readers/writers and Tersoff-Hamann STM images."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
from skimage.feature import peak_local_max

from motifkit.errors import (
    CorruptFileError,
    FileFormatError,
    MotifkitError,
    ParameterError,
)
from motifkit.micrograph import Micrograph
from motifkit.stm import (
    BOHR_TO_ANGSTROM,
    STMWarning,
    VolumetricData,
    read_cube,
    read_vasp_volumetric,
    read_volumetric,
    stm_constant_current,
    stm_constant_height,
    write_cube,
    write_vasp_volumetric,
)

A = 2.5  # in-plane lattice constant, Å
C = 16.0  # cell height (slab + vacuum), Å
SLAB_Z = 8.0
KAPPA = 1.6  # density decay constant, 1/Å (density ~ exp(-2 kappa r))
AMPLITUDES = {7: 1.0, 5: 0.35}  # "N" brighter than "B"


def _hexagonal_cell(c_vector=(0.0, 0.0, C)):
    return np.array([[A, 0.0, 0.0], [-A / 2, A * np.sqrt(3) / 2, 0.0], list(c_vector)])


def make_hbn_volume(shape=(24, 24, 160), c_vector=(0.0, 0.0, C)) -> VolumetricData:
    """h-BN-like monolayer: exponentially decaying s-like orbitals on a honeycomb lattice."""
    cell = _hexagonal_cell(c_vector)
    fractional_atoms = np.array([[1 / 3, 2 / 3, SLAB_Z / C], [2 / 3, 1 / 3, SLAB_Z / C]])
    numbers = np.array([7, 5])
    positions = fractional_atoms @ cell
    axes = [np.arange(n) / n for n in shape]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1) @ cell  # (nx, ny, nz, 3)
    density = np.zeros(shape)
    for z, pos in zip(numbers, positions):
        for i in range(-2, 3):
            for j in range(-2, 3):
                for k in (-1, 0, 1):
                    centre = pos + i * cell[0] + j * cell[1] + k * cell[2]
                    r = np.linalg.norm(grid - centre, axis=-1)
                    density += AMPLITUDES[z] * np.exp(-2 * KAPPA * r)
    return VolumetricData(density, cell, np.zeros(3), positions, numbers, source="synthetic h-BN")


@pytest.fixture(scope="module")
def volume():
    return make_hbn_volume()


def _refined_peaks(image: np.ndarray, border: int = 4) -> np.ndarray:
    """Local maxima (x, y) in pixels, refined by a 1-D parabola along each axis."""
    peaks = peak_local_max(
        image, min_distance=5, threshold_abs=float(np.percentile(image, 50)), exclude_border=border,
        p_norm=np.inf,
    )
    refined = []
    for row, col in peaks:
        def offset(minus, centre, plus):
            denominator = minus - 2 * centre + plus
            return 0.0 if denominator == 0 else 0.5 * (minus - plus) / denominator

        dx = offset(image[row, col - 1], image[row, col], image[row, col + 1])
        dy = offset(image[row - 1, col], image[row, col], image[row + 1, col])
        refined.append((col + dx, row + dy))
    return np.asarray(refined)


def _atom_pixels(volume, micrograph, number=None) -> np.ndarray:
    """Pixel (x, y) of every periodic image of the atoms inside the micrograph."""
    x0, y0 = micrograph.metadata["xy_origin_A"]
    keep = slice(None) if number is None else volume.atomic_numbers == number
    base = volume.atom_positions[keep, :2]
    shifts = np.array([i * volume.cell[0, :2] + j * volume.cell[1, :2]
                       for i in range(-12, 13) for j in range(-12, 13)])
    tiled = (base[None, :, :] + shifts[:, None, :]).reshape(-1, 2)
    pixels = (tiled - [x0, y0]) / micrograph.pixel_size
    h, w = micrograph.shape
    inside = (pixels[:, 0] > -0.5) & (pixels[:, 0] < w - 0.5) & (pixels[:, 1] > -0.5) & (pixels[:, 1] < h - 0.5)
    return pixels[inside]


def _nearest_distance(points, targets):
    return np.min(np.linalg.norm(points[:, None, :] - targets[None, :, :], axis=-1), axis=1)


# -- readers and writers ---------------------------------------------------------------
@pytest.mark.parametrize("unit", ["bohr", "angstrom"])
def test_cube_round_trip(volume, tmp_path, unit):
    path = write_cube(volume, tmp_path / "density.cube", unit=unit)
    back = read_cube(path)
    np.testing.assert_allclose(back.density, volume.density, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(back.cell, volume.cell, atol=1e-8)
    np.testing.assert_allclose(back.atom_positions, volume.atom_positions, atol=1e-8)
    np.testing.assert_array_equal(back.atomic_numbers, volume.atomic_numbers)
    assert back.metadata["length_unit_in_file"] == unit
    assert read_volumetric(path).shape == volume.shape


def test_cube_bohr_units_are_converted(volume, tmp_path):
    path = write_cube(volume, tmp_path / "density.cube", unit="bohr")
    lines = path.read_text().splitlines()
    n1, vx = lines[3].split()[:2]
    assert int(n1) == volume.shape[0]
    assert float(vx) == pytest.approx(A / volume.shape[0] / BOHR_TO_ANGSTROM, rel=1e-8)
    raw = read_cube(path, convert_density=False)
    np.testing.assert_allclose(raw.density, volume.density * BOHR_TO_ANGSTROM**3, rtol=1e-9)


@pytest.mark.parametrize("name", ["PARCHG", "CHGCAR", "PARCHG.0042.ALLK", "cell.vasp"])
def test_vasp_round_trip(volume, tmp_path, name):
    path = write_vasp_volumetric(volume, tmp_path / name)
    text = path.read_text().splitlines()
    assert text[5].split() == ["B", "N"] and text[6].split() == ["1", "1"]
    back = read_volumetric(path)
    np.testing.assert_allclose(back.density, volume.density, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(back.cell, volume.cell, atol=1e-9)
    order = np.argsort(back.atomic_numbers)[::-1]  # file is sorted by Z: B, N
    np.testing.assert_allclose(back.atom_positions[order], volume.atom_positions, atol=1e-9)
    assert back.metadata["ignored_blocks"] == {"augmentation_occupancies": 0, "extra_grids": 0}


def test_vasp_values_are_density_times_volume(volume, tmp_path):
    path = write_vasp_volumetric(volume, tmp_path / "PARCHG")
    raw = read_vasp_volumetric(path, divide_by_volume=False)
    np.testing.assert_allclose(raw.density, volume.density * volume.volume, rtol=1e-9)
    # x runs fastest in the file (Fortran order).
    lines = path.read_text().splitlines()
    grid_line = next(i for i, line in enumerate(lines) if line.split() == [str(n) for n in volume.shape])
    first = [float(v) for v in lines[grid_line + 1].split()]
    np.testing.assert_allclose(first, volume.density[:5, 0, 0] * volume.volume, rtol=1e-9)


def _small_vasp_text(scale="1.0", coords="Direct", positions=("0.0 0.0 0.5",), elements="Mo", counts="1",
                     shape=(2, 2, 3), values=None, tail=""):
    values = np.arange(1, np.prod(shape) + 1, dtype=float) if values is None else values
    rows = [" ".join(f"{v:.6E}" for v in values[i : i + 5]) for i in range(0, len(values), 5)]
    header = ["comment", scale, "3.0 0.0 0.0", "0.0 3.0 0.0", "0.0 0.0 6.0"]
    if elements:
        header.append(elements)
    header += [counts, coords, *positions, "", " ".join(map(str, shape))]
    return "\n".join(header + rows) + "\n" + tail


def test_vasp_scale_factor_cartesian_vasp4_and_extra_blocks(tmp_path):
    path = tmp_path / "CHGCAR"
    tail = "augmentation occupancies 1 2\n 0.1 0.2\n\n2 2 3\n" + " ".join(["0.5"] * 12) + "\n"
    path.write_text(_small_vasp_text(scale="2.0", coords="Cartesian", positions=("1.0 1.0 3.0",), tail=tail))
    v = read_vasp_volumetric(path)
    np.testing.assert_allclose(np.diag(v.cell), [6.0, 6.0, 12.0])
    np.testing.assert_allclose(v.atom_positions, [[2.0, 2.0, 6.0]])  # Cartesian positions scale too
    assert v.atomic_numbers.tolist() == [42]
    assert v.density[1, 0, 0] == pytest.approx(2.0 / v.volume)  # x fastest
    assert v.density[0, 1, 0] == pytest.approx(3.0 / v.volume)
    assert v.metadata["ignored_blocks"] == {"augmentation_occupancies": 1, "extra_grids": 1}
    # Negative scale = target volume; no element line (VASP 4) -> atomic number 0.
    path4 = tmp_path / "PARCHG"
    path4.write_text(_small_vasp_text(scale="-432.0", elements=""))
    v4 = read_vasp_volumetric(path4)
    assert v4.volume == pytest.approx(432.0)
    assert v4.atomic_numbers.tolist() == [0]
    # Selective dynamics line is skipped.
    path_sd = tmp_path / "CHG"
    path_sd.write_text(_small_vasp_text(coords="Selective dynamics\nDirect", positions=("0 0 0.5 T T F",)))
    np.testing.assert_allclose(read_volumetric(path_sd).atom_positions, [[0.0, 0.0, 3.0]])


def test_gzipped_files_are_read(volume, tmp_path):
    plain = write_cube(volume, tmp_path / "d.cube")
    gz = tmp_path / "d.cube.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    np.testing.assert_allclose(read_volumetric(gz).density, volume.density, rtol=1e-9)


def test_truncated_and_malformed_files_name_the_line(volume, tmp_path):
    cube = write_cube(volume, tmp_path / "d.cube")
    lines = cube.read_text().splitlines()
    truncated = tmp_path / "truncated.cube"
    truncated.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    with pytest.raises(CorruptFileError, match=r"truncated.*|ends at line"):
        read_cube(truncated)
    bad = tmp_path / "bad.cube"
    broken = list(lines)
    broken[20] = broken[20].replace("E", "X", 1)
    bad.write_text("\n".join(broken) + "\n")
    with pytest.raises(CorruptFileError, match="line 21"):
        read_cube(bad)
    header_only = tmp_path / "header.cube"
    header_only.write_text("\n".join(lines[:4]) + "\n")
    with pytest.raises(CorruptFileError, match="line 4"):
        read_cube(header_only)

    short = tmp_path / "PARCHG"
    short.write_text(_small_vasp_text(values=np.ones(7)))
    with pytest.raises(CorruptFileError, match="7 of the 12"):
        read_vasp_volumetric(short)
    counts = tmp_path / "CHGCAR"
    counts.write_text(_small_vasp_text(counts="one"))
    with pytest.raises(CorruptFileError, match="line 7"):
        read_vasp_volumetric(counts)
    overflow = tmp_path / "CHG"
    values = np.ones(12)
    text = _small_vasp_text(values=values).replace("1.000000E+00", "************", 1)
    overflow.write_text(text)
    with pytest.raises(CorruptFileError, match="line 12"):
        read_vasp_volumetric(overflow)
    empty = tmp_path / "empty.cube"
    empty.write_text("")
    with pytest.raises(CorruptFileError, match="empty"):
        read_cube(empty)
    with pytest.raises(FileFormatError, match="format"):
        read_volumetric(tmp_path / "density.xyz")
    with pytest.raises(FileFormatError, match="does not exist"):
        read_volumetric(tmp_path / "missing.cube")


def test_volumetric_data_validation():
    with pytest.raises(ParameterError, match="3-D"):
        VolumetricData(np.ones((4, 4)), np.eye(3))
    with pytest.raises(ParameterError, match="zero volume"):
        VolumetricData(np.ones((4, 4, 4)), np.zeros((3, 3)))
    with pytest.raises(ParameterError, match="NaN"):
        VolumetricData(np.full((4, 4, 4), np.nan), np.eye(3))
    with pytest.raises(ParameterError, match="both"):
        VolumetricData(np.ones((4, 4, 4)), np.eye(3), atom_positions=np.zeros((1, 3)))
    with pytest.raises(ParameterError, match="at least one atom"):
        write_vasp_volumetric(VolumetricData(np.ones((4, 4, 4)), np.eye(3)), "unused")


# -- STM images ------------------------------------------------------------------------
def test_constant_height_maxima_sit_on_atoms(volume):
    image = stm_constant_height(volume, 1.5, repeat=(4, 4), pixel_size=0.05)
    assert isinstance(image, Micrograph) and image.unit == "A" and image.pixel_size == 0.05
    assert image.metadata["stm_mode"] == "constant_height"
    assert image.metadata["tip_z_A"] == pytest.approx(SLAB_Z + 1.5)
    # Bounding box of 4 a x 4 b of the hexagonal cell: 15 Å x 8.66 Å.
    assert image.shape == (int(4 * A * np.sqrt(3) / 2 / 0.05), int(6 * A / 0.05))
    peaks = _refined_peaks(image.data)
    atoms = _atom_pixels(volume, image)
    distances_A = _nearest_distance(peaks, atoms) * image.pixel_size
    assert len(peaks) >= 20
    assert distances_A.max() < 0.1
    # Every bright ("N") atom away from the border gives a peak.
    h, w = image.shape
    n_atoms = _atom_pixels(volume, image, number=7)
    interior = n_atoms[(n_atoms.min(axis=1) > 6) & (n_atoms[:, 0] < w - 7) & (n_atoms[:, 1] < h - 7)]
    assert len(interior) >= 15
    assert (_nearest_distance(interior, peaks) * image.pixel_size < 0.1).all()
    # Brighter at N than at B.
    n_px = np.round(_atom_pixels(volume, image, 7)).astype(int)
    b_px = np.round(_atom_pixels(volume, image, 5)).astype(int)
    n_px = n_px[(n_px[:, 0] < w) & (n_px[:, 1] < h)]
    b_px = b_px[(b_px[:, 0] < w) & (b_px[:, 1] < h)]
    assert image.data[n_px[:, 1], n_px[:, 0]].min() > image.data[b_px[:, 1], b_px[:, 0]].max()


def test_constant_height_is_the_same_from_cube_and_parchg(volume, tmp_path):
    direct = stm_constant_height(volume, 2.0, repeat=(2, 2))
    from_cube = stm_constant_height(read_cube(write_cube(volume, tmp_path / "d.cube")), 2.0, repeat=(2, 2))
    from_vasp = stm_constant_height(read_volumetric(write_vasp_volumetric(volume, tmp_path / "PARCHG")), 2.0,
                                    repeat=(2, 2))
    np.testing.assert_allclose(from_cube.data, direct.data, rtol=1e-5)
    np.testing.assert_allclose(from_vasp.data, direct.data, rtol=1e-5)


def test_constant_height_decays_with_height_and_blur_smooths(volume):
    low = stm_constant_height(volume, 1.5, repeat=(2, 2))
    high = stm_constant_height(volume, 3.0, repeat=(2, 2))
    assert high.data.mean() < low.data.mean()
    blurred = stm_constant_height(volume, 1.5, repeat=(2, 2), tip_sigma=0.5)
    assert blurred.shape == low.shape
    assert blurred.data.std() < low.data.std()
    assert blurred.data.mean() == pytest.approx(low.data.mean(), rel=0.05)
    absolute = stm_constant_height(volume, SLAB_Z + 1.5, absolute_height=True, repeat=(2, 2))
    np.testing.assert_allclose(absolute.data, low.data, rtol=1e-6)


def test_constant_current_maxima_on_atoms_and_height_ordering(volume):
    image = stm_constant_current(volume, height=1.5, repeat=(4, 4), pixel_size=0.05)
    assert image.metadata["stm_mode"] == "constant_current"
    assert image.metadata["n_unresolved"] == {"above_isovalue_at_start": 0, "never_reached": 0}
    peaks = _refined_peaks(image.data)
    atoms = _atom_pixels(volume, image)
    assert len(peaks) >= 20
    assert (_nearest_distance(peaks, atoms) * image.pixel_size).max() < 0.1
    # Heights (Å above the top atom) are higher over the bright species, and around 1.5 Å.
    h, w = image.shape
    n_px = np.round(_atom_pixels(volume, image, 7)).astype(int)
    b_px = np.round(_atom_pixels(volume, image, 5)).astype(int)
    n_px = n_px[(n_px[:, 0] < w) & (n_px[:, 1] < h)]
    b_px = b_px[(b_px[:, 0] < w) & (b_px[:, 1] < h)]
    over_n, over_b = image.data[n_px[:, 1], n_px[:, 0]], image.data[b_px[:, 1], b_px[:, 0]]
    assert over_n.min() > over_b.max()
    assert 1.0 < image.data.mean() < 2.0
    # The isosurface really has the isovalue: density at (x, y, z_tip) == isovalue.
    from motifkit.stm import _interpolate

    x0, y0 = image.metadata["xy_origin_A"]
    rows, cols = np.mgrid[0 : h : 17, 0 : w : 23]
    points = np.stack([x0 + cols * 0.05, y0 + rows * 0.05, SLAB_Z + image.data[rows, cols]], axis=-1)
    np.testing.assert_allclose(_interpolate(volume, points), image.metadata["isovalue"], rtol=0.05)


def test_constant_current_height_increases_when_isovalue_decreases(volume):
    reference = stm_constant_current(volume, height=2.0, repeat=(2, 2))
    isovalue = reference.metadata["isovalue"]
    means = [stm_constant_current(volume, isovalue * f, repeat=(2, 2)).data.mean() for f in (4.0, 1.0, 0.25)]
    assert means[0] < means[1] < means[2]
    assert means[1] == pytest.approx(reference.data.mean(), rel=1e-6)
    # Lower density by a factor e^(2 kappa d) -> about d higher (exponential decay).
    assert means[2] - means[1] == pytest.approx(np.log(4.0) / (2 * KAPPA), rel=0.2)


def test_bad_stm_parameters(volume):
    with pytest.raises(ParameterError, match="outside the box"):
        stm_constant_height(volume, 20.0)
    with pytest.raises(ParameterError, match="at least 8"):
        stm_constant_height(volume, 2.0, pixel_size=1.0)
    with pytest.raises(ParameterError, match="repeat"):
        stm_constant_height(volume, 2.0, repeat=(0, 1))
    with pytest.raises(ParameterError, match="pixel_size"):
        stm_constant_height(volume, 2.0, pixel_size=-0.1)
    with pytest.raises(ParameterError, match="tip_sigma"):
        stm_constant_height(volume, 2.0, tip_sigma=-1)
    with pytest.raises(ParameterError, match="outside the density range"):
        stm_constant_current(volume, 1e6)
    with pytest.raises(ParameterError, match="outside the density range"):
        stm_constant_current(volume, -1.0)
    with pytest.raises(ParameterError, match="exactly one"):
        stm_constant_current(volume)
    with pytest.raises(ParameterError, match="exactly one"):
        stm_constant_current(volume, 0.1, height=2.0)
    with pytest.raises(ParameterError, match="on_missing"):
        stm_constant_current(volume, height=2.0, on_missing="ignore")
    tilted = VolumetricData(volume.density, volume.cell + [[0, 0, 0.5], [0, 0, 0], [0, 0, 0]],
                            atom_positions=volume.atom_positions, atomic_numbers=volume.atomic_numbers)
    with pytest.raises(ParameterError, match="xy plane"):
        stm_constant_height(tilted, 2.0)
    no_atoms = VolumetricData(volume.density, volume.cell)
    with pytest.raises(ParameterError, match="absolute_height"):
        stm_constant_height(no_atoms, 2.0)
    assert stm_constant_height(no_atoms, SLAB_Z + 2.0, absolute_height=True).shape[0] >= 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(STMWarning, match="below the top atom"):
            stm_constant_height(volume, -0.5)
    assert issubclass(ParameterError, MotifkitError)


def test_unreached_isovalue_is_counted_never_silent(volume):
    # Half the peak density is reached near the atoms but not over the hollows.
    isovalue = 0.5 * volume.density.max()
    with pytest.raises(ParameterError, match=r"never reaching"):
        stm_constant_current(volume, isovalue, repeat=(2, 2))
    with pytest.warns(STMWarning, match="filled"):
        filled = stm_constant_current(volume, isovalue, repeat=(2, 2), on_missing="fill")
    counts = filled.metadata["n_unresolved"]
    assert counts["never_reached"] > 0 and counts["above_isovalue_at_start"] == 0
    assert (filled.data == 0.0).sum() == counts["never_reached"]  # filled with the top-atom height


def _analytic_density(volume, points):
    """The synthetic density evaluated exactly (no grid) at Cartesian points (P, 3) Å."""
    values = np.zeros(len(points))
    for z, pos in zip(volume.atomic_numbers, volume.atom_positions):
        for i in range(-6, 7):
            for j in range(-6, 7):
                centre = pos + i * volume.cell[0] + j * volume.cell[1]
                values += AMPLITUDES[z] * np.exp(-2 * KAPPA * np.linalg.norm(points - centre, axis=1))
    return values


def test_constant_height_matches_the_analytic_density_in_a_hexagonal_cell(volume):
    image = stm_constant_height(volume, 1.5, repeat=(3, 2), pixel_size=0.1)
    x0, y0 = image.metadata["xy_origin_A"]
    rows, cols = np.mgrid[0 : image.shape[0] : 3, 0 : image.shape[1] : 3]
    points = np.stack([x0 + cols.ravel() * 0.1, y0 + rows.ravel() * 0.1, np.full(rows.size, SLAB_Z + 1.5)], axis=1)
    expected = _analytic_density(volume, points)
    relative = np.abs(image.data[rows, cols].ravel() - expected) / expected
    assert np.median(relative) < 0.02 and relative.max() < 0.1


def test_plane_interpolation_fast_path_matches_trilinear(volume):
    from motifkit.stm import _interpolate, _interpolate_planes

    rng = np.random.default_rng(0)
    x, y = rng.uniform(-10, 10, (2, 7, 9))
    k = np.array([150, 120, 100, 3])
    planes = _interpolate_planes(volume, x, y, k)
    for index, plane in enumerate(k):
        z = plane * volume.cell[2, 2] / volume.shape[2]
        direct = _interpolate(volume, np.stack([x, y, np.full_like(x, z)], axis=-1))
        np.testing.assert_allclose(planes[index], direct, rtol=1e-10, atol=1e-14)


def test_tilted_c_axis_gives_the_same_images(volume):
    """A monoclinic cell (c not along z) samples the same physical density."""
    tilted = make_hbn_volume(c_vector=(0.7, -0.4, C))
    image = stm_constant_height(tilted, 1.5, repeat=(2, 2), pixel_size=0.1)
    x0, y0 = image.metadata["xy_origin_A"]
    rows, cols = np.mgrid[0 : image.shape[0] : 3, 0 : image.shape[1] : 3]
    points = np.stack([x0 + cols.ravel() * 0.1, y0 + rows.ravel() * 0.1, np.full(rows.size, SLAB_Z + 1.5)], axis=1)
    expected = _analytic_density(tilted, points)
    relative = np.abs(image.data[rows, cols].ravel() - expected) / expected
    assert np.median(relative) < 0.02 and relative.max() < 0.1
    straight = stm_constant_current(volume, height=2.0, repeat=(2, 2), pixel_size=0.1)
    slanted = stm_constant_current(tilted, straight.metadata["isovalue"], repeat=(2, 2), pixel_size=0.1)
    assert np.abs(slanted.data - straight.data).mean() < 0.03
