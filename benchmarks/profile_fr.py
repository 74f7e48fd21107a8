"""Profile the force-relaxed layout stage by stage in CPU seconds (one thread).

Runs every measurement in a fresh subprocess with ``NUMBA_NUM_THREADS=1`` and single-
threaded BLAS, so the numbers are CPU seconds of one core (``time.process_time``) and
do not depend on the load of a shared machine. Kernels are compiled (and cached) on a
small problem first, so compilation is not counted. Optionally compares against another
copy of the package (``--baseline /path/containing/motifkit``) in the same run, the two
interleaved per N.

Usage::

    python benchmarks/profile_fr.py --sizes 10000 50000 [--baseline /tmp/fr_orig] [--recall]

Prints per N: CPU seconds of kNN, graph, init and layout (as ``ForceRelaxedLayout.timings_``
reports them, with the clock switched to CPU time), peak RSS of the process (ru_maxrss)
and its growth during ``fit``, ARI of KMeans(6) on the layout against the truth, the small
cluster's recall and precision, and (``--recall``) the kNN recall against the exact search.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
import numpy as np
import motifkit._utils as mu

class _CpuClock:  # Timer reads time.perf_counter: make it CPU time of this process
    perf_counter = staticmethod(time.process_time)

mu.time = _CpuClock
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from motifkit.layout import ForceRelaxedLayout, knn_recall, nearest_neighbors
from motifkit.layout._synthetic import make_imbalanced_mixture

n, want_recall, cache = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
# compile / load every kernel on a small problem first
Xw, _ = make_imbalanced_mixture(600, random_state=1)
ForceRelaxedLayout(random_state=0, knn="approximate").fit(Xw)
ForceRelaxedLayout(random_state=0, knn="exact").fit(Xw)
X, labels = make_imbalanced_mixture(n, n_features=66, n_clusters=6, small_ratio=0.1, cluster_std=1.25,
                                    random_state=0)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
fr = ForceRelaxedLayout(random_state=0).fit(X)
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
Y = fr.embedding_
pred = KMeans(n_clusters=6, n_init=10, random_state=0).fit_predict(Y)
small = labels == 5
best = np.bincount(pred[small]).argmax()
out = dict(n=n, knn_method=fr.knn_method_, **{k: round(v, 3) for k, v in fr.timings_.items()},
           ari=round(adjusted_rand_score(labels, pred), 5), small_recall=round(float(np.mean(pred[small] == best)), 5),
           small_precision=round(float(np.mean(labels[pred == best] == 5)), 5),
           rss_before_mb=round(rss0), peak_rss_mb=round(rss1), n_edges=int(fr.graph_.nnz))
if want_recall:
    import os
    path = f"{cache}/exact_knn_{n}.npy"
    if os.path.exists(path):
        exact = np.load(path)
    else:
        exact, _ = nearest_neighbors(X, 10, method="exact")
        np.save(path, exact)
    out["knn_recall"] = round(knn_recall(fr.knn_indices_, exact), 5)
print("RESULT " + json.dumps(out))
"""


def run_child(tree: str, n: int, recall: bool, cache: str) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=tree)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(n), "1" if recall else "0", cache],
                          env=env, capture_output=True, text=True, cwd=tree)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child failed for {tree} N={n}:\n{proc.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--baseline", help="folder containing another copy of the motifkit package")
    parser.add_argument("--recall", action="store_true", help="also measure kNN recall (exact search, cached)")
    parser.add_argument("--cache", default="/tmp", help="folder for the cached exact kNN")
    args = parser.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"current": here}
    if args.baseline:
        trees = {"baseline": args.baseline, **trees}
    keys = ("knn", "graph", "init", "layout", "total", "ari", "small_recall", "small_precision",
            "knn_recall", "peak_rss_mb", "rss_before_mb", "n_edges")
    for n in args.sizes:
        rows = {name: run_child(tree, n, args.recall, args.cache) for name, tree in trees.items()}
        print(f"\nN = {n} (CPU seconds, one thread; knn method {rows['current']['knn_method']})")
        print(f"{'':16s}" + "".join(f"{name:>12s}" for name in rows))
        for key in keys:
            if all(key in r for r in rows.values()):
                print(f"{key:16s}" + "".join(f"{r[key]:>12}" for r in rows.values()))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
