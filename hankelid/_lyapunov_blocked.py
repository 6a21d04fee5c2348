r"""Gramian square-root factors in Schur coordinates: a recursive, blocked Hammarling method.

Solves, for a real quasi-upper-triangular `T` (a real Schur form) and a real `B`,

$$ T X + X T^T + B B^T = 0 \quad\text{(continuous)}, \qquad
   T X T^T - X + B B^T = 0 \quad\text{(discrete)}, $$

for a real factor `F` with `X = F F^T`, without ever forming `X`.

How it works
------------
* The real Schur form is made complex triangular, `Tc = Q^H T Q` (`Q` a 2x2 unitary
  rotation per complex-conjugate pair), and Hammarling's recursion runs on `Tc` with
  **1x1 steps only**.  A 1x1 step is exactly consistent whatever the size of its diagonal
  entry `u_kk` of the factor: the normalised row `M_k = b_k / u_kk` has
  \( \|M_k\|^2 = -2\,\mathrm{Re}\,\lambda_k \) (continuous) or
  \( |\lambda_k|^2 + \|M_k\|^2 = 1 \) (discrete) by construction.  The real 2x2 step of the
  classical real-arithmetic variant is not: it needs `M = U_22^{-1} B_2` and
  `S = U_22^{-1} T_22 U_22` as *real* matrices, which do not exist when `U_22` is
  (nearly) singular -- the case of a repeated real eigenvalue that LAPACK leaves as a 2x2
  block with a tiny imaginary part, or of a Jordan block, with a single input.
* Blocking (Kressner, *Block variants of Hammarling's method for solving Lyapunov
  equations*, ACM TOMS 34(1), 2008; recursion after Jonsson & Kågström, ACM TOMS 28(4),
  2002): the trailing block `K` is solved recursively and returns, besides its factor
  `U_KK`, the data that couple it to the leading rows `I` -- continuous: the rows
  `M_K` (then `S = diag(lambda) + striu(-M M^H)`, no inverse of `U_KK` anywhere);
  discrete: an isometry `V` with `U_IK = [W, B_I] V`, `W = T_II U_IK + T_IK U_KK`,
  and its complement `V_perp` that updates `B_I`.  The leading rows then need one
  triangular Sylvester equation `T_II Y + Y S^H = C` (continuous) or Stein-Sylvester
  equation `Y - T_II Y L = C` (discrete), solved recursively with matrix products, and
  a rank-`m` update of `B_I`.  Python-level work is one small kernel call per leaf
  block; everything else is Level-3 BLAS.
* The complex factor `L = Q U` has `X = L L^H = Re(L) Re(L)^T + Im(L) Im(L)^T` (`X`
  is real), so a real `n x n` factor is the transposed `R` of a QR factorisation of
  `[Re L, Im L]^T`.  Without complex pairs everything stays real.

[`factored_residual`][hankelid._lyapunov_blocked.factored_residual] estimates the
relative residual of the equation from products with the factor only.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from ._schur import complexify, quasi_blocks

__all__ = ["LEAF", "complex_schur", "factor_from_schur", "factored_residual"]

#: Order below which the unblocked 1x1 recursion runs (one Python step per row).
LEAF = 32
#: Size below which the Sylvester/Stein-Sylvester equations are solved by a kernel.
_SYLV_LEAF = 64
#: Rows of the column-by-column kernel of the Stein-Sylvester equation.
_STEIN_ROWS = 128


# ----------------------------------------------------------------------------- complex form
def complex_schur(T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Complex triangular `Tc = Q^H T Q` of a real quasi-triangular `T`.

    Returns `(Tc, pairs, G)`: `pairs` holds the first index `j` of each 2x2 block and
    `G[i]` the 2x2 unitary block of `Q` at rows/columns `pairs[i], pairs[i] + 1`
    (from [`complexify`][hankelid._schur.complexify]).  Without pairs `Tc` is `T`
    itself (real).
    """
    blocks = quasi_blocks(T)
    pairs = np.array([j for j, s in blocks if s == 2], dtype=int)
    if len(pairs) == 0:
        return np.array(T, dtype=float), pairs, np.zeros((0, 2, 2), dtype=complex)
    Tc, G = complexify(T, blocks)
    return Tc, pairs, np.stack([G[j] for j in pairs])


def _apply_q(X: np.ndarray, pairs: np.ndarray, G: np.ndarray, *, adjoint: bool) -> np.ndarray:
    """`Q X` (or `Q^H X`) for the block-diagonal rotation `Q` of `complex_schur`."""
    if len(pairs) == 0:
        return X
    Y = np.array(X, dtype=complex)
    j0, j1 = pairs, pairs + 1
    R0, R1 = Y[j0].copy(), Y[j1].copy()
    g = np.conj(np.swapaxes(G, 1, 2)) if adjoint else G
    Y[j0] = g[:, 0, 0][:, None] * R0 + g[:, 0, 1][:, None] * R1
    Y[j1] = g[:, 1, 0][:, None] * R0 + g[:, 1, 1][:, None] * R1
    return Y


def _trisolve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`A^{-1} b` for upper triangular `A` (LAPACK trtrs, without SciPy's checks)."""
    x, info = (lapack.ztrtrs if np.iscomplexobj(A) else lapack.dtrtrs)(A, b)
    if info != 0:  # pragma: no cover - only for an exactly singular shifted matrix
        raise np.linalg.LinAlgError(f"singular shifted triangular matrix (trtrs info={info})")
    return x


# ----------------------------------------------------------------------------- continuous
def _leaf_continuous(T: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unblocked complex Hammarling for `T X + X T^H + B B^H = 0`: `(U, M)`."""
    n, m = B.shape
    U = np.zeros((n, n), dtype=T.dtype)
    M = np.zeros((n, m), dtype=T.dtype)
    B = np.array(B, dtype=T.dtype)
    for i in range(n - 1, -1, -1):
        lam = T[i, i]
        nb = np.linalg.norm(B[i])
        if nb == 0.0:  # X_ii = 0, so the whole column of the factor is zero
            continue
        root = np.sqrt(-2.0 * lam.real)
        U[i, i] = nb / root
        M[i] = B[i] * (root / nb)
        if i == 0:
            break
        rhs = -(T[:i, i] * U[i, i] + B[:i] @ M[i].conj())
        A = T[:i, :i].copy()
        A.flat[:: i + 1] += np.conj(lam)
        u = _trisolve(A, rhs)
        U[:i, i] = u
        B[:i] -= np.outer(u, M[i])
    return U, M


def _sylvester(A: np.ndarray, S: np.ndarray, C: np.ndarray) -> np.ndarray:
    """`A Y + Y S^H = C` with upper triangular `A` and `S` (recursive, then LAPACK trsyl)."""
    h, k = C.shape
    if h == 0 or k == 0:
        return np.zeros_like(C)
    if h <= _SYLV_LEAF and k <= _SYLV_LEAF:
        trsyl = lapack.ztrsyl if np.iscomplexobj(C) else lapack.dtrsyl
        Y, scale, info = trsyl(A, S, C, trana="N", tranb="C" if np.iscomplexobj(C) else "T", isgn=1)
        if info < 0:  # pragma: no cover - argument error
            raise RuntimeError(f"trsyl argument error {info}")
        return Y / scale
    if h >= k:  # rows: the bottom block does not see the top one
        h1 = h // 2
        Y = np.empty_like(C)
        Y[h1:] = _sylvester(A[h1:, h1:], S, C[h1:])
        Y[:h1] = _sylvester(A[:h1, :h1], S, C[:h1] - A[:h1, h1:] @ Y[h1:])
        return Y
    # columns: S^H is lower triangular, so the last columns come first
    k1 = k // 2
    Y = np.empty_like(C)
    Y[:, k1:] = _sylvester(A, S[k1:, k1:], C[:, k1:])
    Y[:, :k1] = _sylvester(A, S[:k1, :k1], C[:, :k1] - Y[:, k1:] @ S[:k1, k1:].conj().T)
    return Y


def _rec_continuous(T: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = T.shape[0]
    if n <= LEAF:
        return _leaf_continuous(T, B)
    h = n // 2
    U22, M2 = _rec_continuous(T[h:, h:], B[h:])
    # S = U22^{-1} T22 U22 written without the inverse (exact for the 1x1 recursion).
    S2 = np.triu(-(M2 @ M2.conj().T), 1)
    S2[np.diag_indices_from(S2)] = np.diag(T)[h:]
    Y = _sylvester(T[:h, :h], S2, -(T[:h, h:] @ U22 + B[:h] @ M2.conj().T))
    U11, M1 = _rec_continuous(T[:h, :h], B[:h] - Y @ M2)
    U = np.zeros((n, n), dtype=T.dtype)
    U[:h, :h], U[:h, h:], U[h:, h:] = U11, Y, U22
    return U, np.vstack([M1, M2])


# ----------------------------------------------------------------------------- discrete
def _leaf_discrete(
    T: np.ndarray, B: np.ndarray, coupling: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Unblocked complex Hammarling for `T X T^H - X + B B^H = 0`.

    Returns `(U, V, Vp)`: for leading rows `I` above this block,
    `U_IK = [W, B_I] V` with `W = T_II U_IK + T_IK U` and the updated `B_I` is
    `[W, B_I] Vp` (`V`: `(n+m) x n` isometry, `Vp`: its `(n+m) x m` complement);
    `None` for both without `coupling`.

    Step `i` has the unit vector `v = [conj(lam_i); M_i^H]`: `u = [w, B] v` and the new
    `B` is `[w, B] H[:, 1:]` for the reflector `H = I - beta h h^H` that maps `v` to a
    multiple of `e_1`, applied as a rank-one update.
    """
    n, m = B.shape
    dt = T.dtype
    U = np.zeros((n, n), dtype=dt)
    V = P = None
    if coupling:
        V = np.zeros((n + m, n), dtype=dt)
        P = np.zeros((n + m, m), dtype=dt)  # current B_I = [W, B_I] P
        P[n:] = np.eye(m)
    B = np.array(B, dtype=dt)
    for i in range(n - 1, -1, -1):
        bi = B[i]
        nb = np.linalg.norm(bi)
        if nb == 0.0:
            # Zero column: v = e_1 gives u = w = T u, so u = 0, and H[:, 1:] keeps B.
            if coupling:
                V[i, i] = 1.0
            continue
        lam = T[i, i]
        cl = np.conj(lam)
        root = np.sqrt(1.0 - abs(lam) ** 2)
        uii = nb / root
        U[i, i] = uii
        mh = bi.conj() * (root / nb)  # M_i^H
        h0 = cl + (cl / abs(cl) if cl != 0 else 1.0)
        beta = 2.0 / (abs(h0) ** 2 + np.vdot(mh, mh).real)
        if coupling:
            col = P @ mh
            col[i] += cl
            V[:, i] = col
            y = P @ mh
            y[i] += h0
            P -= beta * np.outer(y, mh.conj())
        if i > 0:
            A = -cl * T[:i, :i]
            A.flat[:: i + 1] += 1.0
            u = _trisolve(A, cl * uii * T[:i, i] + B[:i] @ mh)
            U[:i, i] = u
            w = T[:i, :i] @ u + T[:i, i] * uii
            B[:i] -= beta * np.outer(w * h0 + B[:i] @ mh, mh.conj())
    return U, V, P


def _stein_sylvester(A: np.ndarray, L: np.ndarray, C: np.ndarray) -> np.ndarray:
    """`Y - A Y L = C` with upper triangular `A` and lower triangular `L` (recursive)."""
    h, k = C.shape
    if h == 0 or k == 0:
        return np.zeros_like(C)
    if h <= _STEIN_ROWS and k <= 16:
        # Column by column from the last: (I - l A) y = r, solved as (A - I/l) y = -r/l on a
        # copy of A whose diagonal alone changes per column (|l| <= 1: L comes from an isometry).
        Y = np.empty_like(C)
        Aw = np.array(A, dtype=np.result_type(A, L), order="F")
        diag = np.arange(h)
        d = A[diag, diag].copy()
        for c in range(k - 1, -1, -1):
            rhs = C[:, c] + A @ (Y[:, c + 1 :] @ L[c + 1 :, c]) if c + 1 < k else C[:, c].copy()
            lc = L[c, c]
            if lc == 0:
                Y[:, c] = rhs
                continue
            Aw[diag, diag] = d - 1.0 / lc
            Y[:, c] = _trisolve(Aw, rhs * (-1.0 / lc))
        return Y
    if h > _STEIN_ROWS and (h >= k or k <= 16):  # rows: the bottom block does not see the top one
        h1 = h // 2
        Y = np.empty_like(C)
        Y[h1:] = _stein_sylvester(A[h1:, h1:], L, C[h1:])
        Y[:h1] = _stein_sylvester(A[:h1, :h1], L, C[:h1] + A[:h1, h1:] @ (Y[h1:] @ L))
        return Y
    k1 = k // 2  # columns: L is lower triangular, so the last columns come first
    Y = np.empty_like(C)
    Y[:, k1:] = _stein_sylvester(A, L[k1:, k1:], C[:, k1:])
    Y[:, :k1] = _stein_sylvester(A, L[:k1, :k1], C[:, :k1] + A @ (Y[:, k1:] @ L[k1:, :k1]))
    return Y


def _rec_discrete(
    T: np.ndarray, B: np.ndarray, coupling: bool = True
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    n, m = B.shape
    if n <= LEAF:
        return _leaf_discrete(T, B, coupling)
    h = n // 2
    k = n - h
    U22, V2, Vp2 = _rec_discrete(T[h:, h:], B[h:])
    L2, Mh2 = V2[:k], V2[k:]
    T12U = T[:h, h:] @ U22
    Y = _stein_sylvester(T[:h, :h], L2, T12U @ L2 + B[:h] @ Mh2)
    W = T[:h, :h] @ Y + T12U
    U11, V1, Vp1 = _rec_discrete(T[:h, :h], W @ Vp2[:k] + B[:h] @ Vp2[k:], coupling)
    U = np.zeros((n, n), dtype=T.dtype)
    U[:h, :h], U[:h, h:], U[h:, h:] = U11, Y, U22
    if not coupling:
        return U, None, None
    V = np.zeros((n + m, n), dtype=T.dtype)
    V[:h, :h] = V1[:h]
    V[h:, :h] = Vp2 @ V1[h:]
    V[h:, h:] = V2
    Vp = np.vstack([Vp1[:h], Vp2 @ Vp1[h:]])
    return U, V, Vp


# ----------------------------------------------------------------------------- public
def factor_from_schur(T: np.ndarray, B: np.ndarray, *, discrete: bool) -> np.ndarray:
    """Real `F` (`n x n`) with `X = F F^T` solving the Lyapunov/Stein equation.

    `T` is real quasi-upper-triangular (`scipy.linalg.schur(..., output="real")`) with a
    stable spectrum, `B` is real `n x m`.  `F` is upper triangular when `T` has no
    complex pairs and lower triangular otherwise.
    """
    T = np.asarray(T, dtype=float)
    B = np.asarray(B, dtype=float)
    n = T.shape[0]
    if B.shape[1] == 0 or n == 0:
        return np.zeros((n, n))
    Tc, pairs, G = complex_schur(T)
    Bc = _apply_q(B, pairs, G, adjoint=True)
    Tc = np.ascontiguousarray(Tc)
    U = _rec_discrete(Tc, Bc, coupling=False)[0] if discrete else _rec_continuous(Tc, Bc)[0]
    if len(pairs) == 0:
        return U
    return _real_factor(_apply_q(U, pairs, G, adjoint=False), pairs)


def _real_factor(L: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Real `F` with `F F^T = L L^H` for a complex `L` whose `L L^H` is real.

    `L = Q U` is upper triangular but for `L[j+1, j]` at each pair; one 2x2 rotation of
    columns `j, j+1` per pair (which keeps `L L^H`) makes it triangular.  Then
    `L L^H = Re L Re L^T + Im L Im L^T`, and the QR factorization of the two stacked
    triangles `[P Re L^T P; P Im L^T P]` (`P` the reversal) costs a triangle-pentagon
    `tpqrt` instead of a dense `2n x n` QR: with `R` its factor, `F = P R^T`.
    """
    n = L.shape[0]
    L = np.array(L, dtype=complex)
    j0, j1 = pairs, pairs + 1
    c, d = L[j1, j0], L[j1, j1]
    rho = np.sqrt(np.abs(c) ** 2 + np.abs(d) ** 2)
    safe = np.where(rho > 0, rho, 1.0)
    w00 = np.where(rho > 0, d / safe, 1.0)
    w10 = np.where(rho > 0, -c / safe, 0.0)
    w01 = np.where(rho > 0, np.conj(c) / safe, 0.0)
    w11 = np.where(rho > 0, np.conj(d) / safe, 1.0)
    C0, C1 = L[:, j0].copy(), L[:, j1].copy()
    L[:, j0] = C0 * w00[None, :] + C1 * w10[None, :]
    L[:, j1] = C0 * w01[None, :] + C1 * w11[None, :]
    L[j1, j0] = 0.0
    A1 = np.asfortranarray(L.real.T[::-1, ::-1])
    A2 = np.asfortranarray(np.triu(L.imag.T[::-1, ::-1]))
    R, _, _, info = lapack.dtpqrt(n, min(n, 64), np.triu(A1), A2)
    if info != 0:  # pragma: no cover - argument error
        raise RuntimeError(f"tpqrt argument error {info}")
    return np.ascontiguousarray(np.triu(R).T[::-1])


def factored_residual(
    T: np.ndarray, F: np.ndarray, B: np.ndarray, *, discrete: bool, probes: int = 6, seed: int = 0
) -> float:
    r"""Estimated relative residual of the Lyapunov/Stein equation for `X = F F^T`.

    \( \|R\|_F \) with `R = T X + X T^T + B B^T` (or `T X T^T - X + B B^T`) is
    estimated as \( \|R Z\|_F / \sqrt{k} \) for `k = probes` Gaussian vectors (an
    unbiased estimate of \( \|R\|_F^2 \)), each product costing `O(n^2)` with `F` --
    `X` is never formed.  Returned relative to
    \( 2\|T\|_F \|F\|_F^2 + \|B\|_F^2 \) (continuous) or
    \( (\|T\|_F^2 + 1) \|F\|_F^2 + \|B\|_F^2 \) (discrete), the size of the terms.
    """
    n = T.shape[0]
    if n == 0:
        return 0.0
    Z = np.random.default_rng(seed).standard_normal((n, probes))
    FtZ = F.T @ Z
    if discrete:
        RZ = T @ (F @ (F.T @ (T.T @ Z))) - F @ FtZ + B @ (B.T @ Z)
        scale = (np.linalg.norm(T) ** 2 + 1.0) * np.linalg.norm(F) ** 2 + np.linalg.norm(B) ** 2
    else:
        RZ = T @ (F @ FtZ) + F @ (F.T @ (T.T @ Z)) + B @ (B.T @ Z)
        scale = 2.0 * np.linalg.norm(T) * np.linalg.norm(F) ** 2 + np.linalg.norm(B) ** 2
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(RZ) / np.sqrt(probes) / scale)
