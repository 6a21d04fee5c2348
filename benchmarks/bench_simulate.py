"""Benchmark: ``hk.simulate`` vs ``scipy.signal.dlsim`` (and the sequential loop), same data.

Usage::

    python benchmarks/bench_simulate.py            # N = 1e4, 1e5, 1e6
    python benchmarks/bench_simulate.py --quick    # N = 1e4, 1e5

Set-up: a random stable discrete system (``hk.random_stable``) with n = 10 states, m = p = 2,
Gaussian input, random initial state. Variants, in the same run and on the same arrays:

* ``hankelid``: ``hk.simulate`` (real Schur form, one ``lfilter`` per 1×1/2×2 block, defect check);
* ``dlsim``: ``scipy.signal.dlsim`` (a Python loop over samples);
* ``loop``: ``hk.simulate(..., algorithm="loop")``, the plain sequential recurrence.

Timing: process CPU time (``time.process_time``), median of ``--repeats`` interleaved rounds
after a warm-up, so that a busy shared machine disturbs the ratio less than wall time would.
BLAS threads are not pinned here: set ``OPENBLAS_NUM_THREADS=1`` on an oversubscribed machine.
The table prints times and the ratio ``reference / hankelid`` (> 1: hankelid is faster) and the
largest absolute difference of the outputs. Results: ``benchmarks/results/bench_simulate.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.signal as ss

import hankelid as hk


def _time(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up, and the result for the accuracy column
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_simulate.json"))
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    sys = hk.random_stable(10, 2, 2, dt=1.0, seed=0)
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(10)
    rows = []
    head = ("N", "hankelid s", "dlsim s", "loop s", "dlsim/hk", "loop/hk", "max|dy|")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (9, 11, 9, 9, 9, 8, 9))))
    for N in sizes:
        u = rng.standard_normal((N, 2))
        t_hk, y_hk = _time(lambda u=u: hk.simulate(sys, u, x0), args.repeats)
        t_dl, res = _time(lambda u=u: ss.dlsim((sys.A, sys.B, sys.C, sys.D, 1.0), u, x0=x0), args.repeats)
        y_dl = res[1]
        t_lp = None
        if N <= 100_000:
            t_lp, _ = _time(lambda u=u: hk.simulate(sys, u, x0, algorithm="loop"), 1)
        diff = float(np.abs(np.asarray(y_hk) - y_dl).max())
        row = {
            "N": N,
            "hankelid_s": t_hk,
            "dlsim_s": t_dl,
            "loop_s": t_lp,
            "ratio_dlsim": t_dl / t_hk,
            "ratio_loop": None if t_lp is None else t_lp / t_hk,
            "max_abs_diff": diff,
        }
        rows.append(row)
        loop_s = "-" if t_lp is None else f"{t_lp:9.3f}"
        loop_r = "-" if t_lp is None else f"{t_lp / t_hk:8.1f}"
        print(f"{N:>9} {t_hk:11.3f} {t_dl:9.3f} {loop_s:>9} {t_dl / t_hk:9.1f} {loop_r:>8} {diff:9.1e}")
    meta = {
        "system": "random_stable(10, 2, 2, dt=1.0, seed=0)",
        "clock": "process_time, median",
        "repeats": args.repeats,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
