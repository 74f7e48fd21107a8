"""Tests of the bundled real sample (motifkit.data.wse2_ti)."""

from __future__ import annotations

import hashlib
import importlib.resources
import re

import numpy as np
import pytest
from scipy import ndimage

from motifkit.data import RealSample, WSE2_TI_LABEL_NAMES, wse2_ti
from motifkit.data._real import WSE2_TI_FILES
from motifkit.micrograph import Micrograph

# Prefixes and suffixes listed in ../shared/data/README.md ("dm4 43c1503b…76ffa9" ...).
SHA256 = {
    "image": ("43c1503b", "76ffa9"),
    "positions": ("4cc65ebe", "b8d3"),
    "labels": ("b714236a", "7226"),
}


@pytest.fixture(scope="module")
def sample() -> RealSample:
    return wse2_ti()


def _bundled(name: str):
    return importlib.resources.files("motifkit.data") / "wse2_ti" / name


@pytest.mark.parametrize("key", sorted(SHA256))
def test_bundled_files_have_the_documented_checksums(key):
    digest = hashlib.sha256(_bundled(WSE2_TI_FILES[key]).read_bytes()).hexdigest()
    prefix, suffix = SHA256[key]
    assert digest.startswith(prefix) and digest.endswith(suffix)


def test_checksums_match_the_shared_readme(shared_data):
    readme = (shared_data / "README.md").read_text(encoding="utf-8")
    pattern = r"(dm4|points|labels) ([0-9a-f]{6,})…([0-9a-f]{4,})"
    listed = {key: (prefix, suffix) for key, prefix, suffix in re.findall(pattern, readme)}
    assert listed == {"dm4": SHA256["image"], "points": SHA256["positions"],
                      "labels": SHA256["labels"]}


def test_bundle_keeps_the_attribution():
    licence = _bundled("LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Copyright (c) 2024 jiadongdan" in licence
    readme = _bundled("README.md").read_text(encoding="utf-8")
    assert "jiadongdan/random-defect-model" in readme


def test_sample_contents(sample):
    m = sample.micrograph
    assert isinstance(m, Micrograph)
    assert m.shape == (512, 512)
    assert m.pixel_size == pytest.approx(0.03987935, abs=1e-8) and m.unit == "nm"
    assert m.metadata["voltage_kV"] == pytest.approx(80.0)
    assert sample.positions.shape == (7708, 2) and sample.positions.dtype == np.float64
    assert sample.labels.shape == (7708,) and sample.labels.dtype.kind == "i"
    assert sample.label_names == {0: "Se2", 1: "V_Se", 2: "W", 3: "Ti"} == WSE2_TI_LABEL_NAMES
    assert sample.label_counts == {"Se2": 3711, "V_Se": 141, "W": 3851, "Ti": 5}
    assert "jiadongdan/random-defect-model" in sample.citation
    assert "MIT" in sample.license and "2024 jiadongdan" in sample.license
    assert "7708 columns" in repr(sample)
    # Fresh arrays each call: changing one sample does not change the next.
    sample_copy = wse2_ti()
    sample_copy.positions[:] = 0
    assert wse2_ti().positions.max() > 0


def test_sample_equals_the_shared_files(sample, wse2_paths):
    np.testing.assert_array_equal(sample.positions, np.load(wse2_paths["points"]))
    np.testing.assert_array_equal(sample.labels, np.load(wse2_paths["labels"]))
    from motifkit.io import read

    np.testing.assert_array_equal(sample.micrograph.data, read(wse2_paths["dm4"]).data)


def test_positions_are_x_y_on_bright_columns(sample):
    """(x, y) = (column, row): W columns are brighter than Se2, vacancies darkest."""
    smooth = ndimage.gaussian_filter(sample.micrograph.data.astype(float), 1.5)
    x = sample.positions[:, 0].astype(int)
    y = sample.positions[:, 1].astype(int)
    at = smooth[y, x]
    mean = {name: at[sample.labels == value].mean() for value, name in WSE2_TI_LABEL_NAMES.items()}
    assert mean["W"] > mean["Se2"] > mean["V_Se"]
    # The authors' positions sit on local maxima of the image far more often than the
    # transposed (row, column) reading would.
    local_max = smooth == ndimage.maximum_filter(smooth, size=5)
    near_max = ndimage.binary_dilation(local_max, iterations=1)
    on_peak = near_max[y, x].mean()
    on_peak_transposed = near_max[x, y].mean()
    assert on_peak > 0.7  # measured 0.81
    assert on_peak > on_peak_transposed + 0.5  # transposed: 0.13, the chance level
