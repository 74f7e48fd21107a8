import numpy as np
import pytest

from motifkit.errors import ImageError, MotifkitError, ParameterError
from motifkit.micrograph import Micrograph, as_micrograph, unit_to_nm, validate_image


def test_micrograph_stores_float32_and_calibration():
    m = Micrograph(np.arange(100, dtype=np.uint16).reshape(10, 10), pixel_size=0.5, unit="A")
    assert m.data.dtype == np.float32
    assert m.shape == (10, 10)
    assert m.pixel_size_nm == pytest.approx(0.05)
    assert m.field_of_view == (5.0, 5.0)
    assert "10 x 10 px" in repr(m)


def test_pixel_physical_round_trip_and_unit_conversion():
    m = Micrograph(np.random.default_rng(0).random((16, 20)), pixel_size=0.04, unit="nm")
    xy = np.array([[3.5, 7.25], [0.0, 19.0]])
    np.testing.assert_allclose(m.to_pixels(m.to_physical(xy)), xy)
    np.testing.assert_allclose(m.to_physical([[10.0, 0.0]], unit="A"), [[4.0, 0.0]])
    np.testing.assert_allclose(m.to_pixels([[4.0, 0.0]], unit="A"), [[10.0, 0.0]])


def test_uncalibrated_conversion_says_how_to_fix():
    m = Micrograph(np.random.default_rng(0).random((16, 16)))
    assert not m.calibrated and m.field_of_view is None
    with pytest.raises(ParameterError, match="pixel_size"):
        m.to_physical([1.0, 2.0])


def test_crop_keeps_calibration_and_records_origin():
    m = Micrograph(np.random.default_rng(0).random((32, 32)), pixel_size=0.1)
    sub = m.crop(4, 8, 10, 12)
    assert sub.shape == (12, 10) and sub.pixel_size == 0.1
    assert sub.metadata["crop_origin_xy"] == (4, 8)
    np.testing.assert_array_equal(sub.data, m.data[8:20, 4:14])
    with pytest.raises(ParameterError):
        m.crop(40, 0, 5, 5)


@pytest.mark.parametrize(
    "data, match",
    [
        (np.zeros((3, 16, 16)), "2-D"),
        (np.zeros((1, 16, 16)) + np.arange(16), "squeeze"),
        (np.ones((16, 16)), "constant"),
        (np.full((16, 16), np.nan), "NaN"),
        (np.random.default_rng(0).random((4, 40)), "at least"),
        (np.array([["a"] * 16] * 16), "numeric"),
        (np.ones((16, 16), dtype=complex), "complex"),
    ],
)
def test_validate_image_rejects_bad_input_clearly(data, match):
    with pytest.raises(ImageError, match=match):
        validate_image(data)


def test_errors_are_motifkit_errors():
    with pytest.raises(MotifkitError):
        validate_image(np.ones((16, 16)))
    with pytest.raises(MotifkitError):
        Micrograph(np.random.default_rng(0).random((16, 16)), pixel_size=-1)
    with pytest.raises(MotifkitError):
        unit_to_nm("furlong")


def test_as_micrograph_passes_through_and_fills_calibration():
    m = Micrograph(np.random.default_rng(0).random((16, 16)))
    assert as_micrograph(m) is m
    assert as_micrograph(m, pixel_size=0.2).pixel_size == 0.2
    assert as_micrograph(np.random.default_rng(1).random((16, 16)), pixel_size=0.3).pixel_size == 0.3
