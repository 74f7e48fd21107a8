"""Tests of motifkit.io: every reader, calibration handling, errors and round trips."""

from __future__ import annotations

import json
import struct
import warnings

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

import motifkit
from motifkit.errors import (
    CorruptFileError,
    FileFormatError,
    ImageError,
    MissingFileError,
    MotifkitError,
    ParameterError,
)
from motifkit.io import (
    FORMATS,
    SUPPORTED_EXTENSIONS,
    WRITABLE_EXTENSIONS,
    CalibrationWarning,
    read,
    save_image,
    supported_formats,
    write,
)
from motifkit.micrograph import Micrograph

RNG = np.random.default_rng(7)


def _image(shape=(40, 48), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.random(shape) * 1000
    return data.astype(dtype)


def _read_quiet(path, **kwargs):
    """read() that fails on any CalibrationWarning (the file is calibrated)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        return read(path, **kwargs)


# -- the shared real files -----------------------------------------------------------------
def test_reads_real_wse2_dm4_with_its_calibration(wse2_paths):
    m = _read_quiet(wse2_paths["dm4"])
    assert m.shape == (512, 512)
    assert m.data.dtype == np.float32
    assert m.unit == "nm"
    # The DM tags say 0.03987935 nm (float32) for both axes.
    assert m.pixel_size == pytest.approx(0.03987935, abs=1e-8)
    assert m.pixel_size == pytest.approx(0.0399, abs=1e-4)
    assert m.metadata["original_calibration"]["scale_xy"] == [0.03987935, 0.03987935]
    assert m.metadata["original_dtype"] == "uint32"
    assert m.metadata["voltage_kV"] == pytest.approx(80.0)
    assert m.metadata["magnification"] == pytest.approx(1e7)
    assert m.metadata["reader"] == "dm"
    assert m.metadata["frame"] is None and m.metadata["n_frames"] == 1
    assert m.metadata["tags"]["Microscope Info Formatted Voltage"] == "80kV"
    assert m.source == str(wse2_paths["dm4"])
    # Raw counts are kept (no rescaling): integers of a uint32 detector.
    assert np.all(m.data == np.round(m.data)) and m.data.min() >= 0
    json.dumps(m.metadata)  # metadata is JSON-serialisable


def test_reads_real_srtio3_hyperspy_file(srtio3_path):
    with pytest.warns(CalibrationWarning, match="without a unit"):
        m = read(srtio3_path)
    assert m.shape == (400, 380)
    assert m.pixel_size_nm == pytest.approx(0.009326, abs=1e-6)
    assert m.metadata["original_dtype"] == "float16"
    assert m.metadata["signal"] == "__unnamed__"
    assert m.metadata["unit_assumed"].startswith("nm")
    assert m.metadata["original_calibration"]["unit"] is None
    assert m.metadata["reader"] == "hdf5"
    # Same file through the `dataset=` spellings.
    with pytest.warns(CalibrationWarning):
        same = read(srtio3_path, dataset="__unnamed__")
    np.testing.assert_array_equal(same.data, m.data)


def test_top_level_read_is_io_read():
    assert motifkit.read is read


# -- registry ------------------------------------------------------------------------------
def test_registry_lists_every_required_extension():
    required = {".dm3", ".dm4", ".ser", ".emd", ".tif", ".tiff", ".hspy", ".hdf5", ".h5",
                ".npy", ".npz", ".png", ".jpg", ".jpeg", ".bmp"}
    assert required <= set(SUPPORTED_EXTENSIONS)
    assert set(WRITABLE_EXTENSIONS) == {".tif", ".tiff", ".npz", ".hspy", ".hdf5", ".h5"}
    assert supported_formats()[".dm4"] == "Gatan DigitalMicrograph"
    assert set(supported_formats(writable=True)) == set(WRITABLE_EXTENSIONS)
    assert all(fmt.load_reader() for fmt in FORMATS)
    assert save_image is write


# -- TIFF ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "unit, pixels_per_unit, expected_nm",
    [
        ("nm", 25.0, 0.04),
        ("A", 2.5, 0.04),
        ("\\u00C5", 2.5, 0.04),  # Å as ImageJ escapes it (descriptions are ASCII)
        ("pm", 0.025, 0.04),
        ("micron", 25000.0, 0.04),
        ("\\u00B5m", 25000.0, 0.04),  # how ImageJ itself writes µm
        ("um", 25000.0, 0.04),
    ],
)
def test_tiff_imagej_calibration(tmp_path, unit, pixels_per_unit, expected_nm):
    path = tmp_path / "imagej.tif"
    data = _image(dtype=np.uint16)
    tifffile.imwrite(
        path, data, imagej=True, resolution=(pixels_per_unit, pixels_per_unit),
        resolutionunit=tifffile.RESUNIT.NONE, metadata={"unit": unit, "axes": "YX"},
    )
    m = _read_quiet(path)
    assert m.pixel_size == pytest.approx(expected_nm, rel=1e-6)
    assert m.unit == "nm"
    np.testing.assert_array_equal(m.data, data.astype(np.float32))
    assert m.metadata["original_dtype"] == "uint16"
    assert m.metadata["reader"] == "tiff"


@pytest.mark.parametrize(
    "resolution_unit, pixels_per_unit, expected_nm",
    [
        (tifffile.RESUNIT.CENTIMETER, 2.0e7, 0.5),  # 20 million px per cm = 0.5 nm
        (tifffile.RESUNIT.MILLIMETER, 1.0e5, 10.0),
        (tifffile.RESUNIT.MICROMETER, 50.0, 20.0),
        (tifffile.RESUNIT.INCH, 2.54e7, 1.0),
    ],
)
def test_tiff_resolution_tag_calibration(tmp_path, resolution_unit, pixels_per_unit, expected_nm):
    path = tmp_path / "resolution.tif"
    tifffile.imwrite(
        path, _image(), photometric="minisblack",
        resolution=(pixels_per_unit, pixels_per_unit), resolutionunit=resolution_unit,
    )
    m = _read_quiet(path)
    assert m.pixel_size == pytest.approx(expected_nm, rel=1e-6)


def test_tiff_display_dpi_is_not_a_calibration(tmp_path):
    path = tmp_path / "dpi72.tif"
    tifffile.imwrite(path, _image(), photometric="minisblack", resolution=(72, 72),
                     resolutionunit=tifffile.RESUNIT.INCH)
    with pytest.warns(CalibrationWarning, match="display/print resolution"):
        m = read(path)
    assert m.pixel_size is None
    assert m.metadata["resolution_tags"]["per"] == "inch"


def test_tiff_without_calibration_warns_and_has_no_pixel_size(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, _image(), photometric="minisblack")
    with pytest.warns(CalibrationWarning, match="pixel_size is None"):
        m = read(path)
    assert m.pixel_size is None
    assert m.pixel_size_nm is None


def test_tiff_non_square_pixels_warn_and_use_x(tmp_path):
    path = tmp_path / "rect.tif"
    tifffile.imwrite(path, _image(), imagej=True, resolution=(10.0, 5.0),
                     resolutionunit=tifffile.RESUNIT.NONE, metadata={"unit": "nm"})
    with pytest.warns(CalibrationWarning, match="not square"):
        m = read(path)
    assert m.pixel_size == pytest.approx(0.1)
    assert m.metadata["original_calibration"]["scale_xy"] == pytest.approx([0.1, 0.2])


def test_tiff_fei_and_zeiss_tags(tmp_path):
    fei_text = "[Beam]\nHV=200000\n[Scan]\nPixelWidth=2.5e-11\nPixelHeight=2.5e-11\n"
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, _image(), photometric="minisblack",
                     extratags=[(34682, "s", 0, fei_text, True)])
    m = _read_quiet(path)
    assert m.pixel_size == pytest.approx(0.025)
    assert m.metadata["voltage_kV"] == pytest.approx(200.0)

    zeiss_text = "\r\n".join(["0", "AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 1.25 nm",
                              "AP_ACTUALKV", "EHT = 15.00 kV", ""])
    path = tmp_path / "zeiss.tif"
    tifffile.imwrite(path, _image(), photometric="minisblack",
                     extratags=[(34118, "s", 0, zeiss_text, True)])
    m = _read_quiet(path)
    assert m.pixel_size == pytest.approx(1.25)
    assert m.metadata["voltage_kV"] == pytest.approx(15.0)


def test_tiff_ome_calibration(tmp_path):
    path = tmp_path / "image.ome.tif"
    tifffile.imwrite(path, _image(), ome=True, photometric="minisblack",
                     metadata={"axes": "YX", "PhysicalSizeX": 0.002, "PhysicalSizeXUnit": "µm",
                               "PhysicalSizeY": 0.002, "PhysicalSizeYUnit": "µm"})
    m = _read_quiet(path)
    assert m.pixel_size == pytest.approx(2.0)


def test_tiff_stack_needs_a_frame(tmp_path):
    path = tmp_path / "stack.tif"
    stack = np.stack([_image(seed=i) for i in range(3)])
    tifffile.imwrite(path, stack, imagej=True, resolution=(20.0, 20.0),
                     resolutionunit=tifffile.RESUNIT.NONE, metadata={"unit": "nm", "axes": "TYX"})
    with pytest.raises(ParameterError, match=r"stack of 3 frames.*frame="):
        read(path)
    m = _read_quiet(path, frame=1)
    np.testing.assert_array_equal(m.data, stack[1])
    assert m.pixel_size == pytest.approx(0.05)
    assert m.metadata["frame"] == 1 and m.metadata["n_frames"] == 3
    np.testing.assert_array_equal(_read_quiet(path, frame=-1).data, stack[2])
    with pytest.raises(ParameterError, match="out of range.*3 frames"):
        read(path, frame=3)


def test_tiff_rgb_is_converted_to_luminance(tmp_path):
    path = tmp_path / "rgb.tif"
    rgb = (RNG.random((20, 24, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(path, rgb, photometric="rgb")
    with pytest.warns(CalibrationWarning):
        m = read(path)
    expected = rgb.astype(float) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(m.data, expected, rtol=1e-6)
    assert "luminance" in m.metadata["colour_conversion"]


def test_tiff_hyperstack_is_rejected(tmp_path):
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, _image((2, 3, 16, 16)), imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(ImageError, match="hyperstack"):
        read(path)


# -- HDF5 / HyperSpy / EMD --------------------------------------------------------------------
def test_plain_hdf5_single_dataset_and_attribute_calibration(tmp_path):
    path = tmp_path / "plain.h5"
    data = _image()
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("group/image", data=data)
        ds.attrs["pixel_size"] = 0.5
        ds.attrs["unit"] = "Å"
        f.create_dataset("notes/small", data=np.zeros((3, 3)))  # too small to be an image
    m = _read_quiet(path)
    np.testing.assert_array_equal(m.data, data)
    assert m.pixel_size == pytest.approx(0.05)
    assert m.metadata["dataset"] == "/group/image"


def test_plain_hdf5_ambiguous_lists_candidates(tmp_path):
    path = tmp_path / "two.hdf5"
    with h5py.File(path, "w") as f:
        f["a"] = _image(seed=1)
        f["b/c"] = _image(seed=2)
    with pytest.raises(ParameterError, match=r"'/a'.*'/b/c'.*dataset="):
        read(path)
    with pytest.warns(CalibrationWarning):
        m = read(path, dataset="b/c")
    np.testing.assert_array_equal(m.data, _image(seed=2))
    with pytest.warns(CalibrationWarning):
        assert read(path, dataset=0).metadata["dataset"] == "/a"
    with pytest.raises(ParameterError, match="does not name"):
        read(path, dataset="missing")
    with pytest.raises(FileFormatError, match="group, not a dataset"):
        read(path, dataset="b")


def test_plain_hdf5_without_images(tmp_path):
    path = tmp_path / "none.h5"
    with h5py.File(path, "w") as f:
        f["vector"] = np.arange(100)
    with pytest.raises(FileFormatError, match="holds no image datasets"):
        read(path)


def _write_hyperspy(path, data, scales, units, navigate):
    with h5py.File(path, "w") as f:
        f.attrs["file_format"] = "HyperSpy"
        g = f.create_group("Experiments/stack")
        g["data"] = data
        for i, (scale, unit, nav) in enumerate(zip(scales, units, navigate)):
            ax = g.create_group(f"axis-{i}")
            ax.attrs["scale"] = scale
            ax.attrs["navigate"] = nav
            ax.attrs["size"] = data.shape[i]
            if unit is not None:
                ax.attrs["units"] = unit
        tem = g.create_group("metadata/Acquisition_instrument/TEM")
        tem.attrs["beam_energy"] = 300.0


def test_hyperspy_stack_with_units(tmp_path):
    path = tmp_path / "stack.hspy"
    data = np.stack([_image(seed=i) for i in range(4)])
    _write_hyperspy(path, data, [1.0, 0.25, 0.25], ["<undefined>", "Å", "Å"], [True, False, False])
    with pytest.raises(ParameterError, match="stack of 4 frames"):
        read(path)
    m = _read_quiet(path, frame=2)
    np.testing.assert_array_equal(m.data, data[2])
    assert m.pixel_size == pytest.approx(0.025)
    assert m.metadata["voltage_kV"] == pytest.approx(300.0)


def test_hyperspy_spectrum_image_is_rejected(tmp_path):
    path = tmp_path / "si.hspy"
    _write_hyperspy(path, _image((16, 16, 32)), [1, 1, 0.1], ["nm", "nm", "eV"], [True, True, False])
    with pytest.raises(FileFormatError, match="1 signal axis"):
        read(path)


def test_hyperspy_default_axes_are_uncalibrated(tmp_path):
    path = tmp_path / "default.hspy"
    _write_hyperspy(path, _image(), [1.0, 1.0], [None, None], [False, False])
    with pytest.warns(CalibrationWarning, match="default scale 1"):
        assert read(path).pixel_size is None


def test_berkeley_emd(tmp_path):
    from ncempy.io import emd

    path = tmp_path / "berkeley.emd"
    stack = np.stack([_image(seed=i) for i in range(2)])
    emd.emdWriter(path, stack, pixel_size=(1, 0.02, 0.02), pixel_unit=("s", "n_m", "n_m"))
    with pytest.raises(ParameterError, match="stack of 2 frames"):
        read(path)
    m = _read_quiet(path, frame=1)
    np.testing.assert_array_equal(m.data, stack[1])
    assert m.pixel_size == pytest.approx(0.02)
    assert m.metadata["reader"] == "emd"


def _write_velox(path, images, pixel_m=3.0e-11, detectors=("HAADF",)):
    with h5py.File(path, "w") as f:
        f["Version"] = np.array([b'{"format": "Velox", "version": "2"}'])
        for k, (image, detector) in enumerate(zip(images, detectors)):
            group = f.create_group(f"Data/Image/{k:032x}")
            group["Data"] = image  # Velox layout: (H, W, frames)
            meta = {
                "BinaryResult": {"PixelSize": {"width": str(pixel_m), "height": str(pixel_m)},
                                 "PixelUnitX": "m", "PixelUnitY": "m", "Detector": detector},
                "Acquisition": {"AcquisitionStartDatetime": {"DateTime": "1600000000"}},
                "Stage": {}, "Optics": {"AccelerationVoltage": "300000",
                                        "NominalMagnification": "2000000"},
                "Scan": {"DwellTime": "1e-6"}, "CustomProperties": {},
            }
            raw = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
            column = np.zeros((raw.size + 10, image.shape[2]), dtype=np.uint8)
            column[: raw.size, :] = raw[:, None]
            group["Metadata"] = column


def test_velox_emd(tmp_path):
    path = tmp_path / "velox.emd"
    frames = np.stack([_image(seed=i) for i in range(3)], axis=-1)  # (H, W, 3)
    _write_velox(path, [frames])
    with pytest.raises(ParameterError, match="stack of 3 frames"):
        read(path)
    m = _read_quiet(path, frame=2)
    np.testing.assert_array_equal(m.data, frames[:, :, 2])
    assert m.pixel_size == pytest.approx(0.03)
    assert m.metadata["voltage_kV"] == pytest.approx(300.0)
    assert m.metadata["detector"] == "HAADF"

    two = tmp_path / "two.emd"
    _write_velox(two, [frames[:, :, :1], frames[:, :, 1:2]], detectors=("HAADF", "BF"))
    with pytest.raises(ParameterError, match="HAADF.*BF"):
        read(two)
    np.testing.assert_array_equal(_read_quiet(two, dataset=1).data, frames[:, :, 1])


# -- SER -------------------------------------------------------------------------------------
def _write_ser(path, frames, delta_m):
    """Minimal TIA SER v0x0210 file with 2-D float32 elements (stored bottom-up)."""
    n, h, w = frames.shape
    header = struct.pack("<3h", 0x4949, 0x0197, 0x0210)
    header += struct.pack("<4i", 0x4122, 0x4152, n, n)
    dim = struct.pack("<i2d2i", n, 0.0, 1.0, 0, 0) + struct.pack("<i", 0)
    offsets_at = len(header) + 4 + 4 + len(dim)
    header += struct.pack("<i", offsets_at) + struct.pack("<i", 1) + dim
    elements, data_offsets = b"", []
    first = offsets_at + 8 * n
    for frame in frames:
        data_offsets.append(first + len(elements))
        elements += struct.pack("<2di2di", 0.0, delta_m, 0, 0.0, delta_m, 0)
        elements += struct.pack("<h2i", 7, w, h) + np.flipud(frame).astype("<f4").tobytes()
    table = struct.pack(f"<{n}i", *data_offsets) + struct.pack(f"<{n}i", *([0] * n))
    path.write_bytes(header + table + elements)


def test_ser_series(tmp_path):
    path = tmp_path / "series_1.ser"
    frames = np.stack([_image((24, 32), seed=i) for i in range(2)])
    _write_ser(path, frames, delta_m=5e-11)
    with pytest.raises(ParameterError, match="stack of 2 frames"):
        read(path)
    m = _read_quiet(path, frame=1)
    np.testing.assert_array_equal(m.data, frames[1])
    assert m.pixel_size == pytest.approx(0.05)

    single = tmp_path / "single_1.ser"
    _write_ser(single, frames[:1], delta_m=2e-10)
    m = _read_quiet(single)
    np.testing.assert_array_equal(m.data, frames[0])
    assert m.pixel_size == pytest.approx(0.2)


# -- NumPy -----------------------------------------------------------------------------------
def test_npy_image_and_stack(tmp_path):
    path = tmp_path / "image.npy"
    data = _image(dtype=np.int16)
    np.save(path, data)
    with pytest.warns(CalibrationWarning, match="NumPy arrays carry no pixel size"):
        m = read(path)
    np.testing.assert_array_equal(m.data, data)
    assert m.pixel_size is None and m.metadata["original_dtype"] == "int16"
    assert m.data.flags.writeable

    stack_path = tmp_path / "stack.npy"
    stack = np.stack([_image(seed=i) for i in range(5)])
    np.save(stack_path, stack)
    with pytest.raises(ParameterError, match="5 frames"):
        read(stack_path)
    with pytest.warns(CalibrationWarning):
        np.testing.assert_array_equal(read(stack_path, frame=4).data, stack[4])


def test_npz_keys(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, first=_image(seed=1), second=_image(seed=2), label=np.arange(3))
    with pytest.raises(ParameterError, match=r"'first'.*'second'"):
        read(path)
    with pytest.warns(CalibrationWarning):
        m = read(path, dataset="second")
    np.testing.assert_array_equal(m.data, _image(seed=2))
    single = tmp_path / "single.npz"
    np.savez(single, image=_image(seed=3), label=np.arange(3))
    with pytest.warns(CalibrationWarning):
        np.testing.assert_array_equal(read(single).data, _image(seed=3))


def test_npy_with_objects_is_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match="never loads"):
        read(path)


# -- Pillow formats --------------------------------------------------------------------------
@pytest.mark.parametrize("extension", [".png", ".bmp", ".jpg", ".jpeg"])
def test_pillow_grayscale_formats(tmp_path, extension):
    data = (_image() / 1000 * 255).astype(np.uint8)
    path = tmp_path / f"image{extension}"
    Image.fromarray(data).save(path, **({"quality": 100} if "jp" in extension else {}))
    with pytest.warns(CalibrationWarning, match="no physical pixel size"):
        m = read(path)
    tolerance = 6 if "jp" in extension else 0  # JPEG is lossy
    assert np.abs(m.data - data).max() <= tolerance
    assert m.pixel_size is None


def test_png_16_bit_and_rgb(tmp_path):
    data16 = (_image() * 60).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(data16).save(path)
    with pytest.warns(CalibrationWarning):
        np.testing.assert_array_equal(read(path).data, data16)

    rgb = (RNG.random((20, 30, 3)) * 255).astype(np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    with pytest.warns(CalibrationWarning):
        m = read(path)
    np.testing.assert_allclose(m.data, rgb.astype(float) @ [0.299, 0.587, 0.114], rtol=1e-6)


# -- bad input -----------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "nope.dm4"
    with pytest.raises(MissingFileError, match="does not exist") as info:
        read(path)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, MotifkitError)
    assert info.value.filename == str(path)


def test_folder_and_unknown_extension(tmp_path):
    with pytest.raises(FileFormatError, match="is a folder"):
        read(tmp_path)
    path = tmp_path / "image.xyz"
    path.write_bytes(b"abc")
    with pytest.raises(FileFormatError, match=r"extension '\.xyz'.*\.dm4.*\.tif"):
        read(path)
    path = tmp_path / "noextension"
    path.write_bytes(b"abc")
    with pytest.raises(FileFormatError, match="no extension"):
        read(path)


def test_empty_and_corrupt_files(tmp_path):
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(CorruptFileError, match="empty"):
        read(empty)
    for extension in (".dm4", ".tif", ".hdf5", ".npy", ".png", ".ser", ".emd", ".npz"):
        path = tmp_path / f"garbage{extension}"
        path.write_bytes(b"this is not a micrograph at all" * 10)
        with pytest.raises(CorruptFileError, match="truncated or corrupt"):
            read(path)


def test_truncated_real_dm4(tmp_path, wse2_paths):
    path = tmp_path / "truncated.dm4"
    path.write_bytes(wse2_paths["dm4"].read_bytes()[:600_000])
    with pytest.raises(CorruptFileError):
        read(path)


@pytest.mark.parametrize(
    "array, error, match",
    [
        (np.full((32, 32), 3.0), ImageError, "constant"),
        (np.where(np.eye(32) > 0, np.nan, 1.0) + np.arange(32), ImageError, "NaN/inf"),
        (np.ones((4, 32)) * np.arange(32), ImageError, "at least 8 x 8"),
        (np.arange(64.0), ImageError, r"shape \(64,\)"),
        (np.ones((2, 3, 16, 16)), ImageError, r"shape \(2, 3, 16, 16\)"),
        (np.ones((32, 32, 3)) * np.arange(3), ImageError, "colour"),
    ],
)
def test_bad_image_content(tmp_path, array, error, match):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(error, match=match):
        read(path)


def test_inf_in_tiff_and_singleton_axes_are_squeezed(tmp_path):
    data = _image()
    data[3, 4] = np.inf
    path = tmp_path / "inf.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    with pytest.raises(ImageError, match="NaN/inf"):
        read(path)
    path = tmp_path / "singleton.npy"
    np.save(path, _image()[None, :, :, None])
    with pytest.warns(CalibrationWarning):
        assert read(path).shape == (40, 48)


def test_bad_arguments(tmp_path):
    path = tmp_path / "image.npy"
    np.save(path, _image())
    for frame in ("0", 1.5, True):
        with pytest.raises(ParameterError, match="frame must be None or an integer"):
            read(path, frame=frame)
    with pytest.raises(ParameterError, match="single 40 x 48 px image"):
        read(path, frame=2)
    with pytest.raises(FileFormatError, match="single array"):
        read(path, dataset="x")
    with pytest.raises(ParameterError, match="file path"):
        read(np.zeros((10, 10)))


# -- writing and round trips ---------------------------------------------------------------
@pytest.mark.parametrize("extension", [".tif", ".tiff", ".npz", ".hspy", ".hdf5", ".h5"])
@pytest.mark.parametrize("pixel_size, unit, expected_nm", [(0.03987935, "nm", 0.03987935),
                                                            (0.5, "A", 0.05),
                                                            (None, "nm", None)])
def test_round_trip(tmp_path, extension, pixel_size, unit, expected_nm):
    original = Micrograph(
        _image((48, 40)), pixel_size=pixel_size, unit=unit,
        metadata={"title": "round trip", "voltage_kV": 80.0, "nested": {"a": [1, 2]}},
    )
    path = write(original, tmp_path / f"saved{extension}")
    assert path.exists()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back = read(path)
    calibration_warnings = [w for w in caught if issubclass(w.category, CalibrationWarning)]
    assert len(calibration_warnings) == (1 if pixel_size is None else 0)
    np.testing.assert_array_equal(back.data, original.data)
    if expected_nm is None:
        assert back.pixel_size is None
    else:
        assert back.pixel_size_nm == pytest.approx(expected_nm, rel=1e-7)
        assert back.unit == "nm"
    assert back.metadata["title"] == "round trip"
    assert back.metadata["voltage_kV"] == 80.0
    assert back.metadata["nested"] == {"a": [1, 2]}


def test_round_trip_of_real_file(tmp_path, wse2_paths):
    original = _read_quiet(wse2_paths["dm4"])
    for extension in WRITABLE_EXTENSIONS:
        back = _read_quiet(write(original, tmp_path / f"wse2{extension}"))
        np.testing.assert_array_equal(back.data, original.data)
        assert back.pixel_size == pytest.approx(original.pixel_size, rel=1e-7)
        assert back.metadata["tags"]["Microscope Info Voltage"] == 80000.0


def test_written_tiff_is_imagej_calibrated(tmp_path):
    path = write(Micrograph(_image(), pixel_size=0.04), tmp_path / "ij.tif")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["unit"] == "nm"
        assert tif.pages.first.get_resolution()[0] == pytest.approx(25.0)
        assert tif.pages.first.dtype == np.float32


def test_write_refuses_bad_targets(tmp_path):
    image = Micrograph(_image(), pixel_size=0.1)
    path = write(image, tmp_path / "once.npz")
    with pytest.raises(FileFormatError, match="overwrite=True"):
        write(image, path)
    write(Micrograph(_image(seed=5), pixel_size=0.1), path, overwrite=True)
    np.testing.assert_array_equal(_read_quiet(path).data, _image(seed=5))
    with pytest.raises(FileFormatError, match="cannot write it"):
        write(image, tmp_path / "x.dm4")
    with pytest.raises(FileFormatError, match=r"can write \.tif"):
        write(image, tmp_path / "x.xyz")
    with pytest.raises(FileFormatError, match="does not exist; create it"):
        write(image, tmp_path / "missing" / "x.tif")
    # Arrays are accepted and saved uncalibrated.
    path = write(_image(), tmp_path / "array.tif")
    with pytest.warns(CalibrationWarning):
        assert read(path).pixel_size is None


def test_plain_multipage_tiff_and_compressed_pages(tmp_path):
    path = tmp_path / "pages.tif"
    stack = np.stack([_image(seed=i) for i in range(4)])
    with tifffile.TiffWriter(path) as writer:
        for frame in stack:  # separate pages, zlib-compressed, no ImageJ metadata
            writer.write(frame, photometric="minisblack", compression="zlib",
                         resolution=(1e7, 1e7), resolutionunit=tifffile.RESUNIT.CENTIMETER,
                         metadata=None, contiguous=False)
    m = _read_quiet(path, frame=3)
    np.testing.assert_array_equal(m.data, stack[3])
    assert m.pixel_size == pytest.approx(1.0)
    assert m.metadata["n_frames"] == 4
