"""Pole-residue models shared by the frequency-domain fitters (Loewner, AAA, vector fitting).

A real rational model with common poles is stored by its *pole representatives*: one complex
number per real pole (imaginary part exactly zero) and one per complex-conjugate pair (the member
with positive imaginary part). Residues are fitted by real linear least squares in the basis

    1/(s - a)                                   for a real pole a,
    1/(s - a) + 1/(s - ā),  j/(s - a) - j/(s - ā)   for a pair (a, ā),

so the model is real by construction (Gustavsen & Semlyen 1999), and the realization turns each
residue matrix into rank-one terms (an SVD per pole) with a real 2x2 block per conjugate pair.
The same code refits residues after unstable poles were mirrored, which is how every method's
`stable=True` option keeps the fit close to the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..systems import StateSpace

__all__ = [
    "evaluate_pole_residue",
    "flip_unstable",
    "model_points",
    "pole_basis",
    "pole_representatives",
    "realize_pole_residue",
    "relative_rms",
    "residue_fit",
    "response",
    "stabilize",
]

# Pole-residue terms whose peak gain falls below this fraction of the data's largest gain are
# dropped from the realization (spurious pole-zero pairs of AAA, cancelled modes).
RANK_TOL = 1e-10
# Mirrored poles stay at least this (relative) distance inside the stability region.
STABLE_MARGIN = 1e-8


def model_points(omega: np.ndarray, dt: float | None) -> np.ndarray:
    """Evaluation points `s = jω` (continuous) or `z = exp(jω dt)` (discrete)."""
    return np.exp(1j * omega * dt) if dt is not None else 1j * omega


def pole_representatives(eigs: np.ndarray, *, tol: float = 1e-9) -> np.ndarray:
    """Real poles and one member (`Im > 0`) per conjugate pair of a conjugate-closed set.

    Eigenvalues whose imaginary part is below `tol` times their modulus count as real. A
    complex eigenvalue without its partner (rounding) is paired with its own conjugate.
    """
    eigs = np.asarray(eigs, dtype=complex).ravel()
    scale = np.maximum(np.abs(eigs), np.finfo(float).tiny)
    real = np.abs(eigs.imag) <= tol * scale
    upper = eigs[(~real) & (eigs.imag > 0)]
    lower = eigs[(~real) & (eigs.imag < 0)]
    # Pair each lower-half eigenvalue with the nearest upper one; unmatched ones join as pairs.
    unmatched = []
    taken = np.zeros(upper.size, dtype=bool)
    for lam in lower:
        if upper.size:
            d = np.abs(upper - np.conj(lam))
            d[taken] = np.inf
            k = int(np.argmin(d))
            if np.isfinite(d[k]) and d[k] <= 1e-6 * max(abs(lam), 1.0):
                taken[k] = True
                continue
        unmatched.append(np.conj(lam))
    reps = np.concatenate([eigs[real].real.astype(complex), upper, np.asarray(unmatched, dtype=complex)])
    return reps


def pole_basis(points: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Complex basis matrix, shape `(K, order)`: real partial fractions of the poles."""
    cols = []
    for a in reps:
        if a.imag == 0:
            cols.append(1.0 / (points - a.real))
        else:
            f1 = 1.0 / (points - a)
            f2 = 1.0 / (points - np.conj(a))
            cols.append(f1 + f2)
            cols.append(1j * f1 - 1j * f2)
    if not cols:
        return np.zeros((points.size, 0), dtype=complex)
    return np.stack(cols, axis=1)


def real_rows(M: np.ndarray) -> np.ndarray:
    """Stack real and imaginary parts along the first axis: a complex equation as two real ones."""
    return np.concatenate([M.real, M.imag], axis=0)


def residue_fit(
    points: np.ndarray,
    H: np.ndarray,
    reps: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    feedthrough: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares residues (one complex `(p, m)` matrix per representative) and `D`.

    The data are taken as samples at the points of positive frequency of a real system: the
    conjugate samples are implied, so the equations are the real and imaginary parts.
    """
    K, p, m = H.shape
    Phi = pole_basis(points, reps)
    if feedthrough:
        Phi = np.concatenate([Phi, np.ones((K, 1))], axis=1)
    rhs = H.reshape(K, p * m)
    if weights is not None:
        sw = np.sqrt(weights)[:, None]
        Phi = Phi * sw
        rhs = rhs * sw
    M = real_rows(Phi)
    # Column scaling: partial fractions of near-axis poles are orders of magnitude larger.
    scale = np.linalg.norm(M, axis=0)
    scale[scale == 0] = 1.0
    X, *_ = np.linalg.lstsq(M / scale, real_rows(rhs), rcond=None)
    X = X / scale[:, None]
    residues = []
    k = 0
    for a in reps:
        if a.imag == 0:
            residues.append(X[k].astype(complex))
            k += 1
        else:
            residues.append(X[k] + 1j * X[k + 1])
            k += 2
    R = np.asarray(residues, dtype=complex).reshape(len(reps), p, m)
    D = X[k].reshape(p, m) if feedthrough else np.zeros((p, m))
    return R, D


def evaluate_pole_residue(points: np.ndarray, reps: np.ndarray, R: np.ndarray, D: np.ndarray) -> np.ndarray:
    """`Σ R_k/(s - a_k) + conj terms + D` at the points, shape `(K, p, m)`."""
    out = np.broadcast_to(D, (points.size, *D.shape)).astype(complex)
    for a, Rk in zip(reps, R, strict=True):
        out = out + (1.0 / (points - a))[:, None, None] * Rk
        if a.imag != 0:
            out = out + (1.0 / (points - np.conj(a)))[:, None, None] * np.conj(Rk)
    return out


def _margin(a: complex, dt: float | None) -> float:
    dist = abs(1.0 - abs(a)) if dt is not None else abs(a.real)
    return max(dist, 1e-300)


def realize_pole_residue(
    reps: np.ndarray,
    R: np.ndarray,
    D: np.ndarray,
    dt: float | None,
    *,
    scale: float,
    rank_tol: float = RANK_TOL,
) -> StateSpace:
    """A real, block-diagonal state-space realization of a pole-residue model.

    Each residue matrix is split by an SVD into rank-one terms `c bᵀ`; a term is kept when its
    peak gain `σ / (distance of the pole to the stability boundary)` exceeds `rank_tol *
    scale`. Real poles give 1x1 blocks; a pair `a = σ + jω` gives `[[σ, -ω], [ω, σ]]` with
    input rows `[Re b; Im b]` and output columns `[2 Re c, -2 Im c]`.
    """
    p, m = D.shape
    blocks: list[np.ndarray] = []
    Bs: list[np.ndarray] = []
    Cs: list[np.ndarray] = []
    terms = []  # (peak gain, pole index, c, b) per rank-one term
    for idx, (a, Rk) in enumerate(zip(reps, R, strict=True)):
        U, s, Vh = np.linalg.svd(Rk if a.imag != 0 else Rk.real)
        for i, si in enumerate(s):
            if si <= RANK_TOL * s[0]:  # rounding-level directions of a rank-deficient residue
                break
            terms.append((si / _margin(a, dt), idx, np.sqrt(si) * U[:, i], np.sqrt(si) * Vh[i, :]))
    keep = [t for t in terms if t[0] > rank_tol * scale]
    if not keep and terms:
        keep = [max(terms, key=lambda t: t[0])]
    for _, idx, c, b in keep:
        a = reps[idx]
        if a.imag == 0:
            blocks.append(np.array([[a.real]]))
            Bs.append(b.real.reshape(1, m))
            Cs.append(c.real.reshape(p, 1))
        else:
            blocks.append(np.array([[a.real, -a.imag], [a.imag, a.real]]))
            Bs.append(np.vstack([b.real, b.imag]))
            Cs.append(np.column_stack([2 * c.real, -2 * c.imag]))
    n = sum(blk.shape[0] for blk in blocks)
    A = np.zeros((n, n))
    k = 0
    for blk in blocks:
        d = blk.shape[0]
        A[k : k + d, k : k + d] = blk
        k += d
    return StateSpace(A, np.vstack(Bs), np.hstack(Cs), D, dt)


def flip_unstable(reps: np.ndarray, dt: float | None) -> tuple[np.ndarray, int]:
    """Mirror unstable poles into the stability region (`-ā` in continuous time, `1/ā` in
    discrete time); poles on the boundary are pushed a relative `STABLE_MARGIN` inside.

    Returns the new representatives and the number of poles moved (a pair counts twice).
    """
    out = reps.copy()
    moved = 0
    for k, a in enumerate(reps):
        if dt is None:
            if a.real >= 0:
                re = -max(abs(a.real), STABLE_MARGIN * max(abs(a), 1.0))
                out[k] = complex(re, a.imag)
                moved += 1 if a.imag == 0 else 2
        else:
            r = abs(a)
            if r >= 1:
                r_new = min(1.0 / r, 1.0 - STABLE_MARGIN) if r > 0 else 0.0
                out[k] = r_new * np.exp(1j * np.angle(a)) if a.imag != 0 else complex(np.sign(a.real) * r_new)
                moved += 1 if a.imag == 0 else 2
    return out, moved


def response(sys: StateSpace, points: np.ndarray) -> np.ndarray:
    """`C (xI - A)^{-1} B + D` at many points through the eigendecomposition of `A`.

    `K n (p + m)` work instead of one `n x n` solve per point; falls back to the solves when
    the eigenvectors are ill-conditioned (a defective or nearly defective `A`).
    """
    lam, V = np.linalg.eig(sys.A)
    if np.linalg.cond(V) > 1e8:
        return sys.evaluate(points)
    Bt = np.linalg.solve(V, sys.B.astype(complex))
    Ct = sys.C @ V
    inv = 1.0 / (points[:, None] - lam[None, :])  # (K, n)
    return np.einsum("pn,kn,nm->kpm", Ct, inv, Bt, optimize=True) + sys.D


def relative_rms(H: np.ndarray, G: np.ndarray, weights: np.ndarray | None) -> float:
    """`sqrt(Σ w_k ‖H_k - G_k‖_F² / Σ w_k ‖H_k‖_F²)` (the overall error of a fit)."""
    err = np.sum(np.abs(H - G) ** 2, axis=(1, 2))
    ref = np.sum(np.abs(H) ** 2, axis=(1, 2))
    w = np.ones(H.shape[0]) if weights is None else weights
    den = float(np.sum(w * ref))
    return float(np.sqrt(np.sum(w * err) / den)) if den > 0 else float(np.sqrt(np.sum(w * err)))


def stabilize(
    sys: StateSpace,
    points: np.ndarray,
    H: np.ndarray,
    weights: np.ndarray | None,
    *,
    feedthrough: bool = True,
) -> tuple[StateSpace, dict[str, Any]]:
    """Mirror the unstable poles of `sys` and refit residues (and `D`) to the data.

    Returns the stable model and a report: how many poles moved and the relative weighted RMS
    error of the fit before and after, plus the relative change of the model on the data grid.
    """
    before = response(sys, points)
    rms_before = relative_rms(H, before, weights)
    reps = pole_representatives(np.linalg.eigvals(sys.A))
    flipped, moved = flip_unstable(reps, sys.dt)
    report: dict[str, Any] = {"moved_poles": moved, "rms_before": rms_before}
    if moved == 0:
        report.update(rms_after=rms_before, model_change=0.0)
        return sys, report
    R, D = residue_fit(points, H, flipped, weights, feedthrough=feedthrough)
    scale = float(np.max(np.linalg.norm(H, axis=(1, 2)))) or 1.0
    new = realize_pole_residue(flipped, R, D, sys.dt, scale=scale)
    after = response(new, points)
    report.update(
        rms_after=relative_rms(H, after, weights), model_change=relative_rms(before, after, weights)
    )
    return new, report
