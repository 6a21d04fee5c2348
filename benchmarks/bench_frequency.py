"""Benchmark: frequency-domain identification (Loewner, AAA, vector fitting) against pyMOR.

Usage::

    python benchmarks/bench_frequency.py            # K = 1,000 and 10,000 frequencies
    python benchmarks/bench_frequency.py --quick    # K = 200 (seconds)

What is measured, in one run of each method on the same data: a lightly damped structure with
20 modes (order 40), 4 force inputs and 4 velocity outputs, sampled without noise at K
log-spaced frequencies over two decades around its modes. Each method is asked for an order-40
model:

* **Loewner**: `hk.loewner(frd, order=40, directions="random")` vs pyMOR
  `LoewnerReductor(s, H, mimo_handling="random").reduce(r=40)` (one random tangential direction
  per frequency on both sides). pyMOR adds the conjugate frequencies and works on the complex
  pencil; hankelid on the real one. Both build the pencil from at most `--max-points`
  frequencies (hankelid's `max_points`; pyMOR is given the same evenly spread subset), because
  the pencil's SVDs cost the cube of its size: a 10,000-frequency pencil would be
  10,000 x 10,000.
* **AAA**: `hk.aaa(frd, tol=1e-9)` (set-valued: all 16 entries share support points) vs pyMOR
  `PAAAReductor(s, H).reduce(tol=1e-9)` (AAA on a random scalar projection of the matrix data).
* **vector fitting**: `hk.vector_fit(frd, 40, iterations=10)`; pyMOR has no vector fitting, so
  there is no reference run.

Accuracy: relative RMS error of the model against the true transfer function at K held-out
frequencies (midpoints of the sample grid). Timing: one call each (wall clock). BLAS threads are
set to 1 unless exported, on both sides. The machine may be shared: read the ratios, not the
seconds. Results go to `benchmarks/results/bench_frequency.json` (`..._quick.json`).
Target (issue 15): >= 2x faster than pyMOR at equal accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)
import scipy  # noqa: E402

import hankelid as hk  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = 40


def structure(modes: int = 20, m: int = 4, p: int = 4, seed: int = 0) -> hk.StateSpace:
    """Lightly damped modes (1-100 rad/s, 1-3 % damping) with random mode shapes."""
    rng = np.random.default_rng(seed)
    wn = np.geomspace(1.0, 100.0, modes)
    zeta = rng.uniform(0.01, 0.03, modes)
    A = np.zeros((2 * modes, 2 * modes))
    B = np.zeros((2 * modes, m))
    C = np.zeros((p, 2 * modes))
    for i, (w, z) in enumerate(zip(wn, zeta, strict=True)):
        A[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[0.0, 1.0], [-(w**2), -2 * z * w]]
    B[1::2] = rng.standard_normal((modes, m))
    C[:, 1::2] = rng.standard_normal((p, modes))
    return hk.StateSpace(A, B, C)


def rel_error(G: np.ndarray, Gm: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.abs(Gm - G) ** 2) / np.sum(np.abs(G) ** 2)))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def pymor_response(tf, w: np.ndarray) -> np.ndarray:
    return np.array([tf.eval_tf(1j * x) for x in w])


def run(K: int, max_points: int) -> list[dict]:
    sys = structure()
    w = np.geomspace(0.3, 300.0, K)
    frd = hk.FRData.from_system(sys, w)
    wt = np.sqrt(w[:-1] * w[1:])
    G = sys.frequency_response(wt)
    rows = []
    try:
        from pymor.core.logger import set_log_levels
        from pymor.reductors.aaa import PAAAReductor
        from pymor.reductors.loewner import LoewnerReductor

        set_log_levels({"pymor": "ERROR"})
        have_pymor = True
    except ImportError:
        have_pymor = False

    # Loewner
    ident, t_ours = timed(lambda: hk.loewner(frd, order=ORDER, directions="random", max_points=max_points))
    row = {
        "method": "loewner",
        "K": K,
        "pencil_frequencies": ident.info["pencil_frequencies"],
        "hankelid_s": t_ours,
        "hankelid_error": rel_error(G, ident.system.frequency_response(wt)),
        "hankelid_order": ident.order,
    }
    if have_pymor:
        idx = np.unique(np.round(np.linspace(0, K - 1, min(K, max_points))).astype(int))
        s_sub, H_sub = 1j * w[idx], frd.response[idx].copy()

        def pymor_loewner():
            return LoewnerReductor(s_sub, H_sub, mimo_handling="random").reduce(r=ORDER)

        rom, t_ref = timed(pymor_loewner)
        row.update(
            pymor_s=t_ref,
            pymor_error=rel_error(G, pymor_response(rom.transfer_function, wt)),
            speedup=t_ref / t_ours,
        )
    rows.append(row)

    # AAA
    fit, t_ours = timed(lambda: hk.aaa(frd, tol=1e-9))
    row = {
        "method": "aaa",
        "K": K,
        "hankelid_s": t_ours,
        "hankelid_error": rel_error(G, fit.frequency_response(wt)),
        "hankelid_order": fit.n,
    }
    if have_pymor:
        tf, t_ref = timed(lambda: PAAAReductor(1j * w, frd.response.copy()).reduce(tol=1e-9))
        row.update(pymor_s=t_ref, pymor_error=rel_error(G, pymor_response(tf, wt)), speedup=t_ref / t_ours)
    rows.append(row)

    # Vector fitting (no pyMOR counterpart)
    fit, t_ours = timed(lambda: hk.vector_fit(frd, ORDER, iterations=10))
    rows.append(
        {
            "method": "vector_fit",
            "K": K,
            "hankelid_s": t_ours,
            "hankelid_error": rel_error(G, fit.frequency_response(wt)),
            "hankelid_order": fit.n,
            "iterations": fit.info["iterations"],
        }
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="K = 200 only")
    ap.add_argument("--max-points", type=int, default=1000, help="Loewner pencil frequencies (both sides)")
    args = ap.parse_args()
    sizes = [200] if args.quick else [1000, 10000]
    rows = []
    for K in sizes:
        rows += run(K, args.max_points)
    header = (
        f"{'method':<11}{'K':>7}{'hankelid s':>12}{'pyMOR s':>10}{'ratio':>8}"
        f"{'err hankelid':>14}{'err pyMOR':>11}{'n':>5}"
    )
    print(header)
    for r in rows:
        ps = f"{r['pymor_s']:.3f}" if "pymor_s" in r else "-"
        ratio = f"{r['speedup']:.1f}x" if "speedup" in r else "-"
        pe = f"{r['pymor_error']:.1e}" if "pymor_error" in r else "-"
        print(
            f"{r['method']:<11}{r['K']:>7}{r['hankelid_s']:>12.3f}{ps:>10}{ratio:>8}"
            f"{r['hankelid_error']:>14.1e}{pe:>11}{r['hankelid_order']:>5}"
        )
    try:
        import pymor

        pymor_version = pymor.__version__
    except ImportError:
        pymor_version = None
    out = {
        "rows": rows,
        "order": ORDER,
        "max_points": args.max_points,
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pymor": pymor_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "note": "single run per method on a shared (loaded) 2-core machine",
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("bench_frequency_quick.json" if args.quick else "bench_frequency.json")
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
