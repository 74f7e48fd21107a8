"""Patch extraction at sub-pixel centres: interpolation, borders, bookkeeping, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from motifkit.errors import ImageError, MotifkitError, NotEnoughDataError, ParameterError
from motifkit.micrograph import Micrograph
from motifkit.patches import PatchSet, extract_patches


def sample_grid(positions, size):
    """(N, size, size) row and column coordinates of every patch sample."""
    half = size // 2
    offsets = np.arange(-half, half + 1)
    rows = positions[:, 1, None, None] + offsets[None, :, None] + np.zeros(size)[None, None, :]
    cols = positions[:, 0, None, None] + np.zeros(size)[None, :, None] + offsets[None, None, :]
    return rows, cols


def reference_patches(image, positions, size, order, mode, cval=0.0):
    rows, cols = sample_grid(positions, size)
    values = ndi.map_coordinates(
        image.astype(np.float64), [rows.ravel(), cols.ravel()], order=order, mode=mode, cval=cval, prefilter=True
    )
    return values.reshape(len(positions), size, size)


@pytest.fixture(scope="module")
def random_case():
    rng = np.random.default_rng(0)
    image = rng.random((60, 80)).astype(np.float32)
    positions = np.c_[rng.uniform(-0.4, 79.4, 300), rng.uniform(-0.4, 59.4, 300)]
    return image, positions


@pytest.mark.parametrize("order", [1, 3])
@pytest.mark.parametrize(
    "border, mode", [("reflect", "reflect"), ("nearest", "nearest"), ("pad", "grid-constant"), ("drop", "reflect")]
)
def test_matches_map_coordinates(random_case, order, border, mode):
    image, positions = random_case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        patch_set = extract_patches(image, positions, 9, order=order, border=border, fill_value=0.25)
    expected = reference_patches(image, positions[patch_set.kept], 9, order, mode, cval=0.25)
    np.testing.assert_allclose(patch_set.patches, expected, atol=2e-6)
    assert patch_set.patches.dtype == np.float32


def test_order_zero_is_the_rounded_integer_cut(random_case):
    image, positions = random_case
    patch_set = extract_patches(image, positions, 7, order=0, warn=False)
    for patch, (x, y) in zip(patch_set.patches, patch_set.positions):
        cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        np.testing.assert_array_equal(patch, image[cy - 3 : cy + 4, cx - 3 : cx + 4])


def test_drop_reports_every_column_without_a_patch(random_case):
    image, positions = random_case
    with pytest.warns(UserWarning, match=r"\d+ of 300 columns dropped"):
        patch_set = extract_patches(image, positions, 9)
    assert isinstance(patch_set, PatchSet)
    assert len(patch_set) + patch_set.n_dropped == 300
    np.testing.assert_array_equal(np.sort(np.r_[patch_set.kept, patch_set.dropped]), np.arange(300))
    np.testing.assert_array_equal(patch_set.positions, positions[patch_set.kept])
    x, y = positions[patch_set.dropped].T
    assert np.all((x < 4) | (x > 75) | (y < 4) | (y > 55))  # all within half a patch of the edge
    x, y = patch_set.positions.T
    assert np.all((x >= 4) & (x <= 75) & (y >= 4) & (y <= 55))
    # other border modes keep everything centred inside the image
    kept_all = extract_patches(image, positions, 9, border="reflect")
    assert len(kept_all) == 300 and kept_all.n_dropped == 0
    outside = extract_patches(image, [[-3.0, 10.0], [10.0, 10.0]], 5, border="reflect", warn=False)
    assert outside.dropped.tolist() == [0] and outside.kept.tolist() == [1]


def test_patches_are_centred_on_the_subpixel_position():
    """A Gaussian column at a fractional position lands in the patch centre (order 1, 3),
    but up to half a pixel off with integer cuts (order 0)."""
    yy, xx = np.mgrid[:64, :64]
    rng = np.random.default_rng(1)
    for x0, y0 in rng.uniform(20, 44, size=(20, 2)):
        image = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 2.0**2))
        offsets = {}
        for order in (0, 1, 3):
            patch = extract_patches(image, [[x0, y0]], 15, order=order).patches[0].astype(float)
            cy, cx = ndi.center_of_mass(patch)
            offsets[order] = np.hypot(cx - 7, cy - 7)
        assert offsets[1] < 0.05 and offsets[3] < 0.01
        frac = np.hypot(x0 - np.round(x0), y0 - np.round(y0))
        assert offsets[0] == pytest.approx(frac, abs=0.02)


def test_subpixel_patches_keep_identical_columns_identical():
    """METHODS: integer cuts split defect-free atoms into spurious motifs. Noise-free
    Mo columns of a rotated MoSe2 lattice give near-identical patches when sampled at
    their true centres; integer cuts scatter them by the sub-pixel jitter."""
    from motifkit.data import mose2_with_vacancies

    sim = mose2_with_vacancies(shape=(256, 256), vacancy_density=0.0, rotation=13.0, dose=None, random_state=0)
    truth = sim.truth
    mo = truth.positions[truth.column_types == "Mo"]
    scatter = {}
    for order in (0, 1, 3):
        patches = extract_patches(sim.image, mo, 25, order=order, warn=False).flat().astype(np.float64)
        scatter[order] = np.mean((patches - patches.mean(axis=0)) ** 2) / np.mean(patches**2)
    assert scatter[1] < 0.1 * scatter[0]
    assert scatter[3] < 0.1 * scatter[0]


def test_normalisation():
    rng = np.random.default_rng(2)
    image = rng.random((40, 40)) * 7 + 3
    image[:12, :12] = 5.0  # a constant region
    positions = np.array([[20.0, 20.0], [25.5, 14.25], [6.0, 6.0]])
    z = extract_patches(image, positions, 9, normalize="zscore")
    np.testing.assert_allclose(z.flat()[:2].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z.flat()[:2].std(axis=1), 1, rtol=1e-4)
    np.testing.assert_array_equal(z.patches[2], 0)  # constant patch: zeros, no NaN
    m = extract_patches(image, positions, 9, normalize="minmax")
    np.testing.assert_allclose(m.flat()[:2].min(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(m.flat()[:2].max(axis=1), 1, atol=1e-6)
    assert np.isfinite(m.patches).all()


def test_patchset_interface_and_chunking(random_case):
    image, positions = random_case
    micrograph = Micrograph(image, pixel_size=0.02)
    whole = extract_patches(micrograph, positions, 11, border="nearest", order=3)
    chunked = extract_patches(image, positions, 11, border="nearest", order=3, chunk_size=7)
    np.testing.assert_array_equal(whole.patches, chunked.patches)
    assert np.asarray(whole).shape == (300, 11, 11)
    assert whole.flat().shape == (300, 121)
    assert whole.image_shape == (60, 80) and whole.size == 11 and whole.order == 3
    assert "300 patches" in repr(whole)
    empty = extract_patches(image, np.zeros((0, 2)), 5)
    assert len(empty) == 0 and empty.patches.shape == (0, 5, 5)


def test_errors():
    image = np.random.default_rng(3).random((32, 32))
    positions = [[16.0, 16.0]]
    for bad in ({"size": 8}, {"size": 0}, {"size": 2.5}, {"size": 33}):
        with pytest.raises(ParameterError):
            extract_patches(image, positions, **bad)
    with pytest.raises(ParameterError, match="odd"):
        extract_patches(image, positions, 10)
    with pytest.raises(ParameterError, match="larger than"):
        extract_patches(image, positions, 35)
    for bad in ({"order": 2}, {"border": "wrap"}, {"normalize": "l2"}):
        with pytest.raises(ParameterError):
            extract_patches(image, positions, 5, **bad)
    with pytest.raises(ParameterError):
        extract_patches(image, [[1.0, 2.0, 3.0]], 5)
    with pytest.raises(ParameterError):
        extract_patches(image, [[np.nan, 2.0]], 5)
    with pytest.raises(ParameterError):
        extract_patches(image, positions, 5, border="pad", fill_value=np.inf)
    with_nan = image.copy()
    with_nan[0, 0] = np.nan
    with pytest.raises(ImageError):
        extract_patches(with_nan, positions, 5)
    with pytest.raises(NotEnoughDataError, match="border"):
        extract_patches(image, [[1.0, 1.0], [30.5, 2.0]], 9)
    assert issubclass(ParameterError, MotifkitError)


def test_bilinear_kernel_matches_numpy_reference():
    from motifkit._columns_kernels import bilinear_patches, bilinear_patches_numpy

    rng = np.random.default_rng(4)
    padded = rng.random((80, 90)).astype(np.float32)
    x, y = rng.uniform(8, 80, 200), rng.uniform(8, 70, 200)
    np.testing.assert_array_equal(bilinear_patches(padded, x, y, 13), bilinear_patches_numpy(padded, x, y, 13))
