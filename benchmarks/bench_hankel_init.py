"""Benchmark: the Hankel initialization of Mistral-7B-sized HRM adapters (issue 11, item 7).

Usage::

    python benchmarks/bench_hankel_init.py            # D = 4096, d = 16, N = 64, L = 1024, 32 layers
    python benchmarks/bench_hankel_init.py --quick    # D = 1024, 4 layers, a few seconds

What is measured, in one run, on adapters of Mistral-7B's shapes (``SSMAdapter(4096, 16,
init="hankel")``: a richer S4D-real system of order ``N = 4 d = 64`` with random dense
``B`` (64 x 4096) and ``C`` (4096 x 64), balance-truncated to ``d = 16``):

* **per adapter**: the whole constructor (drawing the full system, Gramians, balancing,
  modal form, parameters) with the new default ``hankel_gramians="horizon"`` (the Gramians
  over the horizon ``L = 1024`` in closed form), the previous default ``"empirical"``
  (Gaussian-input estimate of the same Gramians, 256 trajectories) and ``"exact"``
  (infinite-horizon Lyapunov Gramians); median of repeated calls.
* **32 layers**: one adapter per decoder layer (seeds 0..31), new default, total time.
* **accuracy**: the finite-horizon Gramians that ``"empirical"`` estimates are computed
  independently by summing the series ``sum_{k<L} A^k B B^T A^kT`` term by term (float64); the
  relative error of the top ``d`` HSVs of each method against them, and each reduced model's
  relative H2 error ``||G - G_r||_2 / ||G||_2`` against the full system (H2 norms on
  orthonormally compressed channels, which leave them unchanged).  Two seeds of the empirical
  estimator show its run-to-run spread.

BLAS threads default to 1 (set before NumPy is imported unless exported), as in the other
benchmarks: on a shared 2-core machine multi-threaded OpenBLAS spin-waits on these 64 x 64
problems (measured here: a 64 x 64 SVD + eigh took 0.44 s with 2 threads on the loaded
machine against 4 ms with 1).  torch uses 2 threads.  Timings are taken on a shared, loaded
machine (load average in the JSON): read the ratios, not the absolute times.

Targets (issue 11): one adapter <= 1 s, 32 layers <= 30 s, accuracy not worse than the
previous default.  Results: ``benchmarks/results/bench_hankel_init.json`` (``_quick`` with
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
import torch  # noqa: E402

import hankelid as hk  # noqa: E402
from hankelid_torch.adapter import SSMAdapter  # noqa: E402
from hankelid_torch.init import reduce_full_system, s4d_full_system  # noqa: E402
from hankelid_torch.options import HankelInitOptions  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"adapter_s": 1.0, "layers_s": 30.0}


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _series_gramians(sys: hk.StateSpace, length: int) -> tuple[np.ndarray, np.ndarray]:
    """``sum_{k<L} A^k B B^T A^kT`` and its dual, term by term (the reference)."""
    A, B, C, _ = sys.matrices
    Bc = np.linalg.qr(B.T, mode="r").T  # B B^T = Bc Bc^T: the same series, fewer columns
    Cc = np.linalg.qr(C, mode="r")
    Wc, Wo = np.zeros_like(A), np.zeros_like(A)
    X, Y = Bc.copy(), Cc.T.copy()
    for _ in range(length):
        Wc += X @ X.T
        Wo += Y @ Y.T
        X, Y = A @ X, A.T @ Y
    return Wc, Wo


def _hsv(Wc: np.ndarray, Wo: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(np.sort(np.linalg.eigvals(Wc @ Wo).real)[::-1], 0.0, None))


def _h2(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> float:
    """H2 norm of a discrete (A, B, C, 0) with wide B, C: channels compressed by QR first."""
    Bc = np.linalg.qr(B.T, mode="r").T
    Cc = np.linalg.qr(C, mode="r")
    return float(hk.h2_norm(hk.StateSpace(A, Bc, Cc, dt=1.0)))


def _h2_error(full: hk.StateSpace, red: hk.StateSpace) -> float:
    n, r = full.n, red.n
    A = np.block([[full.A, np.zeros((n, r))], [np.zeros((r, n)), red.A]])
    B = np.vstack([full.B, red.B])
    C = np.hstack([full.C, -red.C])
    return _h2(A, B, C) / _h2(full.A, full.B, full.C)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="D = 1024, 4 layers")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    D, d, L = (1024 if args.quick else 4096), 16, 1024
    layers = 4 if args.quick else 32
    SSMAdapter(64, 4, init="hankel", seed=0)  # warm-up: imports, first-call allocations

    def adapter(gramians: str, seed: int = 0) -> SSMAdapter:
        return SSMAdapter(D, d, init="hankel", hankel_gramians=gramians, seed=seed)

    times = {
        "horizon": _median_time(lambda: adapter("horizon"), 5),
        "exact": _median_time(lambda: adapter("exact"), 3),
        "empirical": _median_time(lambda: adapter("empirical"), 1 if args.quick else 2),
    }
    t0 = time.perf_counter()
    for i in range(layers):
        SSMAdapter(D, d, init="hankel", seed=i)
    layers_s = time.perf_counter() - t0

    # accuracy on full systems shared by every method: the default dt range, and slow poles
    # (dt_max = 0.01) where the horizon L cuts the series short and "exact" differs
    accuracy: dict[str, dict[str, dict[str, float]]] = {}
    print(f"Hankel init, D = {D}, d = {d}, N = {4 * d}, L = {L} (load average {os.getloadavg()[0]:.1f})")
    print(f"{'gramians':<22}{'s/adapter':>11}{'vs horizon':>12}")
    for name in ("horizon", "exact", "empirical"):
        print(f"{name:<22}{times[name]:>11.3f}{times[name] / times['horizon']:>11.1f}x")
    print(f"{layers} layers, default init: {layers_s:.2f} s (target {TARGETS['layers_s']:.0f} s)")
    empirical = HankelInitOptions(gramians="empirical", length=L)
    for label, dt_max in (("default dt", 0.1), ("slow poles", 0.01)):
        full = s4d_full_system(D, D, 4 * d, dt_max=dt_max, generator=torch.Generator().manual_seed(0))
        ref = _hsv(*_series_gramians(full, L))[:d]
        runs = {
            "horizon": reduce_full_system(full, d, HankelInitOptions(gramians="horizon", length=L)),
            "exact": reduce_full_system(full, d, HankelInitOptions(gramians="exact")),
            "empirical (seed 1)": reduce_full_system(full, d, empirical, seed=1),
            "empirical (seed 2)": reduce_full_system(full, d, empirical, seed=2),
        }
        accuracy[label] = {
            name: {
                "hsv_rel_error": float(np.max(np.abs(info.hsv[:d] - ref) / ref)),
                "h2_rel_error": _h2_error(full, info.reduced),
            }
            for name, info in runs.items()
        }
        slowest = float(np.abs(np.diagonal(full.A)).max())
        print(f"\naccuracy, {label} (slowest pole {slowest:.5f}, decays over 2L to {slowest ** (2 * L):.1e})")
        print(f"{'gramians':<22}{'max rel HSV err':>16}{'H2 rel err':>12}   (HSVs vs the series sum_k<L)")
        for name, acc in accuracy[label].items():
            print(f"{name:<22}{acc['hsv_rel_error']:>16.2e}{acc['h2_rel_error']:>12.5f}")

    result = {
        "shapes": {"D": D, "d": d, "N": 4 * d, "L": L, "layers": layers},
        "seconds_per_adapter": times,
        "speedup_vs_previous_default": times["empirical"] / times["horizon"],
        "layers_seconds": layers_s,
        "accuracy": accuracy,
        "targets": TARGETS,
        "met": {
            "adapter_s": times["horizon"] <= TARGETS["adapter_s"],
            "layers_s": layers_s <= TARGETS["layers_s"],
        },
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "load_average": os.getloadavg()[0],
            "cpus": os.cpu_count(),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    out = args.output or RESULTS / (
        "bench_hankel_init_quick.json" if args.quick else "bench_hankel_init.json"
    )
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
