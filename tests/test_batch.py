"""Batch analysis on a 2-worker Dask LocalCluster, joint vocabulary, tiled column finding."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from scipy.spatial import cKDTree

pytest.importorskip("distributed")

from motifkit.batch import (  # noqa: E402
    analyze_many,
    batch_main,
    find_columns_tiled,
    find_micrographs,
    joint_vocabulary,
    analyze_tiled,
    options_hash,
)
from motifkit.errors import ImageError, ParameterError  # noqa: E402

# small but complete analyses: fixed patch size keeps the per-image work predictable
OPTIONS = dict(patch_size=17, n_max=6, random_state=0)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    dask_client = distributed.Client(cluster)
    yield dask_client
    dask_client.close()
    cluster.close()


@pytest.fixture(scope="module")
def micrograph_dir(tmp_path_factory):
    """Three tiny simulated MoSe2 micrographs, one corrupt file and one non-image file."""
    from motifkit.data import mose2_with_vacancies
    from motifkit.io import write

    folder = tmp_path_factory.mktemp("micrographs")
    for seed in range(3):
        sim = mose2_with_vacancies(shape=(192, 192), pixel_size=0.2, dose=3000, random_state=seed)
        write(sim.image, folder / f"img{seed}.npz")
    (folder / "broken.npz").write_bytes(b"this is not a numpy archive")
    (folder / "notes.txt").write_text("not a micrograph")
    return folder


def test_find_micrographs_lists_images_and_reports_others(micrograph_dir):
    found, ignored = find_micrographs(micrograph_dir)
    assert [p.name for p in found] == ["broken.npz", "img0.npz", "img1.npz", "img2.npz"]
    assert [p.name for p in ignored] == ["notes.txt"]
    with pytest.raises(ParameterError, match="not a folder"):
        find_micrographs(micrograph_dir / "img0.npz")


@pytest.fixture(scope="module")
def batch_run(client, micrograph_dir, tmp_path_factory):
    paths, _ = find_micrographs(micrograph_dir)
    out = tmp_path_factory.mktemp("batch_out")
    with pytest.warns(UserWarning, match="1 of 4 images failed"):
        result = analyze_many(paths, client, output_dir=out, verbose=False, **OPTIONS)
    return paths, out, result


def test_analyze_many_writes_analyses_summary_records_failure_and_resumes(client, batch_run, tmp_path):
    from motifkit.analysis import load_analysis

    paths, out, result = batch_run
    assert result.count("ok") == 3 and result.count("failed") == 1
    failed = result.failed[0]
    assert failed["path"].endswith("broken.npz") and failed["error"]
    assert not (out / "broken.h5").exists()
    for record in result.records:
        if record["status"] == "ok":
            analysis = load_analysis(record["output"])
            assert analysis.n_columns == record["n_columns"] > 100
            assert analysis.n_motifs == record["n_motifs"] >= 1
            assert analysis.parameters["batch"]["options_hash"] == result.options_hash
            assert record["seconds_analyze"] > 0

    with open(result.summary_csv) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["failed", "ok", "ok", "ok"]
    assert rows[0]["error"] and rows[1]["n_columns"] and not rows[1]["error"]
    payload = json.loads(result.summary_json.read_text())
    assert payload["n_ok"] == 3 and payload["n_failed"] == 1 and payload["options_hash"] == result.options_hash

    # re-run: finished images are skipped (their files untouched), the broken one retried
    stamp = (out / "img0.h5").stat().st_mtime_ns
    (out / "img1.h5").write_bytes(b"truncated")  # a damaged output is redone
    with pytest.warns(UserWarning, match="1 of 4 images failed"):
        again = analyze_many(paths, client, output_dir=out, verbose=False, **OPTIONS)
    status = {r["path"].split("/")[-1]: r["status"] for r in again.records}
    assert status == {"broken.npz": "failed", "img0.npz": "skipped", "img1.npz": "ok", "img2.npz": "skipped"}
    assert (out / "img0.h5").stat().st_mtime_ns == stamp
    skipped = next(r for r in again.records if r["status"] == "skipped")
    assert skipped["n_columns"] > 100

    # other parameters -> a different hash -> nothing is skipped; spelling out a
    # default does not change the hash
    changed = dict(OPTIONS, n_max=4)
    same = dict(OPTIONS, rotation_invariant=True)
    assert analyze_many(paths[1:2], client, output_dir=out, verbose=False, **same).records[0]["status"] == "skipped"
    other_dir = tmp_path / "copy"
    other_dir.mkdir()
    shutil.copy(out / "img0.h5", other_dir / "img0.h5")
    third = analyze_many(paths[1:2], client, output_dir=other_dir, verbose=False, **changed)
    assert third.records[0]["status"] == "ok"


def test_analyze_many_rejects_bad_arguments(tmp_path):
    with pytest.raises(ParameterError, match="at least one path"):
        analyze_many([], output_dir=tmp_path)
    with pytest.raises(ParameterError, match="Unknown analysis option"):
        analyze_many(["x.npz"], output_dir=tmp_path, nmax=3)
    with pytest.raises(ParameterError, match="client must be"):
        analyze_many(["x.npz"], client=42, output_dir=tmp_path, verbose=False)


def test_same_result_as_analyze_in_process(batch_run):
    import motifkit
    from motifkit.analysis import load_analysis

    paths, out, result = batch_run
    path = paths[3]
    assert path.name == "img2.npz"
    remote = load_analysis(result.records[3]["output"])
    with pytest.warns(UserWarning, match="border"):
        local = motifkit.analyze(motifkit.io.read(path), verbose=False, **OPTIONS)
    np.testing.assert_allclose(remote.positions, local.positions)
    np.testing.assert_array_equal(remote.labels, local.labels)


def test_joint_vocabulary_gives_comparable_labels(batch_run):
    paths, out, result = batch_run
    vocab = joint_vocabulary(result.outputs, verbose=False, layout_options={"n_neighbors": 8})
    from motifkit.analysis import load_analysis

    analyses = [load_analysis(p) for p in result.outputs]
    assert [len(l) for l in vocab.labels] == [a.n_columns for a in analyses]
    assert vocab.counts.shape == (3, vocab.n_motifs) and vocab.n_motifs >= 2
    assert vocab.class_averages.shape == (vocab.n_motifs, 17, 17)
    np.testing.assert_allclose(vocab.fractions().sum(axis=1), 1.0)
    # the same lattice in all three images: the two biggest shared motifs (Mo, Se2)
    # hold most columns of every image, in similar shares
    top = vocab.fractions()[:, :2].sum(axis=1)
    assert (top > 0.8).all()
    # the Mo and Se2 sublattices each map onto one shared motif consistently:
    # columns at the same sublattice get the same shared label in every image
    bright = [vocab.labels[i][np.argsort(analyses[i].features[:, 0])[-20:]] for i in range(3)]
    majority = [np.bincount(b).argmax() for b in bright]
    assert len(set(majority)) == 1

    # subsampled fit: the rest get their nearest fitted neighbour's label
    sub = joint_vocabulary(analyses, max_fit_points=300, verbose=False, layout_options={"n_neighbors": 8})
    assert len(sub.fit_index) == 300 and sum(len(l) for l in sub.labels) == sum(a.n_columns for a in analyses)

    with pytest.raises(ParameterError, match="at least one"):
        joint_vocabulary([])
    other = load_analysis(result.outputs[1])
    other.parameters["n_max"] = 4
    with pytest.raises(ParameterError, match="not comparable"):
        joint_vocabulary([analyses[0], other], verbose=False)


def _match(a, b, tol=0.5):
    distance, _ = cKDTree(b).query(a)
    return distance


@pytest.fixture(scope="module")
def big_simulation():
    from motifkit.data import mose2_with_vacancies

    return mose2_with_vacancies(shape=(1024, 1024), pixel_size=0.2, random_state=1)


def test_tiled_columns_equal_untiled_columns(big_simulation, client):
    from motifkit.columns import find_columns

    image = big_simulation.image
    untiled = find_columns(image)
    tiled = find_columns_tiled(image, tile_size=256, verbose=False)
    assert len(tiled.tiles) == 16
    forward = _match(tiled.positions, untiled)
    backward = _match(untiled, tiled.positions)
    # no duplicate (every tiled column matches a distinct untiled one) and none missing
    assert tiled.n_columns == len(untiled)
    assert (forward < 0.5).all() and (backward < 0.5).all()
    assert np.percentile(forward, 99) < 0.01 and forward.max() < 0.05
    # seams were really exercised: columns kept from both sides of every seam
    assert tiled.n_duplicates > 50
    # the same on Dask workers
    remote = find_columns_tiled(image, tile_size=256, client=client, verbose=False)
    np.testing.assert_allclose(remote.positions, tiled.positions)
    # a lazy dask.array (e.g. from HDF5/Zarr) is read tile by tile, with the same result
    import dask.array

    lazy = dask.array.from_array(image.data, chunks=(300, 300))
    np.testing.assert_allclose(find_columns_tiled(lazy, tile_size=256, verbose=False).positions, tiled.positions)


def test_tiled_columns_bad_input(big_simulation):
    with pytest.raises(ParameterError, match="whole-image filters"):
        find_columns_tiled(big_simulation.image, smoothing="svd", verbose=False)
    with pytest.raises(ParameterError, match="cannot be split"):
        find_columns_tiled(big_simulation.image, background="gaussian", verbose=False)
    with pytest.raises(ParameterError, match="tile_size"):
        find_columns_tiled(big_simulation.image, tile_size=16, verbose=False)
    with pytest.raises(ImageError, match="2-D"):
        find_columns_tiled(np.zeros((4, 64, 64)), verbose=False)


def test_analyze_tiled_labels_match_truth():
    from sklearn.metrics import adjusted_rand_score

    from motifkit.data import mose2_with_vacancies

    # with noise: a noise-free image splits into hundreds of tiny motifs (also in analyze)
    big_simulation = mose2_with_vacancies(shape=(1024, 1024), pixel_size=0.2, dose=3000, random_state=1)
    result = analyze_tiled(
        big_simulation.image, tile_size=512, max_fit_points=3000, n_max=6, verbose=False,
        layout_options={"n_neighbors": 8},
    )
    assert result.features.shape == (result.n_columns, 16)
    assert len(result.fit_index) == 3000
    assert result.class_averages.shape[0] == result.n_motifs >= 2
    truth = big_simulation.truth
    distance, index = cKDTree(truth.positions).query(result.positions)
    assert np.median(distance) < 0.2
    kinds = np.asarray(truth.column_types)[index]
    # Mo and Se2 (the two big populations) must be separated
    major = np.isin(kinds, ["Mo", "Se2"])
    # analyze() on the whole image reaches 0.886 here (Se2 columns beside a vacancy
    # form their own motif); the subsampled fit must not lose that
    assert adjusted_rand_score(kinds[major], result.labels[major]) > 0.85


def test_cli_batch(client, batch_run, capsys):
    import argparse

    from motifkit.batch import add_batch_parser

    paths, out, _ = batch_run
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_batch_parser(sub)
    args = parser.parse_args(
        [
            "batch", str(paths[0].parent), "-o", str(out), "--scheduler", client.scheduler.address,
            "--patch-size", "17", "--n-max", "6", "-q",
        ]
    )
    status = args.func(args)
    output = capsys.readouterr().out
    assert status == 1  # the broken file
    # same options as the Python run: everything done there is skipped
    assert "0 analysed, 3 skipped" in output and "1 failed" in output and "broken.npz" in output
    assert (out / "summary.csv").is_file()
    with pytest.raises(ParameterError, match="not a folder"):
        batch_main(parser.parse_args(["batch", str(paths[0]), "-o", str(out)]))
