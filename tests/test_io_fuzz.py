"""Fuzzing the readers: random, truncated and corrupted files never leak a non-motifkit error.

Each test asserts that :func:`motifkit.io.read` either returns a Micrograph or raises a
:class:`~motifkit.errors.MotifkitError`; warnings are allowed.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from motifkit.errors import MotifkitError
from motifkit.io import SUPPORTED_EXTENSIONS, read, write
from motifkit.micrograph import Micrograph

FUZZ = settings(
    max_examples=45,
    deadline=None,
    derandomize=True,  # the same examples on every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Real file headers, so random tails reach past the first magic-number check.
MAGIC = {
    ".dm4": bytes.fromhex("00000004") + bytes(8) + bytes.fromhex("00000001"),
    ".dm3": bytes.fromhex("00000003") + bytes(4) + bytes.fromhex("00000001"),
    ".ser": bytes.fromhex("4949 9701 1002 2241 0000 5241 0000"),
    ".tif": b"II*\x00\x08\x00\x00\x00",
    ".hdf5": b"\x89HDF\r\n\x1a\n",
    ".npy": b"\x93NUMPY\x01\x00",
    ".npz": b"PK\x03\x04",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".jpg": b"\xff\xd8\xff\xe0",
    ".bmp": b"BM",
}

def _read_ok_or_motifkit_error(path: Path, frame=None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = read(path, frame=frame)
        except MotifkitError:
            return
    assert isinstance(result, Micrograph)
    assert result.data.ndim == 2 and np.isfinite(result.data).all()


def _write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """Folder the fuzzed files are written to (one file per name, overwritten)."""
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def written_files(tmp_path_factory) -> dict[str, bytes]:
    """Valid files of every writable format plus a few written by other libraries."""
    folder = tmp_path_factory.mktemp("valid")
    rng = np.random.default_rng(3)
    micrograph = Micrograph(rng.random((24, 20)), pixel_size=0.04, metadata={"note": "fuzz"})
    files = {}
    for extension in (".tif", ".npz", ".hspy"):
        files[extension] = write(micrograph, folder / f"m{extension}").read_bytes()
    buffer = io.BytesIO()
    np.save(buffer, rng.random((3, 16, 16)))
    files[".npy"] = buffer.getvalue()
    buffer = io.BytesIO()
    Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(buffer, format="PNG")
    files[".png"] = buffer.getvalue()
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, rng.random((2, 16, 16)).astype(np.float32), compression="zlib")
    files[".tiff"] = buffer.getvalue()
    return files


@FUZZ
@given(
    extension=st.sampled_from(SUPPORTED_EXTENSIONS),
    content=st.binary(min_size=1, max_size=2048),
)
def test_random_bytes_with_every_extension(scratch, extension, content):
    _read_ok_or_motifkit_error(_write(scratch, f"random{extension}", content))


@settings(FUZZ, max_examples=60)
@given(
    extension=st.sampled_from(sorted(MAGIC)),
    content=st.binary(min_size=0, max_size=4096),
)
def test_random_bytes_after_a_valid_magic_number(scratch, extension, content):
    _read_ok_or_motifkit_error(_write(scratch, f"magic{extension}", MAGIC[extension] + content))


@settings(FUZZ, max_examples=30)
@given(fraction=st.floats(min_value=0.0, max_value=0.999))
def test_truncated_real_dm4(scratch, wse2_paths, fraction):
    content = wse2_paths["dm4"].read_bytes()
    cut = max(1, int(len(content) * fraction))
    _read_ok_or_motifkit_error(_write(scratch, "cut.dm4", content[:cut]))


@settings(FUZZ, max_examples=20)
@given(fraction=st.floats(min_value=0.0, max_value=0.999))
def test_truncated_real_hyperspy(scratch, srtio3_path, fraction):
    content = srtio3_path.read_bytes()
    cut = max(1, int(len(content) * fraction))
    _read_ok_or_motifkit_error(_write(scratch, "cut.hdf5", content[:cut]))


@settings(FUZZ, max_examples=25)
@given(
    positions=st.lists(st.floats(0.0, 0.999), min_size=1, max_size=16),
    values=st.binary(min_size=16, max_size=16),
)
def test_corrupted_bytes_in_real_dm4(scratch, wse2_paths, positions, values):
    content = bytearray(wse2_paths["dm4"].read_bytes())
    # The tags live after the pixels in DM4; hit both regions.
    for position, value in zip(positions, values):
        content[int(position * len(content))] = value
    _read_ok_or_motifkit_error(_write(scratch, "flipped.dm4", bytes(content)))


@settings(FUZZ, max_examples=60)
@given(
    extension=st.sampled_from([".tif", ".npz", ".hspy", ".npy", ".png", ".tiff"]),
    fraction=st.floats(min_value=0.0, max_value=0.999),
    frame=st.sampled_from([None, 0, 1, -1, 5]),
)
def test_truncated_written_files(scratch, written_files, extension, fraction, frame):
    content = written_files[extension]
    cut = max(1, int(len(content) * fraction))
    _read_ok_or_motifkit_error(_write(scratch, f"cut{extension}", content[:cut]), frame=frame)


@settings(FUZZ, max_examples=60)
@given(
    extension=st.sampled_from([".tif", ".npz", ".hspy", ".npy", ".png", ".tiff"]),
    positions=st.lists(st.floats(0.0, 0.999), min_size=1, max_size=8),
    values=st.binary(min_size=8, max_size=8),
)
def test_corrupted_written_files(scratch, written_files, extension, positions, values):
    # Byte flips are not applied to HDF5 files written by other programs: a damaged
    # variable-length string attribute sends the HDF5 C library itself into an endless
    # loop (seen with the SrTiO3 file). motifkit writes fixed-length strings, so its own
    # .hspy files are included here.
    content = bytearray(written_files[extension])
    for position, value in zip(positions, values):
        content[int(position * len(content))] = value
    _read_ok_or_motifkit_error(_write(scratch, f"flipped{extension}", bytes(content)), frame=0)
