"""Benchmark: subspace identification, hankelid.n4sid vs SIPPY N4SID vs nfoursid, same data.

Usage::

    python benchmarks/bench_sysid.py            # N = 1e4, 1e5, 1e6
    python benchmarks/bench_sysid.py --quick    # N = 1e4 only (seconds)

Setting (issue 14): a random stable 10th-order system with m = p = 2 (`hk.random_stable`,
seed 0), white Gaussian inputs, white output noise of 10 % of each output's standard
deviation; order 10, horizon 20 (block rows of the past and of the future) for every method.
Validation on a separate record of 10,000 samples; fit per output `100 (1 - |y - yhat| / |y -
mean y|)` from `hk.compare` with the initial state estimated (the same evaluation for every
model). The true system's fit is reported as the ceiling.

Each (method, N) runs once in a fresh Python process, which loads the record from a file and
then identifies (after a warm-up call on 600 samples, so that lazy imports are not counted):
time is the wall time of the identification call alone; peak memory is the process's peak
resident set size during the call (`VmHWM`, reset just before it through
`/proc/self/clear_refs`) minus its resident size just before the call: what the method
allocates beyond the data. BLAS threads are 1 for every method (`OMP_NUM_THREADS`,
`OPENBLAS_NUM_THREADS`), recorded in the JSON.

A reference is skipped at a size where its time or memory, extrapolated linearly from the
previous size, would exceed `--max-seconds` (default 120) or `--max-gb` (default 8): the table
says so. Results go to `benchmarks/results/bench_sysid.json` (`bench_sysid_quick.json` with
`--quick`).

References: SIPPY (PyPI `sippy-unipi`, `system_identification(..., "N4SID")`, D estimated) and
nfoursid (PyPI `nfoursid`, `NFourSID.subspace_identification` + `system_identification`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import hankelid as hk  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ORDER, HORIZON, M, P = 10, 20, 2, 2
NOISE = 0.1
VALIDATION_SAMPLES = 10_000
METHODS = ("hankelid", "sippy", "nfoursid")
TARGET_SPEEDUP = 5.0


def true_system() -> hk.StateSpace:
    return hk.random_stable(ORDER, M, P, dt=1.0, seed=0, feedthrough=True)


def make_record(N: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((N, M))
    y = hk.simulate(true_system(), u)
    return u, y + NOISE * y.std(axis=0) * rng.standard_normal(y.shape)


# ----------------------------------------------------------------------------- worker side
def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    # Linux >= 4.0: writing 5 resets the peak resident set size (VmHWM) to the current one, so
    # the peaks of loading the data and of the warm-up are not charged to the method.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _identify(method: str, u: np.ndarray, y: np.ndarray) -> hk.StateSpace:
    if method == "hankelid":
        return hk.n4sid(hk.IOData(u, y), ORDER, horizon=HORIZON).system
    if method == "sippy":
        import sippy_unipi

        model = sippy_unipi.system_identification(
            y.T, u.T, "N4SID", SS_fixed_order=ORDER, SS_f=HORIZON, SS_D_required=True
        )
        return hk.StateSpace(model.A, model.B, model.C, model.D, dt=1.0)
    if method == "nfoursid":
        import pandas as pd
        from nfoursid.nfoursid import NFourSID

        cols_u, cols_y = [f"u{j}" for j in range(M)], [f"y{j}" for j in range(P)]
        frame = pd.DataFrame(np.hstack([u, y]), columns=cols_u + cols_y)
        ident = NFourSID(frame, output_columns=cols_y, input_columns=cols_u, num_block_rows=HORIZON)
        ident.subspace_identification()
        ss, _ = ident.system_identification(rank=ORDER)
        return hk.StateSpace(ss.a, ss.b, ss.c, ss.d, dt=1.0)
    raise ValueError(f"unknown method {method!r}")


def worker(method: str, path: str, out: str) -> None:
    import warnings

    with np.load(path) as f:
        u, y, uv, yv = (np.array(f[k]) for k in ("u", "y", "uv", "yv"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _identify(method, u[:600], y[:600])  # warm-up: lazy imports and caches stay out of the figures
    _reset_peak()
    before = _status_bytes("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _identify(method, u, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = max(0, _status_bytes("VmHWM") - before)
    fit = hk.compare(hk.IOData(uv, yv), model).fit[0]
    result = {
        "seconds": cpu,
        "wall_seconds": seconds,
        "peak_bytes": peak,
        "fit": fit.tolist(),
        "stable": bool(model.is_stable()),
    }
    Path(out).write_text(json.dumps(result))


# ----------------------------------------------------------------------------- driver side
def run_one(method: str, path: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    cmd = [sys.executable, __file__, "--worker", method, path, out]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    result = json.loads(Path(out).read_text())
    os.unlink(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--max-gb", type=float, default=8.0)
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    sizes = args.sizes or ([10_000] if args.quick else [10_000, 100_000, 1_000_000])
    uv, yv = make_record(VALIDATION_SAMPLES, seed=12345)
    true_fit = hk.compare(hk.IOData(uv, yv), true_system()).fit[0].tolist()
    rows: list[dict] = []
    last: dict[str, tuple[int, dict]] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        for N in sizes:
            u, y = make_record(N, seed=N)
            path = os.path.join(tmpdir, f"rec_{N}.npz")
            np.savez(path, u=u, y=y, uv=uv, yv=yv)
            del u, y
            for method in METHODS:
                prev = last.get(method)
                if prev is not None and method != "hankelid":
                    scale = N / prev[0]
                    t_pred = prev[1].get("seconds", 0) * scale
                    m_pred = prev[1].get("peak_bytes", 0) * scale / 1e9
                    if t_pred > args.max_seconds or m_pred > args.max_gb:
                        res = {"skipped": f"predicted {t_pred:.0f} s, {m_pred:.1f} GB from N={prev[0]}"}
                        rows.append({"N": N, "method": method, **res})
                        print(f"N={N:>8} {method:>9}: skipped ({res['skipped']})", flush=True)
                        continue
                res = run_one(method, path)
                rows.append({"N": N, "method": method, **res})
                if "seconds" in res:
                    last[method] = (N, res)
                    print(
                        f"N={N:>8} {method:>9}: {res['seconds']:8.2f} s  {res['peak_bytes'] / 1e6:9.1f} MB  "
                        f"fit {np.round(res['fit'], 2).tolist()}",
                        flush=True,
                    )
                else:
                    print(f"N={N:>8} {method:>9}: {res}", flush=True)
    table = _table(rows, sizes, true_fit)
    print()
    print(table)
    RESULTS.mkdir(exist_ok=True)
    name = "bench_sysid_quick.json" if args.quick else "bench_sysid.json"
    payload = {
        "setting": {
            "order": ORDER,
            "horizon": HORIZON,
            "m": M,
            "p": P,
            "noise": NOISE,
            "validation_samples": VALIDATION_SAMPLES,
            "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "note": "CPU times (one BLAS thread) on a shared, loaded 2-core machine; wall times in rows",
        },
        "true_fit": true_fit,
        "rows": rows,
        "table": table,
    }
    (RESULTS / name).write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {RESULTS / name}")


def _table(rows: list[dict], sizes: list[int], true_fit: list[float]) -> str:
    by = {(r["N"], r["method"]): r for r in rows}
    lines = [
        f"true system's validation fit: {np.round(true_fit, 2).tolist()} %",
        "| N | hankelid CPU s | MB | fit % | SIPPY CPU s | MB | fit % | nfoursid CPU s | MB | fit % "
        "| speed-up vs SIPPY | vs nfoursid |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cells(r: dict | None) -> list[str]:
        if r is None:
            return ["-", "-", "-"]
        if "skipped" in r:
            return ["skipped", "-", r["skipped"]]
        if "error" in r:
            return ["error", "-", r["error"][:40]]
        return [f"{r['seconds']:.2f}", f"{r['peak_bytes'] / 1e6:.0f}", "/".join(f"{f:.2f}" for f in r["fit"])]

    for N in sizes:
        ours, sippy, nfs = (by.get((N, m)) for m in METHODS)
        ratios = []
        for ref in (sippy, nfs):
            if ours and ref and "seconds" in ours and "seconds" in ref:
                ratios.append(f"{ref['seconds'] / ours['seconds']:.1f}x")
            else:
                ratios.append("-")
        lines.append(f"| {N:,} | " + " | ".join(cells(ours) + cells(sippy) + cells(nfs) + ratios) + " |")
    lines.append(f"target: >= {TARGET_SPEEDUP:g}x faster than both at equal or better fit; time linear in N")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
