"""Square-root factors: the one helper that shrinks a factor to at most `n` columns.

A factor `X` (`n x k`) stands for the positive semidefinite `X X^T`.  Hammarling's
method, the squared Smith iteration, the empirical estimators (snapshot matrices with many
samples) and the channel compression of wide systems all need a factor with the same
`X X^T` and no more than `n` columns; a thin QR factorization gives it without forming
`X X^T` (which would square the condition number and lose the small singular values).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

__all__ = ["thin_factor"]


def thin_factor(X: np.ndarray) -> np.ndarray:
    """An `n x min(n, k)` matrix with the same `X X^T` as the `n x k` matrix `X`.

    `X` itself when it has at most `n` columns, else `R^T` from the thin QR
    factorization `X^T = Q R` (so `X X^T = R^T Q^T Q R = R^T R`).

    Examples
    --------
    >>> import numpy as np
    >>> from hankelid._factors import thin_factor
    >>> X = np.random.default_rng(0).standard_normal((3, 50))
    >>> L = thin_factor(X)
    >>> L.shape, bool(np.allclose(L @ L.T, X @ X.T))
    ((3, 3), True)
    """
    n = X.shape[0]
    if X.shape[1] <= n:
        return X
    R = sla.qr(X.T, mode="r", check_finite=False)[0]
    return np.ascontiguousarray(R[:n].T)
