"""Benchmark: force-relaxed layout vs umap-learn vs the reference FR (mtflearn), side by side.

Data: the imbalanced 66-d Gaussian mixture of METHODS.md (6 isotropic clusters, the last
one 10x smaller; ``motifkit.layout._synthetic.make_imbalanced_mixture``, cluster_std 1.25).
For each N every method runs in its own subprocess so that peak memories do not mix:

- ``ours-serial``  : ``ForceRelaxedLayout(knn="auto", parallel=False)``
- ``ours-parallel``: ``ForceRelaxedLayout(knn="auto", parallel=True)``
- ``umap``         : ``umap.UMAP()`` with its defaults (euclidean, 15 neighbours)
- ``reference``    : ``mtflearn.manifold.ForceGraph8`` with its defaults (the authors' FR)
- ``umap-k10-correlation`` (only with ``--methods``): umap-learn on FR's neighbourhood

Each subprocess first fits a 500-point warm-up (numba compilation, cached on disk) and
then times ``fit_transform`` on the full data (kNN + graph + layout). Reported: wall
time, CPU time, peak resident memory of the subprocess (``ru_maxrss``, includes Python and
the libraries; no tracemalloc during the timed fit, since tracing slows Python-heavy code);
ARI of KMeans (k = 6) and of motifkit's density labelling (HDBSCAN) on the layout; recall
and precision of the small cluster (KMeans). The kNN recall of the approximate search
against the exact one is reported separately.

Usage::

    .venv/bin/python benchmarks/bench_layout.py                    # N = 2k, 10k, 50k
    .venv/bin/python benchmarks/bench_layout.py --sizes 2000 10000 --reference-max-n 10000

The reference FR is skipped above ``--reference-max-n`` (default 50000) or stopped after
``--timeout`` seconds; then the METHODS.md anchor (measured by the project on a 2-core
machine) is printed instead, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

METHODS = ("ours-serial", "ours-parallel", "umap", "reference")
EXTRA_METHODS = ("umap-k10-correlation",)  # umap on the same neighbourhood as FR
# METHODS.md anchors (2-core machine): seconds and peak memory
ANCHORS = {
    "reference": {2000: 1.4, 10000: 11.2, 50000: 104.0, "mem_50k_gb": 2.4},
    "umap": {2000: 6.3, 10000: 11.5, 50000: 29.6, "mem_50k_gb": 0.7},
}


def _data(n: int, seed: int):
    from motifkit.layout._synthetic import make_imbalanced_mixture

    return make_imbalanced_mixture(n, n_features=66, n_clusters=6, small_ratio=0.1, cluster_std=1.25,
                                   random_state=seed)


def _make(method: str, seed: int):
    if method.startswith("ours"):
        from motifkit.layout import ForceRelaxedLayout

        return ForceRelaxedLayout(knn="auto", parallel=method == "ours-parallel", random_state=seed)
    if method == "umap":
        import umap

        return umap.UMAP()  # defaults, as in the METHODS.md anchor
    if method == "umap-k10-correlation":
        import umap

        return umap.UMAP(n_neighbors=10, metric="correlation")
    if method == "reference":
        from mtflearn.manifold.force_relaxed import ForceGraph8

        return ForceGraph8()  # the authors' defaults (k=10, correlation, 10 negatives)
    raise ValueError(method)


def _fit(model, X):
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the reference prints progress
        if type(model).__name__ == "ForceGraph8":
            model.fit(X)
            return model.y
        return model.fit_transform(X)


def _scores(Y, labels):
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from motifkit.motifs import MotifLabeler

    Y = np.asarray(Y, dtype=np.float64)
    small = labels.max()
    predicted = KMeans(n_clusters=6, n_init=10, random_state=0).fit_predict(Y)
    best = np.bincount(predicted[labels == small]).argmax()
    density = MotifLabeler(method="density").fit(Y).labels_
    majority = {c: np.bincount(labels[predicted == c]).argmax() for c in np.unique(predicted)}
    wrong = int(np.sum(np.array([majority[c] for c in predicted]) != labels))
    return {
        "misassigned": wrong,
        "ari_kmeans": float(adjusted_rand_score(labels, predicted)),
        "ari_density": float(adjusted_rand_score(labels, density)),
        "n_density_clusters": int(density.max() + 1),
        "small_recall": float(np.mean(predicted[labels == small] == best)),
        "small_precision": float(np.mean(labels[predicted == best] == small)),
    }


def worker(method: str, n: int, seed: int) -> dict:
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    X, labels = _data(n, seed)
    X = X.astype("float64")
    warm_X, _ = _data(500, seed + 1)
    _fit(_make(method, seed), warm_X)
    model = _make(method, seed)
    # no tracemalloc here: tracing every allocation slows Python-heavy code (the peers) most
    wall, cpu = time.perf_counter(), time.process_time()
    Y = _fit(model, X)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "method": method, "n": n, "wall_s": wall, "cpu_s": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    if method.startswith("ours"):
        result["timings"] = {key: round(value, 3) for key, value in model.timings_.items()}
        result["knn_method"] = model.knn_method_
    result.update(_scores(Y, labels))
    return result


def knn_recall_row(n: int, seed: int) -> dict:
    """Exact vs approximate search on the benchmark data: time and recall."""
    from motifkit.layout import knn_recall, nearest_neighbors

    X, _ = _data(n, seed)
    t = time.perf_counter()
    exact, _ = nearest_neighbors(X, 10, method="exact")
    t_exact = time.perf_counter() - t
    t = time.perf_counter()
    approx, _, info = nearest_neighbors(X, 10, method="approximate", random_state=seed, return_info=True)
    t_approx = time.perf_counter() - t
    return {"n": n, "exact_s": t_exact, "approx_s": t_approx, "recall": knn_recall(approx, exact),
            "pairs_evaluated": info["pairs_evaluated"]}


def _run_worker(method: str, n: int, seed: int, timeout: float) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", method, str(n), str(seed)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "error": f"timeout after {timeout:.0f} s"}
    if done.returncode != 0:
        return {"method": method, "n": n, "error": done.stderr.strip().splitlines()[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(row: dict, ref: dict | None, umap_row: dict | None) -> str:
    if "error" in row:
        anchor = ANCHORS.get(row["method"], {}).get(row["n"])
        note = f" (METHODS.md anchor: {anchor} s)" if anchor else ""
        return f"| {row['n']} | {row['method']} | {row['error']}{note} | | | | | | | | |"
    vs_umap = f"{row['wall_s'] / umap_row['wall_s']:.2f}" if umap_row and "error" not in umap_row else "-"
    vs_ref = f"{row['wall_s'] / ref['wall_s']:.3f}" if ref and "error" not in ref else "-"
    return (f"| {row['n']} | {row['method']} | {row['wall_s']:.2f} | {row['cpu_s']:.1f} | {vs_umap} | {vs_ref} | "
            f"{row['peak_rss_mb']:.0f} | {row['ari_kmeans']:.4f} | "
            f"{row['ari_density']:.4f} ({row['n_density_clusters']}) | {row['misassigned']} | "
            f"{row['small_recall']:.3f} / {row['small_precision']:.3f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS + EXTRA_METHODS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-max-n", type=int, default=50000)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "N", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        method, n, seed = args.worker
        print(json.dumps(worker(method, int(n), int(seed))))
        return

    print(f"# bench_layout: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print("| N | method | wall s | CPU s | / umap | / reference | peak RSS MB | "
          "ARI KMeans | ARI density (clusters) | misassigned (KMeans) | small cluster recall / precision |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        rows = {}
        for method in args.methods:
            if method == "reference" and n > args.reference_max_n:
                rows[method] = {"method": method, "n": n, "error": "skipped (--reference-max-n)"}
                continue
            rows[method] = _run_worker(method, n, args.seed, args.timeout)
        for method in args.methods:
            print(_fmt(rows[method], rows.get("reference"), rows.get("umap")), flush=True)
        for method in ("ours-serial", "ours-parallel"):
            if method in rows and "timings" in rows[method]:
                print(f"|   | {method} split: {rows[method]['timings']} (kNN: {rows[method]['knn_method']}) "
                      "| | | | | | | | | | |")
    print()
    print("| N | exact kNN s | approximate kNN s | recall@10 | pairs evaluated / N^2 |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        row = knn_recall_row(n, args.seed)
        print(f"| {n} | {row['exact_s']:.2f} | {row['approx_s']:.2f} | {row['recall']:.4f} | "
              f"{row['pairs_evaluated']:.3f} |", flush=True)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
