"""The core demo: Hankel spectra and balanced truncation of two known systems.

1. A 1-D heat equation (a rod, finite differences, continuous time): heat flux in at one
   end, temperature measured at three quarters of the length.  Symmetric `A`, so real
   poles, and HSVs that fall off exponentially.
2. An S4D-style diagonal SSM (discrete time): `a = -exp(log_a)` log-spaced decay rates,
   step `dt`, zero-order hold `A = exp(dt a)`, `B = (A - 1)/a * b` -- the kind of
   layer the HRM adapter is built from.

For each it prints the leading HSVs and a reduction table (order, a-priori bound, measured
H-infinity error, `sigma_{r+1}`), checks `sigma_{r+1} <= error <= bound`, writes PNG plots
and a JSON summary to `out_dir`.  Runs in a few seconds.
"""

from __future__ import annotations

import json
import os
import sys as _sys
import time
from typing import Any

import numpy as np

from . import plot
from .gramians import hsv
from .norms import hinf_norm
from .systems import StateSpace
from .truncation import balanced_truncation

__all__ = ["heat_equation", "run_demo", "s4d_ssm"]


def heat_equation(n: int = 60, *, conductivity: float = 1.0, length: float = 1.0) -> StateSpace:
    """Finite-difference heat equation on `[0, length]`, insulated far end.

    Examples
    --------
    >>> from hankelid.demo import heat_equation
    >>> sys = heat_equation(20)
    >>> sys.n, sys.is_stable(), bool(abs(sys.poles().imag).max() == 0)
    (20, True, True)
    """
    h = length / (n + 1)
    main = -2.0 * np.ones(n)
    main[-1] = -1.0  # Neumann (insulated) at the far end
    A = (np.diag(main) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)) * conductivity / h**2
    B = np.zeros((n, 1))
    B[0, 0] = 1.0 / h  # heat flux through the near (Dirichlet) end
    C = np.zeros((1, n))
    C[0, int(0.75 * n)] = 1.0
    return StateSpace(A, B, C)


def s4d_ssm(n: int = 64, *, dt: float = 0.05, seed: int = 0) -> StateSpace:
    """An S4D-real style diagonal discrete-time SSM (zero-order hold).

    Examples
    --------
    >>> from hankelid.demo import s4d_ssm
    >>> sys = s4d_ssm(16)
    >>> sys.n, sys.dt, sys.is_stable()
    (16, 0.05, True)
    """
    rng = np.random.default_rng(seed)
    a = -np.exp(np.linspace(np.log(0.05), np.log(40.0), n))  # decay rates
    b = rng.standard_normal(n)
    c = rng.standard_normal(n) / np.sqrt(n)
    Ad = np.exp(dt * a)
    Bd = (Ad - 1.0) / a * b
    return StateSpace(np.diag(Ad), Bd.reshape(-1, 1), c.reshape(1, -1), dt=dt)


def _table(sys: StateSpace, orders: list[int]) -> list[dict[str, Any]]:
    rows = []
    for r in orders:
        red = balanced_truncation(sys, r)
        err = hinf_norm(sys - red.system)
        rows.append(
            {
                "order": red.order,
                "bound": red.error_bound,
                "hinf_error": err,
                "sigma_next": float(red.hsv[red.order]) if red.order < sys.n else 0.0,
                "ok": bool(red.hsv[red.order] * (1 - 1e-6) <= err <= red.error_bound * (1 + 1e-6)),
            }
        )
    return rows


def _print_case(name: str, sys: StateSpace, sig: np.ndarray, rows: list[dict[str, Any]], out) -> None:
    domain = f"discrete, dt={sys.dt}" if sys.is_discrete else "continuous"
    print(f"\n== {name}: n={sys.n}, {domain}", file=out)
    shown = ", ".join(f"{s:.3e}" for s in sig[:10])
    print(f"   Hankel singular values (first 10 of {sig.size}): {shown}", file=out)
    print(f"   {'order':>5}  {'bound 2*sum':>12}  {'||G-Gr||inf':>12}  {'sigma_r+1':>12}  check", file=out)
    for row in rows:
        mark = "ok" if row["ok"] else "VIOLATED"
        print(
            f"   {row['order']:>5}  {row['bound']:>12.4e}  {row['hinf_error']:>12.4e}  "
            f"{row['sigma_next']:>12.4e}  {mark}",
            file=out,
        )


def run_demo(
    out_dir: str | os.PathLike[str] = "hankelid-demo", *, plots: bool = True, out: Any = None
) -> dict[str, Any]:
    """Run the core demo; returns the summary that is also written to `summary.json`.

    Parameters
    ----------
    out_dir : path
        Directory for `summary.json` and the PNG plots (created if missing).
    plots : bool
        Draw the plots (needs matplotlib; skipped with a note when it is missing).
    out : file, optional
        Where to print (default: standard output).
    """
    out = _sys.stdout if out is None else out
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    cases = {
        "heat_equation": (heat_equation(60), [1, 2, 3, 4, 6, 8, 10]),
        "s4d_ssm": (s4d_ssm(64), [1, 2, 4, 6, 8, 12, 16]),
    }
    print("hankelid core demo: Hankel singular values and balanced truncation", file=out)
    summary: dict[str, Any] = {"cases": {}}
    for name, (sys, orders) in cases.items():
        sig = hsv(sys)
        rows = _table(sys, orders)
        _print_case(name, sys, sig, rows, out)
        summary["cases"][name] = {
            "n": sys.n,
            "dt": sys.dt,
            "hsv": sig.tolist(),
            "reductions": rows,
        }
        if plots:
            _plots(name, sys, sig, rows, out_dir, out)
    summary["all_bounds_hold"] = all(r["ok"] for c in summary["cases"].values() for r in c["reductions"])
    summary["seconds"] = time.perf_counter() - t0
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    print(
        f"\nall bounds hold: {summary['all_bounds_hold']}; wrote {os.path.join(out_dir, 'summary.json')} "
        f"({summary['seconds']:.1f} s)",
        file=out,
    )
    return summary


def _plots(
    name: str, sys: StateSpace, sig: np.ndarray, rows: list[dict[str, Any]], out_dir: Any, out: Any
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - exercised only without the extra
        print("   (matplotlib not installed: plots skipped)", file=out)
        return
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    plot.hankel_spectrum(sig, ax=axes[0])
    plot.draw_error_bounds(
        [r["order"] for r in rows],
        [r["bound"] for r in rows],
        [r["hinf_error"] for r in rows],
        [r["sigma_next"] for r in rows],
        ax=axes[1],
    )
    r_show = rows[len(rows) // 2]["order"]
    red = balanced_truncation(sys, r_show).system
    plot.frequency_response([sys, red], ax=axes[2], labels=[f"full (n={sys.n})", f"reduced (r={r_show})"])
    fig.suptitle(name.replace("_", " "))
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.13, top=0.85, wspace=0.25)
    path = os.path.join(out_dir, f"{name}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"   wrote {path}", file=out)
