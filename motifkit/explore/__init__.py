"""Linked views of a motif analysis: micrograph, force-relaxed layout and motif tree.

:func:`explore` returns an :class:`Explorer`: in Jupyter, box or lasso selection in the
micrograph or the layout highlights the same columns in the other view and colours the
tree nodes by the fraction of their members selected; clicking a tree node selects its
member columns. The kernel reads and sets ``explorer.selection`` and curates motifs with
``explorer.label_selection(name)`` / ``explorer.undo()``. ``explorer.save_html(path)``
writes a standalone offline page where the linking still works, and
``explorer.snapshot(path)`` a PNG.

The state shared by every view is one pure-Python :class:`SelectionModel`; what each
view draws is computed in :mod:`motifkit.explore.views` (both testable without a
browser). Bokeh is imported only when a document is built.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "SelectionModel": "motifkit.explore.selection",
    "SelectionChange": "motifkit.explore.selection",
    "LabelChange": "motifkit.explore.selection",
    "as_indices": "motifkit.explore.selection",
    "Explorer": "motifkit.explore.widget",
    "explore": "motifkit.explore.widget",
    "views": None,
    "document": None,
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'motifkit.explore' has no attribute {name!r}")
    module_name = _LAZY[name] or f"motifkit.explore.{name}"
    module = importlib.import_module(module_name)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


class _CallableModule(__import__("types").ModuleType):
    """Importing ``motifkit.explore.<submodule>`` makes the import system bind the
    attribute ``motifkit.explore`` to this module, shadowing the lazily exported
    :func:`explore` function; calling the module therefore forwards to it."""

    def __call__(self, *args, **kwargs):
        from .widget import explore as _explore

        return _explore(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
