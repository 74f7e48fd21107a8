"""End-to-end motif analysis: accuracy on ground truth and on the real labelled sample."""

from __future__ import annotations

import collections
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import motifkit
from motifkit import simulate
from motifkit.errors import ImageError, MotifkitError, NotEnoughDataError
from motifkit.evaluation import compare_with_reference, match_positions, nearest_neighbour_distance


def _mose2_with_vacancies_and_dopants(seed=0, dose=1000.0, shape=(512, 512)):
    """2H-MoSe2 at 0.2 A/px with 3 % Se single vacancies and 1 % W on Mo sites, Poisson noise."""
    rng = np.random.default_rng(seed)
    geometry = simulate.ImageGeometry(shape, 0.2)
    structure = simulate.tmd_monolayer("MoSe2").tile_for_view(geometry)
    structure = simulate.add_vacancies(structure, "Se", density=0.03, double_fraction=0.0, random_state=rng)
    structure = simulate.substitute(structure, "Mo", "W", density=0.01, random_state=rng)
    return simulate.simulate_stem(structure, geometry.shape, geometry.pixel_size, dose=dose, random_state=rng)


@pytest.fixture(scope="module")
def synthetic():
    sim = _mose2_with_vacancies_and_dopants()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = motifkit.analyze(sim.image, random_state=0, verbose=False)
    truth = sim.truth
    match = match_positions(result.positions, truth.positions, 0.3 * nearest_neighbour_distance(truth.positions))
    return sim, result, match


def test_synthetic_columns_are_found_precisely(synthetic):
    sim, result, _ = synthetic
    truth = sim.truth
    height, width = sim.image.shape

    def inside(p, margin=3.0):  # a peak cut by the image edge cannot be localised
        return (p[:, 0] >= margin) & (p[:, 0] <= width - 1 - margin) & (p[:, 1] >= margin) & (p[:, 1] <= height - 1 - margin)

    visible = (truth.column_types != "V_Se2") & inside(truth.positions)
    every = np.vstack([result.positions, result.border_positions])
    match = match_positions(every[inside(every)], truth.positions[visible], 0.3 * nearest_neighbour_distance(truth.positions))
    print(f"synthetic MoSe2 columns: {match}")
    assert match.recall >= 0.995 and match.precision >= 0.995
    assert match.rmse <= 0.15


def test_synthetic_motifs_match_ground_truth_types(synthetic):
    sim, result, match = synthetic
    context = sim.truth.context_types[match.reference_index]
    labels = result.labels[match.detected_index]
    ari = adjusted_rand_score(context, labels)
    print(f"synthetic MoSe2 motifs: {result.n_motifs} motifs, ARI vs context types {ari:.4f}")
    for k in range(result.n_motifs):
        print(f"  motif {k}: {collections.Counter(context[labels == k]).most_common(3)}")
    assert ari >= 0.95
    # Defect-free metal columns form one motif (integer-position patches would split them).
    metal = labels[context == "Mo"]
    assert np.bincount(metal).max() / len(metal) >= 0.99
    # Metal next to a vacancy is its own motif, not mixed with plain metal.
    nextto = labels[context == "Mo_nextto_V"]
    assert not np.isin(nextto, np.bincount(metal).argmax()).any()


def test_analysis_result_is_complete_and_reproducible(synthetic):
    sim, result, _ = synthetic
    n = result.n_columns
    assert result.positions.shape == (n, 2) and result.layout.shape == (n, 2)
    assert result.features.shape[0] == n and result.features.dtype == np.float32
    assert result.labels.shape == (n,) and result.labels.min() >= 0
    s = result.parameters["patch_size"]
    assert s % 2 == 1 and result.class_averages.shape == (result.n_motifs, s, s)
    assert result.reconstruction.shape == sim.image.shape
    assert result.summary["residual"]["relative_rms"] < 0.5
    assert set(result.timings) >= {"columns", "patches", "features", "layout", "labels", "reconstruction"}
    assert result.provenance["input_sha256"] and result.provenance["motifkit_version"] == motifkit.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = motifkit.analyze(sim.image, random_state=0, verbose=False)
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_allclose(again.layout, result.layout)


def test_save_and_load_round_trip_is_lossless(synthetic, tmp_path):
    _, result, _ = synthetic
    path = result.save(tmp_path / "analysis.h5", include_patches=True)
    loaded = motifkit.load_analysis(path)
    for name in ("positions", "features", "layout", "labels", "class_averages", "reconstruction", "border_positions", "patches"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(result, name), err_msg=name)
        assert getattr(loaded, name).dtype == np.asarray(getattr(result, name)).dtype, name
    np.testing.assert_array_equal(loaded.micrograph.data, result.micrograph.data)
    assert loaded.micrograph.pixel_size == result.micrograph.pixel_size
    assert loaded.micrograph.unit == result.micrograph.unit
    assert loaded.parameters == result.parameters
    assert loaded.summary == result.summary and loaded.provenance == result.provenance
    assert loaded.timings == result.timings


def test_load_analysis_rejects_other_files(tmp_path):
    with pytest.raises(MotifkitError, match="No analysis file"):
        motifkit.load_analysis(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(MotifkitError, match="not a readable HDF5"):
        motifkit.load_analysis(junk)
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(MotifkitError, match="not a motifkit analysis"):
        motifkit.load_analysis(tmp_path / "other.h5")


def test_real_wse2_columns_and_motifs_agree_with_the_authors(shared_data):
    sample = motifkit.data.wse2_ti()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = motifkit.analyze(sample.micrograph, random_state=0, verbose=False)
    comparison = compare_with_reference(result, sample)
    print(comparison.report())
    assert comparison.match.recall >= 0.98 and comparison.match.precision >= 0.98
    assert comparison.macro_f1 >= 0.9


@pytest.mark.parametrize(
    "image, error, match",
    [
        (np.full((64, 64), np.nan), ImageError, "NaN"),
        (np.ones((64, 64)), ImageError, "constant"),
        (np.zeros((3, 64, 64)), ImageError, "2-D"),
    ],
)
def test_bad_images_get_clear_errors(image, error, match):
    with pytest.raises(error, match=match):
        motifkit.analyze(image, verbose=False)


def test_no_columns_or_too_few_columns_get_clear_errors():
    flat_noise = np.random.default_rng(0).normal(100.0, 1.0, (128, 128))
    with pytest.raises(MotifkitError):
        motifkit.analyze(flat_noise, verbose=False)
    yy, xx = np.mgrid[:64, :64]
    few = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x, y in [(20, 20), (44, 20), (32, 44)])
    with pytest.raises(NotEnoughDataError):
        motifkit.analyze(few + 0.01, patch_size=11, verbose=False)


def test_cli_analyze_writes_analysis_figure_and_report(tmp_path):
    sim = motifkit.data.mose2_with_vacancies(shape=(256, 256), random_state=3)
    image_path = tmp_path / "sim.npz"
    motifkit.io.write(sim.image, image_path)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "motifkit.cli", "analyze", str(image_path), "-o", str(out), "-q", "--edge-taper", "0"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "analysis.h5").is_file() and (out / "summary.png").stat().st_size > 10_000
    report = (out / "report.txt").read_text()
    assert "motifs:" in report and "columns:" in report
    loaded = motifkit.load_analysis(out / "analysis.h5")
    assert loaded.n_columns > 100
    assert loaded.parameters["edge_taper"] == 0.0 and loaded.parameters["positions_given"] is False


def test_cli_reports_bad_input_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "motifkit.cli", "analyze", str(tmp_path / "nope.dm4"), "-o", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "error" in proc.stderr
