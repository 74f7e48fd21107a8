"""matplotlib figure functions shared by the CLI, the notebooks and the reports."""

from __future__ import annotations

import numpy as np

__all__ = ["motif_colors", "summary_figure", "plot_columns", "plot_layout", "plot_class_averages"]


def motif_colors(n: int) -> np.ndarray:
    """``n`` distinguishable RGBA colours (tab10, then tab20, then a hue wheel)."""
    import matplotlib

    if n <= 10:
        return matplotlib.colormaps["tab10"](np.arange(n))
    if n <= 20:
        return matplotlib.colormaps["tab20"](np.arange(n))
    return matplotlib.colormaps["hsv"](np.linspace(0, 1, n, endpoint=False))


def plot_columns(ax, micrograph, positions, labels=None, *, size=6.0, title="columns by motif"):
    """Show the image with (x, y) column markers coloured by motif."""
    ax.imshow(micrograph.data, cmap="gray", origin="upper")
    if labels is None:
        ax.scatter(positions[:, 0], positions[:, 1], s=size, c="tab:red", linewidths=0)
    else:
        colors = motif_colors(int(labels.max()) + 1)
        ax.scatter(positions[:, 0], positions[:, 1], s=size, c=colors[labels], linewidths=0)
    ax.set_title(title)
    ax.set_axis_off()
    _scale_bar(ax, micrograph)


def plot_layout(ax, layout, labels, *, size=2.0, title="force-relaxed layout"):
    """Scatter the 2-D layout coloured by motif, with the motif number at each centroid."""
    colors = motif_colors(int(labels.max()) + 1)
    ax.scatter(layout[:, 0], layout[:, 1], s=size, c=colors[labels], linewidths=0, rasterized=True)
    for k in range(int(labels.max()) + 1):
        centre = np.median(layout[labels == k], axis=0)
        ax.annotate(str(k), centre, ha="center", va="center", fontsize=8, weight="bold")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_class_averages(axes, averages, counts):
    """One class average per axis, titled with its motif number and column count."""
    colors = motif_colors(len(averages))
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= len(averages):
            continue
        ax.imshow(averages[k], cmap="gray")
        ax.set_title(f"motif {k}\n{counts[k]} cols", fontsize=7, color=colors[k])


def _scale_bar(ax, micrograph):
    if not micrograph.pixel_size:
        return
    width_px = micrograph.shape[1]
    nm_per_px = micrograph.pixel_size_nm
    target = width_px * nm_per_px / 5
    length_nm = float(10 ** np.floor(np.log10(target)))
    for factor in (5, 2):
        if factor * length_nm <= target:
            length_nm *= factor
            break
    length_px = length_nm / nm_per_px
    x0, y0 = 0.05 * width_px, 0.93 * micrograph.shape[0]
    ax.plot([x0, x0 + length_px], [y0, y0], color="white", lw=3)
    ax.text(x0 + length_px / 2, y0 - 0.02 * micrograph.shape[0], f"{length_nm:g} nm", color="white", ha="center", va="bottom", fontsize=8)


def summary_figure(analysis):
    """Four-panel summary of a :class:`motifkit.MotifAnalysis`.

    Panels: the image with motif-coloured columns, the FR layout, the class-average
    gallery and the reconstruction from class averages.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(14, 10), constrained_layout=True)
    grid = fig.add_gridspec(2, 2)
    plot_columns(fig.add_subplot(grid[0, 0]), analysis.micrograph, analysis.positions, analysis.labels)
    plot_layout(fig.add_subplot(grid[0, 1]), analysis.layout, analysis.labels)
    k = analysis.n_motifs
    ncols = int(np.ceil(np.sqrt(max(k, 1))))
    nrows = int(np.ceil(max(k, 1) / ncols))
    gallery = grid[1, 0].subgridspec(nrows, ncols)
    axes = [fig.add_subplot(gallery[i // ncols, i % ncols]) for i in range(nrows * ncols)]
    plot_class_averages(axes, analysis.class_averages, analysis.motif_counts)
    ax = fig.add_subplot(grid[1, 1])
    if analysis.reconstruction is not None:
        ax.imshow(analysis.reconstruction, cmap="gray")
        rel = analysis.summary.get("residual", {}).get("relative_rms", float("nan"))
        ax.set_title(f"reconstruction from class averages (relative residual {rel:.2f})")
    ax.set_axis_off()
    source = analysis.micrograph.source or "array"
    fig.suptitle(f"motifkit: {analysis.n_columns} columns, {analysis.n_motifs} motifs — {source}")
    return fig
