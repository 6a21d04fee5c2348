r"""System norms: H2 and H-infinity, in continuous and discrete time.

`hinf_norm` is the level-set (bisection-free) iteration of Boyd--Balakrishnan and
Bruinsma--Steinbuch: for a level `gamma` the frequencies where some singular value of
`G` equals `gamma` are the imaginary-axis eigenvalues of a Hamiltonian matrix
(continuous time) or the unit-circle eigenvalues of a symplectic pencil (discrete time);
evaluating `G` between them raises the lower bound, which converges quadratically.  At
`(1 + 2 rtol) * gamma` no crossing remains, so the returned value is within `rtol` of the
norm *of the computed frequency response*.  That response carries a relative rounding error
of about `eps / delta`, where `delta` is the relative distance of the nearest pole to the
stability boundary (`min -Re(s)/|s|` in continuous time, `min 1 - |z|` in discrete time):
the `rtol` claim holds when `eps / delta <= rtol`; beyond that (poles within ~1e-8 of the
boundary) every float64 method scatters by about `eps / delta` and the value need not be a
lower bound.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.optimize import minimize_scalar

from ._schur import QBasis, schur_data, stable_schur
from ._stability import UnstableSystemError, require_stable
from .gramians import gramian
from .systems import StateSpace, as_state_space

__all__ = ["h2_norm", "hinf_norm"]


def h2_norm(sys: Any) -> float:
    r"""The H2 norm.

    Continuous time: `sqrt(trace(C Wc C^T))`, infinite when `D != 0`.  Discrete time:
    `sqrt(trace(C Wc C^T + D D^T))` (the energy of the impulse response).  Computed from
    the square-root factor of `Wc` so the result is accurate even when small.

    Parameters
    ----------
    sys : StateSpace
        A stable system (python-control and scipy systems are converted).

    Returns
    -------
    float

    Raises
    ------
    UnstableSystemError
        If the system is not stable.

    Examples
    --------
    >>> import hankelid as hk
    >>> round(hk.h2_norm(hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])), 12)      # sqrt(1/2)
    0.707106781187
    >>> round(hk.h2_norm(hk.StateSpace([[0.5]], [[1.0]], [[1.0]], [[1.0]], dt=1.0)), 12)  # sqrt(1 + 1/0.75)
    1.527525231652
    """
    sys = as_state_space(sys)
    require_stable("h2_norm", sys.poles(), discrete=sys.is_discrete, n=sys.n)
    if not sys.is_discrete and np.any(sys.D != 0):
        return float("inf")
    L = gramian(sys, "c", factor=True)
    val = np.linalg.norm(sys.C @ L) ** 2
    if sys.is_discrete:
        val += np.linalg.norm(sys.D) ** 2
    return float(np.sqrt(val))


class _FrequencyEvaluator:
    """`G` at many frequencies through the (complex) Schur form: O(n^2) per point."""

    def __init__(self, sys: StateSpace, sd: Any = None) -> None:
        self.sys = sys
        sd = schur_data(sys.A) if sd is None else sd
        A, B, C, D = sys.matrices
        self.D = D
        self.diagonal = sd.diagonal
        if sd.diagonal:
            self.a = np.diag(A).astype(complex)
            self.Bq, self.Cq = B.astype(complex), C.astype(complex)
            return
        qb = QBasis(sd)
        Bs = sd.Z.T @ B
        Cs = C @ sd.Z
        self.Bq = qb.qh(sys.n, Bs.astype(complex))
        self.Cq = self._cq(qb, Cs)
        self.T = np.asfortranarray(sd.Tc if sd.G else sd.T.astype(complex))

    @staticmethod
    def _cq(qb: Any, Cs: np.ndarray) -> np.ndarray:
        # (C Z) Q = ((C Z) Q)^T^T; rows of Q^T act on the columns of C Z.
        # (X Q)^T = Q^T X^T and Q^T = conj(Q^H): apply Q^H to conj(X^T), then conjugate.
        return np.conj(qb.qh(Cs.shape[1], np.conj(Cs.T).astype(complex))).T

    def points(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=float)
        if self.sys.is_discrete:
            return np.exp(1j * w * self.sys.dt)
        return 1j * w

    def __call__(self, w: np.ndarray) -> np.ndarray:
        """Frequency response at `w` (rad/s), shape `(len(w), p, m)`."""
        pts = self.points(np.atleast_1d(w))
        if self.diagonal:
            R = 1.0 / (pts[:, None] - self.a[None, :])  # (k, n)
            G = np.einsum("pn,kn,nm->kpm", self.Cq, R, self.Bq)
            return G + self.D
        out = np.empty((pts.size, self.D.shape[0], self.D.shape[1]), dtype=complex)
        n = self.T.shape[0]
        for i, s in enumerate(pts):
            M = -self.T.copy(order="F")
            M.flat[:: n + 1] += s
            X = sla.solve_triangular(M, self.Bq, check_finite=False, overwrite_b=False)
            out[i] = self.Cq @ X + self.D
        return out

    def sigma_max(self, w: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self(w), ord=2, axis=(1, 2))

    def sigma_all(self, w: np.ndarray) -> np.ndarray:
        return np.linalg.svd(self(w), compute_uv=False)


def _rhs_blocks(D: np.ndarray, gamma: float):
    p, m = D.shape
    R = np.block([[gamma * np.eye(m), -D.T], [-D, gamma * np.eye(p)]])
    E = np.linalg.inv(R)
    return E[:m, :m], E[:m, m:], E[m:, :m], E[m:, m:]


def _crossings(sys: StateSpace, gamma: float, ev_G: _FrequencyEvaluator) -> np.ndarray:
    """Frequencies (rad/s, >= 0) where some singular value of `G` equals `gamma`."""
    A, B, C, D = sys.matrices
    n = sys.n
    E11, E12, E21, E22 = _rhs_blocks(D, gamma)
    A1 = A + B @ E12 @ C
    A2 = A.T + C.T @ E21 @ B.T
    G1 = B @ E11 @ B.T
    G2 = C.T @ E22 @ C
    if not sys.is_discrete:
        H = np.block([[A1, G1], [-G2, -A2]])
        ev = np.linalg.eigvals(H)
        scale = max(1.0, float(np.linalg.norm(H, 1)))
        tol = 1e-6 * np.abs(ev) + 1e3 * np.finfo(float).eps * scale
        cand = np.abs(ev[np.abs(ev.real) <= tol].imag)
        w = cand
    else:
        M = np.block([[A1, G1], [np.zeros((n, n)), np.eye(n)]])
        N = np.block([[np.eye(n), np.zeros((n, n))], [G2, A2]])
        alpha, beta = sla.eig(M, N, right=False, homogeneous_eigvals=True)
        fin = np.abs(beta) > 1e-14 * np.abs(alpha)
        z = alpha[fin] / beta[fin]
        cand = z[np.abs(np.abs(z) - 1.0) <= 1e-6]
        w = np.abs(np.angle(cand)) / sys.dt
    if w.size == 0:
        return w
    w = np.unique(np.round(w, 12))
    # keep only verified crossings (some singular value equal to gamma there)
    sv = ev_G.sigma_all(w)
    ok = np.any(np.abs(sv - gamma) <= 1e-4 * gamma, axis=1)
    return np.sort(w[ok])


def hinf_norm(sys: Any, *, rtol: float = 1e-8, return_frequency: bool = False):
    r"""The H-infinity norm `sup_w sigma_max(G(j w))` (or `G(e^{j w dt})`).

    Parameters
    ----------
    sys : StateSpace
        A stable system, continuous or discrete time.
    rtol : float, default 1e-8
        Relative accuracy of the level-set iteration.  The result is within `rtol` of the
        norm when the relative distance `delta` of the nearest pole to the stability
        boundary (`min -Re(s)/|s|`, or `min 1 - |z|` in discrete time) satisfies
        `eps / delta <= rtol`; otherwise its accuracy is about `eps / delta`, the
        rounding level of the frequency response itself.
    return_frequency : bool
        Also return the peak frequency in rad/s (`inf` when the peak is the
        continuous-time feed-through at infinite frequency; in `[0, pi/dt]` in
        discrete time).

    Returns
    -------
    float, or (float, float) with `return_frequency=True`

    Raises
    ------
    UnstableSystemError
        If the system is not stable.

    Examples
    --------
    >>> import hankelid as hk
    >>> sys = hk.StateSpace([[-1.0]], [[1.0]], [[1.0]])
    >>> round(hk.hinf_norm(sys), 10)
    1.0
    >>> import numpy as np
    >>> res = hk.StateSpace([[0.0, 1.0], [-1.0, -0.1]], [[0.0], [1.0]], [[1.0, 0.0]])
    >>> g, w = hk.hinf_norm(res, return_frequency=True)          # lightly damped resonance
    >>> round(g, 4), round(w, 3)
    (10.0125, 0.997)
    """
    sys = as_state_space(sys)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not (0 < rtol < 1):
        raise ValueError(f"rtol must be a number in (0, 1), got {rtol!r}")
    rtol = max(float(rtol), 1e-14)
    sd, poles = stable_schur(sys.A, discrete=sys.is_discrete, what="hinf_norm")
    if sys.is_discrete:
        mapped = _bilinear_equivalent(sys, poles)
        if mapped is not None:
            # The H-infinity norm is invariant under the bilinear map; the Hamiltonian
            # eigenproblem of the continuous equivalent is cheaper than the symplectic pencil.
            sysc, w0 = mapped
            try:
                _, wc = hinf_norm(sysc, rtol=rtol, return_frequency=True)
            except UnstableSystemError:
                # The map put a pole on the imaginary axis: in discrete terms it lies on the
                # unit circle to working precision, and the error must say so.
                worst = poles[np.argmax(np.abs(poles))]
                raise UnstableSystemError(
                    f"hinf_norm needs a stable system (all poles inside the unit circle |z| < 1), "
                    f"but this discrete-time system (n={sys.n}) has a pole {worst:.6g} with "
                    f"|z| = 1 - {1.0 - abs(worst):.1e}, on the unit circle to working precision"
                ) from None
            zeta = -1.0 if np.isinf(wc) else (1 + 1j * wc) / (1 - 1j * wc)
            theta = abs(float(np.angle(w0 * zeta)))
            assert sys.dt is not None
            w_d = theta / sys.dt
            g = float(_FrequencyEvaluator(sys, sd).sigma_max(np.array([w_d]))[0])
            return (g, w_d) if return_frequency else g
    return _hinf_level_set(sys, sd, poles, rtol, return_frequency)


def _bilinear_equivalent(sys: StateSpace, poles: np.ndarray) -> tuple[StateSpace, float] | None:
    """Continuous system with `Gc(s) = Gd(w0 (1+s)/(1-s))`, `w0 = +-1` far from the poles.

    `None` when every pole is within 0.05 of both +1 and -1's images (then the symplectic
    pencil is used directly).
    """
    d_minus = float(np.min(np.abs(poles + 1.0)))  # w0 = +1 needs A + I invertible
    d_plus = float(np.min(np.abs(poles - 1.0)))  # w0 = -1 needs A - I invertible
    if max(d_minus, d_plus) < 0.05:
        return None
    w0 = 1.0 if d_minus >= d_plus else -1.0
    A, B, C, D = sys.matrices
    n = sys.n
    At = w0 * A
    Bt = w0 * B
    lu = sla.lu_factor(At + np.eye(n), check_finite=False)
    Ac = sla.lu_solve(lu, At - np.eye(n), check_finite=False)  # (At+I)^{-1}(At-I): commutes
    Bc = sla.lu_solve(lu, Bt, check_finite=False)
    Cc = 2.0 * sla.lu_solve(lu, C.T, trans=1, check_finite=False).T
    Dc = D - 0.5 * Cc @ Bt
    return StateSpace(Ac, Bc, Cc, Dc), w0


def _hinf_level_set(sys: StateSpace, sd: Any, poles: np.ndarray, rtol: float, return_frequency: bool):
    dt = sys.dt
    # ---- initial lower bound from candidate frequencies
    if sys.is_discrete:
        assert dt is not None
        theta = np.abs(np.angle(poles))
        cand = np.concatenate([[0.0, np.pi], theta, np.linspace(0, np.pi, 16)]) / dt
    else:
        mag = np.abs(poles)
        # pole moduli and imaginary parts (the peaks of lightly damped modes), plus a grid
        cand = np.concatenate([[0.0], mag, np.abs(poles.imag)])
        lo = max(float(mag.min()) / 10, 1e-12) if mag.size else 1e-3
        hi = float(mag.max()) * 10 if mag.size else 1e3
        cand = np.concatenate([cand, np.geomspace(lo, hi, 16)])
    cand = np.unique(cand[np.isfinite(cand)])
    if cand.size > 400:  # very large systems: keep it cheap
        cand = cand[np.linspace(0, cand.size - 1, 400).astype(int)]
    ev_G = _FrequencyEvaluator(sys, sd)
    vals = ev_G.sigma_max(cand)
    k = int(np.argmax(vals))
    g_lb, w_best = float(vals[k]), float(cand[k])
    dnorm = float(np.linalg.norm(sys.D, 2)) if sys.D.size else 0.0
    if not sys.is_discrete and dnorm > g_lb:
        g_lb, w_best = dnorm, float("inf")
    if g_lb == 0.0:
        return (0.0, 0.0) if return_frequency else 0.0
    # ---- level-set iteration
    for _ in range(60):
        gamma = (1.0 + 2.0 * rtol) * g_lb
        w = _crossings(sys, gamma, ev_G)
        if w.size == 0:
            break
        if sys.is_discrete:
            edges = np.concatenate([[0.0], w, [np.pi / dt]])
        else:
            edges = np.concatenate([[0.0], w, [w[-1] * 2 + 1.0]])
        mids = 0.5 * (edges[:-1] + edges[1:])
        mids = np.concatenate([mids, w])
        vals = ev_G.sigma_max(mids)
        k = int(np.argmax(vals))
        if vals[k] <= g_lb * (1.0 + 0.1 * rtol):
            break  # no progress: the remaining crossings are rounding artefacts
        g_lb, w_best = float(vals[k]), float(mids[k])
    # ---- polish the peak location (cheap local search; only ever raises the bound)
    if np.isfinite(w_best):
        span = max(abs(w_best) * 1e-2, 1e-8)
        upper = np.pi / dt if sys.is_discrete else np.inf
        a, b = max(0.0, w_best - span), min(upper, w_best + span)
        if b > a:
            res = minimize_scalar(
                lambda x: -float(ev_G.sigma_max(np.array([x]))[0]),
                bounds=(a, b),
                method="bounded",
                options={"xatol": 1e-12 * max(1.0, abs(w_best))},
            )
            if -res.fun > g_lb:
                g_lb, w_best = float(-res.fun), float(res.x)
    if return_frequency:
        return g_lb, w_best
    return g_lb
