"""Test systems shared by several core test modules."""

from __future__ import annotations

import numpy as np

import hankelid as hk


def with_poles(
    poles, m: int, p: int, *, seed: int, dt: float | None, feedthrough: bool = False
) -> hk.StateSpace:
    """Real poles ``poles`` behind a random orthogonal basis, so that ``A`` is dense.

    Lets a test place unstable poles where it wants them, which ``hk.random_stable`` cannot.
    """
    rng = np.random.default_rng(seed)
    lam = np.asarray(poles, dtype=float)
    n = lam.size
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return hk.StateSpace(
        Q @ np.diag(lam) @ Q.T,
        rng.standard_normal((n, m)),
        rng.standard_normal((p, n)),
        rng.standard_normal((p, m)) if feedthrough else None,
        dt=dt,
    )
