"""Pixels -> motif labels: motifkit's whole chain vs the reference chain, same image, same process.

The image is a simulated 2H-MoSe2 with Se vacancies (``motifkit.data.mose2_with_vacancies``,
0.16 A/px, 13 degrees rotation, 5000 e/A^2), so both chains are scored against ground truth.

- motifkit: ``motifkit.analyze(image)`` (automatic spacing and patch size, sub-pixel
  columns, Zernike, FR layout, HDBSCAN labels, class averages and reconstruction).
- reference (motif-learn 0.1.x, ``mtflearn``): ``denoise_fft(img, 0.1)`` + ``local_max``
  + integer ``KeyPoints`` patches + ``ZPs`` rotation-invariant moments + ``ForceGraph8``
  + ``seg_lbs`` raster labels. It has no automatic parameters: it is given motifkit's
  lattice spacing and patch size.

Usage: ``.venv/bin/python benchmarks/bench_pipeline.py [--sizes 2048 4096] [--no-reference]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

import numpy as np


def simulate(size):
    import motifkit

    return motifkit.data.mose2_with_vacancies(
        shape=(size, size), pixel_size=0.16, rotation=13.0, dose=5000.0, random_state=0
    )


def score(positions, labels, truth):
    from sklearn.metrics import adjusted_rand_score

    from motifkit.evaluation import match_positions, nearest_neighbour_distance

    occupied = truth.column_types != "V_Se2"
    match = match_positions(positions, truth.positions[occupied], 0.3 * nearest_neighbour_distance(truth.positions))
    context = truth.context_types[occupied][match.reference_index]
    ari = adjusted_rand_score(context, np.asarray(labels)[match.detected_index])
    return match.recall, ari


def run_motifkit(sim):
    import motifkit

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = motifkit.analyze(sim.image, random_state=0, verbose=False)
    total = time.perf_counter() - start
    return result, total


def run_reference(sim, spacing, size):
    from mtflearn.clustering import seg_lbs
    from mtflearn.denoise import denoise_fft
    from mtflearn.features import ZPs, KeyPoints, local_max
    from mtflearn.manifold.force_relaxed import ForceGraph8

    image = sim.image.data.astype(np.float64)
    timings = {}
    start = time.perf_counter()
    smoothed = denoise_fft(image, 0.1)
    points = local_max(smoothed, min_distance=0.4 * spacing, threshold=float(smoothed.mean()))
    keypoints = KeyPoints(points, image, size)
    patches = keypoints.extract_patches(size)
    timings["columns+patches"] = time.perf_counter() - start
    t = time.perf_counter()
    moments = ZPs(n_max=10, size=size).transform(patches)
    features = np.abs(moments.to_complex().data)
    timings["features"] = time.perf_counter() - t
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        model = ForceGraph8()
        model.fit(features)
    timings["layout"] = time.perf_counter() - t
    t = time.perf_counter()
    labels = seg_lbs(model.y)
    timings["labels"] = time.perf_counter() - t
    total = time.perf_counter() - start
    return keypoints.pts.astype(float), labels, total, timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--reference-max-size", type=int, default=2048)
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()

    warm = simulate(256)  # compile numba kernels outside the timed runs
    run_motifkit(warm)
    rows = []
    for size in args.sizes:
        sim = simulate(size)
        result, ours = run_motifkit(sim)
        recall, ari = score(np.vstack([result.positions, result.border_positions]),
                            np.concatenate([result.labels, np.full(len(result.border_positions), -1)]), sim.truth)
        steps = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        print(f"{size}^2: motifkit {ours:.1f} s ({result.n_columns} columns, {result.n_motifs} motifs; {steps}); "
              f"recall {recall:.4f}, ARI vs context types {ari:.3f}", flush=True)
        row = {"size": size, "ours": ours, "columns": result.n_columns, "ari": ari, "recall": recall}
        if not args.no_reference and size <= args.reference_max_size:
            positions, labels, ref, timings = run_reference(sim, result.parameters["lattice_spacing_px"], result.parameters["patch_size"])
            ref_recall, ref_ari = score(positions, labels, sim.truth)
            steps = ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
            print(f"{size}^2: reference {ref:.1f} s ({len(positions)} columns, {labels.max() + 1} segments; {steps}); "
                  f"recall {ref_recall:.4f}, ARI {ref_ari:.3f}; speed-up {ref / ours:.1f}x", flush=True)
            row.update(reference=ref, ref_ari=ref_ari, speedup=ref / ours)
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
