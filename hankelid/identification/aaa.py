r"""AAA rational approximation of frequency-response data, as a real state-space model.

The AAA algorithm (Nakatsukasa, Sète & Trefethen 2018) writes the approximant in barycentric
form \( r(s) = \sum_j \frac{w_j f_j}{s - z_j} \big/ \sum_j \frac{w_j}{s - z_j} \), adds the
sample of largest error to the support points \( z_j \) greedily, and chooses the weights as the
smallest right singular vector of a Loewner matrix. For MIMO data this module uses the
set-valued variant (Lietaert, Meerbergen, Pérez & Vandereycken 2022): all `p·m` entries share
support points and weights, so they share poles, and the error that picks the next support
point is the largest over all entries. For a real model every support point enters together
with its conjugate and the weights are constrained to conjugate pairs (real unknowns).

The poles of the barycentric form (eigenvalues of its arrowhead pencil) are then kept, and the
residues and `D` are refitted by linear least squares on all data — exact for exact data, and
better conditioned than reading residues off the barycentric form — before a minimal real
realization (an SVD per residue) is formed.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._validation import check_positive
from ._rational import (
    RANK_TOL,
    pole_representatives,
    realize_pole_residue,
    relative_rms,
    residue_fit,
    response,
    stabilize,
)
from .fitted import FittedModel
from .frequency_data import FRData
from .passivity import check_passivity_option, passivate_fit

__all__ = ["aaa"]


def _pair_matrix(first: np.ndarray) -> np.ndarray:
    """`T` with conjugate-pair weights `w = T x`, `x` real (identity for real points)."""
    q = first.size
    T = np.zeros((q, q), dtype=complex)
    k = 0
    while k < q:
        if first[k]:
            T[k, k], T[k, k + 1] = 1.0, 1j
            T[k + 1, k], T[k + 1, k + 1] = 1.0, -1j
            k += 2
        else:
            T[k, k] = 1.0
            k += 1
    return T


def _barycentric_poles(z: np.ndarray, w: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Finite eigenvalues of the arrowhead pencil `([[0, wᵀ], [1, diag z]], diag(0, I))`.

    Each conjugate pair of support points is rotated to real arithmetic (the pair's block of
    `diag z` becomes `[[Re z, -Im z], [Im z, Re z]]`, its ones become `(1, 0)` and its weights
    `(2 Re w, -2 Im w)`), so a real QZ returns exactly real poles and exact conjugate pairs.
    """
    q = z.size
    M = np.zeros((q + 1, q + 1))
    k = 0
    while k < q:
        if first[k]:
            M[0, k + 1 : k + 3] = [2 * w[k].real, -2 * w[k].imag]
            M[k + 1, 0] = 1.0
            M[k + 1 : k + 3, k + 1 : k + 3] = [[z[k].real, -z[k].imag], [z[k].imag, z[k].real]]
            k += 2
        else:
            M[0, k + 1] = w[k].real
            M[k + 1, 0] = 1.0
            M[k + 1, k + 1] = z[k].real
            k += 1
    Bm = np.eye(q + 1)
    Bm[0, 0] = 0.0
    ev = sla.eigvals(M, Bm)
    return ev[np.isfinite(ev) & (np.abs(ev) < 1e300)]


def aaa(
    frd: FRData,
    tol: float = 1e-8,
    max_order: int | None = None,
    *,
    stable: bool = False,
    enforce_passivity: bool | str = False,
) -> FittedModel:
    r"""Fit a real state-space model to frequency-response data with (set-valued) AAA.

    Parameters
    ----------
    frd : FRData
        Continuous- or discrete-time data (AAA runs on the points \( \mathrm{j}\omega \) or
        \( e^{\mathrm{j}\omega\Delta t} \)); each sample stands for itself and its conjugate.
    tol : float
        Stop when the largest error over all frequencies and entries, relative to each entry's
        largest magnitude, is at most `tol`.
    max_order : int, optional
        Largest number of barycentric poles (support points minus one); default
        `min(K, 100)`.
    stable : bool
        Mirror unstable poles and refit the residues and `D` by least squares; the report is
        `info["stability"]`.
    enforce_passivity : {False, "scattering", "immittance"}
        Make the stable fit passive of that kind (see [`passivity`][hankelid.passivity]) by
        iterative residue perturbation, as in [`vector_fit`][hankelid.vector_fit]; needs
        `stable=True`. The report is `info["passivity"]`.

    Returns
    -------
    FittedModel
        A [`StateSpace`][hankelid.StateSpace] (same time domain as the data) whose `info` has
        `"support_points"`, `"weights"`, `"poles"` (of the barycentric form), `"errors"` (largest
        relative error per iteration), `"rms"` and `"stability"`. Its state dimension is the
        sum of the numerical ranks of the residue matrices (the McMillan degree for exact data).

    Raises
    ------
    ValueError
        If `tol` is not positive or `max_order` is not a positive integer below the number of
        samples.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(5, 2, 2, seed=3)
    >>> frd = hk.FRData.from_system(sys, np.logspace(-1, 2, 60))
    >>> fit = hk.aaa(frd, tol=1e-10)
    >>> w = np.array([0.5, 7.0])
    >>> bool(np.allclose(fit.frequency_response(w), sys.frequency_response(w), atol=1e-8))
    True
    """
    if not isinstance(frd, FRData):
        raise TypeError(f"frd must be a hankelid.FRData, got {type(frd).__name__}")
    kind = check_passivity_option(enforce_passivity, stable, frd.p, frd.m, "stable")
    tol = check_positive(tol, name="tol")
    K, p, m = frd.K, frd.p, frd.m
    limit = 2 * K - 1
    if max_order is None:
        max_order = min(limit, 100)
    elif isinstance(max_order, bool) or not isinstance(max_order, numbers.Integral) or max_order < 1:
        raise ValueError(f"max_order must be a positive integer, got {max_order!r}")
    elif max_order > limit:
        raise ValueError(
            f"max_order {max_order} is larger than the data allow: {K} frequencies (with their conjugates) "
            f"support at most {limit} poles"
        )
    Z = frd.points()
    H = frd.response
    F = H.reshape(K, p * m)
    scale = np.max(np.abs(F), axis=0)
    scale[scale == 0] = 1.0
    Fs = F / scale
    omega = frd.omega
    nyquist = np.pi / frd.dt if frd.dt is not None else np.inf
    single = (omega == 0) | np.isclose(omega, nyquist, rtol=1e-12, atol=0)
    R = np.broadcast_to(Fs.mean(axis=0), Fs.shape)
    free = np.ones(K, dtype=bool)
    chosen: list[int] = []
    errors: list[float] = []
    z = np.zeros(0, dtype=complex)
    fz = np.zeros((0, p * m), dtype=complex)
    first = np.zeros(0, dtype=bool)
    w = np.zeros(0, dtype=complex)
    cols: list[np.ndarray] = []
    while True:
        err = np.max(np.abs(Fs - R), axis=1)
        err[~free] = 0.0
        errors.append(float(err.max()))
        if errors[-1] <= tol or not free.any():
            break
        k = int(np.argmax(err))
        extra = 1 if single[k] else 2
        if z.size - 1 + extra > max_order:
            break
        chosen.append(k)
        free[k] = False
        # Loewner columns (F_e(Z_i) - f_e(z_j)) / (Z_i - z_j) over all rows, kept across steps
        # (support rows are masked out); a conjugate pair enters as (a + ā', j(a - ā')), the
        # columns of A T for real unknowns.
        with np.errstate(divide="ignore", invalid="ignore"):
            if single[k]:
                z = np.r_[z, Z[k].real]
                fz = np.vstack([fz, Fs[k].real])
                first = np.r_[first, False]
                cols.append((Fs - Fs[k].real) / (Z - Z[k].real)[:, None])
            else:
                z = np.r_[z, Z[k], np.conj(Z[k])]
                fz = np.vstack([fz, Fs[k], np.conj(Fs[k])])
                first = np.r_[first, True, False]
                a1 = (Fs - Fs[k]) / (Z - Z[k])[:, None]
                a2 = (Fs - np.conj(Fs[k])) / (Z - np.conj(Z[k]))[:, None]
                cols += [a1 + a2, 1j * (a1 - a2)]
        T = _pair_matrix(first)
        rows = int(free.sum()) * p * m
        # Real and imaginary parts as one real least-squares matrix, in the column-major
        # layout LAPACK works in; only R of its QR is needed.
        Ar = np.empty((2 * rows, z.size), order="F")
        for j, col in enumerate(cols):
            sub = col[free].ravel()
            Ar[:rows, j] = sub.real
            Ar[rows:, j] = sub.imag
        (qr, _), _ = sla.qr(Ar, mode="raw", overwrite_a=True, check_finite=False)
        Rq = np.triu(qr[: z.size])
        _, _, Vh = np.linalg.svd(Rq)
        w = T @ Vh[-1]
        C = 1.0 / (Z[free, None] - z[None, :])  # Cauchy matrix (K_free, q)
        N = C @ (w[:, None] * fz)
        Dn = C @ w
        R = Fs.copy()
        R[free] = N / Dn[:, None]
    if w.size == 0:
        raise ValueError("AAA stopped before choosing a support point: the data are constant within tol")
    poles = _barycentric_poles(z, w, first) if z.size > 1 else np.zeros(0, dtype=complex)
    reps = pole_representatives(poles, tol=1e-14)
    if reps.size == 0:
        raise ValueError("the AAA approximant has no finite poles: the data are constant within tol")
    Rres, D = residue_fit(Z, H, reps, frd.weights)
    hscale = float(np.max(np.linalg.norm(H, axis=(1, 2)))) or 1.0
    # Residue directions below the fit tolerance are not resolved by the data.
    sys = realize_pole_residue(reps, Rres, D, frd.dt, scale=hscale, rank_tol=max(tol, RANK_TOL))
    info: dict[str, Any] = {
        "method": "aaa",
        "support_points": z,
        "weights": w,
        "poles": poles,
        "errors": np.asarray(errors),
    }
    if stable:
        sys, info["stability"] = stabilize(sys, Z, H, frd.weights)
    if kind is not None:
        sys, info["passivity"] = passivate_fit(sys, Z, H, frd.weights, kind)
    info["rms"] = relative_rms(H, response(sys, Z), frd.weights)
    return FittedModel(sys, info)
