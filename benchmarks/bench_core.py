"""Benchmark: Hankel singular values and balanced truncation against python-control and SLICOT.

Usage::

    python benchmarks/bench_core.py            # n = 100, 200, 400, 600, 1000
    python benchmarks/bench_core.py --quick    # n = 100, 200 (a few seconds)

What is measured, in one run:

* **continuous time**: ``hankelid.hsv`` vs ``control.hsvd`` and
  ``hankelid.balanced_truncation(sys, 10)`` vs ``control.balred(sys, 10)`` (python-control
  with slycot; ``hsvd`` solves two Lyapunov equations with ``sb03md`` and takes the eigenvalues
  of ``Wc Wo``).
* **discrete time**: ``hankelid.hsv`` / ``balanced_truncation`` vs SLICOT ``ab09ad`` with
  ``dico="D"`` called directly through slycot (python-control's ``hsvd`` refuses discrete
  systems and its ``balred`` treats them as continuous).
* **accuracy** against the definition: the singular values of a long block Hankel matrix of
  Markov parameters of a discrete-time system.  Continuous systems are mapped by the Tustin
  transform (which preserves the HSVs) with ``dt`` chosen to centre the poles on the unit
  disk; the systems have poles ``Re in [-5, -0.3]``, ``|Im| <= 5`` (continuous) or
  ``|z| <= 0.92`` (discrete) so that a block Hankel of a few hundred blocks captures the
  decay.  Reported: ``max_i |sigma_i - sigma_i^def| / sigma_1`` over all HSVs.

Timing: best of several calls (fewer for the large sizes).  BLAS threads default to 1
(``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` set before NumPy is imported unless already
exported) so shared machines give steady numbers; both sides run under the same setting,
recorded in the JSON.

Targets (issue 3): at n = 600, hsv >= 2x faster than python-control ``hsvd`` with every HSV
within 1e-8 sigma_1 of the definition; balanced truncation at least as fast as ``balred``.
Results go to ``benchmarks/results/bench_core.json`` (``bench_core_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)
import scipy  # noqa: E402
import scipy.linalg as sla  # noqa: E402

import hankelid as hk  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"hsv_speedup_n600": 2.0, "bt_speedup_n600": 1.0, "hsv_accuracy": 1e-8}
ORDER = 10


def continuous_system(n: int, seed: int, m: int = 1, p: int = 1) -> hk.StateSpace:
    """Poles with Re in [-5, -0.3] and |Im| <= 5, dense behind a random orthogonal basis.

    Also the continuous test systems of ``tests/core/test_hsv.py``: a decay that a block Hankel
    matrix of a few hundred blocks captures.
    """
    rng = np.random.default_rng(seed)
    blocks = []
    k = 0
    while k < n:
        re = -rng.uniform(0.3, 5.0)
        if n - k >= 2 and rng.random() < 0.5:
            im = rng.uniform(0.05, 5.0)
            blocks.append(np.array([[re, im], [-im, re]]))
            k += 2
        else:
            blocks.append(np.array([[re]]))
            k += 1
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ sla.block_diag(*blocks) @ Q.T
    return hk.StateSpace(A, rng.standard_normal((n, m)), rng.standard_normal((p, n)))


def discrete_system(n: int, seed: int) -> hk.StateSpace:
    return hk.random_stable(n, 1, 1, dt=1.0, seed=seed, pole_radius=(0.05, 0.92))


def tustin_for_definition(sys: hk.StateSpace) -> hk.StateSpace:
    """Tustin discretisation with ``dt`` centring the poles on the unit disk (the HSVs are kept)."""
    mag = np.abs(sys.poles())
    return hk.c2d(sys, 2.0 / np.sqrt(mag.max() * mag.min()), "tustin")


def definition_hsv(sysd: hk.StateSpace, count: int) -> np.ndarray:
    """Leading singular values of the block Hankel matrix [h_{i+j+1}] (SISO here)."""
    rho = float(np.max(np.abs(sysd.poles())))
    blocks = int(min(3000, max(count + 10, np.ceil(40.0 / -np.log(rho)))))
    s = hk.hankel_hsv(hk.markov_parameters(sysd, 2 * blocks + 1), blocks, blocks)
    out = np.zeros(count)
    out[: min(count, s.size)] = s[:count]
    return out


def accuracy(sig: np.ndarray, ref: np.ndarray) -> float:
    sig = np.sort(np.real(np.asarray(sig, dtype=complex)))[::-1]
    sig = np.nan_to_num(sig, nan=np.inf)
    k = min(sig.size, ref.size)
    return float(np.max(np.abs(sig[:k] - ref[:k])) / ref[0])


def best_time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_continuous(n: int, reps: int) -> dict:
    import control

    sys = continuous_system(n, seed=n)
    csys = sys.to_control()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_hsv = best_time(lambda: hk.hsv(sys), reps)
        t_hsvd = best_time(lambda: control.hsvd(csys), reps)
        t_bt = best_time(lambda: hk.balanced_truncation(sys, ORDER), reps)
        t_balred = best_time(lambda: control.balred(csys, ORDER), reps)
        ours = hk.hsv(sys)
        theirs = control.hsvd(csys)
    ref = definition_hsv(tustin_for_definition(sys), n)
    return {
        "n": n,
        "domain": "continuous",
        "reference": "python-control hsvd / balred",
        "hsv_s": t_hsv,
        "ref_hsv_s": t_hsvd,
        "hsv_speedup": t_hsvd / t_hsv,
        "bt_s": t_bt,
        "ref_bt_s": t_balred,
        "bt_speedup": t_balred / t_bt,
        "hsv_err": accuracy(ours, ref),
        "ref_hsv_err": accuracy(theirs, ref),
        "ref_hsv_complex": bool(np.iscomplexobj(theirs) and np.any(np.imag(theirs) != 0)),
    }


def measure_discrete(n: int, reps: int) -> dict:
    import slycot

    sysd = discrete_system(n, seed=n + 1)
    A, B, C, _ = (np.asfortranarray(np.array(x)) for x in sysd.matrices)

    def ab09ad(nr: int):
        return slycot.ab09ad(
            "D", "B", "N", n, 1, 1, A.copy(order="F"), B.copy(order="F"), C.copy(order="F"), nr=nr
        )

    t_hsv = best_time(lambda: hk.hsv(sysd), reps)
    t_ref = best_time(lambda: ab09ad(ORDER), reps)  # ab09ad returns the HSVs with the model
    t_bt = best_time(lambda: hk.balanced_truncation(sysd, ORDER), reps)
    ours = hk.hsv(sysd)
    theirs = ab09ad(ORDER)[4]
    ref = definition_hsv(sysd, n)
    return {
        "n": n,
        "domain": "discrete",
        "reference": "SLICOT ab09ad (dico=D)",
        "hsv_s": t_hsv,
        "ref_hsv_s": t_ref,
        "hsv_speedup": t_ref / t_hsv,
        "bt_s": t_bt,
        "ref_bt_s": t_ref,
        "bt_speedup": t_ref / t_bt,
        "hsv_err": accuracy(ours, ref),
        "ref_hsv_err": accuracy(theirs, ref),
        "ref_hsv_complex": False,
    }


def run(sizes: list[int], repeats_small: int = 3) -> dict:
    rows = []
    print(
        f"{'n':>5} {'domain':>10} | {'hsv [s]':>8} {'ref [s]':>8} {'speedup':>7} | {'bt [s]':>8} "
        f"{'ref [s]':>8} {'speedup':>7} | {'err ours':>9} {'err ref':>9}   (err: max|dsigma|/sigma_1 "
        "vs block Hankel)"
    )
    for n in sizes:
        reps = repeats_small if n <= 400 else 1
        for measure in (measure_continuous, measure_discrete):
            row = measure(n, reps)
            rows.append(row)
            _print(row)
    return {"rows": rows}


def _print(r: dict) -> None:
    print(
        f"{r['n']:>5} {r['domain']:>10} | {r['hsv_s']:>8.3f} {r['ref_hsv_s']:>8.3f} "
        f"{r['hsv_speedup']:>6.2f}x | "
        f"{r['bt_s']:>8.3f} {r['ref_bt_s']:>8.3f} {r['bt_speedup']:>6.2f}x | {r['hsv_err']:>9.1e} "
        f"{r['ref_hsv_err']:>9.1e}" + ("  (ref HSVs complex)" if r["ref_hsv_complex"] else ""),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 100, 200 only")
    ap.add_argument("--sizes", type=int, nargs="*", help="override the sizes")
    args = ap.parse_args()
    sizes = args.sizes or ([100, 200] if args.quick else [100, 200, 400, 600, 1000])
    t0 = time.perf_counter()
    result = run(sizes)
    rows = result["rows"]
    at600 = [r for r in rows if r["n"] == 600 and r["domain"] == "continuous"]
    verdict = {}
    if at600:
        r = at600[0]
        verdict = {
            "hsv_speedup_n600": r["hsv_speedup"],
            "bt_speedup_n600": r["bt_speedup"],
            "hsv_err_n600": r["hsv_err"],
            "meets_targets": bool(
                r["hsv_speedup"] >= TARGETS["hsv_speedup_n600"]
                and r["bt_speedup"] >= TARGETS["bt_speedup_n600"]
                and r["hsv_err"] <= TARGETS["hsv_accuracy"]
            ),
        }
    worst = max(r["hsv_err"] for r in rows)
    print(
        f"\nworst hankelid HSV error vs the definition: {worst:.1e} sigma_1 "
        f"(target {TARGETS['hsv_accuracy']:g})"
    )
    if verdict:
        print(
            f"n=600 continuous: hsv {verdict['hsv_speedup_n600']:.2f}x, balanced truncation "
            f"{verdict['bt_speedup_n600']:.2f}x python-control; meets targets: {verdict['meets_targets']}"
        )
    out = {
        "benchmark": "bench_core",
        "sizes": sizes,
        "order": ORDER,
        "targets": TARGETS,
        "verdict": verdict,
        "worst_hsv_err": worst,
        "rows": rows,
        "seconds": time.perf_counter() - t0,
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "control": __import__("control").__version__,
            "slycot": __import__("slycot").__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("bench_core_quick.json" if args.quick else "bench_core.json")
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
