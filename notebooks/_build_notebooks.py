"""Write the figure notebooks of ``notebooks/`` (run: ``python notebooks/_build_notebooks.py``).

The notebooks are generated so that they share one layout: a title and explanation, a
cell tagged ``parameters`` (papermill), a set-up cell that creates the output folder,
the work, and a last cell that writes ``provenance.json``. They are written without
outputs (commit-ready). Edit the notebooks here, not in JupyterLab, and re-run this
script; ``tests/test_notebooks.py`` checks that the committed files match it.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str):
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip("\n"))


def parameters(text: str):
    cell = code(text)
    cell.metadata["tags"] = ["parameters"]
    return cell


def setup(name: str, names: list, quick_changes: str = "") -> object:
    """The set-up cell: imports, quick-mode sizes, output folder, parameter record."""
    quick = textwrap.indent(textwrap.dedent(quick_changes).strip("\n"), "    ") if quick_changes.strip() else "    pass"
    return code(
        "import warnings\n\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n\n"
        "import motifkit\n"
        "from motifkit import notebook_tools as nbt\n\n"
        f"NOTEBOOK = {name!r}\n"
        "plt.rcParams.update({\"figure.dpi\": 80, \"svg.hashsalt\": \"motifkit\"})\n"
        "# Columns too close to the image border get no patch: analyze() warns and counts them in\n"
        "# analysis.summary[\"n_columns_at_border\"]; the warning is silenced to keep the document short.\n"
        "warnings.filterwarnings(\"ignore\", message=\".*image border.*\", category=UserWarning)\n"
        "if quick:  # small inputs so that the notebook runs in seconds (CI)\n"
        f"{quick}\n"
        f"parameters = {{name: globals()[name] for name in {names!r}}}\n"
        "output = nbt.prepare_output(output_dir)\n"
        "print(f\"motifkit {motifkit.__version__}; panels go to {output.resolve()}\")\n"
        "parameters"
    )


def provenance(inputs: str, extra: str = "None"):
    return code(
        f"path = nbt.write_provenance(output, parameters, inputs={inputs}, notebook=NOTEBOOK, extra={extra})\n"
        "print(\"wrote\", path, \"and\", \", \".join(nbt.saved_panels()))"
    )


def load_cell(extra_options: str = "") -> object:
    return code(
        f"""
        preset_options = {{{extra_options}}} if sample in motifkit.data.PRESETS else {{}}
        with nbt.timed("load image"):
            source = nbt.load_sample(sample, shape=(image_size, image_size), seed=seed,
                                     crop=(image_size, image_size), **preset_options)
        micrograph = source.micrograph
        print(source.description)
        micrograph
        """
    )


NOTEBOOKS: dict = {}

# ----------------------------------------------------------------------------- Fig. 1
NOTEBOOKS["fig1_workflow"] = [
    md("""
    # Fig. 1 — from a micrograph to motifs: the whole workflow

    This notebook walks through every step of the motif analysis on one image of a
    monolayer transition-metal dichalcogenide (by default a simulated MoSe2 lattice with Se
    vacancies, the kind of sample the paper starts from):

    * **A** the micrograph; **B** a square patch cut around every atom column;
    * **C** each patch summarised by its Zernike moments, either keeping the orientation
      (*rotinv off*, 66 numbers for order 10) or only rotation-invariant magnitudes
      (*rotinv on*, 36 numbers);
    * **D, E** the first two principal components of those features: the classes overlap;
    * **F, G** the two-stage force-relaxed (FR) layout of the same features: separated islands,
      one per structural motif, which a density clustering labels;
    * **H** the motif class averages (mean patch of each island);
    * **I** the image rebuilt by pasting each column's class average at its position.

    Turning rotation invariance on merges motifs that differ only by orientation (e.g. the
    two mirror-related metal sites), which is why F shows more islands than G.
    """),
    parameters("""
    # Parameters (papermill: -p sample wse2_ti -p quick True ...)
    sample = "mose2_with_vacancies"  # "wse2_ti" (bundled real image), a preset of motifkit.data.PRESETS, or a file path
    seed = 0  # random seed of the simulation and of every random step of the analysis
    image_size = 512  # px; side of the simulated image (or of the crop of a real one)
    dose = 3e4  # electrons per square angstrom for simulated presets (None: noise-free)
    n_max = 10  # highest Zernike order
    quick = False  # True: small image for CI
    output_dir = "fig1_workflow_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("fig1_workflow.ipynb", ["sample", "seed", "image_size", "dose", "n_max", "quick"], "image_size = min(image_size, 256)"),
    load_cell('"dose": dose'),
    md("""
    ## A — the micrograph
    """),
    code("""
    fig, ax = plt.subplots(figsize=(5, 5))
    motifkit.figures.plot_columns(ax, micrograph, np.zeros((0, 2)), title="A  micrograph")
    nbt.save_panel(fig, "A_micrograph")
    """),
    md("""
    ## Analysis with and without rotation invariance

    `motifkit.analyze` finds the columns, cuts patches (side from the lattice spacing), computes
    the Zernike features, the FR layout, the motif labels, the class averages and the
    reconstruction. The second run reuses the same columns and patch size and changes only
    the features, so the two can be compared column by column.
    """),
    code("""
    with nbt.timed("analysis, rotinv off"):
        oriented = motifkit.analyze(micrograph, n_max=n_max, rotation_invariant=False, random_state=seed, verbose=False)
    with nbt.timed("analysis, rotinv on"):
        invariant = motifkit.analyze(micrograph, n_max=n_max, rotation_invariant=True,
                                     positions=oriented.positions, patch_size=oriented.parameters["patch_size"],
                                     random_state=seed, verbose=False)
    reference = nbt.reference_types(source, oriented.positions)
    scores = {"rotinv off": nbt.score_labels(reference, oriented.labels),
              "rotinv on": nbt.score_labels(reference, invariant.labels)}
    print(oriented)
    print("columns at the border (not analysed):", oriented.summary["n_columns_at_border"])
    print("agreement with the reference labels (ARI):", scores)
    """),
    md("""
    ## B — atom-centred patches

    Every column gets a patch of the same size centred on its sub-pixel position. A random
    sample is outlined on the image and shown on the right.
    """),
    code("""
    from matplotlib.patches import Rectangle

    size = oriented.parameters["patch_size"]
    pick = np.random.default_rng(seed).choice(oriented.n_columns, size=min(16, oriented.n_columns), replace=False)
    fig = plt.figure(figsize=(10, 5), constrained_layout=True)
    grid = fig.add_gridspec(4, 8)
    ax = fig.add_subplot(grid[:, :4])
    ax.imshow(micrograph.data, cmap="gray")
    for i in pick:
        x, y = oriented.positions[i]
        ax.add_patch(Rectangle((x - size / 2, y - size / 2), size, size, fill=False, color="tab:orange", lw=1))
    ax.set_title(f"B  {oriented.n_columns} patches of {size} x {size} px (16 outlined)")
    ax.set_axis_off()
    for k, i in enumerate(pick):
        sub = fig.add_subplot(grid[k // 4, 4 + k % 4])
        sub.imshow(oriented.patches[i], cmap="gray")
        sub.set_axis_off()
    nbt.save_panel(fig, "B_patches")
    """),
    md("""
    ## C — Zernike features

    The moments of one column from each of the three most common motifs. With rotation
    invariance off the moments with m ≠ 0 come in cosine/sine pairs whose balance encodes the
    orientation; with it on each pair is replaced by its magnitude.
    """),
    code("""
    fig, axes = plt.subplots(2, 1, figsize=(10, 5), constrained_layout=True)
    for ax, result, name in [(axes[0], oriented, "rotinv off"), (axes[1], invariant, "rotinv on")]:
        n_features = result.features.shape[1]
        for k in range(min(3, oriented.n_motifs)):
            column = int(np.flatnonzero(oriented.labels == k)[0])
            ax.vlines(np.arange(n_features) + 0.27 * (k - 1), 0, result.features[column], linewidth=2.5,
                      color=motifkit.figures.motif_colors(oriented.n_motifs)[k], label=f"a column of motif {k}")
        ax.axhline(0, color="0.5", lw=0.5)
        ax.set_xlim(-1, n_features)
        ax.set_xlabel("feature index j")
        ax.set_ylabel("moment (a.u.)")
        ax.set_title(f"C  Zernike features, {name} ({n_features} per column)")
        ax.legend(fontsize=7)
    nbt.save_panel(fig, "C_zernike_features")
    """),
    md("""
    ## D, E — principal components of the features

    A linear projection keeps the overall variance but not the neighbourhoods: the motifs
    overlap (colours are the FR motif labels of F and G).
    """),
    code("""
    from motifkit.layout import PCALayout

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
    for ax, result, title in [(axes[0], oriented, "D  PCA, rotinv off"), (axes[1], invariant, "E  PCA, rotinv on")]:
        projection = PCALayout(metric="euclidean").fit_transform(result.features)
        colours = motifkit.figures.motif_colors(result.n_motifs)[result.labels]
        ax.scatter(projection[:, 0], projection[:, 1], s=3, c=colours, linewidths=0, rasterized=True)
        ax.set_title(title)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    nbt.save_panel(fig, "D_E_pca")
    """),
    md("""
    ## F, G — force-relaxed layouts

    The FR layout starts from the PCA projection and moves points with attractive forces
    along the k-nearest-neighbour graph of the features and repulsive forces between random
    pairs: first a repulsion-dominated stage that spreads the classes apart, then an
    attraction-dominated stage that contracts each class into a tight island.
    """),
    code("""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), constrained_layout=True)
    motifkit.figures.plot_layout(axes[0], oriented.layout, oriented.labels,
                                 title=f"F  FR layout, rotinv off: {oriented.n_motifs} motifs")
    motifkit.figures.plot_layout(axes[1], invariant.layout, invariant.labels,
                                 title=f"G  FR layout, rotinv on: {invariant.n_motifs} motifs")
    nbt.save_panel(fig, "F_G_fr_layouts")
    """),
    md("""
    ## H — the motifs

    Class average of each island of F, titled with its size; when the image has a reference
    (simulation truth or the authors' labels) the most common reference type of the motif is
    added.
    """),
    code("""
    k = oriented.n_motifs
    ncols = min(k, 6)
    nrows = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.8 * ncols, 2.1 * nrows), squeeze=False, constrained_layout=True)
    motifkit.figures.plot_class_averages(axes.ravel(), oriented.class_averages, oriented.motif_counts)
    if reference is not None:
        for m, ax in zip(range(k), axes.ravel()):
            types, counts = np.unique(reference[(oriented.labels == m) & (reference != "")], return_counts=True)
            if len(types):
                ax.set_xlabel(types[counts.argmax()], fontsize=7)
                ax.xaxis.label.set_visible(True)
                ax.set_axis_on(); ax.set_xticks([]); ax.set_yticks([])
    fig.suptitle("H  motif class averages (rotinv off)")
    nbt.save_panel(fig, "H_motifs")
    """),
    md("""
    ## I — reconstruction from the motifs

    Each analysed column is replaced by its motif's class average (blended with a Gaussian
    window where patches overlap). The residual measures how much of the image the motifs
    explain.
    """),
    code("""
    residual = oriented.summary["residual"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), constrained_layout=True)
    axes[0].imshow(micrograph.data, cmap="gray")
    axes[0].set_title("micrograph")
    axes[1].imshow(oriented.reconstruction, cmap="gray")
    axes[1].set_title(f"I  reconstruction (relative RMS residual {residual['relative_rms']:.2f})")
    for ax in axes:
        ax.set_axis_off()
    nbt.save_panel(fig, "I_reconstruction")
    """),
    provenance('{"image": micrograph}',
               '{"n_columns": oriented.n_columns, "n_motifs_rotinv_off": oriented.n_motifs, '
               '"n_motifs_rotinv_on": invariant.n_motifs, "scores": scores, "residual": residual}'),
]

# ----------------------------------------------------------------------------- Fig. 2
NOTEBOOKS["fig2_hierarchy"] = [
    md("""
    # Fig. 2 — motif-cells and their hierarchy

    Motifs describe single columns. To see how defects combine, the labelled columns are
    binned into the cells of the crystal lattice (found from the column positions):

    * **A** the columns coloured by motif;
    * **B** the lattice cells; each cell's *type* is the pattern of motifs on its sites.
      Cells of the perfect crystal are drawn faint, the others (defect cells) in colour;
    * **C** the same cells on the integer grid of their lattice indices: adjacent defect
      cells form connected groups, the higher-level *motif-cells*;
    * **D** the hierarchy: motif-cells ordered by the number of cells they contain, counted
      up to the crystal's symmetry, with an edge from each motif-cell to the smaller ones it
      contains.

    By default the bundled real HAADF image of Ti-doped WSe2 is used.
    """),
    parameters("""
    # Parameters (papermill: -p sample mose2_with_vacancies -p quick True ...)
    sample = "wse2_ti"  # "wse2_ti" (bundled real image), a preset of motifkit.data.PRESETS, or a file path
    seed = 0  # random seed of the simulation (presets) and of the analysis
    image_size = 512  # px; crop of the real image, or side of a simulated one
    dose = 3e4  # electrons per square angstrom for simulated presets (None: noise-free)
    neighbourhood = "lattice"  # cell adjacency for grouping: "lattice", "von_neumann" or "moore"
    quick = False  # True: small image for CI
    output_dir = "fig2_hierarchy_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("fig2_hierarchy.ipynb", ["sample", "seed", "image_size", "dose", "neighbourhood", "quick"],
          "image_size = min(image_size, 256)"),
    load_cell('"dose": dose'),
    code("""
    with nbt.timed("analysis"):
        analysis = motifkit.analyze(micrograph, random_state=seed, verbose=False)
    with nbt.timed("hierarchy"):
        hierarchy = motifkit.build_hierarchy(analysis, neighbourhood=neighbourhood, random_state=seed)
    print(analysis)
    print(hierarchy)
    print("cells:", hierarchy.summary)
    """),
    md("""
    ## A — motifs at their positions
    """),
    code("""
    fig, ax = plt.subplots(figsize=(6, 6))
    motifkit.figures.plot_columns(ax, micrograph, analysis.positions, analysis.labels, size=5,
                                  title=f"A  {analysis.n_columns} columns, {analysis.n_motifs} motifs")
    nbt.save_panel(fig, "A_motifs")
    """),
    md("""
    ## B, C — motif-cells in the image and on the index grid

    On a lattice, every complete cell is drawn as its parallelogram (B) and as a square at its
    integer indices (i, j) (C). With no usable lattice (several domains, amorphous regions) the
    hierarchy falls back to Voronoi cells around the columns; then B and C show the cell
    centres instead.
    """),
    code("""
    from matplotlib.collections import PolyCollection

    cells = hierarchy.cells
    fig_b, ax_b = plt.subplots(figsize=(6, 6))
    fig_c, ax_c = plt.subplots(figsize=(6, 6))
    ax_b.imshow(micrograph.data, cmap="gray")
    if hierarchy.mode == "lattice":
        dominant = cells.is_dominant
        defect_types = [t for t in range(len(cells.type_counts)) if t not in set(cells.dominant.tolist())]
        palette = motifkit.figures.motif_colors(max(len(defect_types), 1))
        colour_of = {t: palette[k] for k, t in enumerate(defect_types)}
        corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
        polygons = [hierarchy.lattice.to_pixels(cell + corners) for cell in cells.cells.astype(float)]
        faces = [(0, 0, 0, 0) if dominant[c] else colour_of[cells.cell_type[c]] for c in range(cells.n_cells)]
        edges = [(1, 1, 1, 0.25) if dominant[c] else colour_of[cells.cell_type[c]] for c in range(cells.n_cells)]
        ax_b.add_collection(PolyCollection(polygons, facecolors=[(*f[:3], 0.35 * f[3]) for f in faces],
                                           edgecolors=edges, linewidths=0.6))
        ax_b.set_title(f"B  {cells.n_cells} lattice cells, {len(cells.type_counts)} types "
                       f"({len(defect_types)} non-crystal)")
        ax_c.scatter(cells.cells[dominant, 0], cells.cells[dominant, 1], marker="s", s=6, color="0.85")
        for t in defect_types:
            m = cells.cell_type == t
            ax_c.scatter(cells.cells[m, 0], cells.cells[m, 1], marker="s", s=14, color=colour_of[t],
                         label=f"type {t} ({int(m.sum())})")
        ax_c.set_xlabel("cell index i")
        ax_c.set_ylabel("cell index j")
        ax_c.set_aspect("equal")
        if defect_types:
            ax_c.legend(fontsize=7, loc="upper right")
        ax_c.set_title("C  cells on the grid of their lattice indices")
    else:
        print("No lattice fits this image: the hierarchy uses Voronoi cells; B and C show cell centres.")
        node = hierarchy.column_node
        ax_b.scatter(analysis.positions[node >= 0, 0], analysis.positions[node >= 0, 1], s=8, c=node[node >= 0], cmap="tab20")
        ax_b.set_title("B  columns in non-crystal Voronoi cells (colour: motif-cell)")
        ax_c.scatter(analysis.positions[:, 0], analysis.positions[:, 1], s=3, c=np.where(node >= 0, 1, 0), cmap="coolwarm")
        ax_c.invert_yaxis()
        ax_c.set_title("C  Voronoi mode: no index grid")
    ax_b.set_axis_off()
    nbt.save_panel(fig_b, "B_motif_cells")
    nbt.save_panel(fig_c, "C_index_grid")
    """),
    md("""
    ## D — the hierarchy of motif-cells

    Level = number of cells in the motif-cell; node size grows with its count (in parentheses).
    """),
    code("""
    ax = hierarchy.draw(max_nodes_per_level=8)
    ax.set_title("D  " + ax.get_title())
    nbt.save_panel(ax.figure, "D_hierarchy")
    for row in hierarchy.entropy_table():
        print(row)
    """),
    provenance('{"image": micrograph}',
               '{"hierarchy": repr(hierarchy), "mode": hierarchy.mode, "entropy": hierarchy.entropy_table()}'),
]

# ----------------------------------------------------------------------------- Fig. 3
NOTEBOOKS["fig3_dopants"] = [
    md("""
    # Fig. 3 — dopants and vacancies in a doped WS2 monolayer

    A monolayer of WS2 with Fe substituting W, Te substituting S, and S vacancies (a
    simulated analogue of the paper's quaternary alloy). With rotation invariance off, the FR
    layout of the Zernike features separates metal-centred and chalcogen-centred motifs,
    motifs centred on dopants, and *peripheral* motifs: host columns with a dopant next to
    them. `dopant_analysis` reads the role of each motif from its class average (site,
    centre contrast, contrast of the nearest-neighbour ring), and composes the dopant roles
    into a hierarchy of motif-cells: an Fe column fenced by its chalcogen neighbours, a Te
    column fenced by its metal neighbours.

    Panels: **A** image; **B/C** columns by role; **D** FR layout by role, with the
    rotation-invariant layout beside it; the motifs with their roles; **E** hierarchy of the
    motif-cells around dopants.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "ws2_fe_te"  # a preset of motifkit.data.PRESETS ("ws2_fe_te"), "wse2_ti", or a file path
    seed = 0  # random seed of the simulation and of the analysis
    image_size = 768  # px; side of the simulated image
    dose = 5e4  # electrons per square angstrom (None: noise-free)
    fe_density = 0.01  # fraction of W sites holding Fe
    te_density = 0.02  # fraction of S2 columns holding Te
    vacancy_density = 0.01  # fraction of S2 columns losing one S
    quick = False  # True: small image for CI
    output_dir = "fig3_dopants_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("fig3_dopants.ipynb", ["sample", "seed", "image_size", "dose", "fe_density", "te_density", "vacancy_density", "quick"],
          "image_size = min(image_size, 384)\nfe_density, te_density = max(fe_density, 0.02), max(te_density, 0.04)"),
    code("""
    preset_options = ({"dose": dose, "fe_density": fe_density, "te_density": te_density,
                       "vacancy_density": vacancy_density} if sample == "ws2_fe_te" else
                      {"dose": dose} if sample in motifkit.data.PRESETS else {})
    with nbt.timed("load image"):
        source = nbt.load_sample(sample, shape=(image_size, image_size), seed=seed,
                                 crop=(image_size, image_size), **preset_options)
    micrograph = source.micrograph
    print(source.description)
    fig, ax = plt.subplots(figsize=(6, 6))
    motifkit.figures.plot_columns(ax, micrograph, np.zeros((0, 2)), title="A  micrograph")
    nbt.save_panel(fig, "A_micrograph")
    """),
    code("""
    from motifkit.analyses import dopant_analysis, plot_dopants

    with nbt.timed("analysis, rotinv off"):
        oriented = motifkit.analyze(micrograph, rotation_invariant=False, random_state=seed, verbose=False)
    with nbt.timed("analysis, rotinv on"):
        invariant = motifkit.analyze(micrograph, rotation_invariant=True, positions=oriented.positions,
                                     patch_size=oriented.parameters["patch_size"], random_state=seed, verbose=False)
    with nbt.timed("dopant analysis"):
        dopants = dopant_analysis(oriented)
    print(oriented)
    print("roles:", dopants.role_counts)
    print("composed neighbourhoods:")
    for role, hood in dopants.neighbourhoods.items():
        print(f"  {role}: {hood['count']} isolated occurrences, level {hood['level']}, "
              f"{hood['n_neighbours']} neighbours '{hood['context_role']}'")
    if source.truth is not None:
        types, counts = np.unique(source.truth.column_types, return_counts=True)
        print("simulated columns:", dict(zip(types.tolist(), counts.tolist())))
    """),
    md("""
    ## D — FR layouts coloured by role, and the motifs

    Grey: host metal and chalcogen motifs. The right layout uses rotation-invariant features
    on the same columns (coloured by the same roles): orientation no longer separates
    motifs, while the darker vacancy-centred columns stand apart.
    """),
    code("""
    roles = dopants.roles
    names = list(dopants.role_counts)
    palette = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), constrained_layout=True)
    for ax, layout, title in [(axes[0], oriented.layout, "D  FR layout, rotinv off"),
                              (axes[1], invariant.layout, "D (inset)  FR layout, rotinv on")]:
        for k, role in enumerate(names):
            m = roles == role
            host = " next to " not in role and "(" not in role
            ax.scatter(layout[m, 0], layout[m, 1], s=2 if host else 6, linewidths=0,
                       color="0.7" if host else palette(k % 20), label=f"{role} ({int(m.sum())})", rasterized=True)
        ax.set_aspect("equal")
        ax.set_xticks([]); ax.set_yticks([])
        ax.set_title(title)
    axes[0].legend(fontsize=6, markerscale=3, loc="best")
    nbt.save_panel(fig, "D_layout_roles")

    table = dopants.motif_roles.table
    ncols = min(len(table), 6)
    nrows = int(np.ceil(len(table) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2 * ncols, 2.2 * nrows), squeeze=False, constrained_layout=True)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, row in zip(axes.ravel(), table):
        ax.imshow(oriented.class_averages[row["label"]], cmap="gray")
        ax.set_title(f"{row['role']}\\n{row['count']} cols", fontsize=7)
    fig.suptitle("motifs (class averages, rotinv off) and the role read from each")
    nbt.save_panel(fig, "D_motifs")
    """),
    md("""
    ## B, C, E — roles in the image and the hierarchy around dopants
    """),
    code("""
    fig = plot_dopants(dopants, micrograph, max_nodes_per_level=6)
    fig.axes[0].set_title("B, C  columns by motif role")
    fig.axes[1].set_title("E  " + fig.axes[1].get_title())
    nbt.save_panel(fig, "B_C_E_roles_hierarchy")
    """),
    provenance('{"image": micrograph}',
               '{"roles": dopants.role_counts, "neighbourhoods": dopants.neighbourhoods, '
               '"n_motifs": oriented.n_motifs, "summary": dopants.summary}'),
]

# ----------------------------------------------------------------------------- Fig. 4
NOTEBOOKS["fig4_polyoxometalate"] = [
    md("""
    # Fig. 4 — pentagonal motifs of a polyoxometalate and their squares

    The oxide of the paper is built from pentagonal units whose centre column is empty,
    partly filled or filled; the units have no long-range order. Here a simulated analogue
    (units on a Cairo pentagonal tiling, with planted occupancies whose neighbouring squares
    are correlated) is analysed from the pixels:

    * **A** the image; **B, C** the FR layout of the Zernike features at the unit centres and
      the three motifs (empty, partly filled, filled);
    * **D** the image rebuilt from the three motifs;
    * **E** the Voronoi tessellation of the unit centres: a pentagonal tiling;
    * **F** level-2 motifs (squares of four units, corners filled or empty: 16 kinds) and
      level-3 motifs (squares of four level-2 squares), with their configurational entropy
      compared with the uniform case;
    * **G** the reconstruction with an arrow from the centre of every level-2 square to each
      filled corner: the preferred arrangements show up as repeated arrow patterns.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "pentagon_tiling"  # a preset of motifkit.data.PRESETS or a file path
    seed = 1  # random seed of the simulation and of the analysis
    image_size = 1024  # px; side of the simulated image
    dose = 1e4  # electrons per square angstrom (None: noise-free)
    fractions = (0.45, 0.05, 0.5)  # planted fractions of empty, partly filled, filled units
    coupling = -0.8  # square-edge coupling of the occupancies (negative: alternating corners)
    quick = False  # True: small image for CI
    output_dir = "fig4_polyoxometalate_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("fig4_polyoxometalate.ipynb", ["sample", "seed", "image_size", "dose", "fractions", "coupling", "quick"],
          "image_size = min(image_size, 512)"),
    code("""
    from motifkit.analyses import plot_pom, pom_analysis

    preset_options = ({"dose": dose, "fractions": tuple(fractions), "coupling": coupling} if sample == "pentagon_tiling"
                      else {"dose": dose} if sample in motifkit.data.PRESETS else {})
    with nbt.timed("load image"):
        source = nbt.load_sample(sample, shape=(image_size, image_size), seed=seed,
                                 crop=(image_size, image_size), **preset_options)
    micrograph = source.micrograph
    print(source.description)
    with nbt.timed("pentagon analysis"):
        pom = pom_analysis(micrograph, random_state=seed)
    print("units:", len(pom.centres), "abundances:", {k: round(v, 3) for k, v in pom.abundances.items()})
    print("entropy:", pom.entropy)
    fig, ax = plt.subplots(figsize=(6, 6))
    motifkit.figures.plot_columns(ax, micrograph, np.zeros((0, 2)), title="A  micrograph")
    nbt.save_panel(fig, "A_micrograph")
    """),
    md("""
    ## B, C — layout and motifs of the pentagonal units
    """),
    code("""
    state_of = {row["label"]: row["state"] for row in pom.motif_table}
    state_colours = {"empty": "#1f3b73", "partial": "#7fb3e6", "filled": "#f28e2b"}
    analysis = pom.analysis
    fig = plt.figure(figsize=(12, 5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2 + len(pom.motif_table))
    ax = fig.add_subplot(grid[:, :2])
    for label in range(analysis.n_motifs):
        m = analysis.labels == label
        ax.scatter(analysis.layout[m, 0], analysis.layout[m, 1], s=6, linewidths=0,
                   color=state_colours.get(state_of.get(label), "0.5"), label=f"motif {label}: {state_of.get(label)}")
    ax.set_aspect("equal"); ax.set_xticks([]); ax.set_yticks([])
    ax.legend(fontsize=7)
    ax.set_title("B  FR layout of the pentagon features")
    for k, row in enumerate(pom.motif_table):
        sub = fig.add_subplot(grid[0, 2 + k])
        sub.imshow(analysis.class_averages[row["label"]], cmap="gray")
        sub.set_title(f"{row['state']}\\n{row['count']} units", fontsize=8, color=state_colours.get(row["state"], "k"))
        sub.set_axis_off()
    fig.suptitle("C  motif class averages")
    nbt.save_panel(fig, "B_C_layout_motifs")

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.5), constrained_layout=True)
    axes[0].imshow(micrograph.data, cmap="gray"); axes[0].set_title("micrograph")
    axes[1].imshow(analysis.reconstruction, cmap="gray")
    axes[1].set_title(f"D  rebuilt from {analysis.n_motifs} motifs")
    for ax in axes:
        ax.set_axis_off()
    nbt.save_panel(fig, "D_reconstruction")
    """),
    md("""
    ## E, F — pentagonal tiling, level-2 and level-3 motifs, entropy
    """),
    code("""
    fig = plot_pom(pom, micrograph)
    for ax, letter in zip(fig.axes, ["E", "F", "F"]):
        ax.set_title(f"{letter}  " + ax.get_title(), fontsize=9)
    nbt.save_panel(fig, "E_F_tiling_levels")

    levels = sorted(pom.entropy)
    fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    width = 0.27
    for k, (key, name) in enumerate([("entropy_bits", "observed"), ("uniform_bits", "uniform"),
                                     ("sample_limit_bits", "sample limit")]):
        ax.bar(np.arange(len(levels)) + (k - 1) * width, [pom.entropy[l][key] for l in levels], width, label=name)
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels([f"level {l}" for l in levels])
    ax.set_ylabel("configurational entropy (bits)")
    ax.set_title("F  entropy of the square motifs")
    ax.legend(fontsize=8)
    nbt.save_panel(fig, "F_entropy")
    """),
    md("""
    ## G — reconstruction with arrows to the filled corners

    Arrows of the most common level-2 configurations (together 80 % of the squares) are
    drawn in red, the others in green.
    """),
    code("""
    level2 = pom.level2
    fig, ax = plt.subplots(figsize=(7, 7), constrained_layout=True)
    ax.imshow(analysis.reconstruction, cmap="gray")
    if level2 is not None and len(level2.squares):
        dominant = {tuple(config) for config, _ in pom.dominant_configurations(level=2, share=0.8)}
        for square, config, centre in zip(level2.squares, level2.configurations, level2.square_centres):
            colour = "tab:red" if tuple(config) in dominant else "tab:green"
            for corner, state in zip(square, config):
                if state == 1:
                    dx, dy = 0.55 * (level2.centres[corner] - centre)
                    ax.arrow(centre[0], centre[1], dx, dy, color=colour, width=0.6, head_width=3.5,
                             length_includes_head=True)
        ax.set_title(f"G  {len(level2.squares)} level-2 squares, arrows to filled corners")
    else:
        ax.set_title("G  no level-2 squares found")
    ax.set_axis_off()
    nbt.save_panel(fig, "G_reconstruction_arrows")
    """),
    provenance('{"image": micrograph}',
               '{"abundances": pom.abundances, "entropy": pom.entropy, "n_units": len(pom.centres), '
               '"summary": pom.summary}'),
]

# ----------------------------------------------------------------------------- Fig. 5
NOTEBOOKS["fig5_twisted_bilayer"] = [
    md("""
    # Fig. 5 — domains of a twisted bilayer from anchor motifs

    In a bilayer twisted by a few degrees the local stacking changes continuously across the
    moiré cell, so the features form a continuum instead of separate motifs. The
    high-symmetry stackings (AA′, AB′, A′B for an antiparallel 2H bilayer) still keep the
    three-fold symmetry of the columns, which the twist breaks in between; they serve as
    *anchors*. `bilayer_analysis` finds them from the symmetry of the Zernike moments,
    colours every column by its feature-space distance to the anchors, assigns domains and
    compares domains through the KL divergence of their per-feature histograms:

    * **A** the image; **B** columns coloured by distance to the three anchors;
    * **C** a layout fixed by the anchors (one per corner); **D** the anchor motifs;
    * **E** the FR layout with rotation invariance off, coloured by domain;
    * **F, G** per-feature histograms of two domains of the same type;
    * **H** KL divergences between all domains (same type: small; different type: large).
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "twisted_bilayer"  # a preset of motifkit.data.PRESETS or a file path
    seed = 0  # random seed of the simulation and of the analysis
    angle = 3.15  # twist angle in degrees (simulation)
    image_size = 768  # px; side of the simulated image
    dose = 2e4  # electrons per square angstrom (None: noise-free)
    quick = False  # True: small image for CI
    output_dir = "fig5_twisted_bilayer_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("fig5_twisted_bilayer.ipynb", ["sample", "seed", "angle", "image_size", "dose", "quick"],
          "image_size = min(image_size, 512)"),
    code("""
    from motifkit.analyses import bilayer_analysis, plot_bilayer

    preset_options = ({"dose": dose, "angle": angle} if sample == "twisted_bilayer"
                      else {"dose": dose} if sample in motifkit.data.PRESETS else {})
    with nbt.timed("load image"):
        source = nbt.load_sample(sample, shape=(image_size, image_size), seed=seed,
                                 crop=(image_size, image_size), **preset_options)
    micrograph = source.micrograph
    print(source.description)
    with nbt.timed("analysis, rotinv on"):
        analysis = motifkit.analyze(micrograph, rotation_invariant=True, random_state=seed, verbose=False)
    with nbt.timed("bilayer analysis"):
        bilayer = bilayer_analysis(analysis)
    print(analysis)
    print("domain method:", bilayer.method, "| anchors:", bilayer.anchor_names)
    print("KL statistics:", bilayer.kl_statistics() if len(bilayer.kl_instances) > 1 else "fewer than two domains")
    fig, ax = plt.subplots(figsize=(6, 6))
    motifkit.figures.plot_columns(ax, micrograph, np.zeros((0, 2)), title="A  micrograph")
    nbt.save_panel(fig, "A_micrograph")
    """),
    md("""
    ## B, C, H — anchor colours, anchor layout, domains and KL matrix
    """),
    code("""
    fig = plot_bilayer(bilayer, micrograph)
    for ax, letter in zip(fig.axes, ["B", "C", "", "H"]):
        ax.set_title(f"{letter}  {ax.get_title()}".strip(), fontsize=9)
    nbt.save_panel(fig, "B_C_H_domains_kl")
    """),
    md("""
    ## D — anchor motifs; E — FR layout with rotation invariance off
    """),
    code("""
    fig, axes = plt.subplots(1, len(bilayer.anchor_names), figsize=(2.6 * len(bilayer.anchor_names), 2.8),
                             constrained_layout=True, squeeze=False)
    for ax, name, columns in zip(axes[0], bilayer.anchor_names, bilayer.anchor_columns):
        ax.imshow(analysis.patches[columns].mean(axis=0), cmap="gray")
        ax.set_title(f"{name}: {len(columns)} columns", fontsize=9)
        ax.set_axis_off()
    fig.suptitle("D  anchor motifs (mean patch)")
    nbt.save_panel(fig, "D_anchor_motifs")

    with nbt.timed("analysis, rotinv off"):
        oriented = motifkit.analyze(micrograph, rotation_invariant=False, positions=analysis.positions,
                                    patch_size=analysis.parameters["patch_size"], random_state=seed, verbose=False)
    fig, ax = plt.subplots(figsize=(5.5, 5), constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    for t, name in enumerate(bilayer.anchor_names):
        m = bilayer.domain == t
        ax.scatter(oriented.layout[m, 0], oriented.layout[m, 1], s=3, color=cmap(t), linewidths=0, label=name, rasterized=True)
    ax.set_aspect("equal"); ax.set_xticks([]); ax.set_yticks([])
    ax.legend(fontsize=8, markerscale=3)
    ax.set_title("E  FR layout, rotinv off, coloured by domain")
    nbt.save_panel(fig, "E_layout_rotinv_off")
    """),
    md("""
    ## F, G — per-feature histograms of two domains of the same type

    One row per Zernike feature, one column per bin (the bins span the 1-99 % range of each
    feature over all columns, as in the KL comparison). Similar pictures mean similar
    domains.
    """),
    code("""
    used = [bilayer.instances[i] for i in bilayer.kl_instances]
    by_type = {}
    for inst in sorted(used, key=lambda d: -d["n_columns"]):
        by_type.setdefault(inst["type"], []).append(inst)
    pair = next((group[:2] for group in by_type.values() if len(group) >= 2), used[:2])
    features = analysis.features
    lo, hi = np.percentile(features, [1, 99], axis=0)
    edges = np.linspace(lo, np.where(hi > lo, hi, lo + 1e-9), 21).T
    fig, axes = plt.subplots(1, max(len(pair), 1), figsize=(5 * max(len(pair), 1), 5), constrained_layout=True, squeeze=False)
    for ax, inst, letter in zip(axes[0], pair, "FG"):
        rows = features[bilayer.instance == inst["id"]]
        image = np.array([np.histogram(np.clip(rows[:, f], edges[f, 0], edges[f, -1]), bins=edges[f])[0]
                          for f in range(features.shape[1])], dtype=float)
        ax.imshow(image / max(len(rows), 1), aspect="auto", cmap="magma")
        ax.set_xlabel("bin"); ax.set_ylabel("feature")
        ax.set_title(f"{letter}  {inst['name']} domain #{inst['id']} ({inst['n_columns']} columns)")
    nbt.save_panel(fig, "F_G_histograms")
    """),
    provenance('{"image": micrograph}',
               '{"method": bilayer.method, "anchors": bilayer.anchor_names, "summary": bilayer.summary, '
               '"kl": bilayer.kl_statistics() if len(bilayer.kl_instances) > 1 else None}'),
]

# ----------------------------------------------------------------------------- S5
NOTEBOOKS["s05_noise_rejection"] = [
    md("""
    # Fig. S5 — Zernike truncation rejects noise

    A patch can be rebuilt from its Zernike moments up to some order n_max. Low orders
    describe the broad shape of the columns, high orders the fine detail — and most of the
    shot noise, which is spread evenly over all spatial frequencies. So rebuilding a *noisy*
    patch from a truncated set of moments gets closer to the *noise-free* patch than the
    noisy patch itself, up to an order beyond which the moments start to fit the noise.

    Here the same simulated structure is imaged without noise and at several electron doses;
    for every order the noisy patches are projected (exact least squares), rebuilt, and
    compared with the noise-free patches inside the Zernike disk.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "mose2_with_vacancies"  # a simulated preset of motifkit.data.PRESETS (needs a noise-free image)
    seed = 0  # random seed of the simulation, the noise and the patch sample
    image_size = 384  # px
    doses = [1e3, 3e3, 1e4, 3e4]  # electrons per square angstrom
    n_max_values = [2, 4, 6, 8, 10, 12, 14, 16]  # Zernike orders tried
    n_patches = 600  # columns sampled
    quick = False  # True: fewer patches and orders for CI
    output_dir = "s05_noise_rejection_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("s05_noise_rejection.ipynb", ["sample", "seed", "image_size", "doses", "n_max_values", "n_patches", "quick"],
          "image_size = min(image_size, 256)\nn_patches = min(n_patches, 200)\nn_max_values = [n for n in n_max_values if n % 4 == 0 or n == 2]"),
    code("""
    from motifkit.simulate import apply_dose

    with nbt.timed("simulate"):
        source = nbt.load_sample(sample, shape=(image_size, image_size), seed=seed, dose=None)
    clean = source.micrograph
    size = motifkit.suggest_patch_size(motifkit.estimate_lattice_spacing(clean))
    rng = np.random.default_rng(seed)
    patch_set = motifkit.extract_patches(clean, source.truth.positions, size)
    chosen = np.sort(rng.choice(len(patch_set.positions), size=min(n_patches, len(patch_set.positions)), replace=False))
    positions = patch_set.positions[chosen]
    clean_patches = patch_set.patches[chosen]
    noisy_patches = {}
    for dose in doses:
        counts, scale = apply_dose(clean.data, dose, clean.pixel_size, random_state=rng)
        noisy_patches[dose] = motifkit.extract_patches(counts / scale, positions, size).patches
    print(f"{len(positions)} patches of {size} x {size} px; pixel size {clean.pixel_size} {clean.unit}")
    """),
    code("""
    from motifkit.errors import ParameterError

    errors = {dose: [] for dose in doses}
    raw = {}
    tried = []
    examples = {}
    with nbt.timed("project and rebuild"):
        for n in n_max_values:
            try:
                # the hard disk edge: an exact round trip, so the error is the noise and the truncation only
                zernike = motifkit.ZernikeFeatures(n_max=n, rotation_invariant=False, projection="lstsq",
                                                   edge_taper=0.0).fit(clean_patches)
            except ParameterError as exc:  # order too high for this patch size
                print(f"n_max={n} skipped: {exc}")
                continue
            tried.append(n)
            disk = zernike.basis_.disk_mask
            signal = np.sqrt(np.mean((clean_patches[:, disk] - clean_patches[:, disk].mean()) ** 2))
            for dose in doses:
                rebuilt = zernike.inverse_transform(zernike.transform(noisy_patches[dose]))
                errors[dose].append(float(np.sqrt(np.mean((rebuilt[:, disk] - clean_patches[:, disk]) ** 2)) / signal))
                raw[dose] = float(np.sqrt(np.mean((noisy_patches[dose][:, disk] - clean_patches[:, disk]) ** 2)) / signal)
                if dose == doses[0]:
                    examples[n] = rebuilt[0]
    best = {dose: tried[int(np.argmin(errors[dose]))] for dose in doses}
    print("best order per dose:", best)
    """),
    code("""
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    for k, dose in enumerate(doses):
        colour = plt.get_cmap("viridis")(k / max(len(doses) - 1, 1))
        ax.plot(tried, errors[dose], "o-", color=colour, label=f"{dose:g} e/Å²")
        ax.axhline(raw[dose], color=colour, ls="--", lw=0.8)
    ax.set_xlabel("highest Zernike order n_max")
    ax.set_ylabel("RMS error vs noise-free patch (relative)")
    ax.set_yscale("log")
    ax.set_title("S5  error of truncated reconstructions (dashed: the noisy patch itself)", fontsize=9)
    ax.legend(fontsize=8)
    nbt.save_panel(fig, "S5_error_vs_order")

    shown = [n for n in tried if n in examples][:: max(1, len(tried) // 4)]
    fig, axes = plt.subplots(1, 2 + len(shown), figsize=(2 * (2 + len(shown)), 2.4), constrained_layout=True)
    axes[0].imshow(clean_patches[0], cmap="gray"); axes[0].set_title("noise-free", fontsize=9)
    axes[1].imshow(noisy_patches[doses[0]][0], cmap="gray"); axes[1].set_title(f"{doses[0]:g} e/Å²", fontsize=9)
    for ax, n in zip(axes[2:], shown):
        ax.imshow(examples[n], cmap="gray"); ax.set_title(f"n_max = {n}", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    nbt.save_panel(fig, "S5_examples")
    """),
    provenance('{"noise_free_image": clean}',
               '{"orders": tried, "relative_rms_error": {str(d): e for d, e in errors.items()}, '
               '"noisy_relative_rms": {str(d): e for d, e in raw.items()}, "best_order": {str(d): n for d, n in best.items()}}'),
]

# ----------------------------------------------------------------------------- S9
NOTEBOOKS["s09_zernike_vs_pca_scaling"] = [
    md("""
    # Fig. S9 — Zernike moments vs PCA: time and memory as the number of patches grows

    Both turn N patches of s × s pixels into a few dozen numbers each. PCA has to learn its
    basis from the data (a decomposition of the s² × s² covariance or of the N × s² data
    matrix); Zernike moments use a fixed basis, so the cost is a single matrix product.
    This notebook times both (scikit-learn's PCA with the full SVD, 66 components; motifkit's
    `ZernikeFeatures` with n_max = 10, 66 real moments), with the same number of threads
    for both, and records the peak memory allocated by Python/NumPy during each
    (`tracemalloc`; memory allocated inside BLAS is not seen), for growing N.

    Timings depend on the machine and on how busy it is; the ratio is what to look at.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "mose2_with_vacancies"  # image the patches are cut from: "wse2_ti", a preset, or a file path
    seed = 0  # random seed of the simulation and of the patch positions
    image_size = 512  # px
    n_values = [1000, 3000, 10000, 30000, 100000]  # numbers of patches
    patch_size = 21  # px
    n_max = 10  # Zernike order: 66 real moments, and as many PCA components
    repeats = 3  # best of this many runs
    threads = 1  # BLAS / Zernike threads for both methods (1: fair and stable on a busy machine)
    quick = False  # True: small N for CI
    output_dir = "s09_zernike_vs_pca_scaling_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("s09_zernike_vs_pca_scaling.ipynb", ["sample", "seed", "image_size", "n_values", "patch_size", "n_max", "repeats", "threads", "quick"],
          "image_size = min(image_size, 256)\nn_values = [n for n in n_values if n <= 3000] or [1000]\nrepeats = 1"),
    load_cell(),
    code("""
    import time
    import tracemalloc

    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    margin = patch_size
    height, width = micrograph.shape
    positions = np.column_stack([rng.uniform(margin, width - margin, max(n_values)),
                                 rng.uniform(margin, height - margin, max(n_values))])
    with nbt.timed("extract patches"):
        all_patches = motifkit.extract_patches(micrograph, positions, patch_size).patches
    n_components = len(motifkit.ZernikeFeatures(n_max=n_max, rotation_invariant=False).fit(all_patches[:2]).feature_indices_)

    def measure(function, data):
        best, peak = np.inf, 0
        for _ in range(repeats):
            tracemalloc.start()
            start = time.perf_counter()
            function(data)
            best = min(best, time.perf_counter() - start)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        return best, peak / 2**20

    zernike = lambda p: motifkit.ZernikeFeatures(n_max=n_max, rotation_invariant=False, n_jobs=threads).fit_transform(p)
    pca = lambda p: PCA(n_components=n_components, svd_solver="full", random_state=seed).fit_transform(p.reshape(len(p), -1))
    with threadpool_limits(limits=threads):
        zernike(all_patches[:100]); pca(all_patches[:100])  # warm-up (compilation, thread pools)
    rows = []
    with nbt.timed("benchmark"), threadpool_limits(limits=threads):
        for n in n_values:
            z_time, z_mem = measure(zernike, all_patches[:n])
            p_time, p_mem = measure(pca, all_patches[:n])
            rows.append({"n": n, "zernike_s": z_time, "pca_s": p_time, "zernike_MiB": z_mem, "pca_MiB": p_mem})
            print(f"N={n:>7}: Zernike {z_time:.4f} s {z_mem:7.1f} MiB | PCA {p_time:.4f} s {p_mem:7.1f} MiB "
                  f"| time ratio {p_time / z_time:.1f}, memory ratio {p_mem / max(z_mem, 1e-9):.1f}")
    """),
    code("""
    n = np.array([r["n"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    axes[0].loglog(n, [r["zernike_s"] for r in rows], "o-", label="Zernike (fixed basis)")
    axes[0].loglog(n, [r["pca_s"] for r in rows], "s-", label="PCA (full SVD)")
    axes[0].set_xlabel("number of patches N"); axes[0].set_ylabel("time (s)")
    axes[0].set_title(f"S9  time, {patch_size} px patches, {n_components} features")
    axes[1].loglog(n, [r["zernike_MiB"] for r in rows], "o-", label="Zernike")
    axes[1].loglog(n, [r["pca_MiB"] for r in rows], "s-", label="PCA")
    axes[1].set_xlabel("number of patches N"); axes[1].set_ylabel("peak traced memory (MiB)")
    axes[1].set_title("S9  memory")
    for ax in axes:
        ax.legend(fontsize=8)
    nbt.save_panel(fig, "S9_time_memory")
    """),
    provenance('{"image": micrograph}', '{"rows": rows}'),
]

# ----------------------------------------------------------------------------- S11
NOTEBOOKS["s11_fr_stages_movie"] = [
    md("""
    # Fig. S11 and movie S1 — the two stages of the force-relaxed layout

    The FR layout moves 2-D points with two kinds of force: an *attraction* along every edge
    of the k-nearest-neighbour graph of the features, `alpha · d / (1 + d^N)`, and a
    *repulsion* between random pairs, `beta · d / (1 + d^M)` (d = distance in the layout).
    The default schedule has two stages: a repulsion-dominated one (N = 0, M = 2) that
    inflates the layout and opens gaps between dissimilar features, then an
    attraction-dominated one (N = 2, M = 4, alpha = 5) that pulls each class into a compact
    island without shrinking the whole layout. The learning rate decays linearly within
    each stage.

    `ForceRelaxedLayout` has no per-epoch callback, so this notebook runs the schedule one
    epoch at a time: each call is a one-epoch, one-stage `ForceRelaxedLayout` started from
    the previous layout with the learning rate the full schedule would use at that epoch
    (the graph is the same exact kNN graph every time; only the random negative samples
    differ from a single call). The snapshots make the GIF.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "mose2_with_vacancies"  # "wse2_ti", a preset of motifkit.data.PRESETS, or a file path
    seed = 0  # random seed of the simulation and of the layout
    image_size = 384  # px
    dose = 3e4  # electrons per square angstrom for simulated presets
    preset = "reference"  # FR stages: "reference" or "paper" (motifkit.layout.FR_PRESETS)
    n_epochs = 100  # epochs over both stages
    frame_every = 1  # epochs per movie frame
    fps = 12  # frames per second of the GIF
    quick = False  # True: small image and fewer epochs for CI
    output_dir = "s11_fr_stages_movie_output"  # panels, movie_S1.gif and provenance.json go here
    """),
    setup("s11_fr_stages_movie.ipynb", ["sample", "seed", "image_size", "dose", "preset", "n_epochs", "frame_every", "fps", "quick"],
          "image_size = min(image_size, 256)\nn_epochs = min(n_epochs, 40)\nframe_every = max(frame_every, 2)"),
    load_cell('"dose": dose'),
    code("""
    from motifkit.layout import FR_PRESETS, ForceRelaxedLayout
    from motifkit.layout.fr import pca_init

    with nbt.timed("analysis"):
        analysis = motifkit.analyze(micrograph, random_state=seed, verbose=False,
                                    layout_options={"preset": preset, "n_epochs": n_epochs, "knn": "exact"})
    features, labels = analysis.features, analysis.labels
    stages = FR_PRESETS[preset]["stages"]
    negatives = FR_PRESETS[preset]["negative_samples"]
    base, extra = divmod(n_epochs, len(stages))
    epochs_per_stage = [base + (1 if i >= len(stages) - extra else 0) for i in range(len(stages))]
    print(analysis)
    print("stages (N, M, alpha, beta):", stages, "epochs per stage:", epochs_per_stage)
    """),
    code("""
    layout = pca_init(features)
    snapshots, spread, stage_of_epoch = [(0, 0, layout.copy())], [float(np.sqrt(np.mean(np.sum((layout - layout.mean(0)) ** 2, 1))))], []
    epoch = 0
    with nbt.timed("stage-by-stage layout"):
        for s, (stage, n_stage) in enumerate(zip(stages, epochs_per_stage)):
            for e in range(n_stage):
                step = ForceRelaxedLayout(stages=[stage], n_epochs=1, negative_samples=negatives,
                                          learning_rate=1.0 - e / n_stage, knn="exact", init=layout,
                                          random_state=seed * 100003 + epoch)
                layout = step.fit_transform(features)
                epoch += 1
                spread.append(float(np.sqrt(np.mean(np.sum((layout - layout.mean(0)) ** 2, 1)))))
                stage_of_epoch.append(s)
                if epoch % frame_every == 0 or e == n_stage - 1:
                    snapshots.append((epoch, s, layout.copy()))
    final_labels = motifkit.MotifLabeler().fit(layout).labels_
    from sklearn.metrics import adjusted_rand_score
    agreement = float(adjusted_rand_score(labels, final_labels))
    print(f"{len(snapshots)} snapshots; labels of the stepped layout vs a single fit: ARI {agreement:.3f}")
    """),
    md("""
    ## S11 — forces, spread and snapshots
    """),
    code("""
    d = np.linspace(0.01, 6, 300)
    fig = plt.figure(figsize=(13, 6.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 5)
    ax = fig.add_subplot(grid[0, :2])
    for s, (n_exp, m_exp, alpha, beta) in enumerate(stages):
        ax.plot(d, alpha * d / (1 + d**n_exp), color=f"C{s}", label=f"stage {s + 1} attraction (N={n_exp:g}, alpha={alpha:g})")
        ax.plot(d, beta * d / (1 + d**m_exp), color=f"C{s}", ls="--", label=f"stage {s + 1} repulsion (M={m_exp:g}, beta={beta:g})")
    ax.set_ylim(0, 6); ax.set_xlabel("distance in the layout"); ax.set_ylabel("force (before clipping)")
    ax.legend(fontsize=7); ax.set_title("S11  forces of the two stages")
    ax = fig.add_subplot(grid[1, :2])
    ax.plot(range(len(spread)), spread, "k-")
    ax.axvline(epochs_per_stage[0], color="0.5", ls=":")
    ax.set_xlabel("epoch"); ax.set_ylabel("RMS radius of the layout"); ax.set_title("global dilation, then no contraction")
    colours = motifkit.figures.motif_colors(int(labels.max()) + 1)[labels]
    picks = [snapshots[0], snapshots[len(snapshots) // 4], next(sn for sn in snapshots if sn[0] >= epochs_per_stage[0]),
             snapshots[(3 * len(snapshots)) // 4], snapshots[-1]]
    for k, (ep, s, Y) in enumerate(picks[:6]):
        sub = fig.add_subplot(grid[k // 3, 2 + k % 3])
        sub.scatter(Y[:, 0], Y[:, 1], s=2, c=colours, linewidths=0, rasterized=True)
        sub.set_title(f"epoch {ep} (stage {s + 1})", fontsize=9)
        sub.set_xticks([]); sub.set_yticks([]); sub.set_aspect("equal")
    nbt.save_panel(fig, "S11_stages")
    """),
    md("""
    ## Movie S1 — the layout evolving (animated GIF)
    """),
    code("""
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    limits = np.max([np.abs(Y).max() for _, _, Y in snapshots]) * 1.05
    dots = ax.scatter(snapshots[0][2][:, 0], snapshots[0][2][:, 1], s=2, c=colours, linewidths=0)
    ax.set_xlim(-limits, limits); ax.set_ylim(-limits, limits); ax.set_xticks([]); ax.set_yticks([])
    title = ax.set_title("")

    def draw(frame):
        ep, s, Y = snapshots[frame]
        dots.set_offsets(Y)
        title.set_text(f"epoch {ep}, stage {s + 1}")
        return dots, title

    movie = output / "movie_S1.gif"
    with nbt.timed("movie"):
        FuncAnimation(fig, draw, frames=len(snapshots), blit=False).save(movie, writer=PillowWriter(fps=fps), dpi=60)
    plt.close(fig)
    print("wrote", movie, f"({movie.stat().st_size / 1024:.0f} KiB, {len(snapshots)} frames)")
    """),
    provenance('{"image": micrograph}',
               '{"stages": stages, "epochs_per_stage": epochs_per_stage, "n_frames": len(snapshots), '
               '"ari_stepped_vs_single_fit": agreement, "movie": movie.name}'),
]

# ----------------------------------------------------------------------------- S13/S14
NOTEBOOKS["s13_s14_fr_vs_tsne_umap"] = [
    md("""
    # Figs. S13 and S14 — FR layout vs t-SNE vs UMAP, balanced and imbalanced classes

    Synthetic feature vectors with known classes (Gaussian clusters in as many dimensions as
    Zernike features) are laid out in 2-D by the FR layout, t-SNE and UMAP, and each layout
    is labelled by the same density clustering (`MotifLabeler`). The adjusted Rand index
    (ARI) of those labels against the true classes scores each method; the neighbour purity
    of the layout itself (how many of a point's 10 nearest layout neighbours share its class,
    averaged per class) scores the layout independently of the clustering:

    * **S13 balanced**: every class has the same size;
    * **S14 imbalanced**: some classes are much rarer — the situation of defects in a crystal,
      where methods that spread the points evenly tend to swallow or split the rare classes.

    UMAP is optional (`umap-learn`); without it that column is left out and said so.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the data and of every layout
    n_samples = 3000  # points per data set
    n_features = 36  # dimensions, as many as rotation-invariant Zernike features of order 10
    n_classes = 6  # classes
    rare_fraction = 0.05  # S14: size of each rare class relative to a common one
    n_rare = 2  # S14: how many classes are rare
    cluster_std = 1.6  # spread of every class (the centres are standard normal)
    metric = "correlation"  # feature distance for all three methods
    methods = ["FR", "t-SNE", "UMAP"]  # layouts compared
    tsne_max_iter = 1000  # t-SNE iterations
    threads = 1  # OpenMP/BLAS threads for every method (same budget for all)
    quick = False  # True: fewer points, shorter t-SNE and no UMAP (its JIT compilation alone takes ~30 s) for CI
    output_dir = "s13_s14_fr_vs_tsne_umap_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("s13_s14_fr_vs_tsne_umap.ipynb", ["seed", "n_samples", "n_features", "n_classes", "rare_fraction", "n_rare",
                                            "cluster_std", "metric", "methods", "tsne_max_iter", "threads", "quick"],
          "n_samples = min(n_samples, 500)\nrare_fraction = max(rare_fraction, 0.1)\ntsne_max_iter = min(tsne_max_iter, 500)\n"
          "methods = [m for m in methods if m != \"UMAP\"]"),
    code("""
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from motifkit.errors import MissingDependencyError
    from motifkit.layout import ForceRelaxedLayout, TSNELayout, UMAPLayout, nearest_neighbors

    centres = np.random.default_rng(seed).standard_normal((n_classes, n_features))

    def dataset(weights):
        sizes = np.floor(np.asarray(weights) / np.sum(weights) * n_samples).astype(int)
        sizes[0] += n_samples - sizes.sum()
        X, y = make_blobs(n_samples=sizes.tolist(), n_features=n_features, centers=centres, cluster_std=cluster_std,
                          shuffle=False, random_state=seed)
        return X, y

    weights_imbalanced = [1.0] * (n_classes - n_rare) + [rare_fraction] * n_rare
    datasets = {"S13 balanced": dataset([1.0] * n_classes), "S14 imbalanced": dataset(weights_imbalanced)}
    factories = {
        "FR": lambda: ForceRelaxedLayout(metric=metric, random_state=seed),
        "t-SNE": lambda: TSNELayout(perplexity=30.0, metric=metric, max_iter=tsne_max_iter, random_state=seed),
        "UMAP": lambda: UMAPLayout(n_neighbors=15, min_dist=0.1, metric=metric, random_state=seed),
    }
    print("compared:", methods, "| left out:", [m for m in factories if m not in methods])

    def layout_purity(Y, y, k=10):
        # fraction of each point's k nearest layout neighbours in its own class, mean over classes
        neighbours = nearest_neighbors(Y, n_neighbors=k + 1, metric="euclidean", method="exact")[0][:, 1:]
        same = (y[neighbours] == y[:, None]).mean(axis=1)
        return float(np.mean([same[y == c].mean() for c in np.unique(y)]))

    layouts, scores, purity, skipped = {}, {}, {}, {}
    for data_name, (X, y) in datasets.items():
        for method in methods:
            try:
                with nbt.timed(f"{method}, {data_name}"), threadpool_limits(limits=threads):
                    Y = factories[method]().fit_transform(X)
            except MissingDependencyError as exc:
                skipped[method] = str(exc)
                continue
            labels = motifkit.MotifLabeler().fit(Y).labels_
            layouts[data_name, method] = Y
            key = f"{data_name} / {method}"
            scores[key] = float(adjusted_rand_score(y, labels))
            purity[key] = layout_purity(Y, y)
            print(f"{data_name:>15} {method:>6}: ARI {scores[key]:.3f} ({len(np.unique(labels))} clusters found for "
                  f"{n_classes} classes), layout neighbour purity {purity[key]:.3f}")
    for method, reason in skipped.items():
        print(f"{method} left out: {reason}")
    """),
    code("""
    shown = [m for m in methods if m not in skipped]
    width = 0.4
    for data_name, (X, y) in datasets.items():
        fig, axes = plt.subplots(1, len(shown) + 1, figsize=(4 * (len(shown) + 1), 4), constrained_layout=True)
        colours = plt.get_cmap("tab10")(y % 10)
        for ax, method in zip(axes, shown):
            Y = layouts[data_name, method]
            ax.scatter(Y[:, 0], Y[:, 1], s=2, c=colours, linewidths=0, rasterized=True)
            ax.set_title(f"{method}: ARI {scores[f'{data_name} / {method}']:.2f}, purity {purity[f'{data_name} / {method}']:.2f}",
                         fontsize=9)
            ax.set_xticks([]); ax.set_yticks([])
        x = np.arange(len(shown))
        axes[-1].bar(x - width / 2, [scores[f"{data_name} / {m}"] for m in shown], width, label="ARI of density labels")
        axes[-1].bar(x + width / 2, [purity[f"{data_name} / {m}"] for m in shown], width, label="10-NN purity in the layout")
        axes[-1].set_xticks(x); axes[-1].set_xticklabels(shown)
        axes[-1].set_ylim(0, 1.05); axes[-1].legend(fontsize=7)
        sizes = np.bincount(y)
        fig.suptitle(f"{data_name}: class sizes {sizes.tolist()} (colours: true classes)")
        nbt.save_panel(fig, data_name.split()[0] + "_" + data_name.split()[1])
    """),
    provenance('{"class_centres": centres}', '{"ari": scores, "layout_purity": purity, "skipped": skipped}'),
]

# ----------------------------------------------------------------------------- S30
NOTEBOOKS["s30_position_perturbation"] = [
    md("""
    # Fig. S30 — robustness to errors in the column positions

    Column finding is never exact. Here every column of a simulated image is displaced by a
    random vector of length up to r pixels before its patch is cut, and two representations
    of the same patches are compared:

    * rotation-invariant **Zernike** features (36 numbers for order 10);
    * **PCA** scores of the raw pixels, with the basis learnt on the undisplaced patches and
      the same number of components.

    Two scores, both against the simulated column types (with their context, e.g. a Mo
    column next to a vacancy):

    * **neighbour purity**: the fraction of each column's 10 nearest neighbours in feature
      space (correlation distance, as in the FR layout's kNN graph) that have its type,
      averaged per type and then over types, so rare defects count as much as the host;
    * **motif labels**: the ARI of the full chain (FR layout + density labels).

    The displacements are drawn once per radius and shared by both representations.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "mose2_with_vacancies"  # a simulated preset of motifkit.data.PRESETS (needs ground truth)
    seed = 0  # random seed of the simulation, the displacements and the layouts
    image_size = 384  # px
    dose = 3e4  # electrons per square angstrom
    radii = [0, 1, 2, 3, 4, 6, 8]  # largest displacement, px
    n_neighbors = 10  # neighbours for the purity score
    quick = False  # True: small image and fewer radii for CI
    output_dir = "s30_position_perturbation_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("s30_position_perturbation.ipynb", ["sample", "seed", "image_size", "dose", "radii", "n_neighbors", "quick"],
          "image_size = min(image_size, 256)\nradii = [r for r in radii if r % 2 == 0]"),
    load_cell('"dose": dose'),
    code("""
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score

    from motifkit.layout import ForceRelaxedLayout, nearest_neighbors

    truth = source.truth
    size = motifkit.suggest_patch_size(motifkit.estimate_lattice_spacing(micrograph))
    margin = size / 2 + max(radii) + 1
    inside = np.all((truth.positions > margin) & (truth.positions < np.array(micrograph.shape[::-1]) - margin), axis=1)
    positions, types = truth.positions[inside], truth.context_types[inside]
    print(f"{len(positions)} columns away from the border (of {len(truth.positions)}); patch {size} px")
    print("types:", dict(zip(*[v.tolist() for v in np.unique(types, return_counts=True)])))
    zernike = motifkit.ZernikeFeatures(n_max=10, rotation_invariant=True)
    reference_patches = motifkit.extract_patches(micrograph, positions, size).patches
    n_components = zernike.fit(reference_patches).feature_indices_.shape[0]
    pca = PCA(n_components=n_components, svd_solver="full", random_state=seed).fit(reference_patches.reshape(len(positions), -1))

    def neighbour_purity(features):
        neighbours = nearest_neighbors(features, n_neighbors=n_neighbors + 1, metric="correlation", method="exact")[0][:, 1:]
        same = (types[neighbours] == types[:, None]).mean(axis=1)
        return float(np.mean([same[types == t].mean() for t in np.unique(types)]))

    rng = np.random.default_rng(seed)
    purity = {"Zernike": [], "PCA": []}
    ari = {"Zernike": [], "PCA": []}
    with nbt.timed("perturbation scan"):
        for r in radii:
            angle, length = rng.uniform(0, 2 * np.pi, len(positions)), r * np.sqrt(rng.uniform(0, 1, len(positions)))
            moved = positions + np.column_stack([np.cos(angle), np.sin(angle)]) * length[:, None]
            patches = motifkit.extract_patches(micrograph, moved, size).patches
            representations = {"Zernike": zernike.transform(patches), "PCA": pca.transform(patches.reshape(len(patches), -1))}
            for name, features in representations.items():
                purity[name].append(neighbour_purity(features))
                layout = ForceRelaxedLayout(random_state=seed).fit_transform(features)
                labels = motifkit.MotifLabeler().fit(layout).labels_
                ari[name].append(float(adjusted_rand_score(types, labels)))
            print(f"r <= {r} px: purity Zernike {purity['Zernike'][-1]:.3f}, PCA {purity['PCA'][-1]:.3f} | "
                  f"ARI Zernike {ari['Zernike'][-1]:.3f}, PCA {ari['PCA'][-1]:.3f}")
    """),
    code("""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, values, label in [(axes[0], purity, f"neighbour purity ({n_neighbors}-NN, mean over types)"),
                              (axes[1], ari, "ARI of motif labels (FR + density)")]:
        ax.plot(radii, values["Zernike"], "o-", label="Zernike (rotation invariant)")
        ax.plot(radii, values["PCA"], "s-", label="PCA of pixels")
        ax.set_xlabel("largest position error (px)")
        ax.set_ylabel(label)
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=8)
    axes[0].set_title(f"S30  feature neighbourhoods ({size} px patches)")
    axes[1].set_title("S30  full motif chain")
    nbt.save_panel(fig, "S30_robustness")
    """),
    provenance('{"image": micrograph}', '{"radii_px": radii, "neighbour_purity": purity, "ari": ari, "patch_size": size}'),
]

# ----------------------------------------------------------------------------- S31
NOTEBOOKS["s31_patch_size"] = [
    md("""
    # Fig. S31 — choosing the patch size from the radial profile

    A patch should span about one repeating unit of the structure: smaller patches miss the
    neighbours that tell motifs apart, larger ones mix in the next shell. The repeat distance
    is read off the angular average of the image autocorrelation (its highest peak beyond
    the central one); the radial distribution of the found columns shows the same shells.
    `motifkit.suggest_patch_size` turns the spacing into an odd side length (1.25 × spacing,
    so the Zernike disk reaches just past the first neighbour shell).

    The last panel runs the motif chain at several patch sizes on the same columns and scores
    the labels against the reference (simulation truth or the authors' labels).
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "mose2_with_vacancies"  # "wse2_ti" (bundled real image), a preset of motifkit.data.PRESETS, or a file path
    seed = 0  # random seed of the simulation and of the analysis
    image_size = 512  # px
    dose = 3e4  # electrons per square angstrom for simulated presets
    scales = [0.6, 0.8, 1.0, 1.25, 1.5, 2.0]  # patch side / lattice spacing tried
    quick = False  # True: small image and fewer sizes for CI
    output_dir = "s31_patch_size_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("s31_patch_size.ipynb", ["sample", "seed", "image_size", "dose", "scales", "quick"],
          "image_size = min(image_size, 256)\nscales = [s for s in scales if s in (0.8, 1.25, 2.0)] or scales[:3]"),
    load_cell('"dose": dose'),
    code("""
    from scipy.spatial import cKDTree

    with nbt.timed("spacing"):
        spacing, profile = motifkit.estimate_lattice_spacing(micrograph, return_profile=True)
    suggested = motifkit.suggest_patch_size(spacing)
    with nbt.timed("columns"):
        columns = motifkit.find_columns(micrograph, verbose=False)
    pairs = cKDTree(columns).query_pairs(3 * spacing, output_type="ndarray")
    distances = np.linalg.norm(columns[pairs[:, 0]] - columns[pairs[:, 1]], axis=1)
    print(f"lattice spacing {spacing:.2f} px -> suggested patch {suggested} px; {len(columns)} columns")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    axes[0].plot(np.arange(len(profile)), profile, "k-")
    axes[0].axvline(spacing, color="tab:red", label=f"spacing {spacing:.1f} px")
    axes[0].axvline(suggested / 2, color="tab:blue", ls="--", label=f"patch radius {suggested / 2:.1f} px")
    axes[0].set_xlim(0, min(len(profile), 4 * spacing)); axes[0].set_xlabel("radius (px)")
    axes[0].set_ylabel("radial autocorrelation"); axes[0].legend(fontsize=8)
    axes[0].set_title("S31  radial profile of the image autocorrelation")
    shells = np.linspace(0, 3 * spacing, 60)
    counts, _ = np.histogram(distances, bins=shells)
    centres = 0.5 * (shells[1:] + shells[:-1])
    axes[1].plot(centres, counts / (2 * np.pi * centres * np.diff(shells)) / max(len(columns), 1), "k-")
    axes[1].axvline(spacing, color="tab:red")
    axes[1].set_xlabel("distance between columns (px)"); axes[1].set_ylabel("pair density (per px²)")
    axes[1].set_title("radial distribution of the found columns")
    nbt.save_panel(fig, "S31_radial_profile")
    """),
    code("""
    rows = []
    with nbt.timed("patch size scan"):
        for scale in scales:
            size = max(5, int(round(scale * spacing)) | 1)
            result = motifkit.analyze(micrograph, positions=columns, patch_size=size, random_state=seed, verbose=False)
            score = nbt.score_labels(nbt.reference_types(source, result.positions), result.labels)
            rows.append({"scale": scale, "patch_size": size, "n_motifs": result.n_motifs, **score})
            print(rows[-1])
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    sizes = [r["patch_size"] for r in rows]
    if all("ari" in r for r in rows):
        ax.plot(sizes, [r["ari"] for r in rows], "o-", label="ARI vs reference")
        ax.set_ylabel("ARI of motif labels")
    else:
        ax.plot(sizes, [r["n_motifs"] for r in rows], "o-", label="motifs found")
        ax.set_ylabel("motifs found (no reference labels)")
    ax.axvline(suggested, color="tab:blue", ls="--", label=f"suggested {suggested} px")
    ax.set_xlabel("patch side (px)")
    ax.set_title("S31  motif labels vs patch size")
    ax.legend(fontsize=8)
    nbt.save_panel(fig, "S31_patch_size_scan")
    """),
    provenance('{"image": micrograph}', '{"spacing_px": spacing, "suggested_patch_px": suggested, "scan": rows}'),
]

# ----------------------------------------------------------------------------- quickstart
NOTEBOOKS["quickstart"] = [
    md("""
    # motifkit quick start

    A five-minute tour: load a micrograph, find its motifs, look at the summary figure and at
    the hierarchy of motif-cells, then open the interactive explorer.

    The bundled sample is a HAADF-STEM image of Ti-doped monolayer WSe2 (with the authors'
    column labels, MIT licence). To use your own file: `micrograph = motifkit.read("image.dm4")`.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    sample = "wse2_ti"  # "wse2_ti" (bundled real image), a preset of motifkit.data.PRESETS, or a file path
    seed = 0  # random seed of the analysis (and of a simulation)
    image_size = 512  # px; crop of the real image or side of a simulated one
    quick = False  # True: a 256 px crop for CI
    output_dir = "quickstart_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("quickstart.ipynb", ["sample", "seed", "image_size", "quick"], "image_size = min(image_size, 256)"),
    md("""
    ## 1. Load the image

    A `Micrograph` holds the pixels (float32) and the calibration.
    """),
    load_cell(),
    md("""
    ## 2. Analyse

    One call runs the chain: columns → patches → Zernike features → force-relaxed layout →
    motif labels → class averages → reconstruction. The result keeps every array, the
    parameters (including automatic choices such as the patch size), timings and provenance,
    and saves to HDF5 with `analysis.save("result.h5")`.
    """),
    code("""
    with nbt.timed("analysis"):
        analysis = motifkit.analyze(micrograph, random_state=seed, verbose=False)
    print(analysis)
    print("columns per motif:", analysis.motif_counts.tolist())
    print("relative residual of the reconstruction:", round(analysis.summary["residual"]["relative_rms"], 3))
    score = nbt.score_labels(nbt.reference_types(source, analysis.positions), analysis.labels)
    if score:
        print("agreement with the reference labels (ARI):", round(score["ari"], 3))
    """),
    md("""
    ## 3. Summary figure

    Columns coloured by motif, the layout, the class averages and the reconstruction.
    """),
    code("""
    fig = motifkit.figures.summary_figure(analysis)
    nbt.save_panel(fig, "summary")
    """),
    md("""
    ## 4. Hierarchy of motif-cells

    Labelled columns are grouped into lattice cells; connected non-crystal cells form
    motif-cells, ordered by size and linked when one contains another.
    """),
    code("""
    with nbt.timed("hierarchy"):
        hierarchy = motifkit.build_hierarchy(analysis, random_state=seed)
    print(hierarchy)
    ax = hierarchy.draw(max_nodes_per_level=8)
    nbt.save_panel(ax.figure, "hierarchy")
    """),
    md("""
    ## 5. Explore interactively

    In JupyterLab, `motifkit.explore(analysis, hierarchy)` opens linked views of the image,
    the layout and the hierarchy: select columns in one and see them in the others, relabel
    a selection as a motif. See `explore.ipynb`.

    ```python
    explorer = motifkit.explore(analysis, hierarchy)
    explorer
    ```
    """),
    provenance('{"image": micrograph}', '{"summary": analysis.summary, "hierarchy": repr(hierarchy), "score": score}'),
]


# ============================================================================= AtomVision
# Notebooks of the AtomVision paper (Choudhary et al. 2022), Figs. 3-9: simulation, t-SNE,
# U-Net segmentation, CNN/GNN classification, image graphs, autoencoder, super-resolution.


def torch_cell() -> object:
    """Limit torch's CPU threads (quick mode: one, so parallel CI runs do not oversubscribe)."""
    return code(
        """
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        torch.manual_seed(seed)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s)")
        """
    )


CONFUSION_HELPER = """
def plot_confusion(ax, matrix, title):
    \"\"\"Row-normalised confusion matrix (rows: true class, columns: predicted) with the counts.\"\"\"
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    fraction = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if fraction[i, j] > 0.5 else "black")
    ticks = range(len(CLASS_NAMES))
    ax.set_xticks(ticks, [f"{k}" for k in ticks])
    ax.set_yticks(ticks, [f"{k} {name}" for k, name in enumerate(CLASS_NAMES)])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
"""

# ----------------------------------------------------------------------------- AV Fig. 3
NOTEBOOKS["av_fig3_stem_simulation"] = [
    md("""
    # AtomVision Fig. 3 — simulated STEM images of graphene, FeTe and MoS2

    AtomVision generates its STEM training images with the *convolution approximation*: an
    annular dark-field image is modelled as a sum of one probe-shaped spot per atom column,
    each weighted by the atomic numbers of its atoms raised to the power 1.7
    (`I(r) = sum_i Z_i^1.7 P(r - r_i)`). Only the projected positions and the elements are
    needed, so any crystal structure becomes an image in milliseconds.

    This notebook builds the three monolayers of the paper's Fig. 3 with ASE (graphene,
    the tetragonal FeTe layer and 2H-MoS2), projects them along the layer normal and draws
    them with `motifkit.simulate.simulate_stem` at the paper's sampling (256 x 256 pixels of
    0.1 Å, about 2.5 nm across). The probe is AtomVision's: a Gaussian of 0.5 Å plus half a
    Lorentzian, normalised to a peak of 1 and cut at 2 Å.

    The last panel checks a detail: in MoS2 each sulfur column holds two S atoms on top of
    each other. Summing both (as here) makes the S2 column twice as bright as a single S;
    the reference AtomVision code counts stacked atoms of one element once
    (`count_stacked_once=True` reproduces it).
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the dose noise (no effect when dose is None)
    image_size = 256  # px; side of every simulated image (the paper: 256)
    pixel_size = 0.1  # Å per pixel (the paper's training images: 0.1)
    probe = "atomvision"  # "atomvision" (Gaussian + Lorentzian tail), "gaussian" or a Gaussian sigma in Å
    dose = None  # electrons per square angstrom (None: noise-free, as in the paper)
    quick = False  # True: smaller images for CI
    output_dir = "av_fig3_stem_simulation_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("av_fig3_stem_simulation.ipynb", ["seed", "image_size", "pixel_size", "probe", "dose", "quick"],
          "image_size = min(image_size, 128)"),
    md("""
    ## Structures

    Graphene and MoS2 come from `ase.build` (lattice constants 2.46 Å and 3.18 Å). FeTe is
    the tetragonal PbO-type layer (a = 3.82 Å): Fe on a square net, Te alternately above
    and below it, so in projection Fe and Te form two interleaved square nets (side 2.70 Å),
    every Fe 1.91 Å from its four Te neighbours.
    `motifkit.simulate.from_ase` groups atoms that share (x, y) into columns.
    """),
    code("""
    import ase
    from ase.build import graphene as ase_graphene, mx2

    from motifkit.simulate import Probe, from_ase, simulate_stem
    from motifkit.simulate.render import as_probe

    fete_a, te_height = 3.82, 1.77  # Å; Te 1.77 Å above/below the Fe plane
    fete = ase.Atoms("Fe2Te2", cell=[fete_a, fete_a, 20.0], pbc=[True, True, False],
                     scaled_positions=[(0, 0, 0.5), (0.5, 0.5, 0.5),
                                       (0, 0.5, 0.5 + te_height / 20.0), (0.5, 0, 0.5 - te_height / 20.0)])
    materials = {
        "graphene": from_ase(ase_graphene(a=2.46), name="graphene"),
        "FeTe": from_ase(fete, name="FeTe"),
        "MoS2": from_ase(mx2("MoS2", kind="2H", a=3.18, thickness=3.19, vacuum=None), name="MoS2"),
    }
    probe_model = as_probe(probe)
    print("probe:", probe_model)
    for name, structure in materials.items():
        print(f"{name}: columns {structure.sites}")
    """),
    md("""
    ## d, h, l — convolution-approximation images

    Same field of view and probe for all three; the grey scale of each image runs from its
    own minimum to maximum. Heavy columns (Te, Mo) dominate; in graphene all columns are
    equal.
    """),
    code("""
    simulated = {}
    with nbt.timed("simulate"):
        for k, (name, structure) in enumerate(materials.items()):
            simulated[name] = simulate_stem(structure, (image_size, image_size), pixel_size, probe=probe_model,
                                            dose=dose, random_state=seed + k, source=f"av_fig3 {name}")
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.3), constrained_layout=True)
    for ax, letter, (name, sim) in zip(axes, "dhl", simulated.items()):
        ax.imshow(sim.image.data, cmap="gray")
        types, counts = np.unique(sim.truth.column_types, return_counts=True)
        ax.set_title(f"{letter}  {name}: " + ", ".join(f"{n} {t}" for t, n in zip(types, counts)), fontsize=9)
        ax.set_axis_off()
        # 5 Å scale bar
        bar = 5.0 / pixel_size
        ax.plot([0.05 * image_size, 0.05 * image_size + bar], [0.93 * image_size] * 2, color="white", lw=3)
        ax.text(0.05 * image_size + bar / 2, 0.9 * image_size, "5 Å", color="white", ha="center", fontsize=8)
    fig.suptitle(f"simulated HAADF-STEM, {image_size} x {image_size} px at {pixel_size} Å/px, probe {probe}")
    nbt.save_panel(fig, "d_h_l_simulated_stem")
    """),
    md("""
    ## Probe and stacked columns

    Left: the probe profile (peak 1) against a plain Gaussian of the same width; the
    Lorentzian tail adds a faint halo around every column. Right: intensity along a line
    through Mo and S2 columns of MoS2, summing both S atoms of a column (physical, default)
    and counting them once (the reference implementation's behaviour). The peak ratio
    S2 / Mo is printed; from the Z^1.7 weights alone it is 2 x 16^1.7 / 42^1.7 = 0.39 when
    summed and half that when counted once (a little more in the image, where the probe
    tails of neighbouring columns add up).
    """),
    code("""
    radius = np.linspace(0, 2.5, 300)
    once = simulate_stem(materials["MoS2"], (image_size, image_size), pixel_size, probe=probe_model,
                         count_stacked_once=True, source="av_fig3 MoS2 (stacked once)")
    summed = simulated["MoS2"] if dose is None else simulate_stem(materials["MoS2"], (image_size, image_size), pixel_size,
                                                                   probe=probe_model, source="av_fig3 MoS2")
    truth = summed.truth
    mo = truth.positions[truth.column_types == "Mo"]
    centre = np.array([(image_size - 1) / 2, (image_size - 1) / 2])
    start = mo[np.argmin(np.linalg.norm(mo - centre, axis=1))]
    # the nearest S2 column from the central Mo, and the line through both, 3 Mo-S spacings long
    s2 = truth.positions[truth.column_types == "S2"]
    direction = s2[np.argmin(np.linalg.norm(s2 - start, axis=1))] - start
    direction /= np.linalg.norm(direction)
    steps = np.linspace(-1.0, 3 * 1.84 / pixel_size, 200)
    line = start[None, :] + steps[:, None] * direction[None, :]

    from scipy import ndimage

    def profile(image):
        return ndimage.map_coordinates(np.asarray(image, float), [line[:, 1], line[:, 0]], order=1)

    def s2_to_mo(image):
        image = np.asarray(image, float)
        peak = lambda p: image[int(round(p[1])), int(round(p[0]))]
        return float(np.mean([peak(p) for p in s2[:20]]) / np.mean([peak(p) for p in mo[:20]]))

    ratios = {"summed": s2_to_mo(summed.noise_free), "counted once": s2_to_mo(once.noise_free)}
    print("S2 / Mo peak ratio:", {k: round(v, 3) for k, v in ratios.items()})
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    axes[0].plot(radius, probe_model.profile(radius), "k-", label=f"probe {probe}")
    axes[0].plot(radius, Probe.gaussian(probe_model.sigma).profile(radius), "--", color="tab:blue",
                 label=f"Gaussian, sigma {probe_model.sigma} Å")
    axes[0].set_xlabel("distance from the column (Å)")
    axes[0].set_ylabel("probe (peak 1)")
    axes[0].legend(fontsize=8)
    axes[0].set_title("probe profile")
    distance = (steps - steps[0]) * pixel_size
    axes[1].plot(distance, profile(summed.noise_free), "k-", label=f"S2 summed (ratio {ratios['summed']:.2f})")
    axes[1].plot(distance, profile(once.noise_free), "--", color="tab:red",
                 label=f"S2 counted once (ratio {ratios['counted once']:.2f})")
    axes[1].set_xlabel("distance along Mo -> S2 (Å)")
    axes[1].set_ylabel("intensity (Z^1.7 units)")
    axes[1].legend(fontsize=8)
    axes[1].set_title("MoS2: Mo and S2 columns")
    nbt.save_panel(fig, "mos2_stacked_columns")
    """),
    provenance('{name: sim.image for name, sim in simulated.items()}',
               '{"s2_to_mo_peak_ratio": ratios, "n_columns": {n: len(s.truth.positions) for n, s in simulated.items()}}'),
]

# ----------------------------------------------------------------------------- AV Fig. 4
NOTEBOOKS["av_fig4_tsne"] = [
    md("""
    # AtomVision Fig. 4 — t-SNE of Bravais-lattice images: pixels vs bond angles

    t-SNE places high-dimensional samples in a plane so that close neighbours stay close.
    Here each sample is a simulated STEM image of a random 2-D lattice from one of the five
    Bravais classes (0 hexagonal, 1 square, 2 rectangular, 3 centred rectangular, 4 oblique;
    `motifkit.learn.make_bravais_dataset`: random cell, basis, rotation, shift, zoom, probe
    and dose; labels from the reduced cell). Two descriptions are embedded:

    * **a** the raw pixels (each standardised image flattened into one vector);
    * **b** a 200-bin histogram of the cosines of all bond angles, bonds being pairs of
      columns closer than 4 Å (the triplet features of AtomVision's graphs). The column
      positions are the centres of the true atom masks.

    The bond-angle histogram does not change when the image is rotated or shifted, the pixels
    do; how well each embedding separates the classes is measured by the leave-one-out
    accuracy of a 10-nearest-neighbour vote in the plane and the silhouette score (chance =
    always guessing the most common class).
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the dataset and of t-SNE
    n_per_class = 200  # images per Bravais class
    image_size = 64  # px per image side (0.3 Å/px)
    cutoff = 4.0  # Å; bond cutoff of the angle histograms (AtomVision: 4)
    bins = 200  # bins of the bond-angle-cosine histogram on [-1, 1] (AtomVision: 200)
    perplexity = 30.0  # t-SNE perplexity
    quick = False  # True: a small dataset for CI
    output_dir = "av_fig4_tsne_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("av_fig4_tsne.ipynb", ["seed", "n_per_class", "image_size", "cutoff", "bins", "perplexity", "quick"],
          "n_per_class = min(n_per_class, 10)\nimage_size = min(image_size, 48)"),
    code("""
    from motifkit.learn import BRAVAIS_CLASS_NAMES as CLASS_NAMES, BravaisDataConfig, make_bravais_dataset
    from motifkit.learn.embedding import dataset_angle_histograms, separation_score, tsne_embedding

    with nbt.timed("dataset"):
        dataset = make_bravais_dataset(n_per_class, BravaisDataConfig(image_size=image_size), random_state=seed)
    with nbt.timed("bond-angle histograms"):
        histograms, n_empty = dataset_angle_histograms(dataset, cutoff=cutoff, bins=bins)
    print(f"{len(dataset)} images ({n_per_class} per class, {image_size} px); "
          f"{n_empty} image(s) without any bond angle (all-zero histogram, kept)")
    features = {"pixels": dataset.images.reshape(len(dataset), -1), "bond angles": histograms}
    embeddings, scores = {}, {}
    for name, x in features.items():
        with nbt.timed(f"t-SNE {name}"):
            embeddings[name] = tsne_embedding(x, perplexity=perplexity, random_state=seed)
        scores[name] = separation_score(embeddings[name], dataset.labels, n_neighbors=10)
        print(f"{name:12s} {x.shape[1]:5d} features: " + ", ".join(f"{k} {v:.3f}" for k, v in scores[name].items()))
    """),
    md("""
    ## a, b — the two embeddings, coloured by class
    """),
    code("""
    colours = plt.get_cmap("tab10")(np.arange(len(CLASS_NAMES)))
    for letter, name in [("a", "pixels"), ("b", "bond angles")]:
        fig, ax = plt.subplots(figsize=(5.2, 4.6), constrained_layout=True)
        for k, cls in enumerate(CLASS_NAMES):
            pts = embeddings[name][dataset.labels == k]
            ax.scatter(pts[:, 0], pts[:, 1], s=10, color=colours[k], label=f"{k} {cls}", linewidths=0)
        s = scores[name]
        ax.set_title(f"{letter}  t-SNE of {name}: 10-NN accuracy {s['knn_accuracy']:.2f} "
                     f"(chance {s['chance']:.2f})", fontsize=9)
        ax.set_xticks([]); ax.set_yticks([])
        ax.legend(fontsize=7, markerscale=1.5)
        nbt.save_panel(fig, f"{letter}_tsne_{name.replace(' ', '_')}")
    """),
    md("""
    ## What the histograms look like

    Mean bond-angle-cosine histogram of each class. Square lattices put their weight at
    cos = 0 and -1 (90° and 180°), hexagonal ones at ±0.5 as well; rectangular, centred and
    oblique cells spread over more angles, which is where the classes overlap.
    """),
    code("""
    centres = np.linspace(-1, 1, bins + 1)
    centres = 0.5 * (centres[1:] + centres[:-1])
    fig, axes = plt.subplots(len(CLASS_NAMES), 1, figsize=(7, 7), sharex=True, constrained_layout=True)
    for k, (ax, cls) in enumerate(zip(axes, CLASS_NAMES)):
        ax.bar(centres, histograms[dataset.labels == k].mean(axis=0), width=2 / bins, color=colours[k])
        ax.set_ylabel(f"{k}", rotation=0, labelpad=10)
        ax.set_yticks([])
        ax.text(0.01, 0.8, cls, transform=ax.transAxes, fontsize=8)
    axes[-1].set_xlabel("cosine of the bond angle")
    axes[0].set_title(f"mean {bins}-bin bond-angle histograms (cutoff {cutoff} Å)")
    nbt.save_panel(fig, "bond_angle_histograms")
    """),
    provenance('{"images": dataset.images, "labels": dataset.labels}',
               '{"separation": scores, "n_images": len(dataset), "n_without_angles": n_empty, '
               '"n_rejected_draws": dataset.n_rejected}'),
]

# ----------------------------------------------------------------------------- AV Fig. 5
NOTEBOOKS["av_fig5_unet_segmentation"] = [
    md("""
    # AtomVision Fig. 5 — U-Net segmentation and atom counting on defective graphene

    A U-Net labels every pixel as *atom* or *background*. Its encoder halves the image
    several times while adding channels, its decoder upsamples back, and skip connections
    hand the fine detail of each encoder level to the decoder, so the output map has the
    input's resolution. The shipped model (`motifkit.learn.load_pretrained("atom_unet")`)
    was trained on simulated random lattices at 0.3 Å/px to predict disks of 0.6 Å around
    each column; any image is resampled to that pixel size first.

    Test image (**a**): graphene at 0.1 Å/px with the AtomVision probe, a few percent of
    the carbon atoms removed (single vacancies) and electron counting noise. The U-Net's
    atom probability (**b**) is thresholded at 0.5 and split into blobs (connected regions,
    touching atoms separated by a watershed); each blob centre is one atom (**c**). The
    count is compared with the simulation's truth in the interior of the image (columns
    within 2 px of the border are left out of both counts, matching detections to columns
    first so that an atom is counted on the same side of the border in both). Last, the
    per-blob intensity statistics (max, min, mean, size) that AtomVision uses as graph node
    features.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the vacancies and of the noise
    image_size = 256  # px
    pixel_size = 0.1  # Å per pixel
    vacancy_density = 0.03  # fraction of carbon atoms removed
    dose = 1e5  # electrons per square angstrom (None: noise-free)
    threshold = 0.5  # atom probability threshold of the blobs
    quick = False  # True: a smaller image for CI
    output_dir = "av_fig5_unet_segmentation_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("av_fig5_unet_segmentation.ipynb",
          ["seed", "image_size", "pixel_size", "vacancy_density", "dose", "threshold", "quick"],
          "image_size = min(image_size, 160)"),
    code("""
    from motifkit.learn import segment_atoms
    from motifkit.learn.data import MIN_COLUMN_SEPARATION, matched_interior_counts

    with nbt.timed("simulate"):
        sim = motifkit.data.graphene(shape=(image_size, image_size), pixel_size=pixel_size,
                                     vacancy_density=vacancy_density, dose=dose, random_state=seed)
    micrograph, truth = sim.image, sim.truth
    atoms = truth.positions[truth.occupied]
    vacancies = truth.positions[~truth.occupied]
    print(micrograph, f"{len(atoms)} C atoms and {len(vacancies)} vacancies in the field of view")
    with nbt.timed("U-Net + blobs"):
        segmentation = segment_atoms(micrograph, threshold=threshold)
    # graphene's C-C distance is 1.42 Å: match within half of it
    counts = matched_interior_counts(segmentation.positions, atoms, micrograph.shape, match_distance=0.71 / pixel_size)
    count_error = abs(counts["n_detected"] - counts["n_true"]) / max(counts["n_true"], 1)
    print("interior counts:", counts, f"relative count error {count_error:.3f}")
    unet_metrics = motifkit.learn.load_pretrained("atom_unet").metrics  # the shipped model's own test scores
    print("shipped U-Net on its synthetic test set:", {k: round(v, 3) for k, v in unet_metrics.items() if isinstance(v, float)})
    """),
    md("""
    ## a, b, c — image, atom probability, blobs

    In **c** the blob centres are blue dots and the true vacancy sites red circles; a correct
    segmentation leaves the vacancies empty.
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), constrained_layout=True)
    axes[0].imshow(micrograph.data, cmap="gray")
    axes[0].set_title(f"a  graphene with {len(vacancies)} vacancies ({pixel_size} Å/px)")
    shown = axes[1].imshow(segmentation.probability, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(shown, ax=axes[1], shrink=0.8, label="atom probability")
    axes[1].set_title("b  U-Net atom probability")
    axes[2].imshow(micrograph.data, cmap="gray")
    axes[2].scatter(segmentation.positions[:, 0], segmentation.positions[:, 1], s=6, color="tab:blue")
    axes[2].scatter(vacancies[:, 0], vacancies[:, 1], s=60, facecolors="none", edgecolors="tab:red", linewidths=1.2)
    axes[2].set_title(f"c  {len(segmentation)} blobs; interior {counts['n_detected']} found vs {counts['n_true']} atoms")
    for ax in axes:
        ax.set_axis_off()
    nbt.save_panel(fig, "a_b_c_segmentation")
    """),
    md("""
    ## Per-blob statistics

    Intensity statistics of the input image inside each blob. Blobs within 1.6 Å of a
    vacancy site are drawn in red: the atoms around a vacancy miss part of their
    neighbours' probe tails, and a small, faint blob on the vacancy itself would be a false
    detection (counted in `n_false` above).
    """),
    code("""
    from scipy.spatial import cKDTree

    stats = segmentation.statistics
    near_vacancy = np.zeros(len(stats), dtype=bool)
    if len(vacancies):
        near_vacancy = cKDTree(vacancies).query(segmentation.positions)[0] < 1.6 / pixel_size
    fig, axes = plt.subplots(1, 4, figsize=(13, 3), constrained_layout=True)
    for ax, k, name in zip(axes, range(4), ["max intensity", "min intensity", "mean intensity", "size (px)"]):
        bins_ = np.histogram_bin_edges(stats[:, k], bins=25)
        ax.hist(stats[~near_vacancy, k], bins=bins_, color="0.5", label="other blobs")
        ax.hist(stats[near_vacancy, k], bins=bins_, color="tab:red", alpha=0.8, label="next to a vacancy")
        ax.set_xlabel(name)
    axes[0].set_ylabel("blobs")
    axes[0].legend(fontsize=7)
    fig.suptitle("blob statistics (AtomVision's graph node features)")
    nbt.save_panel(fig, "blob_statistics")
    """),
    provenance('{"image": micrograph}',
               '{"counts": counts, "relative_count_error": count_error, "n_blobs": len(segmentation), '
               '"n_vacancies": int(len(vacancies)), "unet_test_metrics": unet_metrics}'),
]

# ----------------------------------------------------------------------------- AV Fig. 6
NOTEBOOKS["av_fig6_confusion_matrices"] = [
    md("""
    # AtomVision Fig. 6 — Bravais-lattice classification: CNN and GNN confusion matrices

    Two ways to tell the five 2-D Bravais lattices apart (0 hexagonal, 1 square,
    2 rectangular, 3 centred rectangular, 4 oblique), each scored on held-out synthetic
    images (random cell, basis, rotation, shift, zoom, probe and dose; labels from the
    reduced cell):

    * **a** a DenseNet-style convolutional network. The shipped, pretrained weights are used
      (`load_pretrained("bravais_cnn")`) on test images drawn with the recipe it was trained
      on (image size and pixel size from its checkpoint) but with a different seed.
    * **b** an ALIGNN-style graph network on the atom graph of each image: nodes are the
      atom columns (centres of the true atom disks) with their intensity statistics,
      bonds join neighbouring columns, and the line graph carries the bond angles. The
      shipped weights (`load_pretrained("bravais_gnn")`) are used on fresh images; they
      were trained on graphs whose cutoff reaches just past the second lattice vector
      found in the positions (`cutoff="auto"`, with bond lengths in units of the first
      one) because AtomVision's fixed 4 Å cutoff never bonds along the second lattice
      vector of most rectangular and oblique cells (0.664 instead of 0.926 held-out,
      `benchmarks/RESULTS_learn_extra.md`). Set `gnn_checkpoint = None` to train a
      network with the fixed 4 Å cutoff here instead (in quick mode a tiny model for two
      epochs: its matrix is near chance and only shows that the pipeline runs).

    A confusion matrix counts, for each true class (row), how often each class was
    predicted (column); the colour is the row fraction.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the test images (offset from the CNN's training seed), of the GNN data and training
    n_test_per_class = 200  # held-out CNN test images per class
    gnn_n_per_class = 400  # GNN images per class: all held out for a checkpoint, else split train / validation / test
    gnn_image_size = 64  # px per GNN image side (0.3 Å/px) when training here
    split = [0.65, 0.1, 0.25]  # GNN train, validation, test fractions when training here (the paper: 75 % / 25 %)
    gnn_checkpoint = "bravais_gnn"  # shipped weights, or a checkpoint path; None: train one here (4 Å cutoff)
    gnn_channels = 64  # hidden size of the graph network
    gnn_layers = [3, 2]  # ALIGNN layers, then atom-graph-only layers
    gnn_epochs = 30  # training epochs of the graph network
    threads = 0  # torch CPU threads (0: torch's default)
    quick = False  # True: few images and a tiny GNN for CI
    output_dir = "av_fig6_confusion_matrices_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("av_fig6_confusion_matrices.ipynb",
          ["seed", "n_test_per_class", "gnn_n_per_class", "gnn_image_size", "split", "gnn_checkpoint", "gnn_channels",
           "gnn_layers", "gnn_epochs", "threads", "quick"],
          "n_test_per_class = min(n_test_per_class, 6)\ngnn_n_per_class = min(gnn_n_per_class, 8)\n"
          "gnn_image_size = min(gnn_image_size, 40)\ngnn_channels = min(gnn_channels, 16)\ngnn_layers = [1, 1]\n"
          "gnn_epochs = min(gnn_epochs, 2)\nthreads = threads or 1"),
    torch_cell(),
    md("""
    ## a — CNN (shipped weights)
    """),
    code(CONFUSION_HELPER + "\n" + textwrap.dedent("""
    from motifkit.learn import (BRAVAIS_CLASS_NAMES as CLASS_NAMES, BravaisDataConfig, evaluate_classifier,
                                load_pretrained, make_bravais_dataset)

    cnn = load_pretrained("bravais_cnn")
    # the shipped CNN was trained on seed 0: a distant seed gives images it has never seen
    with nbt.timed("CNN test images"):
        cnn_test = make_bravais_dataset(n_test_per_class, cnn.data_config, random_state=100_003 + seed)
    with nbt.timed("CNN evaluation"):
        cnn_result = evaluate_classifier(cnn, cnn_test)
    print(f"CNN accuracy on {cnn_result['n_test']} held-out images ({cnn.data_config.image_size} px, "
          f"{cnn.data_config.pixel_size} Å/px): {cnn_result['accuracy']:.3f} "
          f"(shipped model's own test accuracy {cnn.metrics.get('accuracy', float('nan')):.3f}; chance 0.2)")
    fig, ax = plt.subplots(figsize=(5.4, 4.4), constrained_layout=True)
    plot_confusion(ax, cnn_result["confusion_matrix"], f"a  DenseNet CNN: accuracy {cnn_result['accuracy']:.2f}")
    nbt.save_panel(fig, "a_cnn_confusion")
    """)),
    md("""
    ## b — graph network on atom graphs
    """),
    code("""
    from motifkit.learn.graph import (ALIGNNClassifier, evaluate_graph_classifier, graphs_from_dataset,
                                      train_graph_classifier)

    history = []
    if gnn_checkpoint:
        gnn = load_pretrained(gnn_checkpoint)
        gnn_cutoff = gnn.metrics.get("cutoff", 4.0)  # how its training graphs were built
        gnn_config = gnn.data_config
        # the shipped GNN was trained on seed 0: a distant seed gives images it has never seen
        with nbt.timed("GNN images"):
            gnn_data = make_bravais_dataset(gnn_n_per_class, gnn_config, random_state=200_003 + seed)
        parts = {"test": gnn_data}
    else:
        gnn_cutoff = 4.0
        gnn_config = BravaisDataConfig(image_size=gnn_image_size, pixel_size=cnn.data_config.pixel_size)
        with nbt.timed("GNN images"):
            gnn_data = make_bravais_dataset(gnn_n_per_class, gnn_config, random_state=200_003 + seed)
        parts = dict(zip(["train", "val", "test"], gnn_data.split(split, random_state=seed)))
    with nbt.timed("graphs"):
        graphs = {name: graphs_from_dataset(part, cutoff=gnn_cutoff, source="masks") for name, part in parts.items()}
    print("GNN images: " + ", ".join(f"{len(part)} {name}" for name, part in parts.items())
          + f"; cutoff {gnn_cutoff!r}; mean nodes / bonds per graph: {np.mean([g.n_nodes for g in graphs['test']]):.1f} / "
          f"{np.mean([g.n_edges for g in graphs['test']]) / 2:.1f}")
    if not gnn_checkpoint:
        with nbt.timed("GNN training"):
            gnn, history = train_graph_classifier(
                graphs["train"], graphs["val"],
                model=ALIGNNClassifier(channels=gnn_channels, alignn_layers=gnn_layers[0], gcn_layers=gnn_layers[1]),
                epochs=gnn_epochs, batch_size=32, lr=2e-3, data_config=gnn_config, random_state=seed, verbose=False)
    gnn_result = evaluate_graph_classifier(gnn, graphs["test"])
    print(f"GNN accuracy on {gnn_result['n_test']} held-out images: {gnn_result['accuracy']:.3f}"
          + (f" after {len(history)} epoch(s) on {len(graphs['train'])} graphs" if history else ""))
    fig, ax = plt.subplots(figsize=(5.4, 4.4), constrained_layout=True)
    plot_confusion(ax, gnn_result["confusion_matrix"], f"b  ALIGNN GNN: accuracy {gnn_result['accuracy']:.2f}")
    nbt.save_panel(fig, "b_gnn_confusion")
    """),
    provenance('{"cnn_test_images": cnn_test.images, "gnn_images": gnn_data.images}',
               '{"cnn": cnn_result, "gnn": gnn_result, "gnn_history": history, "gnn_checkpoint": gnn_checkpoint, '
               '"gnn_cutoff": gnn_cutoff, "gnn_n_train": len(parts["train"]) if "train" in parts else None, '
               '"cnn_shipped_metrics": cnn.metrics}'),
]

# ----------------------------------------------------------------------------- AV Fig. 7
NOTEBOOKS["av_fig7_image_to_graph"] = [
    md("""
    # AtomVision Fig. 7 — from an image to a graph

    To use a graph network on a micrograph, the image is first turned into a graph: the
    U-Net finds the atoms (blobs of its atom probability map), every blob becomes a node
    carrying the blob's maximum, minimum and mean intensity and its size, and two nodes are
    joined when their centres are closer than 4 Å. Bond angles at each node (the line graph)
    complete what the ALIGNN network reads. Nothing about the chemistry is needed.

    Each row shows a simulated lattice of one Bravais class (random cell and basis,
    AtomVision probe, electron noise) and its graph drawn over it: node colour is the blob's
    mean intensity, lines are bonds. The title says how many of the true columns away from
    the image border became a node (and how many nodes match no column), and gives the
    shipped CNN's class for the image.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the lattices and of the noise
    classes = ["hexagonal", "square", "rectangular", "centred_rectangular", "oblique"]  # Bravais classes shown
    image_size = 256  # px
    pixel_size = 0.1  # Å per pixel
    dose = 5e4  # electrons per square angstrom (None: noise-free)
    cutoff = 4.0  # Å; bond cutoff (AtomVision: 4)
    quick = False  # True: three classes and smaller images for CI
    output_dir = "av_fig7_image_to_graph_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("av_fig7_image_to_graph.ipynb", ["seed", "classes", "image_size", "pixel_size", "dose", "cutoff", "quick"],
          "classes = classes[:3]\nimage_size = min(image_size, 192)"),
    code("""
    from motifkit.learn import BRAVAIS_CLASS_NAMES, classify_bravais
    from motifkit.learn.data import MIN_COLUMN_SEPARATION, matched_interior_counts
    from motifkit.learn.graph import image_to_graph

    rows = []
    with nbt.timed("simulate + graphs"):
        for k, name in enumerate(classes):
            sim = motifkit.data.random_bravais(name, shape=(image_size, image_size), pixel_size=pixel_size, dose=dose,
                                               random_state=seed + k)
            graph = image_to_graph(sim.image, cutoff=cutoff)  # nodes from the shipped U-Net's blobs
            predicted, probabilities = classify_bravais(sim.image)
            # nodes vs true columns, away from the border (a node matches a column within half the closest spacing)
            counts = matched_interior_counts(graph.positions, sim.truth.positions, sim.image.shape,
                                             match_distance=0.5 * MIN_COLUMN_SEPARATION / pixel_size)
            rows.append({"class": name, "sim": sim, "graph": graph, "counts": counts,
                         "predicted": BRAVAIS_CLASS_NAMES[predicted], "confidence": float(probabilities[predicted])})
            print(f"{name:20s} {graph.n_nodes:4d} nodes, {graph.n_edges // 2:5d} bonds; interior: {counts}; "
                  f"CNN: {BRAVAIS_CLASS_NAMES[predicted]} ({probabilities[predicted]:.2f})")
    """),
    md("""
    ## Image and graph overlay, one row per class
    """),
    code("""
    from matplotlib.collections import LineCollection

    fig, axes = plt.subplots(len(rows), 2, figsize=(7, 3.6 * len(rows)), squeeze=False, constrained_layout=True)
    for (ax_graph, ax_image), row in zip(axes, rows):
        graph, image = row["graph"], row["sim"].image.data
        ax_image.imshow(image, cmap="gray")
        ax_image.set_title(f"{row['class']} (simulated)", fontsize=9)
        ax_graph.imshow(image, cmap="gray", alpha=0.6)
        src, dst = graph.edge_index
        once = src < dst
        segments = np.stack([graph.positions[src[once]], graph.positions[dst[once]]], axis=1)
        ax_graph.add_collection(LineCollection(segments, colors="tab:orange", linewidths=0.6, alpha=0.8))
        ax_graph.scatter(graph.positions[:, 0], graph.positions[:, 1], s=10, c=graph.node_features[:, 2],
                         cmap="viridis", zorder=3)
        c = row["counts"]
        ax_graph.set_title(f"graph: {graph.n_nodes} nodes, {int(once.sum())} bonds < {cutoff} Å; interior "
                           f"{c['n_true'] - c['n_missed']}/{c['n_true']} columns found, {c['n_false']} false\\n"
                           f"CNN: {row['predicted']} ({row['confidence']:.2f})", fontsize=8)
        for ax in (ax_graph, ax_image):
            ax.set_xlim(-0.5, image.shape[1] - 0.5)
            ax.set_ylim(image.shape[0] - 0.5, -0.5)
            ax.set_axis_off()
    nbt.save_panel(fig, "graph_overlays")
    """),
    provenance('{row["class"]: row["sim"].image for row in rows}',
               '{row["class"]: {"n_nodes": row["graph"].n_nodes, "n_bonds": row["graph"].n_edges // 2, '
               '"interior_counts": row["counts"], "cnn_class": row["predicted"], '
               '"cnn_confidence": row["confidence"]} for row in rows}'),
]

# ----------------------------------------------------------------------------- AV Fig. 8
NOTEBOOKS["av_fig8_autoencoder"] = [
    md("""
    # AtomVision Fig. 8 — autoencoder reconstructions

    An autoencoder squeezes each image through a short vector (the latent code) and learns
    to rebuild the image from it. Ours (`motifkit.learn.autoencoder.ConvAutoencoder`)
    halves the resolution three times with strided convolutions, maps the result to the
    latent vector with one linear layer (AtomVision: 1120 numbers), and mirrors this with
    transposed convolutions; it is trained on mean-squared error with random
    rotations/flips.

    The images are simulated random Bravais lattices. Top row: held-out test images;
    bottom row: their reconstructions. The error is compared with the simplest possible
    "reconstruction", the mean training image: an autoencoder that has learnt anything
    must beat it. In quick mode the model is tiny and trained for a few steps on a few
    images, so the reconstructions stay close to a blurred mean image; full mode trains
    the paper-size latent code on a few thousand images.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the dataset, the split and training
    n_per_class = 400  # images per Bravais class
    image_size = 64  # px (a multiple of 8; 0.3 Å/px)
    latent_size = 1120  # length of the latent code (AtomVision: 1120)
    base_channels = 16  # channels after the first downsampling
    epochs = 20  # training epochs
    batch_size = 32  # images per optimisation step
    threads = 0  # torch CPU threads (0: torch's default)
    quick = False  # True: tiny data and model for CI
    output_dir = "av_fig8_autoencoder_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("av_fig8_autoencoder.ipynb",
          ["seed", "n_per_class", "image_size", "latent_size", "base_channels", "epochs", "batch_size", "threads", "quick"],
          "n_per_class = min(n_per_class, 8)\nimage_size = min(image_size, 32)\nlatent_size = min(latent_size, 64)\n"
          "base_channels = min(base_channels, 8)\nepochs = min(epochs, 4)\nbatch_size = min(batch_size, 8)\n"
          "threads = threads or 1"),
    torch_cell(),
    code("""
    from motifkit.learn import BravaisDataConfig, make_bravais_dataset
    from motifkit.learn.autoencoder import (ConvAutoencoder, mean_image_baseline, reconstruct, reconstruction_error,
                                            train_autoencoder)

    config = BravaisDataConfig(image_size=image_size)
    with nbt.timed("dataset"):
        dataset = make_bravais_dataset(n_per_class, config, random_state=seed)
    train, val, test = dataset.split((0.7, 0.1, 0.2), random_state=seed)
    model = ConvAutoencoder(image_size=image_size, latent_size=latent_size, base_channels=base_channels)
    print(f"{len(train)} train / {len(val)} validation / {len(test)} test images; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, latent {latent_size}")
    with nbt.timed("training"):
        model, history = train_autoencoder(train.images, val.images, model=model, epochs=epochs,
                                           batch_size=batch_size, lr=2e-3, data_config=config, random_state=seed, verbose=False)
    autoencoder = reconstruction_error(model, test.images)
    baseline = mean_image_baseline(train.images, test.images)
    print(f"test MSE: autoencoder {autoencoder['mse']:.3f} vs mean image {baseline['mse']:.3f}; "
          f"PSNR {autoencoder['psnr']:.2f} vs {baseline['psnr']:.2f} dB")
    """),
    md("""
    ## Originals (top) and reconstructions (bottom)
    """),
    code("""
    n_show = min(6, len(test))
    pick = np.random.default_rng(seed).choice(len(test), size=n_show, replace=False)
    rebuilt = reconstruct(model, test.images[pick])
    fig, axes = plt.subplots(2, n_show, figsize=(2 * n_show, 4.3), squeeze=False, constrained_layout=True)
    for j, i in enumerate(pick):
        lo, hi = np.percentile(test.images[i], [1, 99])
        axes[0, j].imshow(test.images[i], cmap="gray", vmin=lo, vmax=hi)
        axes[1, j].imshow(rebuilt[j], cmap="gray", vmin=lo, vmax=hi)
        axes[0, j].set_title(motifkit.learn.BRAVAIS_CLASS_NAMES[test.labels[i]], fontsize=8)
        for ax in axes[:, j]:
            ax.set_axis_off()
    fig.suptitle(f"test images (top) and autoencoder reconstructions (bottom), latent {latent_size}")
    nbt.save_panel(fig, "reconstructions")
    """),
    md("""
    ## Reconstruction error against the mean-image baseline
    """),
    code("""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    names = ["mean training image", "autoencoder"]
    axes[0].bar(names, [baseline["mse"], autoencoder["mse"]], color=["0.6", "tab:blue"])
    axes[0].set_ylabel("test MSE (standardised images)")
    axes[0].set_title(f"PSNR: {baseline['psnr']:.1f} dB vs {autoencoder['psnr']:.1f} dB")
    axes[1].plot([h["epoch"] for h in history], [h["loss"] for h in history], "o-", label="training loss")
    axes[1].plot([h["epoch"] for h in history], [h["val_mse"] for h in history], "s-", label="validation MSE")
    axes[1].axhline(baseline["mse"], color="0.6", ls="--", label="mean-image baseline (test)")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("MSE")
    axes[1].legend(fontsize=8)
    nbt.save_panel(fig, "reconstruction_error")
    """),
    provenance('{"images": dataset.images}',
               '{"autoencoder": autoencoder, "mean_image_baseline": baseline, "history": history, '
               '"n_train": len(train), "n_test": len(test)}'),
]

# ----------------------------------------------------------------------------- AV Fig. 9
NOTEBOOKS["av_fig9_super_resolution"] = [
    md("""
    # AtomVision Fig. 9 — super-resolution of STEM images

    A super-resolution network takes a coarse image and proposes a finer one, four times
    more pixels per side. The shipped generator (`motifkit.learn.srgan`, SRGAN-style:
    residual blocks and two pixel-shuffle x2 stages predicting the correction to bicubic
    upsampling) was first trained on pixel error and then fine-tuned against a
    discriminator, with a content loss on the features of a small fixed random
    convolutional network (no VGG19 weights are available offline).

    Test pairs are made the same way as its training pairs, from simulated random lattices
    never seen in training: the high-resolution truth (**HR**, 0.15 Å/px) is blurred,
    averaged over 4 x 4 pixel blocks and given some Gaussian noise to make the
    low-resolution input (**LR**). Each row shows LR, bicubic upsampling of LR, the
    generator's output (**SR**) and HR, with the peak signal-to-noise ratio of the two
    upsampled images against HR (higher is better). The paper works at 64 -> 256 pixels;
    here 16 -> 64 (the same factor on the generator's training size); the generator is
    fully convolutional, so larger inputs work too.
    """),
    parameters("""
    # Parameters (papermill: -p quick True ...)
    seed = 0  # random seed of the test lattices and of the degradation noise
    n_per_class = 40  # high-resolution test images per Bravais class
    noise_range = [0.0, 0.1]  # std of the noise added to the LR inputs (in image std units), drawn per image
    n_show = 4  # example rows
    threads = 0  # torch CPU threads (0: torch's default)
    quick = False  # True: fewer test images for CI
    output_dir = "av_fig9_super_resolution_output"  # panels (PNG + SVG) and provenance.json go here
    """),
    setup("av_fig9_super_resolution.ipynb", ["seed", "n_per_class", "noise_range", "n_show", "threads", "quick"],
          "n_per_class = min(n_per_class, 3)\nn_show = min(n_show, 3)\nthreads = threads or 1"),
    torch_cell(),
    code("""
    from motifkit.learn import make_bravais_dataset
    from motifkit.learn.srgan import bicubic_upsample, degrade, load_sr_generator, psnr, super_resolve

    generator = load_sr_generator()
    config = generator.data_config  # the recipe of the generator's training images
    with nbt.timed("dataset"):
        high = make_bravais_dataset(n_per_class, config, random_state=100_003 + seed).images  # unseen seed
    low = degrade(high, noise_range=tuple(noise_range), random_state=seed)
    with nbt.timed("super-resolution"):
        bicubic = bicubic_upsample(low)
        sr = np.stack([super_resolve(image, generator) for image in low])
    psnr_bicubic = np.array([psnr(h, b) for h, b in zip(high, bicubic)])
    psnr_sr = np.array([psnr(h, s) for h, s in zip(high, sr)])
    print(f"{len(high)} test images, {low.shape[1]} -> {high.shape[1]} px: mean PSNR bicubic {psnr_bicubic.mean():.2f} dB, "
          f"SR {psnr_sr.mean():.2f} dB (SR better on {np.mean(psnr_sr > psnr_bicubic):.0%} of images)")
    """),
    md("""
    ## LR, bicubic, SR and HR
    """),
    code("""
    pick = np.random.default_rng(seed).choice(len(high), size=min(n_show, len(high)), replace=False)
    fig, axes = plt.subplots(len(pick), 4, figsize=(10, 2.6 * len(pick)), squeeze=False, constrained_layout=True)
    for row, i in zip(axes, pick):
        lo, hi = np.percentile(high[i], [1, 99.5])
        panels = [(low[i], f"LR {low.shape[1]} px"), (bicubic[i], f"bicubic, {psnr_bicubic[i]:.1f} dB"),
                  (sr[i], f"SR, {psnr_sr[i]:.1f} dB"), (high[i], f"HR {high.shape[1]} px")]
        for ax, (image, title) in zip(row, panels):
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
    nbt.save_panel(fig, "a_d_super_resolution")
    """),
    md("""
    ## PSNR of every test image
    """),
    code("""
    fig, ax = plt.subplots(figsize=(4.6, 4.4), constrained_layout=True)
    ax.scatter(psnr_bicubic, psnr_sr, s=12)
    span = [min(psnr_bicubic.min(), psnr_sr.min()) - 1, max(psnr_bicubic.max(), psnr_sr.max()) + 1]
    ax.plot(span, span, "k--", lw=0.8, label="equal")
    ax.set_xlabel("PSNR bicubic (dB)")
    ax.set_ylabel("PSNR SR generator (dB)")
    ax.set_title(f"mean: bicubic {psnr_bicubic.mean():.1f} dB, SR {psnr_sr.mean():.1f} dB")
    ax.legend(fontsize=8)
    nbt.save_panel(fig, "psnr")
    """),
    provenance('{"high_res": high, "low_res": low}',
               '{"psnr_bicubic_mean": float(psnr_bicubic.mean()), "psnr_sr_mean": float(psnr_sr.mean()), '
               '"fraction_sr_better": float(np.mean(psnr_sr > psnr_bicubic)), "n_test": len(high), '
               '"generator_metrics": generator.metrics}'),
]


def build(folder: Path = HERE) -> dict:
    """Write every notebook into ``folder``; returns name -> path."""
    written = {}
    for name, cells in NOTEBOOKS.items():
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = dict(KERNELSPEC)
        notebook.metadata["language_info"] = {"name": "python"}
        notebook.cells = cells
        for k, cell in enumerate(notebook.cells):
            cell["id"] = f"{name[:40]}-{k}"  # stable ids: rebuilding gives identical files
        nbformat.validate(notebook)
        path = folder / f"{name}.ipynb"
        nbformat.write(notebook, path)
        written[name] = path
    return written


if __name__ == "__main__":
    for name, path in build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE).items():
        print("wrote", path)
