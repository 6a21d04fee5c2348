"""The block Krylov sequence `B, A B, A^2 B, ...` of a state-space pair, built one way.

Markov parameters and sampled impulse responses (`systems`), the impulse snapshots and
Gaussian final states of the empirical Gramians (`empirical`) and ERA's stable mirror
(`identification.era`) all need the blocks `A^k B`.  They are built here, either by one
multiplication with `A` per block (`doubling=False`: accurate for any `A`) or by
repeated doubling (`doubling=True`: `log2(length)` large products, each block set times a
power of `A` obtained by squaring -- fast, but on a non-normal `A` the squared powers
lose accuracy: measured 1e-8 relative on a basis of condition 1e4).
"""

from __future__ import annotations

import numpy as np

__all__ = ["krylov_blocks"]


def krylov_blocks(
    A: np.ndarray, B: np.ndarray, length: int, *, reverse: bool = False, doubling: bool = True
) -> np.ndarray:
    """`G[k] = (A^k B)^T` for `k < length`, shape `(length, m, n)`.

    Parameters
    ----------
    A : ndarray, shape (n, n)
    B : ndarray, shape (n, m)
    length : int
        Number of blocks.
    reverse : bool
        Store the blocks last-power-first (`G[length-1-k]`), built in place in that order
        (no reversed copy).
    doubling : bool
        Repeated doubling (fast) instead of one multiplication per block (accurate on
        non-normal `A`); see the module notes.

    Examples
    --------
    >>> import numpy as np
    >>> from hankelid._krylov import krylov_blocks
    >>> A, B = np.array([[0.5, 1.0], [0.0, 0.25]]), np.array([[0.0], [1.0]])
    >>> krylov_blocks(A, B, 3)[:, 0]
    array([[0.    , 1.    ],
           [1.    , 0.25  ],
           [0.75  , 0.0625]])
    >>> bool(np.array_equal(krylov_blocks(A, B, 3, reverse=True), krylov_blocks(A, B, 3)[::-1]))
    True
    """
    n, m = B.shape
    G = np.empty((length, m, n))
    if not doubling:
        X, At = B.T.copy(), A.T
        for k in range(length):
            G[length - 1 - k if reverse else k] = X
            X = X @ At
        return G
    last = length - 1 if reverse else 0
    G[last] = B.T
    filled, power = 1, A.T.copy()  # invariant: power = (A^T)^filled
    with np.errstate(over="ignore", invalid="ignore"):  # callers reject non-finite results
        while filled < length:
            take = min(filled, length - filled)
            # the first `take` powers, times (A^T)^filled, are the powers filled .. filled+take-1
            src = G[length - take :] if reverse else G[:take]
            dst = slice(length - filled - take, length - filled) if reverse else slice(filled, filled + take)
            G[dst] = (src.reshape(take * m, n) @ power).reshape(take, m, n)
            filled += take
            if filled < length:
                power = power @ power
    return G
