"""Square-root factors of the Lyapunov and Stein equations on a real Schur form.

Continuous time solves `T X + X T^T + B B^T = 0`, discrete time `T X T^T - X + B B^T = 0`
for the quasi-triangular `T` of `A = Z T Z^T`, with `X = U U^T` computed *directly*:

* [`solve_factor`][hankelid._lyapunov.solve_factor] -- the blocked Hammarling method of
  [`hankelid._lyapunov_blocked`][hankelid._lyapunov_blocked] (complex Schur form, 1x1 steps
  only, Level-3 recursion), then its residual checked in factored form
  ([`factored_residual`][hankelid._lyapunov_blocked.factored_residual]); when that exceeds
  [`RESIDUAL_RTOL`][hankelid._lyapunov.RESIDUAL_RTOL] the factor is recomputed by
* [`smith_factor`][hankelid._lyapunov.smith_factor] -- the squared Smith iteration with a QR
  compression per step ([`squared_smith`][hankelid._lyapunov.squared_smith]; continuous time
  after a Cayley map), and a `RuntimeWarning` is raised if neither meets the tolerance;
* [`factors_from_schur`][hankelid._lyapunov.factors_from_schur] returns both factors of a
  system in Schur coordinates.

The real-arithmetic Hammarling recursion used before (1x1 and 2x2 steps) is gone: its 2x2
step rebuilt `M = U22^{-1} B2` and `S = U22^{-1} T22 U22` as real matrices by dropping
imaginary parts, which is only valid for a nonsingular `U22`; a repeated real pole that
LAPACK leaves as a 2x2 block with an O(eps) imaginary part, with a single input, made
`U22` singular and every earlier column of the factor wrong (issue 12).

The Gramian is never formed and then factored, which would lose the small Hankel singular
values (an absolute error of about `sqrt(eps)` of the largest one).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ._factors import thin_factor
from ._lyapunov_blocked import factor_from_schur, factored_residual
from ._schur import SchurData, stable_schur
from .systems import StateSpace

__all__ = [
    "RESIDUAL_RTOL",
    "ExactFactors",
    "exact_factors",
    "factors_from_schur",
    "smith_factor",
    "solve_factor",
    "squared_smith",
]


def squared_smith(T: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Square-root factor of `T X T^T - X + B B^T = 0` by the squared Smith iteration.

    `X = sum_k T^k B B^T T^{kT}`, accumulated as `F <- [F, P F]`, `P <- P^2` with the
    columns compressed by a QR factorization at every step: orthogonal transformations keep
    `F F^T` exact, so no Gramian is formed and small singular values keep their accuracy.
    """
    n = T.shape[0]
    F = thin_factor(np.array(B, dtype=float))
    P = np.array(T, dtype=float)
    for _ in range(64):
        PF = P @ F
        if np.linalg.norm(PF) <= np.finfo(float).eps * np.linalg.norm(F):
            break
        F = thin_factor(np.hstack([F, PF]))
        P = P @ P
    out = np.zeros((n, n))
    out[:, : F.shape[1]] = F
    return out


#: Relative residual (see [`factored_residual`][hankelid._lyapunov_blocked.factored_residual])
#: above which a factor is recomputed by the squared Smith fallback.  Correct factors measure
#: 1e-19..1e-15 up to n = 2000.
RESIDUAL_RTOL = 1e-11


def smith_factor(T: np.ndarray, B: np.ndarray, discrete: bool) -> np.ndarray:
    """Factor by the squared Smith iteration; continuous time through a Cayley map.

    `T X + X T^T + B B^T = 0` equals the Stein equation with
    `A_p = (pI - T)^{-1} (pI + T)`, `B_p = sqrt(2p) (pI - T)^{-1} B` for any `p > 0`;
    `p` is the geometric mean of the extreme pole moduli.
    """
    if discrete:
        return squared_smith(T, B)
    n = T.shape[0]
    tiny = np.finfo(float).tiny
    mod = np.abs(np.linalg.eigvals(T))
    p = float(np.sqrt(max(mod.min(), tiny) * max(mod.max(), tiny)))
    lu = sla.lu_factor(p * np.eye(n) - T, check_finite=False)
    Ap = sla.lu_solve(lu, p * np.eye(n) + T, check_finite=False)
    Bp = np.sqrt(2.0 * p) * sla.lu_solve(lu, B, check_finite=False)
    return squared_smith(Ap, Bp)


def solve_factor(T: np.ndarray, B: np.ndarray, discrete: bool) -> np.ndarray:
    """Blocked Hammarling factor, checked by its factored residual; squared Smith when that is large.

    Warns (`RuntimeWarning`) when neither meets [`RESIDUAL_RTOL`][hankelid._lyapunov.RESIDUAL_RTOL]
    and returns the factor with the smaller residual.
    """
    F = factor_from_schur(T, B, discrete=discrete)
    res = factored_residual(T, F, B, discrete=discrete)
    if res <= RESIDUAL_RTOL:
        return F
    G = smith_factor(T, B, discrete)
    res_g = factored_residual(T, G, B, discrete=discrete)
    if res_g < res:
        F, res = G, res_g
    if res > RESIDUAL_RTOL:
        warnings.warn(
            f"Gramian factor has relative residual {res:.2e} > {RESIDUAL_RTOL:.0e} after the squared "
            "Smith fallback; the Lyapunov/Stein equation is ill-conditioned for this system",
            RuntimeWarning,
            stacklevel=4,
        )
    return F


def factors_from_schur(
    sys: StateSpace, sd: SchurData, kinds: str = "co"
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Factors in *Schur coordinates*: `Wc = Z Uc Uc^T Z^T`, `Wo = Z Uo Uo^T Z^T`."""
    _, B, C, _ = sys.matrices
    Z = sd.Z
    disc = sys.is_discrete
    Uc = Uo = None
    if "c" in kinds:
        Bs = B if Z is None else Z.T @ B
        Uc = solve_factor(sd.T, thin_factor(Bs), disc)
    if "o" in kinds:
        # P T^T P (P the reversal) is quasi-upper-triangular and carries the dual equation.
        Cs = C if Z is None else C @ Z
        Ur = solve_factor(np.asfortranarray(sd.T.T[::-1, ::-1]), thin_factor(Cs[:, ::-1].T), disc)
        Uo = np.ascontiguousarray(Ur[::-1])
    return Uc, Uo


@dataclass
class ExactFactors:
    """`Lc = Z Uc`, `Lo = Z Uo` kept in Schur coordinates (`Z = None`: identity)."""

    Z: np.ndarray | None
    Uc: np.ndarray
    Uo: np.ndarray

    @property
    def Lc(self) -> np.ndarray:
        return self.Uc if self.Z is None else self.Z @ self.Uc

    @property
    def Lo(self) -> np.ndarray:
        return self.Uo if self.Z is None else self.Z @ self.Uo


def exact_factors(sys: StateSpace, what: str) -> ExactFactors:
    """Schur form, stability check from its eigenvalues, and both factors."""
    sd, _ = stable_schur(sys.A, discrete=sys.is_discrete, what=what)
    Uc, Uo = factors_from_schur(sys, sd)
    assert Uc is not None and Uo is not None
    return ExactFactors(sd.Z, Uc, Uo)
