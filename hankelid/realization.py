r"""The real modal (block-diagonal) realization of a stable discrete-time system.

[`modal_realization`][hankelid.realization.modal_realization] diagonalizes `A` in real
arithmetic: `1 x 1` blocks for real poles and `2 x 2` rotation-scale blocks
`rho [[cos theta, sin theta], [-sin theta, cos theta]]` for complex-conjugate pairs, with
each mode's rows of `B` and columns of `C` balanced.  This is the form in which
`hankelid_torch`'s `"modal"` adapter parametrization stores a reduced model exactly
(a balanced truncation has a dense `A`; its modal form runs as a diagonal FFT scan).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._stability import require_stable

__all__ = ["ModalRealization", "modal_realization"]

_MODAL_HINT = "the modal form (and the adapter's modal parametrization) holds stable discrete systems only"


@dataclass
class ModalRealization:
    r"""A real modal realization `(A, B, C)` of a discrete system, as the adapter stores it.

    Slot `j` is a real pole `rho_j cos(theta_j)` (`theta` 0 or pi) when
    `partner[j] == j`; slots `j < k = partner[j]` form the block
    `rho [[cos theta, sin theta], [-sin theta, cos theta]]` of the conjugate pair
    `rho e^{+-i theta}` (`0 < theta < pi`; both slots carry the same `rho`, `theta`).
    `B` and `C` are the input and output matrices in that basis; `condition` is the
    condition number of the eigenvector basis the realization was computed with.
    """

    rho: np.ndarray
    theta: np.ndarray
    partner: np.ndarray
    B: np.ndarray
    C: np.ndarray
    condition: float

    def A(self) -> np.ndarray:
        """The block-diagonal state matrix."""
        n = self.rho.size
        A = np.zeros((n, n))
        for j in range(n):
            k = self.partner[j]
            if k == j:
                A[j, j] = self.rho[j] * np.cos(self.theta[j])
            else:
                A[j, j] = self.rho[j] * np.cos(self.theta[j])
                A[j, k] = (1.0 if k > j else -1.0) * self.rho[j] * np.sin(self.theta[j])
        return A


def modal_realization(A: Any, B: Any, C: Any, *, cond_warn: float = 1e8) -> ModalRealization:
    r"""Real block-diagonal (modal) realization of `(A, B, C)` by eigendecomposition.

    For a real eigenvalue `lam` with eigenvector `v` the slot is `v`; for a pair
    `sigma +- i omega` (`omega > 0`) with eigenvector `x + i y` the two slots are
    `[x, y]`, in which `A` acts as `[[sigma, omega], [-omega, sigma]]`.  Each mode is
    then scaled so that its rows of `B` and columns of `C` have equal norms.  Modes are
    ordered by decreasing modulus (pairs kept adjacent).

    Parameters
    ----------
    A : array_like, shape (n, n)
        State matrix of a stable discrete-time system.
    B : array_like, shape (n, m)
    C : array_like, shape (p, n)
    cond_warn : float
        Condition number of the eigenvector basis above which a warning is issued.

    Returns
    -------
    ModalRealization

    Raises
    ------
    UnstableSystemError
        If `A` has an eigenvalue of modulus `>= 1` (a `ValueError`; the adapter's modes
        are stable by construction).
    ValueError
        If `A` is defective (the eigenvector basis is singular).

    Warns
    -----
    RuntimeWarning
        If the eigenvector basis is ill-conditioned (`cond > cond_warn`): the modal form is
        then exact only up to `cond * eps`.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> sys = hk.random_stable(5, 2, 3, dt=1.0, seed=0)
    >>> modal = hk.modal_realization(*sys.matrices[:3])
    >>> A = modal.A()
    >>> bool(np.allclose(np.sort_complex(np.linalg.eigvals(A)), np.sort_complex(sys.poles())))
    True
    >>> same = hk.StateSpace(A, modal.B, modal.C, dt=1.0)
    >>> bool(np.allclose(hk.markov_parameters(same, 20), hk.markov_parameters(sys, 20)))
    True
    """
    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    C = np.asarray(C, dtype=float)
    n = A.shape[0]
    w, V = np.linalg.eig(A)
    require_stable("modal_realization", w, discrete=True, n=n, hint=_MODAL_HINT)
    # Real eigenvalues come with imag exactly 0 from LAPACK's dgeev; pairs are exact conjugates.
    keep = [i for i in range(n) if w[i].imag >= 0]
    keep.sort(key=lambda i: (-abs(w[i]), -w[i].real))
    cols, rho, theta, partner = [], [], [], []
    for i in keep:
        lam, v = w[i], V[:, i]
        j = len(cols)
        if lam.imag == 0:
            cols.append(np.real(v))
            rho.append(abs(lam.real))
            theta.append(0.0 if lam.real >= 0 else np.pi)
            partner.append(j)
        else:
            cols.extend([np.real(v), np.imag(v)])
            r, th = abs(lam), float(np.angle(lam))
            rho.extend([r, r])
            theta.extend([th, th])
            partner.extend([j + 1, j])
    T = np.column_stack(cols)
    if T.shape != (n, n):  # pragma: no cover - defensive
        raise ValueError("could not pair the complex eigenvalues of A")
    cond = float(np.linalg.cond(T))
    if not np.isfinite(cond) or cond > 1e15:
        raise ValueError("A is defective (no basis of eigenvectors); its modal form does not exist")
    if cond > cond_warn:
        warnings.warn(
            f"the eigenvector basis of A is ill-conditioned (cond={cond:.2e}); the modal form is "
            "exact only up to cond * machine epsilon",
            RuntimeWarning,
            stacklevel=2,
        )
    Bm = np.linalg.solve(T, B)
    Cm = C @ T
    # balance each mode: equal norms of its B rows and C columns (pairs scaled together)
    partner_arr = np.asarray(partner, dtype=np.int64)
    for j in range(n):
        k = partner_arr[j]
        if k < j:
            continue
        idx = [j] if k == j else [j, k]
        nb = np.linalg.norm(Bm[idx])
        nc = np.linalg.norm(Cm[:, idx])
        if nb > 0 and nc > 0:
            s = math.sqrt(nc / nb)
            Bm[idx] *= s
            Cm[:, idx] /= s
    return ModalRealization(
        rho=np.asarray(rho, dtype=float),
        theta=np.asarray(theta, dtype=float),
        partner=partner_arr,
        B=Bm,
        C=Cm,
        condition=cond,
    )
