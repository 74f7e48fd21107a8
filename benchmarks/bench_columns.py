"""Columns -> sub-pixel patches: motifkit against the reference motif-learn, same image, same process.

Images: simulated 2H-MoSe2 (``motifkit.data.mose2_with_vacancies``) at 0.16 A/px,
rotated 13 degrees, 4 % Se vacancies, 5000 e/A^2, of 2048 x 2048 px (about 23k columns)
and 4096 x 4096 px (about 92k columns).

Chains timed (numba compilation excluded: a warm-up call runs first):

* motifkit: ``find_columns`` (automatic spacing, low-pass, noise-based threshold,
  Gaussian refinement with deblending) + ``extract_patches`` (bilinear, sub-pixel).
* motifkit, peaks only: ``find_columns(refine=None)`` + ``extract_patches`` -- the same
  work as the reference (no sub-pixel refinement).
* reference (motif-learn 0.1.x, package ``mtflearn``): ``denoise_fft(img, 0.1)`` (its FFT
  smoothing), ``features.local_max(smoothed, min_distance, threshold=mean)``, then
  ``features.KeyPoints(points, img, size).extract_patches(size)`` (integer cuts). It
  has no automatic parameters: it gets motifkit's spacing-derived ``min_distance`` and
  patch size.

Each chain's columns are scored against the simulation's ground truth (recall and
precision within 0.3 x the nearest-neighbour distance, position RMSE).

Usage: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_columns.py [--sizes 2048 4096] [--repeat 1]``
(``pip install motif-learn`` for the reference; without it only motifkit runs).
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402


def simulate(size: int):
    from motifkit.data import mose2_with_vacancies

    return mose2_with_vacancies(
        shape=(size, size), pixel_size=0.16, rotation=13.0, dose=5000.0, random_state=0
    )


def score(positions, truth, shape, margin=3):
    """Recall, precision and RMSE (px) against the occupied truth columns."""
    occupied = truth.positions[truth.occupied]
    nn = float(np.median(cKDTree(truth.positions).query(truth.positions, k=2)[0][:, 1]))
    tolerance = 0.3 * nn
    positions = np.asarray(positions, float)
    dist, idx = cKDTree(occupied).query(positions, distance_upper_bound=tolerance)
    owner = np.full(len(positions), -1)
    taken = np.zeros(len(occupied), bool)
    for i in np.argsort(dist):
        if not np.isfinite(dist[i]):
            break
        if not taken[idx[i]]:
            taken[idx[i]] = True
            owner[i] = idx[i]
    h, w = shape

    def inside(p):
        return (p[:, 0] >= margin) & (p[:, 0] <= w - 1 - margin) & (p[:, 1] >= margin) & (p[:, 1] <= h - 1 - margin)

    good = (owner >= 0) & inside(positions)
    rmse = np.sqrt(((positions[good] - occupied[owner[good]]) ** 2).sum(axis=1).mean())
    return taken[inside(occupied)].mean(), (owner[inside(positions)] >= 0).mean(), rmse


def run_motifkit(image, refine):
    from motifkit.columns import find_columns, suggest_patch_size
    from motifkit.patches import extract_patches

    t0 = time.perf_counter()
    result = find_columns(image, refine=refine, return_info=True)
    t1 = time.perf_counter()
    size = suggest_patch_size(result.lattice_spacing)
    patches = extract_patches(image, result.positions, size, warn=False)
    t2 = time.perf_counter()
    return dict(
        positions=result.positions, n_patches=len(patches), columns_s=t1 - t0, patches_s=t2 - t1,
        spacing=result.lattice_spacing, size=size,
    )  # fmt: skip


def run_reference(image, spacing, size):
    from mtflearn.denoise import denoise_fft
    from mtflearn.features import KeyPoints, local_max

    t0 = time.perf_counter()
    smoothed = denoise_fft(image, 0.1)
    points = local_max(smoothed, min_distance=0.4 * spacing, threshold=float(smoothed.mean()))
    t1 = time.perf_counter()
    keypoints = KeyPoints(points, image, size)
    patches = keypoints.extract_patches(size)
    t2 = time.perf_counter()
    return dict(positions=keypoints.pts.astype(float), n_patches=len(patches), columns_s=t1 - t0, patches_s=t2 - t1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from motifkit.columns import find_columns

    try:
        import mtflearn  # noqa: F401

        have_reference = True
    except ImportError:
        have_reference = False
        print("motif-learn (mtflearn) is not installed: timing motifkit only.")

    warm = simulate(256).image.data
    t0 = time.perf_counter()
    find_columns(warm)
    print(f"warm-up (numba compile or cache load) {time.perf_counter() - t0:.1f} s")

    rows = []
    for size in args.sizes:
        t0 = time.perf_counter()
        sim = simulate(size)
        image = sim.image.data
        n_true = int(sim.truth.occupied.sum())
        print(f"\n{size} x {size} px: {n_true} occupied columns (simulated in {time.perf_counter() - t0:.1f} s)")
        chains = {
            "motifkit (gaussian refine)": lambda: run_motifkit(image, "gaussian"),
            "motifkit (peaks only)": lambda: run_motifkit(image, None),
        }
        if have_reference:
            # the reference has no automatic parameters: give it motifkit's
            spacing_size = run_motifkit(image[:512, :512], None)
            spacing, patch = spacing_size["spacing"], spacing_size["size"]
            chains["reference motif-learn"] = lambda: run_reference(image, spacing, patch)
        results = {}
        for name, chain in chains.items():
            best = None
            for _ in range(args.repeat):
                out = chain()
                total = out["columns_s"] + out["patches_s"]
                if best is None or total < best["columns_s"] + best["patches_s"]:
                    best = out
            recall, precision, rmse = score(best["positions"], sim.truth, image.shape)
            results[name] = best
            print(
                f"  {name:28s} columns {best['columns_s']:6.2f} s  patches {best['patches_s']:5.2f} s  "
                f"total {best['columns_s'] + best['patches_s']:6.2f} s | {len(best['positions'])} columns, "
                f"{best['n_patches']} patches | recall {recall:.4f} precision {precision:.4f} RMSE {rmse:.3f} px"
            )
            rows.append((size, name, best, recall, precision, rmse))
        if have_reference:
            ref = results["reference motif-learn"]
            ref_total = ref["columns_s"] + ref["patches_s"]
            for name in ("motifkit (gaussian refine)", "motifkit (peaks only)"):
                ours = results[name]
                ratio = ref_total / (ours["columns_s"] + ours["patches_s"])
                print(f"  speed-up of {name} over the reference: {ratio:.2f}x")

    print(
        "\n| image | chain | columns (s) | patches (s) | total (s) | columns found | recall | precision "
        "| RMSE (px) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size, name, best, recall, precision, rmse in rows:
        print(
            f"| {size}^2 | {name} | {best['columns_s']:.2f} | {best['patches_s']:.2f} | "
            f"{best['columns_s'] + best['patches_s']:.2f} | {len(best['positions'])} | {recall:.4f} | "
            f"{precision:.4f} | {rmse:.3f} |"
        )


if __name__ == "__main__":
    main()
