"""Tiled analysis of huge micrographs: seams and memory.

Part ``seams`` (4096 x 4096 px): ``find_columns`` on the whole image against
``motifkit.batch.find_columns_tiled`` (1024 px tiles with halo), on a noise-free and a
noisy (5000 e/A^2) simulated 2H-MoSe2 image (0.16 A/px, rotated 13 degrees, 4 % Se
vacancies: about 91k columns). Prints the columns of each, how many tiled columns have
no untiled partner within 0.5 px (extra/duplicated) and the reverse (missing), and the
position differences of the matched ones.

Part ``huge`` (16384 x 16384 px): a child process simulates the image (MoSe2,
``--pixel-size`` A/px, 3000 e/A^2 Poisson noise) into a ``.npy`` file and
its ground-truth positions; a second child process opens the image memory-mapped and
runs ``motifkit.batch.analyze_tiled`` (tiled columns -> per-tile patches and Zernike
features -> layout and labels fitted on 20k columns, the rest by nearest neighbour ->
class averages). Its peak memory is measured twice: ``ru_maxrss`` of the process
(``resource.getrusage``) and the largest summed RSS of the process and all its
children, sampled every 0.2 s with psutil. The simulation process's peak is reported
separately (it is the test fixture, not the pipeline).

Usage::

    .venv/bin/python benchmarks/bench_tiled.py --part seams
    .venv/bin/python benchmarks/bench_tiled.py --part huge [--size 16384] [--pixel-size 0.16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402


def _match(a, b):
    from scipy.spatial import cKDTree

    distance, index = cKDTree(b).query(a)
    return distance, index


def seams(size: int, tile: int) -> None:
    import warnings

    from motifkit.batch import find_columns_tiled
    from motifkit.columns import find_columns
    from motifkit.data import mose2_with_vacancies

    warnings.simplefilter("ignore")
    print(f"## seams: {size}^2 image, {tile}^2 tiles")
    print("| image | untiled columns | tiled columns | extra in tiled | missing in tiled | "
          "max |dx| (px) | 99th pct |dx| (px) | seam duplicates resolved | untiled (s) | tiled (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dose in (None, 5000):
        sim = mose2_with_vacancies(shape=(size, size), pixel_size=0.16, rotation=13, dose=dose, random_state=0)
        find_columns(sim.image.data[:512, :512])  # numba warm-up
        t0 = time.perf_counter()
        untiled = find_columns(sim.image)
        t1 = time.perf_counter()
        tiled = find_columns_tiled(sim.image, tile_size=tile, verbose=False)
        t2 = time.perf_counter()
        forward, _ = _match(tiled.positions, untiled)
        backward, _ = _match(untiled, tiled.positions)
        matched = forward[forward < 0.5]
        print(
            f"| {'noise-free' if dose is None else f'{dose} e/A^2'} | {len(untiled)} | {tiled.n_columns} | "
            f"{int((forward >= 0.5).sum())} | {int((backward >= 0.5).sum())} | {matched.max():.4f} | "
            f"{np.percentile(matched, 99):.4f} | {tiled.n_duplicates} | {t1 - t0:.1f} | {t2 - t1:.1f} |",
            flush=True,
        )
        if (forward >= 0.5).any() or (backward >= 0.5).any():
            extra = tiled.positions[forward >= 0.5]
            missing = untiled[backward >= 0.5]
            print(f"  extra: {np.round(extra, 2).tolist()}\n  missing: {np.round(missing, 2).tolist()}")


# ---------------------------------------------------------------------------------
# huge image
# ---------------------------------------------------------------------------------
def _simulate_child(size: int, pixel_size: float, folder: str) -> None:
    from motifkit.data import mose2_with_vacancies

    t0 = time.perf_counter()
    sim = mose2_with_vacancies(shape=(size, size), pixel_size=pixel_size, dose=3000, random_state=0)
    np.save(Path(folder) / "image.npy", sim.image.data)
    np.save(Path(folder) / "truth.npy", sim.truth.positions)
    np.save(Path(folder) / "types.npy", np.asarray(sim.truth.column_types))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"simulate_s": time.perf_counter() - t0, "simulate_peak_gib": peak,
                      "n_truth": int(len(sim.truth.positions))}))


def _pipeline_child(folder: str, tile: int, max_fit_points: int) -> None:
    import warnings

    from motifkit.batch import analyze_tiled

    warnings.simplefilter("ignore")
    image = np.load(Path(folder) / "image.npy", mmap_mode="r")
    t0 = time.perf_counter()
    result = analyze_tiled(image, tile_size=tile, max_fit_points=max_fit_points, verbose=False)
    seconds = time.perf_counter() - t0
    np.save(Path(folder) / "positions.npy", result.positions)
    np.save(Path(folder) / "labels.npy", result.labels)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({
        "pipeline_s": seconds,
        "timings": result.timings,
        "ru_maxrss_gib": peak,
        "n_columns": result.n_columns,
        "n_border": int(len(result.border_positions)),
        "n_motifs": result.n_motifs,
        "motif_counts": np.bincount(result.labels).tolist(),
        "patch_size": result.parameters["patch_size"],
        "n_tiles": len(result.columns.tiles),
        "seam_duplicates": result.columns.n_duplicates,
    }))


def _run_measured(args) -> tuple[dict, float]:
    """Run a child; return its JSON line and the peak summed RSS (GiB) of its process tree."""
    import psutil

    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    parent = psutil.Process(process.pid)
    peak = [0.0]

    def sample():
        while process.poll() is None:
            try:
                total = parent.memory_info().rss + sum(
                    c.memory_info().rss for c in parent.children(recursive=True)
                )
                peak[0] = max(peak[0], total / 2**30)
            except psutil.Error:
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = process.communicate()
    thread.join()
    if process.returncode:
        raise SystemExit(f"child {args[0]} failed with status {process.returncode}")
    return json.loads(out.strip().splitlines()[-1]), peak[0]


def huge(size: int, pixel_size: float, tile: int, max_fit_points: int) -> None:
    from scipy.spatial import cKDTree
    from sklearn.metrics import adjusted_rand_score

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
        sim, sim_tree = _run_measured(["_simulate", str(size), str(pixel_size), folder])
        run, tree_peak = _run_measured(["_pipeline", folder, str(tile), str(max_fit_points)])
        truth = np.load(Path(folder) / "truth.npy")
        types = np.load(Path(folder) / "types.npy")
        positions = np.load(Path(folder) / "positions.npy")
        labels = np.load(Path(folder) / "labels.npy")
    # accuracy against the ground truth, away from the border
    margin = 8
    inside = ((truth >= margin) & (truth <= size - 1 - margin)).all(axis=1)
    occupied = inside & (types != "V_Se2")
    distance, _ = cKDTree(positions).query(truth[occupied])
    recall = float((distance < 1.0).mean())
    found_inside = ((positions >= margin) & (positions <= size - 1 - margin)).all(axis=1)
    d2, index = cKDTree(truth).query(positions[found_inside])
    precision = float((d2 < 1.0).mean())
    kinds = types[index]
    major = np.isin(kinds, ["Mo", "Se2"])
    ari = adjusted_rand_score(kinds[major], labels[found_inside][major])
    print(f"## huge: {size}^2 image at {pixel_size} A/px, {tile}^2 tiles")
    print(f"simulation (fixture, separate process): {sim['simulate_s']:.0f} s, peak RSS "
          f"{sim_tree:.2f} GiB (ru_maxrss {sim['simulate_peak_gib']:.2f} GiB), {sim['n_truth']} columns")
    print("| step | seconds |")
    print("|---|---|")
    for name, value in run["timings"].items():
        print(f"| {name} | {value:.1f} |")
    print(f"| total | {run['pipeline_s']:.1f} |")
    print(f"pipeline peak memory: {tree_peak:.2f} GiB (process tree, psutil sampling), "
          f"ru_maxrss {run['ru_maxrss_gib']:.2f} GiB; limit 8 GB = 7.45 GiB")
    print(f"columns {run['n_columns']} analysed + {run['n_border']} at the border, {run['n_tiles']} tiles, "
          f"{run['seam_duplicates']} seam duplicates resolved; patch {run['patch_size']} px")
    print(f"recall {recall:.4f}, precision {precision:.4f} (within 1 px, {margin} px border margin); "
          f"motifs {run['n_motifs']} (sizes {run['motif_counts'][:8]}...), ARI(Mo/Se2 vs labels) {ari:.3f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_simulate":
        _simulate_child(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_pipeline":
        _pipeline_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["seams", "huge", "all"], default="all")
    parser.add_argument("--size", type=int, default=None, help="image side (seams: 4096, huge: 16384)")
    parser.add_argument("--tile", type=int, default=None, help="tile core side (seams: 1024, huge: 2048)")
    parser.add_argument("--pixel-size", type=float, default=0.16, help="huge image: A/px (default 0.16, about 1.5M columns at 16384^2)")
    parser.add_argument("--max-fit-points", type=int, default=20000)
    args = parser.parse_args()
    if args.part in ("seams", "all"):
        seams(args.size or 4096, args.tile or 1024)
    if args.part in ("huge", "all"):
        huge(args.size or 16384, args.pixel_size, args.tile or 2048, args.max_fit_points)


if __name__ == "__main__":
    main()
