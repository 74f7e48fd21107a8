"""Sample data: the bundled real Ti-doped WSe2 micrograph and deterministic synthetic presets.

Real sample
    :func:`wse2_ti` returns the HAADF-STEM micrograph of Ti-doped monolayer WSe2 with the
    authors' column positions and labels (MIT licence, (c) 2024 jiadongdan,
    repository jiadongdan/random-defect-model).

Synthetic presets (image + ground truth, see :mod:`motifkit.simulate`)
    :func:`mose2_with_vacancies`, :func:`ws2_fe_te`, :func:`pentagon_tiling`,
    :func:`twisted_bilayer` and friends.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "wse2_ti": "motifkit.data._real",
    "RealSample": "motifkit.data._real",
    "WSE2_TI_LABEL_NAMES": "motifkit.data._real",
    "mose2_with_vacancies": "motifkit.data._presets",
    "ws2_fe_te": "motifkit.data._presets",
    "pentagon_tiling": "motifkit.data._presets",
    "twisted_bilayer": "motifkit.data._presets",
    "graphene": "motifkit.data._presets",
    "random_bravais": "motifkit.data._presets",
    "PRESETS": "motifkit.data._presets",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'motifkit.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
