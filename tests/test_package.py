"""Package-level behaviour: fast lazy import, version, public names, console script."""

import subprocess
import sys

import pytest

import motifkit


def test_version_comes_from_metadata():
    from importlib.metadata import version

    assert motifkit.__version__ == version("motifkit")


def test_import_is_lazy_and_loads_no_heavy_dependency():
    code = (
        "import sys, time; t = time.perf_counter(); import motifkit; "
        "dt = time.perf_counter() - t; "
        "heavy = [m for m in ('numba', 'torch', 'bokeh', 'scipy', 'sklearn', 'matplotlib') if m in sys.modules]; "
        "print(dt, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    _seconds, heavy = out.split(" ", 1)
    # no timing assertion here: benchmarks/bench_import.py measures the import time
    assert heavy.strip() == "[]", f"import motifkit pulled in {heavy}"


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute"):
        motifkit.not_a_thing  # noqa: B018


def test_every_lazy_name_resolves():
    for name in motifkit._LAZY:
        assert getattr(motifkit, name) is not None, name
    assert set(motifkit._LAZY) <= set(dir(motifkit))
