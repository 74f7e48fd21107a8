"""The :class:`Explorer` widget and :func:`explore`.

The explorer shows one :class:`~motifkit.MotifAnalysis` in three linked views (micrograph
with column markers, force-relaxed layout, tree of motifs and motif-cells) plus the class
averages of the motifs and of the current selection. In Jupyter it is a Bokeh document
shown through ``jupyter_bokeh.BokehModel`` (an ipywidget), so the kernel reads and sets
the selection; :meth:`Explorer.save_html` writes the same views as one offline page
whose linking still works, and :meth:`Explorer.snapshot` draws a PNG with matplotlib for
papermill outputs and reports.

All state lives in one :class:`~motifkit.explore.selection.SelectionModel`; the page
and the kernel both report to it and follow it.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from ..errors import MotifkitError, ParameterError, require
from .document import (
    DocumentData,
    ExplorerDocument,
    _edges_data,
    _nodes_data,
    _tiles_layout,
    build_document,
    motif_tiles_data,
    selection_tile_data,
)
from .selection import LabelChange, SelectionChange, SelectionModel
from .views import (
    average_patch,
    column_data,
    display_image,
    image_frame,
    layout_frame,
    marker_radius,
    motif_mix_average,
    motif_palette,
    node_fractions,
    overlay_style,
    rasterize_columns,
    selection_info,
    tile_rgba,
    tree_data,
)

__all__ = ["Explorer", "explore"]

_BOKEHJS_LOADED = False


def _load_bokehjs(force: bool = False) -> None:
    """Put BokehJS into the notebook page, inline (no CDN: works offline)."""
    global _BOKEHJS_LOADED
    if _BOKEHJS_LOADED and not force:
        return
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(resources=INLINE, hide_banner=True)
    _BOKEHJS_LOADED = True


def _check_analysis(analysis) -> None:
    missing = [name for name in ("micrograph", "positions", "layout", "labels", "class_averages")
               if not hasattr(analysis, name)]
    if missing:
        raise ParameterError(
            f"explore() needs a MotifAnalysis (from motifkit.analyze); the object given lacks {missing}."
        )


class Explorer:
    """Linked views of one motif analysis, with selection and manual curation.

    Create it with :func:`explore`. In a notebook, the last expression ``explorer``
    displays it.

    Parameters
    ----------
    analysis : MotifAnalysis
        Result of :func:`motifkit.analyze` (or any object with ``micrograph``,
        ``positions`` (N, 2) (x, y) px, ``layout`` (N, 2), ``labels`` (N,) int >= 0,
        ``class_averages`` (K, s, s) and optionally ``patches`` (N, s, s)).
    hierarchy : "auto", MotifHierarchy or None
        Motif-cells shown in the tree below the motifs. ``"auto"`` builds one with
        :func:`motifkit.build_hierarchy` (skipped with a warning when the columns do
        not allow it); None shows the motifs only.
    label_names : sequence of str, optional
        Name of every motif (default ``"motif k"``).
    max_image_side : int
        Longest side of the displayed micrograph; larger images are block-averaged.
    max_nodes_per_level, max_levels : int
        Size of the tree (see :func:`motifkit.explore.views.tree_data`).
    title : str, optional
        Heading of the page.

    Attributes
    ----------
    model : SelectionModel
        The shared state (selection, labels, undo history).
    hierarchy : MotifHierarchy or None
    """

    def __init__(self, analysis, hierarchy="auto", *, label_names=None, max_image_side: int = 1024,
                 max_nodes_per_level: int = 8, max_levels: int = 6, title: str | None = None):
        _check_analysis(analysis)
        self.analysis = analysis
        self._positions = np.asarray(analysis.positions, dtype=float)
        n = len(self._positions)
        self.model = SelectionModel(n, np.asarray(analysis.labels), label_names)
        self._columns = column_data(self._positions, analysis.layout, self.model.labels)
        averages = np.asarray(analysis.class_averages, dtype=np.float32)
        if averages.ndim != 3 or averages.shape[1] != averages.shape[2]:
            raise ParameterError(f"class_averages must have shape (K, s, s), got {averages.shape}.")
        if len(averages) < self.model.n_motifs:
            raise ParameterError(
                f"{len(averages)} class averages for labels up to {self.model.n_motifs - 1}; give one per motif."
            )
        self._class_averages = averages[: self.model.n_motifs]
        self._patch_size = int(averages.shape[-1])
        self._patches = None
        if getattr(analysis, "patches", None) is not None:
            patches = np.asarray(analysis.patches, dtype=np.float32)
            if patches.shape != (n, self._patch_size, self._patch_size):
                raise ParameterError(
                    f"patches must have shape ({n}, {self._patch_size}, {self._patch_size}), got {patches.shape}."
                )
            self._patches = patches
        self._tree_options = {"max_nodes_per_level": int(max_nodes_per_level), "max_levels": int(max_levels)}
        self.hierarchy = self._resolve_hierarchy(hierarchy)
        self._hierarchy_labels = self.model.labels  # labels the hierarchy was built from
        self._image = display_image(analysis.micrograph, max_side=max_image_side)
        self._radius = marker_radius(self._positions)
        self._title = title or self._default_title()
        self._tree = self._build_tree()
        self._live: ExplorerDocument | None = None
        self._widget = None
        self.model.observe(self._selection_changed, "selection")
        self.model.observe(self._labels_changed, "labels")

    # -- construction helpers -------------------------------------------------------------
    def _default_title(self) -> str:
        micrograph = self.analysis.micrograph
        source = getattr(micrograph, "source", None)
        name = Path(source).name if source else "micrograph"
        height, width = micrograph.data.shape
        return (f"motifkit explorer: {name} ({width} x {height} px), {self.model.n_columns} columns, "
                f"{self.model.n_motifs} motifs")

    def _resolve_hierarchy(self, hierarchy):
        if hierarchy is None:
            return None
        if isinstance(hierarchy, str):
            if hierarchy != "auto":
                raise ParameterError(f"hierarchy must be 'auto', a MotifHierarchy or None, got {hierarchy!r}.")
            from ..hierarchy import build_hierarchy

            try:
                return build_hierarchy(positions=self._positions, labels=self.model.labels)
            except MotifkitError as exc:
                warnings.warn(f"no motif-cell hierarchy for the tree view ({exc}); showing the motifs only.",
                              stacklevel=3)
                return None
        if not hasattr(hierarchy, "graph") or not hasattr(hierarchy, "nodes_at_level"):
            raise ParameterError(
                f"hierarchy must be a MotifHierarchy (from motifkit.build_hierarchy), got {type(hierarchy).__name__}."
            )
        column_node = getattr(hierarchy, "column_node", None)
        if column_node is not None and len(column_node) != self.model.n_columns:
            raise ParameterError(
                f"the hierarchy was built from {len(column_node)} columns but the analysis has "
                f"{self.model.n_columns}; build it from this analysis (motifkit.build_hierarchy(analysis))."
            )
        return hierarchy

    def _palette(self) -> list:
        return motif_palette(self.model.n_motifs)

    def _build_tree(self):
        return tree_data(self.model.labels, self.model.label_names, self._class_averages, self.hierarchy,
                         colours=self._palette(), **self._tree_options)

    # -- selection -------------------------------------------------------------------------
    @property
    def selection(self) -> np.ndarray:
        """Selected column indices (sorted int array); assign indices or a mask to set it."""
        return self.model.selection

    @selection.setter
    def selection(self, indices) -> None:
        self.model.select(indices, source="kernel")

    def select(self, indices, mode: str = "replace") -> bool:
        """Select columns (``mode``: replace, add, subtract, intersect); True if changed."""
        return self.model.select(indices, mode=mode, source="kernel")

    def clear_selection(self) -> bool:
        """Select nothing."""
        return self.model.clear(source="kernel")

    def select_motif(self, name, mode: str = "replace") -> bool:
        """Select every column of a motif (by name or code)."""
        code = self.model.code_of(name)
        if code is None:
            raise ParameterError(f"unknown motif {name!r}; known: {self.model.label_names}.")
        return self.select(np.flatnonzero(self.model.labels == code), mode=mode)

    def select_node(self, node_id, mode: str = "replace") -> bool:
        """Select the member columns of a motif-cell of the hierarchy (node id)."""
        if self.hierarchy is None or node_id not in self.hierarchy.graph:
            raise ParameterError(f"no motif-cell {node_id!r} in the hierarchy (ids: {self.hierarchy and self.hierarchy.nodes}).")
        return self.select(self.hierarchy.graph.nodes[node_id]["columns_flat"], mode=mode)

    def node_fractions(self) -> dict:
        """Fraction of the member columns selected, per tree node key (``"motif:k"``, ``"cell:n"``)."""
        _, fraction = node_fractions(self._tree.members, self.model.selection, self.model.n_columns)
        return dict(zip(self._tree.nodes["key"], fraction.tolist()))

    def overlay_raster(self, view: str, *, x_range=None, y_range=None) -> np.ndarray:
        """The column overlay the page draws for a view, computed in Python.

        Parameters
        ----------
        view : {"image", "layout"}
        x_range, y_range : (float, float), optional
            Visible region (default: the initial, whole view).

        Returns
        -------
        ndarray of uint32, shape (height, width)
            Packed RGBA, identical to the page's (see
            :func:`~motifkit.explore.views.rasterize_columns`).
        """
        if view == "image":
            frame, fields = image_frame(self._image), ("x", "y")
        elif view == "layout":
            frame, fields = layout_frame(self._columns["lx"], self._columns["ly"]), ("lx", "ly")
        else:
            raise ParameterError(f"view must be 'image' or 'layout', got {view!r}.")
        return rasterize_columns(
            self._columns[fields[0]], self._columns[fields[1]], self.model.labels, self._palette(), self.model.mask,
            x_range or frame.x_range, y_range or frame.y_range, frame.width, frame.height,
            **overlay_style(view, self.model.n_columns, self._radius),
        )

    @property
    def tree(self):
        """What the tree view shows (:class:`~motifkit.explore.views.TreeData`)."""
        return self._tree

    # -- labels and curation ---------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray:
        """Current (curated) motif of every column."""
        return self.model.labels

    @property
    def label_names(self) -> list:
        """Name of every motif code."""
        return self.model.label_names

    @property
    def class_averages(self) -> np.ndarray:
        """Class average of every motif code with the current labels, shape (K, s, s)."""
        return self._class_averages.copy()

    def label_selection(self, name, indices=None) -> int:
        """Turn the selection into a motif: a new one, or merged into an existing one.

        Parameters
        ----------
        name : str or int
            A new name creates a motif; an existing name (or code) merges the selected
            columns into it.
        indices : array_like, optional
            Columns to label instead of the current selection.

        Returns
        -------
        int
            The motif code of the labelled columns. Revert with :meth:`undo`.

        Notes
        -----
        The motif row of the tree and the class averages follow at once; the motif-cell
        rows stay those of the labels the hierarchy was built from until
        :meth:`rebuild_hierarchy`.
        """
        return self.model.label_selection(name, indices)

    def undo(self) -> bool:
        """Revert the last :meth:`label_selection`; False when there is nothing to undo."""
        return self.model.undo()

    def rebuild_hierarchy(self, **options):
        """Rebuild the motif-cell hierarchy from the current labels and redraw the tree.

        Parameters
        ----------
        **options
            Passed to :func:`motifkit.build_hierarchy`.
        """
        from ..hierarchy import build_hierarchy

        self.hierarchy = build_hierarchy(positions=self._positions, labels=self.model.labels, **options)
        self._hierarchy_labels = self.model.labels
        self._refresh_tree_and_tiles()
        return self.hierarchy

    def curated_analysis(self):
        """A copy of the analysis with the curated labels, class averages and counts."""
        labels = self.model.labels
        summary = dict(getattr(self.analysis, "summary", {}) or {})
        summary["n_motifs"] = self.model.n_motifs
        summary["motif_counts"] = self.model.counts.tolist()
        parameters = dict(getattr(self.analysis, "parameters", {}) or {})
        parameters["curation"] = {"label_names": self.model.label_names, "changes": self.model.history}
        changes = {"labels": labels, "class_averages": self.class_averages, "summary": summary,
                   "parameters": parameters}
        if getattr(self.analysis, "reconstruction", None) is not None:
            from ..motifs import reconstruct

            changes["reconstruction"] = reconstruct(self.analysis.micrograph.data.shape, self._positions, labels,
                                                    self._class_averages)
        if dataclasses.is_dataclass(self.analysis):
            return dataclasses.replace(self.analysis, **changes)
        raise ParameterError("curated_analysis() needs a MotifAnalysis dataclass.")

    def _ensure_patches(self) -> np.ndarray | None:
        """The patches of every column (cut once from the micrograph when not kept)."""
        if self._patches is None:
            from ..patches import extract_patches

            try:
                cut = extract_patches(self.analysis.micrograph, self._positions, self._patch_size,
                                      border="reflect", warn=False)
            except MotifkitError as exc:
                warnings.warn(f"could not cut patches for exact averages ({exc}); using class-average mixes.",
                              stacklevel=3)
                return None
            if len(cut.kept) != self.model.n_columns:
                return None
            self._patches = np.asarray(cut.patches, dtype=np.float32)
        return self._patches

    def selection_average(self) -> np.ndarray | None:
        """Exact mean patch of the selected columns, (s, s); None when nothing is selected."""
        selection = self.model.selection
        if len(selection) == 0:
            return None
        patches = self._ensure_patches()
        if patches is None:
            return motif_mix_average(self._class_averages, self.model.labels, selection)
        return average_patch(patches, selection)

    # -- observers -------------------------------------------------------------------------
    def _selection_changed(self, change: SelectionChange) -> None:
        live = self._live
        if live is None:
            return
        if change.source != "browser":
            live.columns.selected.indices = change.new.tolist()
        tile, title = self._selection_tile(live=True)
        live.selection_tile.data = selection_tile_data(tile, title)
        live.info.text = selection_info(self.model.labels, self.model.label_names, change.new)

    def _labels_changed(self, change: LabelChange) -> None:
        labels = change.labels
        n_motifs = len(change.names)
        patches = self._ensure_patches()
        if patches is not None:
            from ..motifs import class_averages

            self._class_averages = class_averages(patches, labels, n_motifs)
        else:  # no patches: a new motif's average is the mix of its columns' old motifs
            old = self._class_averages
            grown = np.zeros((n_motifs,) + old.shape[1:], dtype=np.float32)
            grown[: min(len(old), n_motifs)] = old[:n_motifs]
            self._class_averages = grown
        self._columns["label"] = labels.astype(np.int32)
        live = self._live
        if live is not None:
            live.columns.data["label"] = self._columns["label"]
            palette = self._palette()
            live.label_mapper.update(palette=palette, low=-0.5, high=n_motifs - 0.5)
        self._refresh_tree_and_tiles()

    def _refresh_tree_and_tiles(self) -> None:
        self._tree = self._build_tree()
        live = self._live
        if live is None:
            return
        data = self._document_data(live=True)
        live.nodes.data = _nodes_data(data.tree, data.n_selected, data.fraction)
        live.edges.data = _edges_data(data.tree)
        live.motifs.data = motif_tiles_data(data)
        live.selection_tile.data = selection_tile_data(data.selection_tile, data.selection_title)
        live.info.text = data.info
        size = self._patch_size
        _, _, width_units, height_units = _tiles_layout(int((data.counts > 0).sum()) + 1, size)
        tiles = live.figures["tiles"]
        scale = 64 / size
        tiles.frame_width = int(round((width_units + 2) * scale))
        tiles.frame_height = int(round((height_units + 1) * scale))
        tiles.x_range.update(start=-1.0, end=width_units + 1.0)
        tiles.y_range.update(start=height_units + 1.0, end=0.0)

    # -- the document ----------------------------------------------------------------------
    def _selection_tile(self, *, live: bool) -> tuple:
        """RGBA tile and title of the selection average: exact (live) or a motif mix (page)."""
        selection = self.model.selection
        if len(selection) == 0:
            return np.zeros((self._patch_size, self._patch_size), dtype=np.uint32), "selection (none)"
        if live:
            average = self.selection_average()
        else:
            average = motif_mix_average(self._class_averages, self.model.labels, selection)
        return tile_rgba(average), f"selection ({len(selection)})"

    def _document_data(self, *, live: bool) -> DocumentData:
        selection = self.model.selection
        labels = self.model.labels
        names = self.model.label_names
        size = self._patch_size
        tile, title = self._selection_tile(live=live)
        palette = self._palette()
        n_selected, fraction = node_fractions(self._tree.members, selection, self.model.n_columns)
        title_text = self._title
        if self.hierarchy is not None and not np.array_equal(self._hierarchy_labels, labels):
            title_text += " &mdash; <i>motif-cells from the labels before curation: call rebuild_hierarchy()</i>"
        if self._tree.n_hidden:
            title_text += f" ({self._tree.n_hidden} small motifs / motif-cells not shown in the tree)"
        return DocumentData(
            image=self._image, columns=self._columns, radius=self._radius, tree=self._tree,
            n_selected=n_selected, fraction=fraction, palette=palette, names=names, counts=self.model.counts,
            motif_tiles=[tile_rgba(self._class_averages[k], border=palette[k], border_width=max(1, size // 12))
                         for k in range(len(names))],
            selection_tile=tile, selection_title=title, selection=selection,
            info=selection_info(labels, names, selection), title=title_text,
            class_averages=self._class_averages,
        )

    def _on_browser_selection(self, attr, old, new) -> None:
        # jupyter_bokeh reports one browser change twice; the model ignores the repeat
        self.model.select(new, source="browser")

    @property
    def document(self) -> ExplorerDocument:
        """The live Bokeh document (built on first use)."""
        if self._live is None:
            self._live = build_document(self._document_data(live=True), live=True)
            self._live.columns.selected.on_change("indices", self._on_browser_selection)
        return self._live

    @property
    def widget(self):
        """The ipywidget (``jupyter_bokeh.BokehModel``) showing the explorer."""
        if self._widget is None:
            require("jupyter_bokeh", "widgets", "the explorer widget")
            from jupyter_bokeh import BokehModel

            self._widget = BokehModel(self.document.root)
        return self._widget

    def show(self, *, load_bokehjs: bool = False) -> None:
        """Display the explorer in the notebook.

        Parameters
        ----------
        load_bokehjs : bool
            Embed BokehJS (inline, offline) again even if this kernel did it already:
            needed after reloading the browser page while the kernel kept running.
        """
        from IPython.display import display

        _load_bokehjs(force=load_bokehjs)
        display(self.widget)

    def _ipython_display_(self) -> None:
        self.show()

    # -- static fallbacks ------------------------------------------------------------------
    def save_html(self, path, *, title: str | None = None) -> Path:
        """Write a standalone offline page (BokehJS inline, no CDN) with the linked views.

        Box, lasso and tree clicks still link the views in the saved page; the selection
        tile there mixes the class averages (see
        :func:`~motifkit.explore.views.motif_mix_average`). The current selection is
        the page's initial one.

        Returns
        -------
        Path
        """
        require("bokeh", "widgets", "saving the explorer as HTML")
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        path = Path(path)
        if path.suffix.lower() not in {".html", ".htm"}:
            raise ParameterError(f"save_html writes an .html file, got {path.name!r}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        document = build_document(self._document_data(live=False), live=False)
        html = file_html(document.root, resources=INLINE, title=title or "motifkit explorer")
        path.write_text(html, encoding="utf-8")
        return path

    def snapshot(self, path=None, *, dpi: int = 110):
        """Draw the explorer's current state with matplotlib (for papermill and reports).

        Parameters
        ----------
        path : str or Path, optional
            Also save the figure there (PNG or any matplotlib format).
        dpi : int

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ._snapshot import draw_snapshot

        figure = draw_snapshot(self._document_data(live=True),
                               {view: self.overlay_raster(view) for view in ("image", "layout")})
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(path, dpi=dpi)
        return figure

    def __repr__(self) -> str:
        return (f"Explorer({self.model.n_columns} columns, {self.model.n_motifs} motifs, "
                f"{len(self.model.selection)} selected, tree of {len(self._tree.members)} nodes)")


def explore(analysis, hierarchy="auto", **options) -> Explorer:
    """Linked views of a motif analysis: micrograph, FR layout and motif tree.

    Box or lasso selection in the micrograph or the layout highlights the same columns in
    the other view and colours tree nodes by the fraction of their members selected;
    clicking a tree node selects its member columns. The kernel reads and sets
    ``explorer.selection``; ``explorer.label_selection(name)`` curates motifs (with
    ``undo()``); ``save_html`` and ``snapshot`` give static versions.

    Parameters
    ----------
    analysis : MotifAnalysis
    hierarchy : "auto", MotifHierarchy or None
        See :class:`Explorer`.
    **options
        Passed to :class:`Explorer` (``label_names``, ``max_image_side``,
        ``max_nodes_per_level``, ``max_levels``, ``title``).

    Returns
    -------
    Explorer

    Examples
    --------
    >>> import motifkit
    >>> analysis = motifkit.analyze(motifkit.data.wse2_ti().micrograph)  # doctest: +SKIP
    >>> explorer = motifkit.explore(analysis)                            # doctest: +SKIP
    >>> explorer                     # shows the linked views in Jupyter   # doctest: +SKIP
    >>> explorer.selection           # columns brushed in the page         # doctest: +SKIP
    >>> explorer.label_selection("vacancy pair"); explorer.undo()          # doctest: +SKIP
    >>> explorer.save_html("explorer.html")                                # doctest: +SKIP
    """
    return Explorer(analysis, hierarchy, **options)

