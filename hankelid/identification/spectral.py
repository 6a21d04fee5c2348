r"""Frequency-response estimates from input/output records: Welch and Blackman–Tukey H1.

With the cross-spectral matrices \( S_{uu}(\omega) \) (`m x m`), \( S_{yu}(\omega) \) (`p x m`)
and \( S_{yy}(\omega) \) (`p x p`) of the records, the H1 estimate is
\( \hat G = S_{yu} S_{uu}^{-1} \): it is unbiased under output noise uncorrelated with the
input (Bendat & Piersol 2010, ch. 9). The multiple coherence of output `i`,
\( \gamma_i^2 = S_{yu,i} S_{uu}^{-1} S_{uy,i} / S_{yy,ii} \), is the fraction of that output's
power explained linearly by the inputs at each frequency: near 1 where the estimate is
trustworthy. Spectra come either from averaged windowed periodograms of overlapping segments
(Welch 1967) or from the Fourier transform of lag-windowed correlation estimates (Blackman &
Tukey 1958).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.signal as ss

from .frequency_data import FRData

__all__ = ["spectral_estimate"]


def _records(data: Any) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """`(u, y, dt)` from anything exposing `.u`, `.y` (arrays or lists of arrays) and `.dt`."""
    try:
        u, y, dt = data.u, data.y, data.dt
    except AttributeError:
        raise TypeError(
            f"data must expose .u, .y and .dt (a hankelid.IOData), got {type(data).__name__}"
        ) from None
    us = list(u) if isinstance(u, (list, tuple)) else [u]
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    if len(us) != len(ys) or not us:
        raise ValueError(f"data hold {len(us)} input and {len(ys)} output records; they must pair up")
    out_u, out_y = [], []
    for e, (ue, ye) in enumerate(zip(us, ys, strict=True)):
        ue = np.asarray(ue, dtype=float)
        ye = np.asarray(ye, dtype=float)
        ue = ue[:, None] if ue.ndim == 1 else ue
        ye = ye[:, None] if ye.ndim == 1 else ye
        if ue.ndim != 2 or ye.ndim != 2 or ue.shape[0] != ye.shape[0]:
            raise ValueError(f"experiment {e}: u {ue.shape} and y {ye.shape} must be (N, m) and (N, p)")
        if not (np.all(np.isfinite(ue)) and np.all(np.isfinite(ye))):
            raise ValueError(f"experiment {e} contains NaN or inf samples")
        out_u.append(ue)
        out_y.append(ye)
    if len({x.shape[1] for x in out_u}) != 1 or len({x.shape[1] for x in out_y}) != 1:
        raise ValueError("all experiments must have the same numbers of inputs and outputs")
    dt = 1.0 if dt is None else float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"data.dt must be a positive sampling time, got {dt!r}")
    return out_u, out_y, dt


def _welch(us: list[np.ndarray], ys: list[np.ndarray], nperseg: int, window: str, overlap: float):
    win = ss.get_window(window, nperseg)
    step = max(1, round(nperseg * (1 - overlap)))
    m, p = us[0].shape[1], ys[0].shape[1]
    nf = nperseg // 2 + 1
    Suu = np.zeros((nf, m, m), dtype=complex)
    Syu = np.zeros((nf, p, m), dtype=complex)
    Syy = np.zeros((nf, p, p), dtype=complex)
    count = 0
    for u, y in zip(us, ys, strict=True):
        N = u.shape[0]
        starts = np.arange(0, N - nperseg + 1, step)
        if starts.size == 0:
            continue
        idx = starts[:, None] + np.arange(nperseg)[None, :]
        useg = u[idx] - u[idx].mean(axis=1, keepdims=True)  # (S, L, m), segment means removed
        yseg = y[idx] - y[idx].mean(axis=1, keepdims=True)
        U = np.fft.rfft(useg * win[None, :, None], axis=1)  # (S, nf, m)
        Y = np.fft.rfft(yseg * win[None, :, None], axis=1)
        Suu += np.einsum("sfa,sfb->fab", U, U.conj())
        Syu += np.einsum("sfa,sfb->fab", Y, U.conj())
        Syy += np.einsum("sfa,sfb->fab", Y, Y.conj())
        count += starts.size
    if count == 0:
        raise ValueError(f"no experiment is as long as one segment (nperseg={nperseg})")
    return Suu / count, Syu / count, Syy / count, nperseg


def _correlation(Xf: np.ndarray, Wf: np.ndarray, L: int, lags: int) -> np.ndarray:
    """`Σ_t x(t+τ) w(t)ᵀ` for `τ = -lags..lags` from zero-padded transforms (length `L`)."""
    r = np.fft.irfft(np.einsum("fa,fb->fab", Xf, Wf.conj()), L, axis=0)
    return np.concatenate([r[L - lags :], r[: lags + 1]], axis=0)


def _blackman_tukey(us: list[np.ndarray], ys: list[np.ndarray], lags: int, window: str):
    m, p = us[0].shape[1], ys[0].shape[1]
    nfft = 1 << int(np.ceil(np.log2(2 * lags + 1)))
    total = 0
    Ruu = np.zeros((2 * lags + 1, m, m))
    Ryu = np.zeros((2 * lags + 1, p, m))
    Ryy = np.zeros((2 * lags + 1, p, p))
    for u, y in zip(us, ys, strict=True):
        u = u - u.mean(axis=0)
        y = y - y.mean(axis=0)
        N = u.shape[0]
        if N <= lags:
            raise ValueError(f"an experiment of {N} samples is too short for {lags} lags")
        L = 1 << int(np.ceil(np.log2(N + lags + 1)))
        Uf = np.fft.rfft(u, L, axis=0)
        Yf = np.fft.rfft(y, L, axis=0)

        Ruu += _correlation(Uf, Uf, L, lags)
        Ryu += _correlation(Yf, Uf, L, lags)
        Ryy += _correlation(Yf, Yf, L, lags)
        total += N
    lag_win = ss.get_window(window, 2 * lags + 1, fftbins=False)[:, None, None]

    def spectrum(R: np.ndarray) -> np.ndarray:
        Rw = R * lag_win / total
        # Put lag 0 first so that the DFT gives Σ_τ R(τ) e^{-jωτ}.
        buf = np.zeros((nfft, *R.shape[1:]))
        buf[: lags + 1] = Rw[lags:]
        buf[nfft - lags :] = Rw[:lags]
        return np.fft.rfft(buf, axis=0)

    return spectrum(Ruu), spectrum(Ryu), spectrum(Ryy), nfft


def spectral_estimate(
    data: Any,
    *,
    method: str = "welch",
    nperseg: int | None = None,
    lags: int | None = None,
    window: str | None = None,
    overlap: float = 0.5,
) -> FRData:
    r"""H1 frequency-response estimate with coherence from input/output records.

    Parameters
    ----------
    data : IOData
        Anything with `.u` and `.y` (arrays `(N, m)`, `(N, p)` or lists of them, one per
        experiment) and `.dt` (sampling time; `None` reads as 1). Means are removed.
    method : {"welch", "blackman-tukey"}
        Averaged periodograms of overlapping windowed segments, or the transform of
        lag-windowed correlations.
    nperseg : int, optional
        Welch segment length (default: the shortest record // 8, at least 16, at most 1024).
        The frequency resolution is \( 2\pi/(\text{nperseg}\,\Delta t) \).
    lags : int, optional
        Blackman–Tukey largest lag (default: the shortest record // 10, at most 512).
    window : str, optional
        Data window for Welch (default `"hann"`) or lag window for Blackman–Tukey (default
        `"parzen"`, whose spectral window is non-negative); any name `scipy.signal.get_window`
        knows.
    overlap : float
        Fraction of overlap of Welch segments, in `[0, 1)`.

    Returns
    -------
    FRData
        Discrete-time data (`dt` of the records) at the positive FFT frequencies
        \( 2\pi k/(n_\text{fft}\Delta t) \) in rad/s up to Nyquist (the zero frequency is left
        out: means are removed), with `.coherence` of shape `(K, p)`.

    Raises
    ------
    ValueError
        If the records are malformed, too short for the segment or lag length, or the input
        spectrum is singular (fewer independent input excitations than inputs).

    Examples
    --------
    >>> import numpy as np, hankelid as hk, scipy.signal as ss
    >>> from types import SimpleNamespace
    >>> sys = hk.random_stable(4, dt=1.0, seed=0)
    >>> u = np.random.default_rng(0).standard_normal((4096, 1))
    >>> y = ss.dlsim(sys.to_scipy(), u)[1]
    >>> frd = hk.spectral_estimate(SimpleNamespace(u=u, y=y, dt=1.0), nperseg=256)
    >>> err = np.abs(frd.response - sys.frequency_response(frd.omega)).max()
    >>> bool(err < 0.05 * np.abs(frd.response).max()), bool(frd.coherence.min() > 0.9)
    (True, True)
    """
    if method not in ("welch", "blackman-tukey"):
        raise ValueError(f"method must be 'welch' or 'blackman-tukey', got {method!r}")
    us, ys, dt = _records(data)
    shortest = min(u.shape[0] for u in us)
    m = us[0].shape[1]
    if method == "welch":
        if nperseg is None:
            nperseg = int(min(1024, max(16, shortest // 8)))
        if isinstance(nperseg, bool) or not isinstance(nperseg, numbers.Integral) or nperseg < 4:
            raise ValueError(f"nperseg must be an integer >= 4, got {nperseg!r}")
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must lie in [0, 1), got {overlap!r}")
        Suu, Syu, Syy, nfft = _welch(us, ys, int(nperseg), window or "hann", float(overlap))
    else:
        if lags is None:
            lags = int(min(512, max(8, shortest // 10)))
        if isinstance(lags, bool) or not isinstance(lags, numbers.Integral) or lags < 2:
            raise ValueError(f"lags must be an integer >= 2, got {lags!r}")
        Suu, Syu, Syy, nfft = _blackman_tukey(us, ys, int(lags), window or "parzen")
    k = np.arange(1, Suu.shape[0])  # the zero frequency carries only the removed means
    Suu, Syu, Syy = Suu[k], Syu[k], Syy[k]
    cond = np.linalg.cond(Suu)
    if not np.all(np.isfinite(cond)) or np.max(cond) > 1e12:
        raise ValueError(
            f"the input spectrum S_uu is singular at some frequencies (condition {np.max(cond):.2g}): "
            f"the {m} inputs are not independently excited"
        )
    G = np.linalg.solve(Suu, np.swapaxes(Syu, 1, 2).conj())  # S_uu^{-1} S_uy = (S_yu S_uu^{-1})^H
    G = np.swapaxes(G, 1, 2).conj()  # (K, p, m) = S_yu S_uu^{-1} (S_uu is Hermitian)
    explained = np.real(np.einsum("kpm,kpm->kp", G, Syu.conj()))  # S_yu,i S_uu^{-1} S_uy,i
    power = np.real(np.einsum("kpp->kp", Syy))
    coherence = np.clip(explained / np.where(power > 0, power, 1.0), 0.0, 1.0)
    omega = 2 * np.pi * k / (nfft * dt)
    if omega[-1] > np.pi / dt:
        omega[-1] = np.pi / dt
    return FRData(omega, G, dt, coherence=coherence)
