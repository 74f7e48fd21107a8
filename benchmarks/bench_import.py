"""Time ``import motifkit`` in fresh processes (target <= 0.3 s) and list heavy modules loaded."""

from __future__ import annotations

import statistics
import subprocess
import sys

CODE = (
    "import sys, time; t = time.perf_counter(); import motifkit; "
    "print(time.perf_counter() - t); "
    "print(','.join(m for m in ('numba', 'torch', 'bokeh', 'scipy', 'sklearn') if m in sys.modules))"
)


def main():
    times, heavy = [], ""
    for _ in range(7):
        out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout.split("\n")
        times.append(float(out[0]))
        heavy = out[1]
    print(f"import motifkit: median {statistics.median(times) * 1000:.1f} ms over {len(times)} runs "
          f"(target <= 300 ms); heavy modules loaded: {heavy or 'none'}")


if __name__ == "__main__":
    main()
