"""The figure runner: failure isolation, index page, --only validation, kernel choice.

Uses tiny notebooks written into tmp_path, so it runs in seconds (one kernel start each).
"""

import argparse
import json
import sys

import pytest

pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

from motifkit.errors import MotifkitError, ParameterError
from motifkit.figures_runner import (
    add_figures_parser,
    find_notebooks_dir,
    list_notebooks,
    run_figures,
)

GOOD = """
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from motifkit import notebook_tools as nbt
output = nbt.prepare_output(output_dir)
fig, ax = plt.subplots()
ax.plot([0, 1], [0, 1])
nbt.save_panel(fig, "A_line")
nbt.write_provenance(output, {"quick": quick}, inputs={"numbers": [1, 2, 3]}, notebook="good",
                     extra={"python": sys.executable})
"""


def _notebook(path, body, *, tagged=True, title="Tiny"):
    params = nbformat.v4.new_code_cell("quick = False\noutput_dir = 'unused'")
    if tagged:
        params.metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\ntext"), params, nbformat.v4.new_code_cell(body)]
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebooks")
    _notebook(folder / "good.ipynb", GOOD, title="A good one")
    _notebook(folder / "bad.ipynb", "raise ValueError('deliberate failure for the test')", title="A bad one")
    _notebook(folder / "untagged.ipynb", "print('never run')", tagged=False)
    _notebook(folder / "_helper.ipynb", "print('never run')")
    return folder


@pytest.fixture(scope="module")
def report(notebooks, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("figures")
    return run_figures(outdir, quick=True, jobs=2, verbose=False, notebooks_dir=notebooks, timeout=300)


def test_discovery_needs_a_parameters_cell_and_skips_underscore_names(notebooks):
    assert list(list_notebooks(notebooks)) == ["bad", "good"]


def test_failure_is_isolated_and_reported(report):
    by_name = {r.name: r for r in report.results}
    assert [r.name for r in report.results] == ["bad", "good"]
    assert by_name["good"].status == "ok"
    assert by_name["bad"].status == "failed"
    assert "ValueError" in by_name["bad"].error and "deliberate failure" in by_name["bad"].error
    assert report.exit_code == 1 and not report.ok
    assert [r.name for r in report.failed] == ["bad"]
    # the failing notebook is kept, executed up to the error, next to its (empty) panel folder
    assert by_name["bad"].notebook.exists()
    assert "FAILED bad" in report.summary()


def test_outputs_next_to_the_executed_notebook(report):
    good = {r.name: r for r in report.results}["good"]
    folder = report.outdir / "good"
    assert good.notebook == folder / "good.ipynb" and good.notebook.exists()
    assert (folder / "A_line.png").exists() and (folder / "A_line.svg").exists()
    assert good.panels == ["A_line.png"]
    record = json.loads((folder / "provenance.json").read_text())
    assert record["parameters"] == {"quick": True}  # papermill injected quick=True
    assert record["panels"] == ["A_line"]
    assert record["inputs"]["numbers"]["sha256"]
    for key in ("motifkit_version", "python", "platform", "created", "timings_s"):
        assert key in record
    # the kernel ran on the interpreter running the tests, not on some other "python3"
    assert record["results"]["python"] == sys.executable
    executed = nbformat.read(good.notebook, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_index_links_every_panel_to_its_notebook_and_provenance(report):
    page = report.index.read_text()
    assert report.index == report.outdir / "index.html"
    assert "1 of 2 notebooks ran" in page
    assert "good/A_line.png" in page and "good/A_line.svg" in page
    assert "good/good.ipynb" in page and "good/provenance.json" in page
    assert "bad/bad.ipynb" in page and "deliberate failure" in page
    assert "A good one" in page  # title from the notebook's first heading
    assert "<img src='good/A_line.png'" in page


def test_only_runs_the_named_notebooks(notebooks, tmp_path):
    result = run_figures(tmp_path, only=["good"], verbose=False, notebooks_dir=notebooks)
    assert [r.name for r in result.results] == ["good"] and result.exit_code == 0
    assert not (tmp_path / "bad").exists()


def test_unknown_only_name_lists_the_valid_ones(notebooks, tmp_path):
    with pytest.raises(MotifkitError, match=r"nope.*choose from: bad, good"):
        run_figures(tmp_path, only=["good", "nope"], notebooks_dir=notebooks)
    with pytest.raises(ParameterError, match="jobs"):
        run_figures(tmp_path, jobs=0, notebooks_dir=notebooks)


def test_missing_notebooks_folder_says_what_to_do(tmp_path):
    with pytest.raises(MotifkitError, match="MOTIFKIT_NOTEBOOKS"):
        find_notebooks_dir(tmp_path / "nowhere")


def test_repository_notebooks_are_found():
    names = list_notebooks()
    for name in ("fig1_workflow", "fig2_hierarchy", "quickstart", "s11_fr_stages_movie"):
        assert name in names


def test_command_line_parser(notebooks, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="motifkit")
    add_figures_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["figures", "-o", str(tmp_path), "--only", "good", "--quick", "--jobs", "1",
                              "--notebooks", str(notebooks), "-q"])
    assert args.only == ["good"] and args.quick and args.jobs == 1 and args.func.__name__ == "figures_main"
    args = parser.parse_args(["figures", "-o", str(tmp_path), "--only", "bad", "--notebooks", str(notebooks), "-q"])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "0 of 1 notebooks ran" in out and "FAILED bad: ValueError" in out


# ----------------------------------------------------------------------------- notebook_tools
def test_notebook_tools_panels_provenance_and_inputs(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from motifkit import notebook_tools as nbt
    from motifkit.micrograph import Micrograph

    output = nbt.prepare_output(tmp_path / "out")
    with nbt.timed("step"):
        fig, ax = plt.subplots()
        ax.plot([0, 1])
    written = nbt.save_panel(fig, "A_panel")
    plt.close(fig)
    assert [p.name for p in written] == ["A_panel.png", "A_panel.svg"]
    with pytest.raises(ParameterError, match="panel name"):
        nbt.save_panel(fig, "bad name/with slash")
    image = Micrograph(np.arange(64, dtype=np.float32).reshape(8, 8), pixel_size=0.1)
    path = nbt.write_provenance(output, {"seed": 1, "sizes": np.array([2, 3])},
                                inputs={"image": image, "array": np.ones(3), "file": written[0]}, notebook="t")
    record = json.loads(path.read_text())
    assert record["parameters"] == {"seed": 1, "sizes": [2, 3]}
    assert record["panels"] == ["A_panel"] and "step" in record["timings_s"]
    assert record["inputs"]["image"]["kind"] == "micrograph" and record["inputs"]["image"]["shape"] == [8, 8]
    assert record["inputs"]["file"]["kind"] == "file"
    # the same pixels give the same hash, different pixels a different one
    same = nbt.input_digest(Micrograph(image.data.copy(), pixel_size=0.1))["sha256"]
    other = nbt.input_digest(Micrograph(image.data[::-1].copy(), pixel_size=0.1))["sha256"]
    assert same == record["inputs"]["image"]["sha256"] != other


def test_load_sample_sources_and_reference_scores():
    import numpy as np

    from motifkit import notebook_tools as nbt

    with pytest.raises(ParameterError, match="wse2_ti"):
        nbt.load_sample("no_such_preset")
    sim = nbt.load_sample("mose2_with_vacancies", shape=(96, 96), seed=3)
    assert sim.micrograph.shape == (96, 96) and sim.truth is not None
    truth = sim.truth.positions
    types = nbt.reference_types(sim, truth[:20] + 0.3)
    assert (types == sim.truth.context_types[:20].astype(str)).all()
    assert nbt.reference_types(sim, [[-50.0, -50.0]])[0] == ""  # far from every column: unmatched
    labels = np.unique(types, return_inverse=True)[1]
    score = nbt.score_labels(types, labels)
    assert score["ari"] == pytest.approx(1.0) and score["n_matched"] == 20
    real = nbt.load_sample("wse2_ti", crop=(128, 128))
    assert real.micrograph.shape == (128, 128)
    assert (real.reference_positions < 128).all() and set(real.reference_labels) <= {"Se2", "V_Se", "W", "Ti"}


def test_gallery_copies_small_panels_and_lists_missing_ones(report, tmp_path, capsys):
    from PIL import Image

    from motifkit.figures_runner import write_gallery

    written = write_gallery(report.outdir, tmp_path / "gallery", panels=[("good", "A_line"), ("bad", "nothing")],
                            max_width=100)
    assert [p.name for p in written] == ["good__A_line.png"]
    with Image.open(written[0]) as image:
        assert image.width == 100
    assert "bad/nothing" in capsys.readouterr().out


def test_notebooks_run_as_dask_tasks_on_a_local_cluster(notebooks, tmp_path):
    pytest.importorskip("distributed")
    report = run_figures(tmp_path / "dask", quick=True, jobs=2, verbose=False, notebooks_dir=notebooks,
                         timeout=300, scheduler="local")
    by_name = {r.name: r for r in report.results}
    assert by_name["good"].status == "ok" and by_name["bad"].status == "failed"
    assert "deliberate failure" in by_name["bad"].error
    assert (tmp_path / "dask" / "good" / "A_line.png").exists()
    assert (tmp_path / "dask" / "index.html").exists()


def test_scheduler_option_is_parsed():
    parser = argparse.ArgumentParser()
    add_figures_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["figures", "--scheduler", "local", "--jobs", "2"])
    assert args.scheduler == "local" and args.jobs == 2
