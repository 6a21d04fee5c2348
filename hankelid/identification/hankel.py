"""Block Hankel matrices of Markov parameters and their singular values.

For Markov parameters `h_0 = D, h_1 = C B, h_2 = C A B, ...` (array of shape `(L, p, m)`)
the block Hankel matrix with `rows` block rows and `cols` block columns is

```text
H = [[h_1,    h_2,      ...,  h_cols          ],
     [h_2,    h_3,      ...,  h_{cols+1}      ],
     [ ...                                    ],
     [h_rows, h_{rows+1}, ..., h_{rows+cols-1}]]      shape (rows*p, cols*m)
```

`H = O_rows Ctrl_cols` (observability times controllability matrix), so for a stable
discrete-time system its singular values increase to the Hankel singular values as `rows`
and `cols` grow (Kung 1978; Ho & Kalman 1966).  `h_0 = D` is never part of `H`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft as sfft
import scipy.linalg as sla

from .._validation import as_real_matrix, check_count

__all__ = ["hankel_hsv", "hankel_matrix"]


def as_markov(markov: Any, name: str = "markov") -> np.ndarray:
    """Validate Markov parameters: a finite real array of shape `(L, p, m)` with `L >= 2`."""
    arr = np.asarray(markov) if not isinstance(markov, np.ndarray) else markov
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must be a 3-D array of shape (L, p, m) (markov[0] = D, markov[k] = C A^(k-1) B), "
            f"got shape {arr.shape}"
        )
    arr = as_real_matrix(arr, name, ndim=3)
    if min(arr.shape) == 0:
        raise ValueError(f"{name} must have no empty dimension, got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(
            f"{name} needs at least 2 samples (D and h_1), got L={arr.shape[0]} (shape {arr.shape})"
        )
    return arr


def split_blocks(available: int, rows: Any, cols: Any, *, extra: int = 0) -> tuple[int, int]:
    """Block rows/cols for a Hankel matrix that uses `rows + cols - 1 + extra` samples after `D`.

    `available` is the number of Markov parameters after `D`; `extra = 1` leaves room for
    the shifted Hankel matrix of ERA.  Defaults split the samples evenly (`rows >= cols`).
    """
    budget = available + 1 - extra  # rows + cols may not exceed this
    if rows is not None:
        rows = check_count(rows, "rows")
    if cols is not None:
        cols = check_count(cols, "cols")
    if rows is None and cols is None:
        rows = (budget + 1) // 2
        cols = budget - rows
    elif rows is None:
        rows = budget - cols
    elif cols is None:
        cols = budget - rows
    if rows < 1 or cols < 1 or rows + cols > budget:
        need = max(rows, 1) + max(cols, 1) - 1 + extra
        raise ValueError(
            f"too few Markov parameters: rows={rows}, cols={cols} need {need} samples after D "
            f"(markov[1:{need + 1}]), got {available}"
        )
    return rows, cols


def hankel_blocks(markov: np.ndarray, rows: int, cols: int, shift: int = 0) -> np.ndarray:
    """Dense block Hankel of `markov[1 + shift:]` (no validation), shape `(rows*p, cols*m)`."""
    _, p, m = markov.shape
    idx = np.arange(rows)[:, None] + np.arange(cols)[None, :] + 1 + shift
    return markov[idx].transpose(0, 2, 1, 3).reshape(rows * p, cols * m)


def hankel_matrix(markov: Any, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    r"""Block Hankel matrix of Markov parameters `h_1, h_2, ...` (`markov[0] = D` is excluded).

    Parameters
    ----------
    markov : array_like, shape (L, p, m)
        Markov parameters, e.g. from [`hankelid.markov_parameters`][hankelid.systems.markov_parameters];
        `markov[0]` is `D`.
    rows, cols : int, optional
        Block rows and block columns; `rows + cols - 1 <= L - 1` is required.  By default
        the `L - 1` samples after `D` are split evenly (`rows + cols = L`, `rows >= cols`);
        if only one is given the other uses the remaining samples.

    Returns
    -------
    ndarray, shape (rows*p, cols*m)
        Block `(i, j)` (0-based) is `markov[i + j + 1]`.

    Raises
    ------
    ValueError
        If `markov` is not a finite real 3-D array, or `rows`/`cols` are not positive
        integers or need more samples than there are.

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> h = np.arange(6.0).reshape(6, 1, 1)       # D = 0, h_k = k
    >>> hk.hankel_matrix(h, rows=2, cols=3)
    array([[1., 2., 3.],
           [2., 3., 4.]])
    >>> hk.hankel_matrix(np.zeros((9, 2, 3))).shape  # 8 samples after D: 5 block rows, 4 block cols
    (10, 12)
    """
    markov = as_markov(markov)
    rows, cols = split_blocks(markov.shape[0] - 1, rows, cols)
    return hankel_blocks(markov, rows, cols)


def hankel_hsv(markov: Any, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    r"""Singular values of the block Hankel matrix: empirical Hankel singular values.

    For a stable discrete-time system the `i`-th singular value of the finite Hankel
    matrix increases monotonically with `rows` and `cols` to the `i`-th Hankel
    singular value [`hankelid.hsv`][hankelid.gramians.hsv] (the finite matrix is a compression of the infinite
    Hankel operator); the gap closes as fast as the impulse response decays.

    Parameters
    ----------
    markov : array_like, shape (L, p, m)
        Markov parameters with `markov[0] = D`.
    rows, cols : int, optional
        As in [`hankel_matrix`][hankelid.identification.hankel.hankel_matrix].

    Returns
    -------
    ndarray, shape (min(rows*p, cols*m),)
        Descending, non-negative.  Cost: one dense SVD, `O(rows p cols m min(rows p, cols m))`.

    Raises
    ------
    ValueError
        As [`hankel_matrix`][hankelid.identification.hankel.hankel_matrix].

    Examples
    --------
    >>> import numpy as np
    >>> import hankelid as hk
    >>> sys = hk.StateSpace([[0.5]], [[1.0]], [[1.0]], dt=1.0)    # h_k = 0.5^(k-1)
    >>> s = hk.hankel_hsv(hk.markov_parameters(sys, 121))
    >>> float(np.round(s[0], 10)), bool(s[1] < 1e-12)                # exact HSV: 1 / (1 - 0.25)
    (1.3333333333, True)
    """
    return sla.svdvals(hankel_matrix(markov, rows, cols), check_finite=False)


class HankelOperator:
    """Matrix-free block Hankel `H` (optionally shifted) with FFT-based products.

    `H @ X` and `H.T @ Y` cost `O(k p m N log N)` for `k` right-hand sides instead of
    `O(k rows p cols m)` for the dense matrix -- the structure that makes randomized SVDs of
    large Hankel matrices cheap.  Used by [`hankelid.era`][hankelid.identification.era].
    """

    def __init__(self, markov: np.ndarray, rows: int, cols: int, shift: int = 0) -> None:
        _, p, m = markov.shape
        self.rows, self.cols, self.p, self.m = rows, cols, p, m
        self.shape = (rows * p, cols * m)
        g = markov[1 + shift : rows + cols + shift]  # the rows + cols - 1 samples H uses
        # Circular convolution of length >= len(g) reproduces the entries H needs exactly.
        self._nfft = sfft.next_fast_len(g.shape[0] + max(rows, cols), real=True)
        self._g_hat = sfft.rfft(g, n=self._nfft, axis=0)  # (F, p, m)

    def matmul(self, X: np.ndarray) -> np.ndarray:
        """`H @ X` for `X` of shape `(cols*m, k)`."""
        k = X.shape[1]
        # (H X)_i = sum_j g_{i+j} X_j: a correlation, i.e. a convolution with X reversed in j.
        Xr = X.reshape(self.cols, self.m, k)[::-1]
        prod = self._g_hat @ sfft.rfft(Xr, n=self._nfft, axis=0)
        out = sfft.irfft(prod, n=self._nfft, axis=0)[self.cols - 1 : self.cols - 1 + self.rows]
        return out.reshape(self.rows * self.p, k)

    def rmatmul(self, Y: np.ndarray) -> np.ndarray:
        """`H.T @ Y` for `Y` of shape `(rows*p, k)`."""
        k = Y.shape[1]
        Yr = Y.reshape(self.rows, self.p, k)[::-1]
        prod = np.swapaxes(self._g_hat, 1, 2) @ sfft.rfft(Yr, n=self._nfft, axis=0)
        out = sfft.irfft(prod, n=self._nfft, axis=0)[self.rows - 1 : self.rows - 1 + self.cols]
        return out.reshape(self.cols * self.m, k)
