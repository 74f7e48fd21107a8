"""motifkit: motifs and motif hierarchies in atomic-resolution micrographs.

The public API is imported lazily so that ``import motifkit`` stays fast (no numba,
torch or bokeh at import time); each name is loaded on first use.

Positions are always ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from __future__ import annotations

import importlib

from .errors import MotifkitError

try:  # version comes from the installed package metadata
    from importlib.metadata import PackageNotFoundError, version as _dist_version

    __version__ = _dist_version("motifkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    from ._version import __version__

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    # containers and I/O
    "Micrograph": ("motifkit.micrograph", "Micrograph"),
    "read": ("motifkit.io", "read"),
    "write": ("motifkit.io", "write"),
    # subpackages
    "io": ("motifkit.io", None),
    "simulate": ("motifkit.simulate", None),
    "data": ("motifkit.data", None),
    "cells": ("motifkit.cells", None),
    "batch": ("motifkit.batch", None),
    "figures": ("motifkit.figures", None),
    "learn": ("motifkit.learn", None),
    # core pipeline
    "find_columns": ("motifkit.columns", "find_columns"),
    "refine_columns": ("motifkit.columns", "refine_columns"),
    "estimate_lattice_spacing": ("motifkit.columns", "estimate_lattice_spacing"),
    "suggest_patch_size": ("motifkit.columns", "suggest_patch_size"),
    "extract_patches": ("motifkit.patches", "extract_patches"),
    "ZernikeFeatures": ("motifkit.zernike", "ZernikeFeatures"),
    "ForceRelaxedLayout": ("motifkit.layout", "ForceRelaxedLayout"),
    "MotifLabeler": ("motifkit.motifs", "MotifLabeler"),
    "label_motifs": ("motifkit.motifs", "label_motifs"),
    "class_averages": ("motifkit.motifs", "class_averages"),
    "reconstruct": ("motifkit.motifs", "reconstruct"),
    "analyze": ("motifkit.analysis", "analyze"),
    "MotifAnalysis": ("motifkit.analysis", "MotifAnalysis"),
    "load_analysis": ("motifkit.analysis", "load_analysis"),
    "build_hierarchy": ("motifkit.hierarchy", "build_hierarchy"),
    "MotifHierarchy": ("motifkit.hierarchy", "MotifHierarchy"),
    "explore": ("motifkit.explore", "explore"),
    # STM images, literature curation, acquisition metadata
    "stm": ("motifkit.stm", None),
    "read_volumetric": ("motifkit.stm", "read_volumetric"),
    "stm_constant_height": ("motifkit.stm", "stm_constant_height"),
    "stm_constant_current": ("motifkit.stm", "stm_constant_current"),
    "curation": ("motifkit.curation", None),
    "filter_arxiv": ("motifkit.curation", "filter_arxiv"),
    "CurationQuery": ("motifkit.curation", "CurationQuery"),
    "metadata": ("motifkit.metadata", None),
    "metadata_template": ("motifkit.metadata", "metadata_template"),
    "validate_metadata": ("motifkit.metadata", "validate_metadata"),
    "attach_metadata": ("motifkit.metadata", "attach_metadata"),
}

__all__ = ["MotifkitError", "__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'motifkit' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # cache: later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
