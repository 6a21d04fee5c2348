"""Benchmark: empirical Gramians (vectorized vs a per-trajectory loop) and ERA identification.

Usage::

    python benchmarks/bench_empirical.py            # n = 64, m = p = 8, L = 1024, 256 trajectories
    python benchmarks/bench_empirical.py --quick    # small sizes, a few seconds

What is measured, in one run:

* **empirical controllability + observability Gramians** from Gaussian input sequences
  (``hankelid.empirical_gramian_factors(sys, inputs="gaussian")``, both estimates in one call
  as balanced truncation takes them, Gramians formed from the factors) against a straightforward
  per-trajectory simulation loop of the *same estimator* (what emgr does: for each trajectory,
  step ``x = A x + B u_k`` through time, then accumulate ``x_L x_L^T``; the adjoint system for
  observability).  The loop draws exactly the same input numbers (the same SFC64 streams, one
  trajectory at a time), so both produce the same estimate up to rounding: equal accuracy.
  Accuracy is the relative Frobenius error against the exact Gramians from
  ``scipy.linalg.solve_discrete_lyapunov``.  Timing: median of repeated calls for the
  vectorized path (15 calls), median of three passes of the loop (each takes seconds): the
  loop's own time varies by +-30% between passes on this shared machine.
  The one call runs the two estimates concurrently (their input streams are independent and
  drawing them releases the GIL), so it uses both cores of this machine while the loop uses
  one; also timed, for that reason: two separate ``empirical_gramian`` calls (one thread; the
  same numbers), and drawing the ``2 N L m`` input samples alone, the floor of a one-thread run.
* **ERA** (``hankelid.era``, automatic order) on 1000 Markov parameters of a 10x10 MIMO system
  of order 20: median time, the order found, and the relative error of the reproduced Markov
  parameters.

BLAS threads default to 1 (``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``, set before NumPy is
imported unless already exported): on a shared 2-core machine, multi-threaded BLAS spin-waits on
the small products of both paths and makes the timings erratic.  Both paths run under the same
setting; it is recorded in the JSON.

Targets (issue 4): empirical c+o under 1 s and at least 50x faster than the loop; ERA under 1 s.
Results go to ``benchmarks/results/bench_empirical.json`` (``bench_empirical_quick.json`` with
``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)
import scipy  # noqa: E402
import scipy.linalg as sla  # noqa: E402

import hankelid as hk  # noqa: E402
from hankelid.empirical import _input_generators  # noqa: E402  (the input streams, to replay them)

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"empirical_s": 1.0, "empirical_speedup": 50.0, "era_s": 1.0}


def loop_gramian(
    A: np.ndarray, B: np.ndarray, length: int, n_traj: int, rng: np.random.Generator
) -> np.ndarray:
    """The same Gaussian final-state estimator, one trajectory and one time step at a time."""
    n, m = B.shape
    W = np.zeros((n, n))
    for _ in range(n_traj):
        u = rng.standard_normal((length, m))
        x = np.zeros(n)
        for k in range(length):
            x = A @ x + B @ u[k]
        W += np.outer(x, x)
    return W / n_traj


def median_time(fn, repeats: int, warm_up: bool = True) -> tuple[float, object]:
    if warm_up:
        fn()
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def rel(X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.linalg.norm(X - Y) / np.linalg.norm(Y))


def bench_empirical(
    n: int, io: int, length: int, n_traj: int, seed: int, repeats: int, loop_repeats: int
) -> dict:
    sys = hk.random_stable(n, io, io, dt=1.0, seed=seed)
    A, B, C, _ = (np.array(M) for M in sys.matrices)
    exact = {"c": sla.solve_discrete_lyapunov(A, B @ B.T), "o": sla.solve_discrete_lyapunov(A.T, C.T @ C)}
    kw = {"inputs": "gaussian", "length": length, "n_trajectories": n_traj, "seed": seed}

    def fast() -> dict[str, np.ndarray]:  # both estimates in one call, as balanced truncation uses them
        Lc, Lo = hk.empirical_gramian_factors(sys, **kw)
        return {"c": Lc @ Lc.T, "o": Lo @ Lo.T}

    def separate() -> dict[str, np.ndarray]:  # one call per Gramian: one thread
        return {kind: hk.empirical_gramian(sys, kind, **kw) for kind in "co"}

    fast_s, est = median_time(fast, repeats)
    separate_s, est_sep = median_time(separate, repeats)

    def draw_only() -> None:  # the floor of this estimator: drawing its 2 N L m input samples
        rng_c, rng_o = _input_generators(seed)
        rng_c.standard_normal((n_traj, length * io))
        rng_o.standard_normal((n_traj, length * io))

    draw_s, _ = median_time(draw_only, repeats)

    def looped() -> dict[str, np.ndarray]:
        rng_fwd, rng_adj = _input_generators(seed)
        return {
            "c": loop_gramian(A, B, length, n_traj, rng_fwd),
            "o": loop_gramian(A.T, C.T, length, n_traj, rng_adj),
        }

    loop_s, loop = median_time(looped, loop_repeats, warm_up=False)
    return {
        "n": n,
        "m": io,
        "p": io,
        "length": length,
        "n_trajectories": n_traj,
        "max_pole_modulus": float(np.max(np.abs(sys.poles()))),
        "vectorized_s": fast_s,
        "loop_s": loop_s,
        "speedup": loop_s / fast_s,
        "separate_calls_s": separate_s,
        "speedup_separate_calls": loop_s / separate_s,
        "rel_diff_one_call_vs_separate": {k: rel(est[k], est_sep[k]) for k in "co"},
        "input_draw_s": draw_s,
        "rel_err_vectorized": {k: rel(est[k], exact[k]) for k in "co"},
        "rel_err_loop": {k: rel(loop[k], exact[k]) for k in "co"},
        "rel_diff_vectorized_vs_loop": {k: rel(est[k], loop[k]) for k in "co"},
        "expected_rel_err": {  # sqrt((1 + tr(W)^2 / ||W||_F^2) / N), the estimator's RMS error
            k: float(np.sqrt((1 + np.trace(exact[k]) ** 2 / np.linalg.norm(exact[k]) ** 2) / n_traj))
            for k in "co"
        },
    }


def bench_era(n: int, io: int, length: int, seed: int, repeats: int) -> dict:
    true = hk.random_stable(n, io, io, dt=1.0, seed=seed)
    h = hk.markov_parameters(true, length)
    era_s, (model, info) = median_time(lambda: hk.era(h, return_info=True), repeats)
    return {
        "n": n,
        "m": io,
        "p": io,
        "markov_parameters": length,
        "hankel_shape": [info.rows * io, info.cols * io],
        "svd": info.svd,
        "era_s": era_s,
        "order_found": model.n,
        "rel_err_markov": rel(hk.markov_parameters(model, length), h),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    if args.quick:
        emp = bench_empirical(16, 2, 256, 64, args.seed, repeats=5, loop_repeats=1)
        era = bench_era(8, 4, 200, args.seed, repeats=3)
    else:
        emp = bench_empirical(64, 8, 1024, 256, args.seed, repeats=15, loop_repeats=3)
        era = bench_era(20, 10, 1000, args.seed, repeats=5)
    result = {
        "benchmark": "bench_empirical",
        "quick": args.quick,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "cpus": os.cpu_count(),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "load_average_1min": os.getloadavg()[0],
        },
        "targets": TARGETS,
        "empirical_gramians": emp,
        "era": era,
        "met": {
            "empirical_s": emp["vectorized_s"] < TARGETS["empirical_s"],
            "empirical_speedup": emp["speedup"] >= TARGETS["empirical_speedup"],
            "era_s": era["era_s"] < TARGETS["era_s"],
        },
    }
    e = emp
    print(f"empirical Gramians c+o: n={e['n']}, m=p={e['m']}, L={e['length']}, N={e['n_trajectories']}")
    print(f"{'':28}{'time [s]':>10}{'rel err Wc':>12}{'rel err Wo':>12}")
    print(
        f"{'hankelid (vectorized)':28}{e['vectorized_s']:10.4f}"
        f"{e['rel_err_vectorized']['c']:12.4f}{e['rel_err_vectorized']['o']:12.4f}"
    )
    print(
        f"{'per-trajectory loop':28}{e['loop_s']:10.4f}"
        f"{e['rel_err_loop']['c']:12.4f}{e['rel_err_loop']['o']:12.4f}"
    )
    print(
        f"{'ratio loop / vectorized':28}{e['speedup']:10.1f}x  (target {TARGETS['empirical_speedup']:.0f}x)"
    )
    print(
        f"{'two calls (one thread)':28}{e['separate_calls_s']:10.4f}"
        f"{'':24}{e['speedup_separate_calls']:6.1f}x"
    )
    print(
        f"{'drawing the inputs alone':28}{e['input_draw_s']:10.4f}"
        f"{'':24}{e['loop_s'] / e['input_draw_s']:6.1f}x"
    )
    print(f"{'vectorized vs loop, rel diff':28}{max(e['rel_diff_vectorized_vs_loop'].values()):10.1e}")
    print(f"{'one call vs two, rel diff':28}{max(e['rel_diff_one_call_vs_separate'].values()):10.1e}")
    r = era
    print(
        f"ERA: {r['m']}x{r['p']} MIMO, {r['markov_parameters']} Markov parameters, "
        f"Hankel {r['hankel_shape']}, "
        f"svd={r['svd']}: {r['era_s']:.4f} s, order {r['order_found']} (true {r['n']}), "
        f"rel err {r['rel_err_markov']:.1e}"
    )
    print("targets met:", result["met"])
    out = args.output or RESULTS / ("bench_empirical_quick.json" if args.quick else "bench_empirical.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
