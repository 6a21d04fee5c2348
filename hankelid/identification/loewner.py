r"""The Loewner framework: a state-space model that interpolates frequency-response data.

Mayo & Antoulas (2007). The samples are split alternately into *right* data
\( (\lambda_j, r_j, w_j = G(\lambda_j) r_j) \) and *left* data
\( (\mu_i, \ell_i, v_i = \ell_i^T G(\mu_i)) \) with tangential directions \( r_j, \ell_i \), and
arranged in the Loewner and shifted Loewner matrices
$$ \mathbb{L}_{ij} = \frac{v_i r_j - \ell_i^T w_j}{\mu_i - \lambda_j}, \qquad
   \mathbb{L}^{\sigma}_{ij} = \frac{\mu_i v_i r_j - \lambda_j \ell_i^T w_j}{\mu_i - \lambda_j}. $$
The descriptor system \( E = -\mathbb{L},\ A = -\mathbb{L}^\sigma,\ B = V,\ C = W \) interpolates
all the data; the singular values of \( [\mathbb{L}, \mathbb{L}^\sigma] \) reveal the order of the
underlying system (they are the frequency-domain counterpart of the Hankel singular values), and
projecting onto the leading singular vectors gives a model of that order.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._validation import check_positive
from ..systems import StateSpace
from ._rational import relative_rms, response, stabilize
from .frequency_data import FRData
from .passivity import check_passivity_option, passivate_fit
from .result import Identification

__all__ = ["loewner"]

# "auto" directions: block (full) tangential data while the real pencil has at most this many
# rows; random directions (one per point) beyond.
_BLOCK_PENCIL_ROWS = 1200
# Singular values of the projected E below this fraction of the largest are an algebraic part
# (the feed-through D), eliminated from the descriptor realization.
_E_RANK_TOL = 1e-10


def _sides(
    frd: FRData, idx: np.ndarray, dt: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expanded points (each pair followed by its conjugate), their data, pair flags and the
    index (into `idx`) of the frequency each point comes from."""
    omega = frd.omega[idx]
    pts = np.exp(1j * omega * dt) if dt is not None else 1j * omega
    nyquist = np.pi / dt if dt is not None else np.inf
    # omega = 0 (and the Nyquist frequency) are their own conjugates: one real point each.
    single = (omega == 0) | np.isclose(omega, nyquist, rtol=1e-12, atol=0)
    H = frd.response[idx]
    group = np.repeat(np.arange(omega.size), np.where(single, 1, 2))
    second = np.zeros(group.size, dtype=bool)
    second[1:] = group[1:] == group[:-1]
    first = np.zeros(group.size, dtype=bool)
    first[:-1] = second[1:]
    out_pts = np.where(second, np.conj(pts[group]), pts[group])
    out_H = np.where(second[:, None, None], np.conj(H[group]), H[group])
    out_pts[~first & ~second] = out_pts[~first & ~second].real
    out_H[~first & ~second] = out_H[~first & ~second].real
    return out_pts, out_H, first, group


def _real_transform(M: np.ndarray, first: np.ndarray, d: int, axis: int) -> np.ndarray:
    """Apply the unitary pair transform to the blocks of `d` rows (axis 0) or columns (axis 1).

    Rows of a pair `(x, x̄)` become `((x + x̄)/√2, (-j x + j x̄)/√2)` (`T*` from the left);
    columns become `((x + x̄)/√2, (j x - j x̄)/√2)` (`T` from the right): the standard real
    transformation of conjugate-symmetric Loewner data (Antoulas, Lefteriu & Ionita 2017).
    """
    if axis == 1:
        return _pair_rows(M.T, first, d, 1j).T
    return _pair_rows(M, first, d, -1j)


def _pair_rows(M: np.ndarray, first: np.ndarray, d: int, phase: complex) -> np.ndarray:
    blocks = M.reshape(first.size, d, *M.shape[1:]).astype(complex)
    i = np.flatnonzero(first)
    x, y = blocks[i].copy(), blocks[i + 1].copy()
    blocks[i] = (x + y) / np.sqrt(2)
    blocks[i + 1] = phase * (x - y) / np.sqrt(2)
    return blocks.reshape(M.shape)


def _directions(kind: str, count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "block":
        return np.broadcast_to(np.eye(size), (count, size, size))
    vec = rng.standard_normal((count, size, 1))
    return vec / np.linalg.norm(vec, axis=1, keepdims=True)


def _loewner_pencil(
    frd: FRData, directions: str = "auto", seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Real Loewner matrices `L`, `Ls` and data `V`, `W` of conjugate-symmetric data."""
    K, p, m = frd.K, frd.p, frd.m
    idx = np.arange(K)
    right_idx, left_idx = idx[0::2], idx[1::2]
    if directions == "auto":
        rows = 2 * left_idx.size * p
        cols = 2 * right_idx.size * m
        directions = "block" if max(rows, cols) <= _BLOCK_PENCIL_ROWS or p == m == 1 else "random"
    rng = np.random.default_rng(seed)
    la, Hr, rfirst, rgroup = _sides(frd, right_idx, frd.dt)
    mu, Hl, lfirst, lgroup = _sides(frd, left_idx, frd.dt)
    # A pair shares its (real) direction: the conjugate point gets the same one.
    Rd = _directions(directions, right_idx.size, m, rng)[rgroup]
    Ld = _directions(directions, left_idx.size, p, rng)[lgroup]
    W = Hr @ Rd  # (NR, p, dr)
    V = np.swapaxes(Ld, 1, 2) @ Hl  # (NL, dl, m)
    dl, dr = V.shape[1], W.shape[2]
    VR = np.einsum("iam,jmb->ijab", V, Rd)
    LW = np.einsum("ipa,jpb->ijab", Ld, W)
    den = (mu[:, None] - la[None, :])[:, :, None, None]
    L = (VR - LW) / den
    Ls = (mu[:, None, None, None] * VR - la[None, :, None, None] * LW) / den
    NL, NR = mu.size, la.size
    L = L.transpose(0, 2, 1, 3).reshape(NL * dl, NR * dr)
    Ls = Ls.transpose(0, 2, 1, 3).reshape(NL * dl, NR * dr)
    Vm = V.reshape(NL * dl, m)
    Wm = W.transpose(1, 0, 2).reshape(p, NR * dr)
    L = _real_transform(_real_transform(L, lfirst, dl, 0), rfirst, dr, 1)
    Ls = _real_transform(_real_transform(Ls, lfirst, dl, 0), rfirst, dr, 1)
    Vm = _real_transform(Vm, lfirst, dl, 0)
    Wm = _real_transform(Wm, rfirst, dr, 1)
    return L.real, Ls.real, Vm.real, Wm.real, directions


def _order_from_gap(s: np.ndarray) -> int:
    """Index of the largest drop between consecutive singular values (above rounding level)."""
    if s.size < 2:
        return int(s.size)
    floor = s[0] * np.finfo(float).eps * s.size
    c = np.maximum(s, floor)
    return int(np.argmax(c[:-1] / c[1:])) + 1


def _descriptor_to_state_space(
    E: np.ndarray, A: np.ndarray, B: np.ndarray, C: np.ndarray, dt: float | None
) -> StateSpace:
    """`C (sE - A)^{-1} B` as a standard system `(A, B, C, D)`: an index-one algebraic part of the
    pencil (singular `E`) becomes the feed-through `D`."""
    U, sig, Vt = np.linalg.svd(E)
    k = int(np.sum(sig > _E_RANK_TOL * sig[0])) if sig.size and sig[0] > 0 else 0
    if k == 0:
        raise ValueError("the data are a constant gain: the Loewner pencil has no dynamic part")
    At = U.T @ A @ Vt.T
    Bt = U.T @ B
    Ct = C @ Vt.T
    if k == E.shape[0]:
        Si = 1.0 / sig
        return StateSpace(Si[:, None] * At, Si[:, None] * Bt, Ct, None, dt)
    A11, A12, A21, A22 = At[:k, :k], At[:k, k:], At[k:, :k], At[k:, k:]
    B1, B2 = Bt[:k], Bt[k:]
    C1, C2 = Ct[:, :k], Ct[:, k:]
    try:
        X = np.linalg.solve(A22, np.hstack([A21, B2]))
    except np.linalg.LinAlgError:
        raise ValueError(
            "the projected Loewner pencil is singular (not index one); choose another order"
        ) from None
    XA, XB = X[:, :k], X[:, k:]
    Si = 1.0 / sig[:k]
    return StateSpace(
        Si[:, None] * (A11 - A12 @ XA), Si[:, None] * (B1 - A12 @ XB), C1 - C2 @ XA, -C2 @ XB, dt
    )


def loewner(
    frd: FRData,
    order: int | None = None,
    *,
    tol: float | None = None,
    directions: str = "auto",
    stable: bool = False,
    enforce_passivity: bool | str = False,
    max_points: int | None = None,
    seed: int | None = 0,
) -> Identification:
    r"""Identify a state-space model from frequency-response data with the Loewner framework.

    The frequencies are split alternately into right (even indices) and left (odd indices)
    interpolation data; each sample stands for itself and its complex conjugate, so the pencil
    is transformed to real arithmetic and the model is real. The singular values of
    \( [\mathbb{L}, \mathbb{L}^\sigma] \) are returned in `.singular_values`: for data of an
    order-`n` system with `D = 0` exactly `n` of them are nonzero (`n + rank D` with a
    feed-through).

    **The feed-through.** The projected pencil is a descriptor system; a singular `E` (an
    algebraic part) is eliminated into the `D` term, so the model is proper in general and the
    returned state dimension is the pencil order minus `rank D`. Strictly proper data give
    `D = 0` up to rounding.

    Parameters
    ----------
    frd : FRData
        At least two frequencies. Continuous- or discrete-time (points
        \( z = e^{\mathrm{j}\omega\Delta t} \)).
    order : int, optional
        Pencil order `r` (number of singular values kept). Default: from `tol`, or else at the
        largest drop between consecutive singular values.
    tol : float, optional
        Keep the singular values above `tol` times the largest.
    directions : {"auto", "block", "random"}
        MIMO tangential directions: `"block"` interpolates every entry (`p` left and `m` right
        directions per frequency), `"random"` one random direction per frequency (a pencil
        `max(p, m)` times smaller, for many frequencies). `"auto"`: block while the pencil has at
        most 1200 rows.
    stable : bool
        Mirror unstable poles into the stability region and refit the residues and `D` to the
        data by least squares (weighted by `frd.weights`; the pencil itself is unweighted);
        the report is `info["stability"]`.
    enforce_passivity : {False, "scattering", "immittance"}
        Make the stable fit passive of that kind (see [`passivity`][hankelid.passivity]) by
        iterative residue perturbation, as in [`vector_fit`][hankelid.vector_fit]; needs
        `stable=True`. The report is `info["passivity"]`.
    max_points : int, optional
        Build the pencil from at most this many frequencies, evenly spread over the index
        range (the pencil's SVDs cost the cube of its size; an order-`r` model needs about
        `r` frequencies on each side). Default: all of them. The fit report (`info["rms"]`)
        and the `stable` refit still use all the data.
    seed : int, optional
        Seed of the random directions.

    Returns
    -------
    Identification
        `.system` (same time domain as the data), `.singular_values` of \( [\mathbb{L},
        \mathbb{L}^\sigma] \), `.info` with `"pencil_order"`, `"singular_values_stacked"` (of
        \( [\mathbb{L}; \mathbb{L}^\sigma] \)), `"directions"`, `"rms"` (relative weighted RMS
        error on the data) and `"stability"` when `stable=True`.

    Raises
    ------
    ValueError
        If there are fewer than two frequencies, `order` exceeds the size the data allow, or
        an option is unknown.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(6, 2, 2, seed=0)
    >>> frd = hk.FRData.from_system(sys, np.logspace(-1, 2, 40))
    >>> ident = hk.loewner(frd)
    >>> ident.order
    6
    >>> w = np.array([0.37, 4.1])                  # held-out frequencies
    >>> bool(np.allclose(ident.system.frequency_response(w), sys.frequency_response(w)))
    True
    """
    if not isinstance(frd, FRData):
        raise TypeError(f"frd must be a hankelid.FRData, got {type(frd).__name__}")
    kind = check_passivity_option(enforce_passivity, stable, frd.p, frd.m, "stable")
    if frd.K < 2:
        raise ValueError(f"the Loewner framework needs at least two frequencies, got {frd.K}")
    if directions not in ("auto", "block", "random"):
        raise ValueError(f"directions must be 'auto', 'block' or 'random', got {directions!r}")
    bad_order = isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1
    if order is not None and bad_order:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    if tol is not None:
        tol = check_positive(tol, name="tol")
    pencil_data = frd
    if max_points is not None:
        if isinstance(max_points, bool) or not isinstance(max_points, numbers.Integral) or max_points < 2:
            raise ValueError(f"max_points must be an integer >= 2, got {max_points!r}")
        if frd.K > max_points:
            pencil_data = frd[np.unique(np.round(np.linspace(0, frd.K - 1, int(max_points))).astype(int))]
    L, Ls, V, W, used = _loewner_pencil(pencil_data, directions, seed)
    limit = min(L.shape)
    if order is not None and order > limit:
        raise ValueError(
            f"order {order} is larger than the data allow: {pencil_data.K} frequencies give a {L.shape[0]}x"
            f"{L.shape[1]} Loewner pencil, so the order is at most {limit}"
        )
    Y, s1, _ = sla.svd(np.hstack([L, Ls]), full_matrices=False)
    _, s2, Xh = sla.svd(np.vstack([L, Ls]), full_matrices=False)
    if order is None:
        if tol is not None:
            order = max(1, min(int(np.sum(s1 > tol * s1[0])), int(np.sum(s2 > tol * s2[0]))))
        else:
            order = _order_from_gap(s1)
        order = min(order, limit)
    Yr, Xr = Y[:, :order], Xh[:order].T
    E = -Yr.T @ L @ Xr
    A = -Yr.T @ Ls @ Xr
    sys = _descriptor_to_state_space(E, A, Yr.T @ V, W @ Xr, frd.dt)
    points = frd.points()
    info: dict[str, Any] = {
        "pencil_order": int(order),
        "singular_values_stacked": s2,
        "directions": used,
        "pencil_shape": L.shape,
        "pencil_frequencies": pencil_data.K,
    }
    if stable:
        sys, info["stability"] = stabilize(sys, points, frd.response, frd.weights)
    if kind is not None:
        sys, info["passivity"] = passivate_fit(sys, points, frd.response, frd.weights, kind)
    info["rms"] = relative_rms(frd.response, response(sys, points), frd.weights)
    return Identification(system=sys, order=sys.n, singular_values=s1, method="loewner", info=info)
