"""Benchmark: Hankel singular values and balanced truncation against python-control and SLICOT.

Usage::

    python benchmarks/bench_core.py            # n = 20, 50, 100, 200, 400, 1000, 2000
    python benchmarks/bench_core.py --quick    # n = 20, 50, 100 (seconds)
    python benchmarks/bench_core.py --hinf     # also hinf_norm at n = 1000 (continuous)

What is measured, in one run, both time domains at every n:

* **SLICOT** ``ab09ad`` (``dico="C"``/``"D"``, balance & truncate, called through slycot):
  one call computes the Schur form, both Cholesky factors (``sb03ou``, Hammarling), the HSVs
  and the reduced model, so its time is the reference for both ``hankelid.hsv`` and
  ``hankelid.balanced_truncation(sys, 10)``.
* **python-control** (continuous time only): ``control.hsvd`` and ``control.balred(sys, 10)``
  (with slycot; ``hsvd`` solves two Lyapunov equations with ``sb03md`` and takes the
  eigenvalues of ``Wc Wo``).  python-control's ``hsvd`` refuses discrete systems and its
  ``balred`` treats them as continuous, so there is no discrete python-control column.
* **peak memory** of ``hankelid.hsv`` (``tracemalloc``, NumPy allocations) for n >= 1000.
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

  The definition needs a block Hankel matrix of at least ``n`` blocks, so above
  ``--definition-max-n`` (default 400) the reference is SLICOT's HSVs instead (column
  ``vs``).

Targets (issue 12): ``hsv`` and ``balanced_truncation`` >= 1x SLICOT at every n in both
domains; >= 2x python-control at n >= 100 in continuous time; n = 2000 ``hsv`` <= 15 s and
<= 600 MB; ``hinf_norm`` at n = 1000 <= 30 s; every HSV within 1e-8 sigma_1.
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
TARGETS = {
    "slicot_speedup": 1.0,
    "control_speedup_n100": 2.0,
    "hsv_s_n2000": 15.0,
    "hsv_mb_n2000": 600.0,
    "hinf_s_n1000": 30.0,
    "hsv_accuracy": 1e-8,
}
SIZES = [20, 50, 100, 200, 400, 1000, 2000]
QUICK = [20, 50, 100]
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


def _slicot_ab09ad(sys: hk.StateSpace, order: int):
    import slycot

    A, B, C, _ = (np.asfortranarray(np.array(x)) for x in sys.matrices)
    n, m, p = sys.n, sys.m, sys.p
    dico = "D" if sys.is_discrete else "C"

    def call():
        return slycot.ab09ad(
            dico, "B", "N", n, m, p, A.copy(order="F"), B.copy(order="F"), C.copy(order="F"), nr=order
        )

    return call


def _peak_mb(fn) -> float:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def measure(n: int, discrete: bool, reps: int, definition_max_n: int) -> dict:
    sys = discrete_system(n, seed=n + 1) if discrete else continuous_system(n, seed=n)
    order = min(ORDER, n - 1)
    ab09ad = _slicot_ab09ad(sys, order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_hsv = best_time(lambda: hk.hsv(sys), reps)
        t_bt = best_time(lambda: hk.balanced_truncation(sys, order), reps)
        t_slicot = best_time(ab09ad, reps)
        row = {"n": n, "domain": "discrete" if discrete else "continuous"}
        row.update({"hsv_s": t_hsv, "bt_s": t_bt, "slicot_s": t_slicot})
        row["hsv_vs_slicot"] = t_slicot / t_hsv
        row["bt_vs_slicot"] = t_slicot / t_bt
        ours = hk.hsv(sys)
        slicot_hsv = np.asarray(ab09ad()[4])
        if not discrete:
            import control

            csys = sys.to_control()
            row["control_hsv_s"] = best_time(lambda: control.hsvd(csys), reps)
            row["control_bt_s"] = best_time(lambda: control.balred(csys, order), reps)
            row["hsv_vs_control"] = row["control_hsv_s"] / t_hsv
            row["bt_vs_control"] = row["control_bt_s"] / t_bt
    if n <= definition_max_n:
        ref = definition_hsv(sys if discrete else tustin_for_definition(sys), n)
        row["accuracy_reference"] = "definition"
        row["slicot_hsv_err"] = accuracy(slicot_hsv, ref)
    else:
        ref = np.sort(slicot_hsv)[::-1]
        row["accuracy_reference"] = "slicot"
    row["hsv_err"] = accuracy(ours, ref)
    if n >= 1000:
        row["hsv_peak_mb"] = _peak_mb(lambda: hk.hsv(sys))
    return row


def measure_hinf(n: int) -> dict:
    sys = continuous_system(n, seed=n)
    t = best_time(lambda: hk.hinf_norm(sys), 1)
    return {"n": n, "hinf_s": t}


HEADER = (
    f"{'n':>5} {'domain':>10} | {'hsv [s]':>8} {'bt [s]':>8} {'SLICOT':>8} {'hsv x':>6} {'bt x':>6} | "
    f"{'ctl hsv':>8} {'ctl bt':>8} {'hsv x':>6} {'bt x':>6} | {'err':>8} {'vs':>4} {'MB':>6}"
)


def _print(r: dict) -> None:
    ctl = (
        f"{r['control_hsv_s']:>8.3f} {r['control_bt_s']:>8.3f} {r['hsv_vs_control']:>5.2f}x "
        f"{r['bt_vs_control']:>5.2f}x"
        if "control_hsv_s" in r
        else f"{'-':>8} {'-':>8} {'-':>6} {'-':>6}"
    )
    mb = f"{r['hsv_peak_mb']:>6.0f}" if "hsv_peak_mb" in r else f"{'-':>6}"
    print(
        f"{r['n']:>5} {r['domain']:>10} | {r['hsv_s']:>8.3f} {r['bt_s']:>8.3f} {r['slicot_s']:>8.3f} "
        f"{r['hsv_vs_slicot']:>5.2f}x {r['bt_vs_slicot']:>5.2f}x | {ctl} | {r['hsv_err']:>8.1e} "
        f"{r['accuracy_reference'][:4]:>4} {mb}",
        flush=True,
    )


def run(sizes: list[int], definition_max_n: int, repeats_small: int = 3) -> list[dict]:
    print("ratios x: reference time / hankelid time (> 1: hankelid faster); err: max|dsigma|/sigma_1")
    print(HEADER)
    rows = []
    for n in sizes:
        reps = repeats_small if n <= 200 else 1
        for discrete in (False, True):
            row = measure(n, discrete, reps, definition_max_n)
            rows.append(row)
            _print(row)
    return rows


def verdict(rows: list[dict], hinf: dict | None) -> dict:
    v: dict = {
        "min_vs_slicot": min(min(r["hsv_vs_slicot"], r["bt_vs_slicot"]) for r in rows),
        "worst_hsv_err": max(r["hsv_err"] for r in rows),
    }
    ctl = [r for r in rows if "hsv_vs_control" in r and r["n"] >= 100]
    if ctl:
        v["min_vs_control_n100"] = min(min(r["hsv_vs_control"], r["bt_vs_control"]) for r in ctl)
    big = [r for r in rows if r["n"] == 2000]
    if big:
        v["hsv_s_n2000"] = max(r["hsv_s"] for r in big)
        v["hsv_mb_n2000"] = max(r["hsv_peak_mb"] for r in big)
    if hinf:
        v["hinf_s_n1000"] = hinf["hinf_s"]
    return v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"n = {QUICK} only")
    ap.add_argument("--sizes", type=int, nargs="*", help="override the sizes")
    ap.add_argument("--hinf", action="store_true", help="also time hinf_norm at n = 1000")
    ap.add_argument(
        "--definition-max-n", type=int, default=400, help="largest n checked against the definition"
    )
    args = ap.parse_args()
    sizes = args.sizes or (QUICK if args.quick else SIZES)
    t0 = time.perf_counter()
    rows = run(sizes, args.definition_max_n)
    hinf = measure_hinf(1000) if args.hinf else None
    if hinf:
        print(f"hinf_norm n=1000 continuous: {hinf['hinf_s']:.1f} s (target {TARGETS['hinf_s_n1000']:g} s)")
    v = verdict(rows, hinf)
    print(
        f"\nworst HSV error {v['worst_hsv_err']:.1e} sigma_1 (target {TARGETS['hsv_accuracy']:g}); "
        f"slowest ratio vs SLICOT {v['min_vs_slicot']:.2f}x (target {TARGETS['slicot_speedup']:g}x)"
        + (
            f"; vs python-control at n >= 100 {v['min_vs_control_n100']:.2f}x "
            f"(target {TARGETS['control_speedup_n100']:g}x)"
            if "min_vs_control_n100" in v
            else ""
        )
    )
    if "hsv_s_n2000" in v:
        hsv_s, mb = v["hsv_s_n2000"], v["hsv_mb_n2000"]
        print(f"n = 2000: hsv {hsv_s:.1f} s, peak {mb:.0f} MB (targets 15 s, 600 MB)")
    out = {
        "benchmark": "bench_core",
        "sizes": sizes,
        "order": ORDER,
        "targets": TARGETS,
        "verdict": v,
        "hinf": hinf,
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
            "load_average": os.getloadavg(),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("bench_core_quick.json" if args.quick else "bench_core.json")
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
