"""The ``motifkit`` console script: help, info, simulate, error reporting."""

import subprocess
import sys

import numpy as np

import motifkit


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "motifkit.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_subcommands():
    proc = _run("--help")
    assert proc.returncode == 0
    for command in ("demo", "analyze", "simulate", "info"):
        assert command in proc.stdout


def test_info_prints_calibration(tmp_path):
    micrograph = motifkit.Micrograph(np.random.default_rng(0).random((32, 40)), pixel_size=0.04)
    path = motifkit.io.write(micrograph, tmp_path / "m.npz") or tmp_path / "m.npz"
    proc = _run("info", str(path), "--metadata")
    assert proc.returncode == 0, proc.stderr
    assert "40 x 32 px" in proc.stdout and "0.04 nm/px" in proc.stdout


def test_simulate_writes_image_and_truth(tmp_path):
    out = tmp_path / "sim.npz"
    proc = _run("simulate", "mose2_with_vacancies", "-o", str(out), "--size", "128", "--seed", "2")
    assert proc.returncode == 0, proc.stderr
    image = motifkit.read(out)
    assert image.shape == (128, 128) and image.pixel_size is not None
    assert (tmp_path / "sim_truth.npz").is_file()


def test_errors_are_one_line_messages(tmp_path):
    proc = _run("info", str(tmp_path / "missing.dm4"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = _run("simulate", "no_such_preset", "-o", str(tmp_path / "x.npz"))
    assert proc.returncode == 2 and "mose2_with_vacancies" in proc.stderr
