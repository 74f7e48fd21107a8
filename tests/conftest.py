"""Shared pytest fixtures.

Tests that need the real micrographs in ``../shared/data`` use the ``shared_data``
fixture: they skip when the folder is absent, except under ``CI=true`` where the
folder must be there and a missing one is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOTIFKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data`` (skip if absent outside CI, fail inside CI)."""
    if not SHARED_DATA.is_dir():
        if _in_ci():
            pytest.fail(f"CI=true but the shared data folder {SHARED_DATA} is missing.")
        pytest.skip(f"shared data folder {SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def wse2_paths(shared_data):
    """Paths of the real Ti-doped WSe2 micrograph and the authors' points and labels."""
    folder = shared_data / "wse2_ti"
    return {
        "dm4": folder / "WSe2_Ti_1028_ADF1_2.dm4",
        "points": folder / "WSe2_Ti_1028_ADF1_2_points_xy.npy",
        "labels": folder / "WSe2_Ti_1028_ADF1_2_labels.npy",
    }


@pytest.fixture(scope="session")
def srtio3_path(shared_data):
    return shared_data / "srtio3" / "SrTiO3_ADF_cropped.hdf5"
