"""Every notebook of notebooks/ runs headless in quick mode and writes its panels.

One run of :func:`motifkit.figures_runner.run_figures` (quick mode, two notebooks at a
time) executes all notebooks into ``tmp_path``; each test then checks one notebook's
output folder: the panels listed below as PNG and SVG, and ``provenance.json``.
Notebooks not listed here (added later, e.g. the AtomVision ones) must still run and
write at least one panel and the provenance record.

The committed notebooks must be exactly what ``notebooks/_build_notebooks.py`` writes,
without outputs.
"""

import json
from pathlib import Path

import pytest

pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

from motifkit.figures_runner import list_notebooks, run_figures

pytestmark = pytest.mark.notebooks

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"

# notebook -> panels it must write (PNG + SVG), paper panel letters in the names
EXPECTED_PANELS = {
    "fig1_workflow": ["A_micrograph", "B_patches", "C_zernike_features", "D_E_pca", "F_G_fr_layouts", "H_motifs",
                      "I_reconstruction"],
    "fig2_hierarchy": ["A_motifs", "B_motif_cells", "C_index_grid", "D_hierarchy"],
    "fig3_dopants": ["A_micrograph", "B_C_E_roles_hierarchy", "D_layout_roles", "D_motifs"],
    "fig4_polyoxometalate": ["A_micrograph", "B_C_layout_motifs", "D_reconstruction", "E_F_tiling_levels", "F_entropy",
                             "G_reconstruction_arrows"],
    "fig5_twisted_bilayer": ["A_micrograph", "B_C_H_domains_kl", "D_anchor_motifs", "E_layout_rotinv_off",
                             "F_G_histograms"],
    "s05_noise_rejection": ["S5_error_vs_order", "S5_examples"],
    "s09_zernike_vs_pca_scaling": ["S9_time_memory"],
    "s11_fr_stages_movie": ["S11_stages"],
    "s13_s14_fr_vs_tsne_umap": ["S13_balanced", "S14_imbalanced"],
    "s30_position_perturbation": ["S30_robustness"],
    "s31_patch_size": ["S31_radial_profile", "S31_patch_size_scan"],
    "quickstart": ["summary", "hierarchy"],
    "av_fig3_stem_simulation": ["d_h_l_simulated_stem", "mos2_stacked_columns"],
    "av_fig4_tsne": ["a_tsne_pixels", "b_tsne_bond_angles", "bond_angle_histograms"],
    "av_fig5_unet_segmentation": ["a_b_c_segmentation", "blob_statistics"],
    "av_fig6_confusion_matrices": ["a_cnn_confusion", "b_gnn_confusion"],
    "av_fig7_image_to_graph": ["graph_overlays"],
    "av_fig8_autoencoder": ["reconstructions", "reconstruction_error"],
    "av_fig9_super_resolution": ["a_d_super_resolution", "psnr"],
}
ALL = sorted(list_notebooks(NOTEBOOKS_DIR))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("figures")
    return run_figures(outdir, quick=True, jobs=2, verbose=True, notebooks_dir=NOTEBOOKS_DIR, timeout=600)


def test_every_expected_notebook_exists():
    missing = sorted(set(EXPECTED_PANELS) - set(ALL))
    assert not missing, f"notebooks missing from notebooks/: {missing}"


@pytest.mark.parametrize("name", ALL)
def test_notebook_runs_and_writes_its_panels(report, name):
    result = {r.name: r for r in report.results}[name]
    assert result.status == "ok", f"{name} failed: {result.error}"
    folder = report.outdir / name
    assert (folder / f"{name}.ipynb").exists()
    expected = EXPECTED_PANELS.get(name)
    pngs = {p.stem for p in folder.glob("*.png")}
    if expected is None:
        assert pngs, f"{name} wrote no PNG panel"
    else:
        for panel in expected:
            assert (folder / f"{panel}.png").stat().st_size > 1000, f"{name}: {panel}.png missing or empty"
            assert (folder / f"{panel}.svg").exists(), f"{name}: {panel}.svg missing"
    record = json.loads((folder / "provenance.json").read_text())
    assert record.get("parameters", {}).get("quick") is True
    assert record.get("motifkit_version")
    if expected is not None:
        assert set(expected) <= set(record["panels"])
        assert record["inputs"] and all(v["sha256"] for v in record["inputs"].values())
        assert record["timings_s"] or name == "s13_s14_fr_vs_tsne_umap"


def test_movie_is_an_animated_gif(report):
    from PIL import Image

    movie = report.outdir / "s11_fr_stages_movie" / "movie_S1.gif"
    with Image.open(movie) as gif:
        assert gif.format == "GIF" and gif.n_frames >= 10


def test_index_page_lists_every_notebook(report):
    page = report.index.read_text()
    for name in ALL:
        assert f"{name}/{name}.ipynb" in page
    assert "s11_fr_stages_movie/movie_S1.gif" in page
    assert report.exit_code == 0, report.summary()


@pytest.mark.parametrize("name", sorted(EXPECTED_PANELS))
def test_committed_notebook_matches_generator_and_has_no_outputs(name, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_build_notebooks", NOTEBOOKS_DIR / "_build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = module.build(tmp_path)[name]
    committed = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    assert nbformat.read(fresh, as_version=4) == committed, (
        f"notebooks/{name}.ipynb differs from notebooks/_build_notebooks.py: run the generator"
    )
    tagged = [c for c in committed.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and committed.cells[1] is tagged[0]
    for variable in ("seed", "quick", "output_dir"):
        assert f"\n{variable} = " in "\n" + tagged[0].source
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
