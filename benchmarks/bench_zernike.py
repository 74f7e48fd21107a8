"""Zernike moment throughput: motifkit vs the reference (motif-learn's ``mtflearn``).

Both run in this process on the same random patches (default 200,000 patches of
32 x 32 px, n_max = 10, 66 real moments), interleaved, best and median of ``--repeats``
runs each. The reference is ``mtflearn.features.ZPs(n_max, size).transform(patches)``
(float64 GEMM; it is given float64 patches, its native precision, so it pays no
conversion). motifkit is ``ZernikeFeatures(...).transform(patches)`` on the float32
patches. Basis construction is excluded for both (it is cached in motifkit).

Wall-clock patches/s is the headline number; patches per CPU-second of this process is
printed too because it is far less sensitive to other jobs sharing the CPUs.

Run::

    .venv/bin/python benchmarks/bench_zernike.py            # 200k patches, all CPUs
    .venv/bin/python benchmarks/bench_zernike.py --threads 1 --n 50000 --repeats 3

Needs ``pip install motif-learn`` (the ``bench`` extra) for the reference column.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np


def _timed(fn, n_patches):
    """(patches per wall-clock second, patches per CPU second of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return n_patches / (time.perf_counter() - wall), n_patches / (time.process_time() - cpu)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="number of patches")
    parser.add_argument("--size", type=int, default=32, help="patch side length (px)")
    parser.add_argument("--n-max", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="limit BLAS (reference) and motifkit n_jobs to this many threads (default: all CPUs)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")

    from motifkit.zernike import ZernikeBasis, ZernikeFeatures

    rng = np.random.default_rng(args.seed)
    patches32 = rng.random((args.n, args.size, args.size), dtype=np.float32)
    patches64 = patches32.astype(np.float64)

    try:
        from mtflearn.features import ZPs
    except ImportError:
        ZPs = None
        print("motif-learn is not installed: reference column skipped (pip install motif-learn)")

    ours = {
        "motifkit inner float32 (66 real)": ZernikeFeatures(
            args.n_max, rotation_invariant=False, projection="inner", dtype=np.float32, n_jobs=args.threads
        ).fit(patches32[:10]),
        "motifkit inner float32 (36 rot.-inv.)": ZernikeFeatures(
            args.n_max, rotation_invariant=True, projection="inner", dtype=np.float32, n_jobs=args.threads
        ).fit(patches32[:10]),
        "motifkit lstsq float32 (66 real)": ZernikeFeatures(
            args.n_max, rotation_invariant=False, projection="lstsq", dtype=np.float32, n_jobs=args.threads
        ).fit(patches32[:10]),
        "motifkit inner float64 (66 real)": ZernikeFeatures(
            args.n_max, rotation_invariant=False, projection="inner", dtype=np.float64, n_jobs=args.threads
        ).fit(patches32[:10]),
    }
    runs = {name: (lambda est=est: est.transform(patches32)) for name, est in ours.items()}
    if ZPs is not None:
        reference = ZPs(n_max=args.n_max, size=args.size)
        runs = {"reference mtflearn ZPs float64": lambda: reference.transform(patches64), **runs}

    # warm-up (numba compilation, first-touch of buffers) and a correctness check
    sample = patches32[:2000]
    for est in ours.values():
        est.transform(sample)
    basis = ZernikeBasis(args.size, args.n_max)
    exact = sample.reshape(len(sample), -1).astype(np.float64) @ basis.projector("inner")
    fast = ours["motifkit inner float32 (66 real)"].transform(sample)
    rel = np.abs(fast - exact).max() / np.abs(exact).max()
    if ZPs is not None:
        reference.transform(patches64[:2000])

    results = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            results[name].append(_timed(fn, args.n))

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = os.cpu_count()
    threads = f"{args.threads} thread(s)" if args.threads else f"all {cpus} CPUs"
    print(
        f"Zernike moments: {args.n} patches of {args.size}x{args.size} px, n_max={args.n_max}, "
        f"{threads} ({platform.processor() or platform.machine()}), best/median of {args.repeats}, "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    print(f"max relative error of the float32 folded GEMM vs float64 dense GEMM: {rel:.2e}")
    ref_wall = max(w for w, _ in results["reference mtflearn ZPs float64"]) if ZPs is not None else None
    ref_cpu = max(c for _, c in results["reference mtflearn ZPs float64"]) if ZPs is not None else None
    print(
        f"{'method':40s} {'patches/s':>11s} {'median':>10s} {'ratio':>7s} "
        f"{'patches/CPU-s':>14s} {'ratio':>7s}"
    )
    for name, values in results.items():
        best_wall = max(w for w, _ in values)
        median_wall = statistics.median(w for w, _ in values)
        best_cpu = max(c for _, c in values)
        ratio_wall = f"{best_wall / ref_wall:6.2f}x" if ref_wall else "      -"
        ratio_cpu = f"{best_cpu / ref_cpu:6.2f}x" if ref_cpu else "      -"
        print(
            f"{name:40s} {best_wall:11,.0f} {median_wall:10,.0f} {ratio_wall} "
            f"{best_cpu:14,.0f} {ratio_cpu}"
        )


if __name__ == "__main__":
    main()
