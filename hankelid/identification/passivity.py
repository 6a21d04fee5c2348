r"""Passivity of state-space models: the Hamiltonian test and residue-perturbation enforcement.

A stable model \( G(s) = C(sI - A)^{-1}B + D \) is

- *passive as an immittance* (impedance/admittance, positive real) when
  \( G(\mathrm{j}\omega) + G(\mathrm{j}\omega)^H \succeq 0 \) at every frequency;
- *passive as a scattering* matrix (bounded real) when
  \( \sigma_{\max}(G(\mathrm{j}\omega)) \le 1 \) at every frequency, i.e. \( \|G\|_\infty \le 1 \).

The frequencies where these conditions switch between holding and failing are the purely
imaginary eigenvalues of a Hamiltonian matrix (Boyd, Balakrishnan & Kabamba 1989; Grivet-Talocia
& Gustavsen, *Passive Macromodeling*, Wiley 2016, ch. 9). This module takes them as the finite
generalized eigenvalues of the pencil of the system \( \Phi(s) = G(s) + G^T(-s) \) (immittance) or
\( \Phi(s) = I - G^T(-s)G(s) \) (scattering),
$$ \begin{bmatrix} A_\Phi & B_\Phi \\ C_\Phi & D_\Phi \end{bmatrix}
   - \lambda \begin{bmatrix} I & 0 \\ 0 & 0 \end{bmatrix}, $$
whose finite eigenvalues are those of the usual Hamiltonian matrix
\( A_\Phi - B_\Phi D_\Phi^{-1} C_\Phi \) when \( D_\Phi \) is invertible, and which stays defined
when it is not (a strictly proper immittance, \( D + D^T \) singular; a scattering model with
\( \|D\| = 1 \)). The crossings split the frequency axis into bands; each band is classified by
the response at its midpoint. Discrete-time models are mapped by the bilinear (Tustin) transform
[`d2c`][hankelid.d2c], which preserves both kinds of passivity, and the crossings are mapped back
by \( \omega = (2/\Delta t)\arctan(\omega_c \Delta t/2) \).

Enforcement (Grivet-Talocia & Gustavsen 2016, ch. 10) perturbs `C` only (poles and `D` fixed):
at the worst frequency of each violation band the violated singular values (eigenvalues of
\( G + G^H \)) are linearized in \( \delta C \) and required to reach a small margin inside the
passive region, with the smallest \( \delta C \) in the \( \mathcal{H}_2 \) sense,
\( \operatorname{tr}(\delta C\, W_c\, \delta C^T) \) with the controllability Gramian \( W_c \);
this is repeated until the Hamiltonian test passes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.optimize import minimize_scalar

from .._stability import UnstableSystemError
from ..systems import StateSpace, d2c
from ._rational import (
    RANK_TOL,
    pole_representatives,
    realize_pole_residue,
    relative_rms,
    residue_fit,
    response,
)

__all__ = [
    "PassivityResult",
    "check_passivity_option",
    "enforce_passivity",
    "passivate_fit",
    "passive_feedthrough",
    "passivity",
]

_KINDS = ("immittance", "scattering")
# A generalized eigenvalue counts as imaginary when its real part is below this fraction of its
# size (plus the model's frequency scale): the pencil is not solved structure-preservingly, so a
# tolerance is needed; a spurious crossing only splits a band, the midpoints classify it.
_IMAG_TOL = 1e-6
# Points sampled per violation band to locate its worst frequency.
_BAND_SAMPLES = 64


@dataclass(frozen=True)
class PassivityResult:
    """Outcome of [`passivity`][hankelid.passivity].

    Attributes
    ----------
    is_passive : bool
        No violation band was found.
    kind : str
        `"immittance"` or `"scattering"`.
    bands : ndarray, shape `(nb, 2)`
        Violation bands `[ω_lo, ω_hi]` in rad/s (`ω_hi = inf` for a continuous-time violation
        that extends to infinite frequency; discrete time stops at the Nyquist `π/dt`).
    crossings : ndarray
        Frequencies where the passivity condition switches (imaginary Hamiltonian eigenvalues).
    worst_violation : float
        Largest violation: `σ_max(G) - 1` (scattering) or `-λ_min(G + G^H)` (immittance);
        zero or negative for a passive model.
    worst_frequency : float
        Where it occurs (rad/s).
    """

    is_passive: bool
    kind: str
    bands: np.ndarray
    crossings: np.ndarray
    worst_violation: float
    worst_frequency: float


def _check(sys: Any, kind: Any) -> None:
    if not isinstance(sys, StateSpace):
        raise TypeError(f"sys must be a hankelid.StateSpace, got {type(sys).__name__}")
    if kind not in _KINDS:
        raise ValueError(f"unknown passivity kind {kind!r}; use 'immittance' or 'scattering'")
    if kind == "immittance" and sys.p != sys.m:
        raise ValueError(
            f"an immittance model must be square (as many outputs as inputs); got p={sys.p}, m={sys.m}"
        )
    if not sys.is_stable():
        raise UnstableSystemError(
            "the passivity test needs a stable system; this system is unstable (poles in the closed "
            "right half-plane or on/outside the unit circle)"
        )


def _violation(G: np.ndarray, kind: str) -> np.ndarray:
    """Per frequency: `σ_max - 1` (scattering) or `-λ_min(G + G^H)` (immittance); > 0 violates."""
    if kind == "scattering":
        return np.linalg.svd(G, compute_uv=False)[..., 0] - 1.0
    return -np.linalg.eigvalsh(G + np.conj(np.swapaxes(G, -1, -2)))[..., 0]


def _pencil(sys: StateSpace, kind: str) -> tuple[np.ndarray, np.ndarray]:
    A, B, C, D = sys.A, sys.B, sys.C, sys.D
    n, m = sys.n, sys.m
    if kind == "immittance":
        # Φ(s) = G(s) + G^T(-s), with G^T(-s) realized by (-A^T, C^T, -B^T, D^T).
        APhi = sla.block_diag(A, -A.T)
        BPhi = np.vstack([B, C.T])
        CPhi = np.hstack([C, -B.T])
        DPhi = D + D.T
    else:
        # Φ(s) = I - G^T(-s) G(s): the series connection of G and its adjoint.
        APhi = np.block([[A, np.zeros((n, n))], [C.T @ C, -A.T]])
        BPhi = np.vstack([B, C.T @ D])
        CPhi = np.hstack([-D.T @ C, B.T])
        DPhi = np.eye(m) - D.T @ D
    M = np.block([[APhi, BPhi], [CPhi, DPhi]])
    E = sla.block_diag(np.eye(2 * n), np.zeros((m, m)))
    return M, E


def _crossings(sys: StateSpace, kind: str) -> np.ndarray:
    """Nonnegative frequencies of the imaginary finite eigenvalues of the Hamiltonian pencil."""
    if sys.n == 0:
        return np.zeros(0)
    M, E = _pencil(sys, kind)
    lam = sla.eigvals(M, E, check_finite=False)
    lam = lam[np.isfinite(lam)]
    scale = max(np.linalg.norm(sys.A, 2), 1.0)
    imag = np.abs(lam.real) <= _IMAG_TOL * (np.abs(lam) + scale)
    w = np.sort(np.abs(lam[imag].imag))
    # Conjugate pairs and rounding duplicates give the same crossing twice.
    if w.size:
        keep = np.r_[True, np.diff(w) > 1e-9 * np.maximum(w[1:], 1.0)]
        w = w[keep]
    return w


def _band_peak(sys: StateSpace, lo: float, hi: float, kind: str) -> tuple[float, float]:
    """Frequency and size of the largest violation in `[lo, hi]`: a grid, then a bounded search."""
    if np.isinf(hi):
        grid = np.r_[lo, lo + np.geomspace(1e-3, 1e3, _BAND_SAMPLES) * max(lo, 1.0)]
    else:
        grid = np.linspace(lo, hi, _BAND_SAMPLES + 1)[:-1]

    def v(w: np.ndarray) -> np.ndarray:
        return _violation(sys.frequency_response(np.atleast_1d(w)), kind)

    vals = v(grid)
    k = int(np.argmax(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    if b > a:
        opt = minimize_scalar(
            lambda w: -v(w)[0], bounds=(a, b), method="bounded", options={"xatol": 1e-10 * max(b, 1.0)}
        )
        if -opt.fun > vals[k]:
            return float(opt.x), float(-opt.fun)
    return float(grid[k]), float(vals[k])


def _continuous_bands(sys: StateSpace, kind: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Violation bands, crossings, worst violation and its frequency of a continuous model."""
    w = _crossings(sys, kind)
    edges = np.r_[0.0, w[w > 0], np.inf]
    bands = []
    worst, worst_w = -np.inf, 0.0
    for lo, hi in itertools.pairwise(edges):
        wk, vk = _band_peak(sys, lo, hi, kind)
        if vk > worst:
            worst, worst_w = vk, wk
        mid = 0.5 * (lo + hi) if np.isfinite(hi) else 2.0 * lo + 1.0
        if _violation(sys.frequency_response(np.array([mid])), kind)[0] > 0:
            if bands and bands[-1][1] == lo:
                bands[-1][1] = hi  # a spurious crossing split one band
            else:
                bands.append([lo, hi])
    # The response at infinite frequency is D (a strictly proper immittance has margin 0 there).
    v_inf = float(_violation(sys.D[None].astype(complex), kind)[0])
    if v_inf > worst:
        worst, worst_w = v_inf, np.inf
    return np.asarray(bands, dtype=float).reshape(-1, 2), w, worst, worst_w


def passivity(sys: StateSpace, *, kind: str = "scattering") -> PassivityResult:
    r"""Hamiltonian passivity test of a stable continuous- or discrete-time model.

    Parameters
    ----------
    sys : StateSpace
        A stable model. Discrete-time models are tested through the Tustin map
        [`d2c`][hankelid.d2c] (which preserves passivity); frequencies are reported in rad/s
        with \( z = e^{\mathrm{j}\omega\Delta t} \), up to the Nyquist frequency \( \pi/\Delta t \).
    kind : {"scattering", "immittance"}
        `"scattering"`: bounded real, \( \sigma_{\max}(G(\mathrm{j}\omega)) \le 1 \).
        `"immittance"`: positive real, \( G(\mathrm{j}\omega) + G(\mathrm{j}\omega)^H \succeq 0 \)
        (square models only). A singular \( D + D^T \) (e.g. a strictly proper immittance) is
        handled by the Hamiltonian *pencil*, which does not invert it.

    Returns
    -------
    PassivityResult
        `is_passive`, the violation `bands`, the `crossings` and the worst violation and its
        frequency.

    Raises
    ------
    TypeError
        If `sys` is not a [`StateSpace`][hankelid.StateSpace].
    ValueError
        If `kind` is unknown, an immittance model is not square, or the system is unstable.

    Notes
    -----
    The crossing frequencies are the purely imaginary eigenvalues of the Hamiltonian matrix of
    \( \Phi(s) = G(s) + G^T(-s) \) or \( I - G^T(-s)G(s) \) (Boyd, Balakrishnan & Kabamba 1989;
    Grivet-Talocia & Gustavsen, *Passive Macromodeling*, 2016); the bands between consecutive
    crossings are classified by the response at their midpoints.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> rc = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]], [[0.1]])  # 0.1 + 1/(s+1): positive real
    >>> hk.passivity(rc, kind="immittance").is_passive
    True
    >>> res = hk.passivity(rc, kind="scattering")  # |G(0)| = 1.1 > 1 up to |G(jω)| = 1
    >>> res.is_passive, np.round(res.bands, 4).tolist()
    (False, [[0.0, 0.4606]])
    """
    _check(sys, kind)
    if sys.dt is None:
        bands, w, worst, worst_w = _continuous_bands(sys, kind)
    else:
        dt = float(sys.dt)
        bands, w, worst, worst_w = _continuous_bands(d2c(sys, "tustin"), kind)

        def back(x: np.ndarray) -> np.ndarray:
            return 2.0 / dt * np.arctan(np.asarray(x, dtype=float) * dt / 2.0)

        bands, w, worst_w = back(bands), back(w), float(back(np.array(worst_w)))
    return PassivityResult(
        is_passive=bool(bands.shape[0] == 0),
        kind=kind,
        bands=bands,
        crossings=w,
        worst_violation=float(worst),
        worst_frequency=float(worst_w),
    )


def _constraint_rows(
    sys: StateSpace, w: float, kind: str, target: float
) -> tuple[list[np.ndarray], list[float]]:
    """Linearized constraints on `vec(δC)` (row-major) at frequency `w`.

    Scattering: `σ_i + Re(u_i^H δC X v_i) ≤ 1 - target` for every `σ_i > 1 - target`;
    immittance: `λ_i + 2 Re(v_i^H δC X v_i) ≥ target` for every `λ_i < target`, where
    `X = (xI - A)^{-1} B` at `x = jw` (or `e^{jw dt}`).
    """
    x = np.exp(1j * w * sys.dt) if sys.dt is not None else 1j * w
    X = np.linalg.solve(x * np.eye(sys.n) - sys.A, sys.B.astype(complex))
    G = sys.C @ X + sys.D
    rows, rhs = [], []
    if kind == "scattering":
        U, s, Vh = np.linalg.svd(G)
        for i, si in enumerate(s):
            if si > 1.0 - target:
                row = np.real(np.outer(np.conj(U[:, i]), X @ np.conj(Vh[i])))
                rows.append(row.ravel())
                rhs.append(1.0 - target - si)  # row · δC ≤ rhs, taken as equality
    else:
        lam, V = np.linalg.eigh(G + G.conj().T)
        for i, li in enumerate(lam):
            if li < target:
                row = 2.0 * np.real(np.outer(np.conj(V[:, i]), X @ V[:, i]))
                rows.append(-row.ravel())
                rhs.append(li - target)  # -row · δC ≤ λ - target, taken as equality
    return rows, rhs


def passive_feedthrough(D: np.ndarray, kind: str, margin: float = 1e-3) -> np.ndarray:
    """`D` moved the least (in the 2-norm) to be strictly passive: the asymptotic step.

    Scattering: singular values above `1 - margin` are clipped to it; immittance: eigenvalues of
    the symmetric part below `margin * max(1, ‖D‖)` are raised to it (the skew part is kept).
    Returns `D` itself when it is already strictly passive with that margin.
    """
    if kind == "scattering":
        U, s, Vh = np.linalg.svd(D)
        if s.size == 0 or s[0] <= 1.0 - margin:
            return D
        return (U[:, : s.size] * np.minimum(s, 1.0 - margin)) @ Vh[: s.size]
    floor = margin * max(1.0, float(np.linalg.norm(D, 2)))
    sym, skew = 0.5 * (D + D.T), 0.5 * (D - D.T)
    lam, V = np.linalg.eigh(sym)
    if lam.size == 0 or lam[0] >= floor:
        return D
    return (V * np.maximum(lam, floor)) @ V.T + skew


def enforce_passivity(
    sys: StateSpace,
    *,
    kind: str = "scattering",
    max_iterations: int = 50,
    margin: float = 1e-6,
) -> tuple[StateSpace, dict[str, Any]]:
    r"""Make a stable model passive by perturbing `C` (poles and `D` fixed).

    Each iteration linearizes the violated singular values (or eigenvalues of
    \( G + G^H \)) at the worst frequency of every violation band and takes the smallest
    \( \delta C \) in the \( \mathcal{H}_2 \) sense, \( \operatorname{tr}(\delta C W_c \delta C^T) \),
    that moves them `margin` inside the passive region (Grivet-Talocia & Gustavsen 2016, ch. 10).

    Parameters
    ----------
    sys : StateSpace
        A stable model; its `D` must be strictly passive (`σ_max(D) < 1`, or `D + Dᵀ ≻ 0`),
        since `D` is not changed.
    kind : {"scattering", "immittance"}
        As in [`passivity`][hankelid.passivity].
    max_iterations : int
        Iterations before giving up.
    margin : float
        How far inside the passive region the constraints aim.

    Returns
    -------
    tuple of (StateSpace, dict)
        The passive model and a report: `"iterations"`, `"violations_before"` and
        `"violations_after"` (number of bands), `"worst_before"`, `"worst_after"` and
        `"h2_change"` (the \( \mathcal{H}_2 \) norm of \( \delta C (sI - A)^{-1} B \) relative
        to that of the model's strictly proper part).

    Raises
    ------
    ValueError
        If `D` is not strictly passive, or as in [`passivity`][hankelid.passivity].
    RuntimeError
        If the model is still not passive after `max_iterations` iterations.

    Examples
    --------
    >>> import hankelid as hk
    >>> from hankelid.identification.passivity import enforce_passivity
    >>> sys = hk.StateSpace([[-1.0]], [[1.0]], [[1.02]], [[0.0]])  # |G(0)| = 1.02
    >>> fixed, report = enforce_passivity(sys, kind="scattering")
    >>> hk.passivity(fixed).is_passive, report["violations_before"]
    (True, 1)
    """
    res = passivity(sys, kind=kind)
    Dv = float(_violation(sys.D[None].astype(complex), kind)[0])
    if Dv >= 0:
        raise ValueError(
            f"passivity enforcement keeps D fixed, and D is not strictly passive as a {kind} "
            f"(margin {-Dv:.3g}); fit D inside the passive region first"
        )
    report: dict[str, Any] = {
        "iterations": 0,
        "violations_before": int(res.bands.shape[0]),
        "worst_before": res.worst_violation,
    }
    if res.is_passive:
        report.update(violations_after=0, worst_after=res.worst_violation, h2_change=0.0)
        return sys, report
    n, p = sys.n, sys.p
    if sys.dt is None:
        Wc = sla.solve_continuous_lyapunov(sys.A, -sys.B @ sys.B.T)
    else:
        Wc = sla.solve_discrete_lyapunov(sys.A, sys.B @ sys.B.T)
    Wc = 0.5 * (Wc + Wc.T) + 1e-12 * np.trace(Wc) / n * np.eye(n)
    L = np.linalg.cholesky(Wc)  # δC = Y L^{-1}: tr(δC Wc δCᵀ) = ‖Y‖_F²
    Linv = sla.solve_triangular(L, np.eye(n), lower=True)
    C = sys.C.copy()
    current = sys
    target = margin * max(1.0, -Dv) if kind == "immittance" else margin
    for it in range(1, max_iterations + 1):
        rows: list[np.ndarray] = []
        rhs: list[float] = []
        for lo, hi in res.bands:
            r, b = _constraint_rows(current, _band_peak(current, lo, hi, kind)[0], kind, target)
            rows += r
            rhs += b
        M = np.asarray(rows)
        # Row-major vec: δC[i, j] = Σ_k Y[i, k] Linv[k, j]  →  vec(δC) = (I_p ⊗ Linvᵀ) vec(Y).
        T = np.kron(np.eye(p), Linv.T)
        y, *_ = np.linalg.lstsq(M @ T, np.asarray(rhs), rcond=None)
        C = C + (T @ y).reshape(p, n)
        current = StateSpace(sys.A, sys.B, C, sys.D, sys.dt)
        res = passivity(current, kind=kind)
        report["iterations"] = it
        if res.is_passive:
            dC = C - sys.C
            ref = float(np.sqrt(np.trace(sys.C @ Wc @ sys.C.T))) or 1.0
            report.update(
                violations_after=0,
                worst_after=res.worst_violation,
                h2_change=float(np.sqrt(max(np.trace(dC @ Wc @ dC.T), 0.0))) / ref,
            )
            return current, report
    raise RuntimeError(
        f"passivity enforcement did not converge in {max_iterations} iterations: "
        f"{res.bands.shape[0]} violation band(s) remain, worst {res.worst_violation:.3g} at "
        f"{res.worst_frequency:.4g} rad/s"
    )


def check_passivity_option(value: Any, stable: bool, p: int, m: int, stable_name: str) -> str | None:
    """Validate a fitter's `enforce_passivity` option; returns the kind or `None`."""
    if value is False or value is None:
        return None
    if value not in _KINDS:
        raise ValueError(f"enforce_passivity must be False, 'scattering' or 'immittance', got {value!r}")
    if not stable:
        raise ValueError(f"enforce_passivity needs {stable_name}=True (a passive model is stable)")
    if value == "immittance" and p != m:
        raise ValueError(f"an immittance model must be square; the data have p={p} outputs, m={m} inputs")
    return str(value)


def passivate_fit(
    sys: StateSpace,
    points: np.ndarray,
    H: np.ndarray,
    weights: np.ndarray | None,
    kind: str,
    *,
    rank_tol: float = RANK_TOL,
) -> tuple[StateSpace, dict[str, Any]]:
    """Make a stable fit passive: clip `D` (refitting the residues), then perturb `C`.

    The report is [`enforce_passivity`][hankelid.identification.passivity.enforce_passivity]'s,
    with the violations before counted on the fit as given, `"feedthrough_clipped"`, and
    `"model_change"`: the relative RMS change of the model on the data's points.
    """
    before = response(sys, points)
    first = passivity(sys, kind=kind)
    Dp = passive_feedthrough(sys.D, kind)
    clipped = Dp is not sys.D
    if clipped:
        # Asymptotic passivity first: D is clipped and the residues refitted to the rest.
        poles = pole_representatives(np.linalg.eigvals(sys.A))
        R, _ = residue_fit(points, H - Dp, poles, weights, feedthrough=False)
        hscale = float(np.max(np.linalg.norm(H, axis=(1, 2)))) or 1.0
        sys = realize_pole_residue(poles, R, Dp, sys.dt, scale=hscale, rank_tol=rank_tol)
    sys, report = enforce_passivity(sys, kind=kind)
    report.update(
        violations_before=int(first.bands.shape[0]),
        worst_before=first.worst_violation,
        feedthrough_clipped=clipped,
        model_change=relative_rms(before, response(sys, points), weights),
    )
    return sys, report
