r"""Vector fitting: common-pole rational models of frequency-response data.

Vector fitting (Gustavsen & Semlyen 1999) relocates a set of poles \( a_k \) iteratively. Each
iteration solves the linear least-squares problem
$$ \sigma(s) G_e(s) \approx \sum_k \frac{c^{(e)}_k}{s - a_k} + d^{(e)}, \qquad
   \sigma(s) = \sum_k \frac{\tilde c_k}{s - a_k} + \tilde d, $$
for every entry `e` of the `p x m` response with one weighting function \( \sigma \) shared by all
of them (common poles), and takes the zeros of \( \sigma \) as the new poles. This module uses

- the *relaxed* normalization of Gustavsen (2006): \( \tilde d \) is free and a single
  constraint \( \operatorname{Re}\sum_k \sigma(s_k) = K \) fixes the scale, which converges
  faster and from worse starting poles than \( \tilde d = 1 \);
- the *fast* solver of Deschrijver, Mrozowski, Dhaene & De Zutter (2008): one QR factorization
  per entry eliminates that entry's own unknowns, and only the small triangular blocks that
  involve \( \sigma \) are stacked, so the cost grows linearly in the number of entries;
- real arithmetic throughout: complex poles come in conjugate pairs with real coefficients in
  the basis \( 1/(s-a) + 1/(s-\bar a),\ \mathrm{j}/(s-a) - \mathrm{j}/(s-\bar a) \).

The residues of the final poles are fitted by least squares (all entries at once) and turned
into a minimal real realization by an SVD per pole. Discrete-time data are fitted in the same way
on the points \( z = e^{\mathrm{j}\omega\Delta t} \).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.linalg as sla

from ._rational import (
    evaluate_pole_residue,
    flip_unstable,
    pole_basis,
    pole_representatives,
    real_rows,
    realize_pole_residue,
    relative_rms,
    residue_fit,
    response,
    stabilize,
)
from .fitted import FittedModel
from .frequency_data import FRData
from .passivity import check_passivity_option, passivate_fit

__all__ = ["vector_fit"]

# Below this size of the relaxation coefficient the relaxed problem is re-solved with it fixed
# (Gustavsen 2006, section IV).
_TOL_D = 1e-8
# Residue directions (rank-one terms) whose peak gain is below this fraction of the data's are
# dropped: fitted rounding error, not dynamics.
_RANK_TOL = 1e-8


def _initial_poles(omega: np.ndarray, order: int, dt: float | None) -> np.ndarray:
    """Lightly damped starting poles spread over the band (Gustavsen & Semlyen 1999)."""
    npairs, nreal = order // 2, order % 2
    lo = omega[omega > 0].min() if np.any(omega > 0) else 1.0
    hi = max(omega.max(), lo * 1.0001)
    if dt is not None:
        beta = np.linspace(lo, hi, npairs + 2)[1:-1] if npairs else np.zeros(0)
        pairs = np.exp((-beta / 100 + 1j * beta) * dt)
        real = np.full(nreal, 0.5 + 0j)
    else:
        beta = np.geomspace(lo, hi, npairs) if hi / lo > 100 else np.linspace(lo, hi, npairs)
        pairs = -beta / 100 + 1j * beta
        real = np.full(nreal, -np.sqrt(lo * hi) + 0j)
    return np.concatenate([real, pairs])


def _real_state_matrix(reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block-diagonal real `A` and input `b` whose `(sI - A)^{-1} b` is the real pole basis."""
    n = int(np.sum(np.where(reps.imag == 0, 1, 2)))
    A = np.zeros((n, n))
    b = np.zeros(n)
    k = 0
    for a in reps:
        if a.imag == 0:
            A[k, k] = a.real
            b[k] = 1.0
            k += 1
        else:
            A[k : k + 2, k : k + 2] = [[a.real, a.imag], [-a.imag, a.real]]
            b[k] = 2.0
            k += 2
    return A, b


def _relocate(
    points: np.ndarray, F: np.ndarray, reps: np.ndarray, sw: np.ndarray | None
) -> tuple[np.ndarray, float]:
    """One relaxed, fast vector-fitting pole relocation; returns the zeros of sigma."""
    K, P = F.shape
    Phi = np.concatenate([pole_basis(points, reps), np.ones((K, 1))], axis=1)
    if sw is not None:
        Phi = Phi * sw[:, None]
    A1 = real_rows(Phi)
    scale = np.linalg.norm(A1, axis=0)
    scale[scale == 0] = 1.0
    A1 = A1 / scale
    N1 = A1.shape[1]
    Q1, _ = np.linalg.qr(A1)
    blocks = []
    for e in range(P):
        A2 = -real_rows(F[:, e, None] * Phi) / scale
        # The entry's own unknowns are eliminated by projecting out range(A1): what remains
        # is the triangular block of sigma's unknowns (Deschrijver et al. 2008).
        Z = np.asfortranarray(A2 - Q1 @ (Q1.T @ A2))
        (qr, _), _ = sla.qr(Z, mode="raw", overwrite_a=True, check_finite=False)
        blocks.append(np.triu(qr[:N1]))
    M = np.vstack(blocks)
    norm_f = np.sqrt(np.sum(np.abs(F) ** 2)) / K
    relax = norm_f * np.sum(A1[:K], axis=0)  # Re Σ_k [Φ_k, 1] in the scaled basis
    lhs = np.vstack([M, relax[None, :]])
    rhs = np.zeros(lhs.shape[0])
    rhs[-1] = norm_f * K
    x, *_ = np.linalg.lstsq(lhs, rhs, rcond=None)
    x = x / scale
    d = x[-1]
    if abs(d) < _TOL_D:
        d = _TOL_D if d == 0 else _TOL_D * np.sign(d)
        y, *_ = np.linalg.lstsq(M[:, :-1], -M[:, -1] * (d * scale[-1]), rcond=None)
        x = np.r_[y / scale[:-1], d]
    A, b = _real_state_matrix(reps)
    zeros = np.linalg.eigvals(A - np.outer(b, x[:-1]) / d)
    return zeros, float(d)


def vector_fit(
    frd: FRData,
    order: int,
    *,
    iterations: int = 10,
    enforce_stability: bool = True,
    enforce_passivity: bool | str = False,
    initial: Any = None,
) -> FittedModel:
    r"""Fit a real state-space model with `order` common poles by relaxed, fast vector fitting.

    Parameters
    ----------
    frd : FRData
        Continuous- or discrete-time data; each sample stands for itself and its conjugate.
        The data's weights weight the least-squares problems.
    order : int
        Number of common poles (real poles plus twice the complex pairs). The state dimension
        of the result is the sum of the numerical ranks of the residue matrices: `order` for
        exact data of an order-`order` system, at most `order * min(p, m)`.
    iterations : int
        Pole relocations (it stops earlier when the poles no longer move).
    enforce_stability : bool
        Mirror unstable poles into the stability region after every relocation; the residues
        are always fitted after the last one, so the stable model is the least-squares fit
        for its poles. `info["stability"]` reports the mirrored poles.
    enforce_passivity : {False, "scattering", "immittance"}
        Make the stable fit passive of that kind (see [`passivity`][hankelid.passivity]) by
        iterative residue perturbation: `C` (the residues) changes, poles and `D` stay, and the
        change is the smallest in the \( \mathcal{H}_2 \) sense that satisfies the linearized
        constraints at the worst frequency of every violation band, repeated until the
        Hamiltonian test passes (Grivet-Talocia & Gustavsen 2016). `info["passivity"]` reports
        the iterations, the violation bands and worst violation before and after,
        `"feedthrough_clipped"` (a `D` outside the passive region is first clipped to it and the
        residues refitted) and `"model_change"`, the relative RMS change of the model on the
        data's frequencies.
        Needs `enforce_stability=True`.
    initial : array_like, optional
        Starting poles (a conjugate-closed set or one representative per pair); default:
        lightly damped pairs spread over the band.

    Returns
    -------
    FittedModel
        A [`StateSpace`][hankelid.StateSpace] with `info` holding `"poles"`, `"rms"` per
        iteration and at the end, `"iterations"`, `"stability"` and (when enforced)
        `"passivity"`.

    Raises
    ------
    ValueError
        If `order` is not a positive integer or is larger than the data allow (`K - 1`
        poles for `K` frequencies), or `iterations` is not positive, or `enforce_passivity` is
        not one of its values (or is asked for without `enforce_stability`).
    RuntimeError
        If passivity enforcement does not converge (no model is returned then).

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(6, 2, 2, seed=4)
    >>> frd = hk.FRData.from_system(sys, np.logspace(-1, 2, 80))
    >>> fit = hk.vector_fit(frd, 6)
    >>> w = np.array([0.3, 8.0])
    >>> bool(np.allclose(fit.frequency_response(w), sys.frequency_response(w), atol=1e-8))
    True
    """
    if not isinstance(frd, FRData):
        raise TypeError(f"frd must be a hankelid.FRData, got {type(frd).__name__}")
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    if order > frd.K - 1:
        raise ValueError(
            f"order {order} is larger than the data allow: {frd.K} frequencies support at most "
            f"{frd.K - 1} poles"
        )
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    kind = check_passivity_option(enforce_passivity, enforce_stability, frd.p, frd.m, "enforce_stability")
    dt = frd.dt
    points = frd.points()
    H = frd.response
    K, p, m = H.shape
    F = H.reshape(K, p * m)
    sw = None if frd.weights is None else np.sqrt(frd.weights)
    if initial is None:
        reps = _initial_poles(frd.omega, int(order), dt)
    else:
        reps = pole_representatives(np.asarray(initial, dtype=complex))
    moved_total = 0
    rms_history: list[float] = []
    done = 0
    for done in range(1, iterations + 1):  # noqa: B007 - the count is reported
        zeros, _ = _relocate(points, F, reps, sw)
        new = pole_representatives(zeros)
        if enforce_stability:
            new, moved = flip_unstable(new, dt)
            moved_total += moved
        R, D = residue_fit(points, H, new, frd.weights)
        G = evaluate_pole_residue(points, new, R, D)
        rms_history.append(relative_rms(H, G, frd.weights))
        change = _pole_change(reps, new)
        reps = new
        if change < 1e-10:
            break
    R, D = residue_fit(points, H, reps, frd.weights)
    hscale = float(np.max(np.linalg.norm(H, axis=(1, 2)))) or 1.0
    sys = realize_pole_residue(reps, R, D, dt, scale=hscale, rank_tol=_RANK_TOL)
    info: dict[str, Any] = {
        "method": "vector_fit",
        "poles": np.concatenate([reps, np.conj(reps[reps.imag != 0])]),
        "iterations": done,
        "rms_history": np.asarray(rms_history),
    }
    if enforce_stability:
        sys, report = stabilize(sys, points, H, frd.weights)
        report["moved_poles"] += moved_total
        info["stability"] = report
    if kind is not None:
        sys, info["passivity"] = passivate_fit(sys, points, H, frd.weights, kind, rank_tol=_RANK_TOL)
    info["rms"] = relative_rms(H, response(sys, points), frd.weights)
    return FittedModel(sys, info)


def _pole_change(old: np.ndarray, new: np.ndarray) -> float:
    """Largest relative move of a pole (inf when the number of poles changed)."""
    if old.size != new.size:
        return np.inf
    a = np.sort_complex(old)
    b = np.sort_complex(new)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-300)))
