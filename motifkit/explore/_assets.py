"""Locate the explorer's front-end sources (``widgets/explore/*.js``).

In a wheel they live in ``motifkit/_widgets_static`` (pyproject force-includes the
repository's ``widgets/`` folder there); in an editable install or a source checkout
they are read from the repository's ``widgets/`` folder.
"""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from ..errors import MotifkitError

__all__ = ["read_asset"]

_REPO_WIDGETS = Path(__file__).resolve().parents[2] / "widgets"


def _candidates(relative: str):
    try:
        yield importlib.resources.files("motifkit._widgets_static").joinpath(relative)
    except (ModuleNotFoundError, TypeError):  # editable install: no _widgets_static
        pass
    yield _REPO_WIDGETS / relative


@functools.lru_cache(maxsize=None)
def read_asset(relative: str) -> str:
    """Text of a front-end file, e.g. ``read_asset("explore/tree_tap.js")``.

    Raises
    ------
    MotifkitError
        The file is in neither place (a broken installation).
    """
    for candidate in _candidates(relative):
        try:
            if candidate.is_file():
                return candidate.read_text(encoding="utf-8")
        except OSError:
            continue
    raise MotifkitError(
        f"motifkit's front-end file {relative!r} is missing (looked in motifkit/_widgets_static and {_REPO_WIDGETS}); "
        "reinstall motifkit."
    )
