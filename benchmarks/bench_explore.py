"""Benchmark: brush-to-highlight time of the explorer's standalone page, 10k and 100k columns.

Target (issue 5): a box selection with 100k columns is highlighted in <= 200 ms.

Data: a synthetic analysis (no pipeline run, so only the explorer is timed): columns on a
hexagonal lattice (spacing 10 px) filling a square image, 5 motifs (90 % in motif 0),
a layout of one Gaussian blob per motif, random 13 x 13 class averages. The image is
3200 x 3200 px for 100k columns (shown block-averaged to 800 x 800).

For each size the script times, in Python, ``explore()`` and ``save_html()`` (page size
reported), then opens the page in headless Chromium (Debian's ``/usr/bin/chromium``
driven by Playwright) and measures, inside the page:

- ``load``: navigation until every Bokeh view exists;
- ``brush``: from the mouse release of a box drag in the layout (or image) view to the
  second animation frame after the last derived update (the overlay rasters of both
  views redrawn and the tree nodes recoloured), i.e. the highlight is on screen
  everywhere (median and max of repeats, alternating between a large and a small box);
- ``tap``: from the mouse release of a click on a tree node to the same point.

The rendering backend is the HTML canvas (WebGL in headless software GL is slower).
Times depend on the machine: the recorded ones are from a 2-core CI-like VM.

Usage::

    .venv/bin/python benchmarks/bench_explore.py               # 10k and 100k columns
    .venv/bin/python benchmarks/bench_explore.py --sizes 100000 --repeats 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MS = 200.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

def synthetic_analysis(n_columns: int, *, seed: int = 0):
    """A MotifAnalysis with ``n_columns`` columns on a hexagonal lattice (see module doc)."""
    from motifkit.analysis import MotifAnalysis
    from motifkit.micrograph import Micrograph

    rng = np.random.default_rng(seed)
    spacing = 10.0
    side = int(np.ceil(np.sqrt(n_columns * spacing**2 * np.sqrt(3) / 2))) + 20
    rows = int(side / (spacing * np.sqrt(3) / 2)) + 1
    cols = int(side / spacing) + 1
    j, i = np.meshgrid(np.arange(cols), np.arange(rows))
    x = 10 + j * spacing + (i % 2) * spacing / 2
    y = 10 + i * spacing * np.sqrt(3) / 2
    positions = np.column_stack([x.ravel(), y.ravel()])
    positions = positions[(positions[:, 0] < side - 10) & (positions[:, 1] < side - 10)][:n_columns]
    positions = positions + rng.normal(0, 0.2, positions.shape)
    labels = np.where(rng.random(len(positions)) < 0.9, 0, rng.integers(1, 5, len(positions)))
    centres = np.array([[0, 0], [30, 0], [0, 30], [30, 30], [15, 50]], dtype=float)
    layout = centres[labels] + rng.normal(0, 3.0, positions.shape)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    image = (np.cos(2 * np.pi * xx / spacing) * np.cos(2 * np.pi * yy / spacing)).astype(np.float32)
    image += rng.normal(0, 0.3, image.shape).astype(np.float32)
    averages = rng.normal(size=(5, 13, 13)).astype(np.float32)
    return MotifAnalysis(
        micrograph=Micrograph(image, pixel_size=0.02, unit="nm", source="synthetic"),
        positions=positions, features=np.zeros((len(positions), 1), np.float32), layout=layout,
        labels=labels, class_averages=averages,
    )


def measure_page(path: Path, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    from motifkit.explore.testing import click_node, drag_box, wait_for_explorer

    results = {"layout": [], "image": [], "tap": []}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                       viewport={"width": 1400, "height": 1300})
        page = context.new_page()
        start = time.perf_counter()
        page.goto(path.resolve().as_uri())
        wait_for_explorer(page, timeout_ms=300_000)
        load = time.perf_counter() - start
        time.sleep(1.0)
        boxes = {"layout": [(-10, 10, 40, -10), (25, 35, 35, 25)], "image": None}
        x_end = page.evaluate("() => mk.model('motifkit-columns').data.x.reduce((a, b) => Math.max(a, b), 0)")
        boxes["image"] = [(0, 0, x_end * 0.7, x_end * 0.7), (0, 0, x_end * 0.2, x_end * 0.2)]
        for r in range(repeats):
            for view in ("layout", "image"):
                box = boxes[view][r % 2]
                page.evaluate("() => { window.mkResult = null; mk.arm().then(r => { window.mkResult = r; }); }")
                drag_box(page, view, *box)
                page.wait_for_function("() => window.mkResult != null", timeout=60_000)
                results[view].append(page.evaluate("() => window.mkResult"))
            page.evaluate("() => { window.mkResult = null; mk.arm().then(r => { window.mkResult = r; }); }")
            click_node(page, f"motif:{r % 3}")
            page.wait_for_function("() => window.mkResult != null", timeout=60_000)
            results["tap"].append(page.evaluate("() => window.mkResult"))
            page.evaluate("() => { mk.model('motifkit-columns').selected.indices = []; }")
            time.sleep(0.2)
        context.close()
    return {"load_s": load, **results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/output"))
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run this benchmark.")
        return 1
    import motifkit

    args.output.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.sizes:
        analysis = synthetic_analysis(n)
        start = time.perf_counter()
        explorer = motifkit.explore(analysis, hierarchy=None)
        t_explore = time.perf_counter() - start
        start = time.perf_counter()
        path = explorer.save_html(args.output / f"explore_{n}.html")
        t_save = time.perf_counter() - start
        page = measure_page(path, args.repeats)
        row = {"n": len(analysis.positions), "explore_s": t_explore, "save_s": t_save,
               "mb": path.stat().st_size / 1e6, **page}
        rows.append(row)
        print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"N = {row['n']}: explore() {t_explore:.2f} s, save_html() {t_save:.2f} s, "
              f"page {row['mb']:.1f} MB, load in Chromium {page['load_s']:.1f} s")
        print(f"  {'gesture':<16}{'selected':>10}{'hit-test ms':>14}{'painted ms':>13}{'max ms':>9}"
              f"{'target ms':>11}{'ratio':>8}")
        for key, name in (("layout", "box in layout"), ("image", "box in image"), ("tap", "tree click")):
            painted = [m["painted"] for m in page[key]]
            select = [m["select"] for m in page[key]]
            median = statistics.median(painted)
            print(f"  {name:<16}{int(statistics.median([m['n'] for m in page[key]])):>10}"
                  f"{statistics.median(select):>14.0f}{median:>13.0f}{max(painted):>9.0f}"
                  f"{TARGET_MS:>11.0f}{median / TARGET_MS:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
