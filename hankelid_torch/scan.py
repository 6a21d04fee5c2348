r"""Scan kernels for linear time-invariant state-space models in PyTorch.

A discrete LTI recurrence with the adapter's convention

$$
s_t = A s_{t-1} + B u_t, \qquad y_t = C s_t, \qquad s_{-1} = s_{\mathrm{init}}
$$

(the state is read *after* the current input entered it) is a causal convolution
`y_t = sum_{k<=t} K_k u_{t-k}` with the kernel `K_k = C A^k B` (`k >= 0`), plus the free
response of the initial state.  This module provides

* [`fft_scan`][hankelid_torch.scan.fft_scan] -- the exact causal convolution along time with one
  `rfft`/`irfft` pair at a power-of-two FFT size `>= 2L` (float32, or float64 for float64 input, with
  autocast disabled; the output is cast back to the input dtype),
* [`modal_fft_scan`][hankelid_torch.scan.modal_fft_scan] -- the same for real modal (block-diagonal) systems
  in which pairs of channels are coupled by `2 x 2` rotation-scale blocks (complex-conjugate modes),
* [`ssm_kernel`][hankelid_torch.scan.ssm_kernel] -- `K_k = C A^k B` for diagonal real, complex-diagonal and
  dense `A` without a Python loop over the length,
* [`sequential_scan`][hankelid_torch.scan.sequential_scan] / [`scan_step`][hankelid_torch.scan.scan_step] --
  the reference recurrence and the single-step update used for decoding.

Relation to [`hankelid.markov_parameters`][hankelid.systems.markov_parameters]: a hankelid discrete system
`(A, B, C, 0)` has Markov parameters `h_0 = 0, h_k = C A^{k-1} B`, so `ssm_kernel(A, B, C, L)` equals
`markov_parameters(sys, L + 1)[1:]`: the scan emits at step `t` what the hankelid system
emits at step `t + 1` (one-sample advance, the same transfer function up to a factor `z`,
hence the same Hankel singular values and the same H-infinity errors).

Examples
--------
>>> import torch
>>> from hankelid_torch.scan import fft_scan, sequential_scan, ssm_kernel
>>> a = torch.tensor([0.9, -0.5], dtype=torch.float64)
>>> B = torch.eye(2, dtype=torch.float64)
>>> C = torch.ones(1, 2, dtype=torch.float64)
>>> u = torch.randn(3, 16, 2, dtype=torch.float64)
>>> y_seq, _ = sequential_scan(a, B, C, u)
>>> K = ssm_kernel(a, B, C, 16)                       # (16, 1, 2)
>>> y_fft = fft_scan(u, K[:, 0, :]).sum(-1, keepdim=True)
>>> bool(torch.allclose(y_fft, y_seq))
True
"""

from __future__ import annotations

import contextlib
import math

import torch

__all__ = [
    "fft_scan",
    "fft_size",
    "modal_fft_scan",
    "no_autocast",
    "scan_step",
    "sequential_scan",
    "ssm_kernel",
]


# ---------------------------------------------------------------------------- helpers
def fft_size(length: int) -> int:
    """The FFT size used for a sequence of `length` samples: the power of two `>= 2 * length`.

    Examples
    --------
    >>> fft_size(512), fft_size(513), fft_size(1)
    (1024, 2048, 2)
    """
    if length < 1:
        raise ValueError(f"length must be positive, got {length}")
    return 1 << (2 * int(length) - 1).bit_length()


def no_autocast(device: torch.device):
    """A context that disables autocast on `device` (a no-op where autocast does not exist).

    Examples
    --------
    >>> import torch
    >>> with torch.autocast("cpu", dtype=torch.bfloat16), no_autocast(torch.device("cpu")):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.float32
    """
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except (RuntimeError, ValueError):  # pragma: no cover - exotic device types
        return contextlib.nullcontext()


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any tensor is float64 (or complex128), else float32."""
    for t in tensors:
        if t is not None and t.dtype in (torch.float64, torch.complex128):
            return torch.float64
    return torch.float32


def _check_real(caller: str, **tensors: torch.Tensor | None) -> None:
    """Raise `TypeError` naming `caller` for an argument that is not a tensor, or is complex."""
    for name, t in tensors.items():
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{caller}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if t.is_complex():
            raise TypeError(
                f"{caller}: {name} is {t.dtype}; the scan is real (rfft/irfft) -- scan the real and "
                "imaginary parts separately"
            )


def _check_time_axis(u: torch.Tensor, kernel: torch.Tensor, name: str = "kernel") -> tuple[int, int]:
    if u.dim() < 2:
        raise ValueError(f"u must have shape (..., L, c), got {tuple(u.shape)}")
    L, c = u.shape[-2], u.shape[-1]
    if kernel.dim() != 2 or kernel.shape[1] != c:
        raise ValueError(f"{name} must have shape (Lk, c) with c={c}, got {tuple(kernel.shape)}")
    if L < 1:
        raise ValueError("u must have at least one time step")
    return L, c


# ---------------------------------------------------------------------------- FFT scans
def fft_scan(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    r"""Exact causal convolution along time, channel by channel.

    `y[..., t, j] = sum_{k <= t} kernel[k, j] * u[..., t - k, j]`, computed with one
    `rfft`/`irfft` pair at the power-of-two FFT size [`fft_size(L)`][hankelid_torch.scan.fft_size]
    (`>= 2L`, so the circular convolution equals the linear one on the first `L` samples).

    Parameters
    ----------
    u : Tensor, shape (..., L, c)
        Input sequences (any float dtype).
    kernel : Tensor, shape (Lk, c)
        Per-channel kernel.  Only the first `L` taps matter; a shorter kernel
        (`Lk < L`) is a finite impulse response padded with zeros.

    Returns
    -------
    Tensor, shape (..., L, c), dtype of `u`
        Computed in float32 (float64 when `u` or `kernel` is float64) with autocast
        disabled, then cast back to `u.dtype`; an integer or bool `u` gives the computation
        dtype (the result is not truncated to integers).

    Raises
    ------
    TypeError
        If `u` or `kernel` is not a tensor, or is complex (the scan is real).
    ValueError
        If the shapes do not match.

    Notes
    -----
    This is [`modal_fft_scan`][hankelid_torch.scan.modal_fft_scan] with real modes only (no `k_off`).

    Examples
    --------
    >>> import torch
    >>> u = torch.tensor([[[1.0], [0.0], [0.0], [2.0]]])      # (1, 4, 1)
    >>> k = torch.tensor([[1.0], [0.5], [0.25], [0.125]])      # (4, 1)
    >>> fft_scan(u, k)[0, :, 0]
    tensor([1.0000, 0.5000, 0.2500, 2.1250])
    """
    _check_real("fft_scan", u=u, kernel=kernel)
    _check_time_axis(u, kernel)
    return modal_fft_scan(u, kernel)


def modal_fft_scan(
    u: torch.Tensor,
    k_diag: torch.Tensor,
    k_off: torch.Tensor | None = None,
    partner: torch.Tensor | None = None,
    *,
    channels_first: bool = False,
) -> torch.Tensor:
    r"""Causal convolution of a real modal system: `s_j = k_diag_j * u_j + k_off_j * u_{partner(j)}`.

    This is the state convolution of a block-diagonal `A` whose `1 x 1` blocks are real
    modes and whose `2 x 2` blocks `rho [[cos th, sin th], [-sin th, cos th]]` are
    complex-conjugate pairs `rho e^{+-i th}`: the `k`-th power of such a block is
    `rho^k [[cos k th, sin k th], [-sin k th, cos k th]]`, so channel `j` of a pair receives
    its own input through `k_diag = rho^k cos(k th)` and its partner's through
    `k_off = +-rho^k sin(k th)` (`+` for the first channel of the pair, `-` for the
    second).  `k_off` is zero on real modes.  Same FFT size, dtype and autocast rules as
    [`fft_scan`][hankelid_torch.scan.fft_scan], which this equals when `k_off` is `None`.

    Parameters
    ----------
    u : Tensor, shape (..., L, c), or (c, ..., L) with `channels_first`
    k_diag : Tensor, shape (Lk, c)
        Kernel of each channel on itself.
    k_off : Tensor, shape (Lk, c), optional
        Kernel of each channel on its partner (`None`: real modes only).
    partner : LongTensor, shape (c,)
        `partner[j]` is the other channel of `j`'s pair (`j` itself for a real mode).
    channels_first : bool
        `u` is laid out channel-first with time as the contiguous last axis: the transforms
        then run along unit stride, and a caller that projects `(B, L, D)` activations to
        `c` channels with one matrix product gets this layout without a transposed copy.

    Returns
    -------
    Tensor, the shape of `u`, dtype of `u`
        The computation dtype (float32, or float64) for an integer or bool `u`.

    Raises
    ------
    TypeError
        If `u` or a kernel is not a tensor, or is complex (the scan is real).
    ValueError
        If the shapes do not match, or `k_off` comes without `partner`.

    Examples
    --------
    >>> import torch
    >>> kd, ko = torch.randn(5, 2), torch.randn(5, 2)
    >>> u = torch.randn(3, 5, 2)
    >>> s = modal_fft_scan(u, kd, ko, torch.tensor([1, 0]))
    >>> t = modal_fft_scan(u.permute(2, 0, 1), kd, ko, torch.tensor([1, 0]), channels_first=True)
    >>> bool(torch.allclose(t.permute(1, 2, 0), s, atol=1e-6))
    True
    """
    _check_real("modal_fft_scan", u=u, k_diag=k_diag, k_off=k_off)
    if k_off is not None and partner is None:
        raise ValueError("modal_fft_scan needs `partner` together with `k_off`")
    time_dim, chan_dim = (-1, 0) if channels_first else (-2, -1)
    if u.dim() < 2:
        raise ValueError(f"u must have at least a time and a channel axis, got shape {tuple(u.shape)}")
    L, c = u.shape[time_dim], u.shape[chan_dim]
    if L < 1:
        raise ValueError("u must have at least one time step")
    for name, k in (("k_diag", k_diag), ("k_off", k_off)):
        if k is not None and (k.dim() != 2 or k.shape[1] != c):
            raise ValueError(f"{name} must have shape (Lk, c) with c={c}, got {tuple(k.shape)}")
    dtype = _compute_dtype(u, k_diag, k_off)
    # integer/bool sequences are promoted (to the computation dtype) rather than truncated back
    out_dtype = u.dtype if u.is_floating_point() else dtype
    n = fft_size(L)

    def spectrum(k: torch.Tensor) -> torch.Tensor:
        # a kernel's spectrum, laid out (c, 1, ..., F) or (F, c) to broadcast against the input's
        k = k[:L].to(dtype)
        if channels_first:
            return torch.fft.rfft(k.t(), n=n, dim=-1).view(c, *(1,) * (u.dim() - 2), -1)
        return torch.fft.rfft(k, n=n, dim=0)

    with no_autocast(u.device):
        Xf = torch.fft.rfft(u.to(dtype), n=n, dim=time_dim)
        Sf = Xf * spectrum(k_diag)
        if k_off is not None:
            Sf = Sf + Xf.index_select(chan_dim % u.dim(), partner.to(Xf.device)) * spectrum(k_off)
        y = torch.fft.irfft(Sf, n=n, dim=time_dim).narrow(time_dim, 0, L)
    return y.to(out_dtype)


# ---------------------------------------------------------------------------- kernels
def _as_2d(M: torch.Tensor, name: str, *, column: bool) -> torch.Tensor:
    if M.dim() == 1:
        return M[:, None] if column else M[None, :]
    if M.dim() != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {tuple(M.shape)}")
    return M


def ssm_kernel(
    A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, length: int, *, conj: bool = False
) -> torch.Tensor:
    r"""The convolution kernel `K_k = C A^k B` for `k = 0 .. length - 1`.

    Parameters
    ----------
    A : Tensor
        * 1-D real, shape (n,): diagonal `A` (a Vandermonde product, `a^k` by
          `torch.pow` so negative modes are exact);
        * 1-D complex, shape (n,): complex-diagonal (modal) `A` with complex `B` (n, m) and
          `C` (p, n).  With `conj=False` the modes must be closed under conjugation (e.g.
          `torch.linalg.eig` of a real matrix, with matching eigenvector bases) and the real
          part of `C diag(A)^k B` is returned; with `conj=True` every entry stands for
          itself *and* its conjugate (S4D's half storage): `K_k = 2 Re(C diag(A)^k B)`
          (store real modes with half of their `B` row, or use `conj=False`);
        * 2-D, shape (n, n): dense real `A`.  The powers are built by repeated squaring
          (`log2(length)` batched matrix products, no loop over the length) on the side of
          the smaller of `m` and `p`.
    B : Tensor, shape (n, m) (1-D: a single input column)
    C : Tensor, shape (p, n) (1-D: a single output row)
    length : int
        Number of taps.
    conj : bool
        Half-storage convention for complex-diagonal `A` (see above).

    Returns
    -------
    Tensor, shape (length, p, m), real.

    Examples
    --------
    >>> import torch
    >>> A = torch.tensor([[0.5, 1.0], [0.0, 0.25]], dtype=torch.float64)
    >>> B = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> C = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> ssm_kernel(A, B, C, 4)[:, 0, 0]
    tensor([0.0000, 1.0000, 0.7500, 0.4375], dtype=torch.float64)
    """
    if isinstance(length, bool) or int(length) != length or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    length = int(length)
    for name, M in (("A", A), ("B", B), ("C", C)):
        if not isinstance(M, torch.Tensor):
            raise TypeError(f"ssm_kernel: {name} must be a torch.Tensor, got {type(M).__name__}")
    if A.dim() not in (1, 2):
        raise ValueError(f"A must be 1-D (diagonal) or square 2-D, got shape {tuple(A.shape)}")
    B = _as_2d(B, "B", column=True)
    C = _as_2d(C, "C", column=False)
    n = A.shape[0]
    if B.shape[0] != n or C.shape[1] != n:
        raise ValueError(f"shapes do not match: A {tuple(A.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}")
    if A.dim() == 1:
        if A.is_complex():
            cdt = torch.promote_types(torch.promote_types(A.dtype, B.dtype), C.dtype)
            if not cdt.is_complex:  # pragma: no cover - A is complex so cdt is complex
                cdt = torch.complex64
            A_, B_, C_ = A.to(cdt), B.to(cdt), C.to(cdt)
            k = torch.arange(length, device=A.device, dtype=A_.real.dtype)
            # polar form: |a|^k (0^0 = 1, exact signs) times e^{i k arg a}
            mag = torch.pow(A_.abs()[None, :], k[:, None])
            ph = k[:, None] * torch.angle(A_)[None, :]
            V = torch.complex(mag * torch.cos(ph), mag * torch.sin(ph))
            K = torch.einsum("pn,ln,nm->lpm", C_, V, B_)
            return 2.0 * K.real if conj else K.real
        dtype = torch.promote_types(torch.promote_types(A.dtype, B.dtype), C.dtype)
        k = torch.arange(length, device=A.device, dtype=dtype)
        V = torch.pow(A.to(dtype)[None, :], k[:, None])  # (length, n)
        return torch.einsum("pn,ln,nm->lpm", C.to(dtype), V, B.to(dtype))
    if A.dim() != 2 or A.shape[1] != n:
        raise ValueError(f"A must be 1-D (diagonal) or square 2-D, got shape {tuple(A.shape)}")
    if A.is_complex():
        raise ValueError("dense A must be real; pass complex modes as a 1-D tensor")
    dtype = torch.promote_types(torch.promote_types(A.dtype, B.dtype), C.dtype)
    A, B, C = A.to(dtype), B.to(dtype), C.to(dtype)
    m, p = B.shape[1], C.shape[0]
    steps = max(0, math.ceil(math.log2(length))) if length > 1 else 0
    if m <= p:
        X = B[None]  # (1, n, m): A^k B, k < 1
        P = A
        for _ in range(steps):
            X = torch.cat([X, torch.matmul(P, X)], dim=0)  # now A^k B for k < 2|X|
            P = P @ P
        return torch.matmul(C, X[:length])  # (length, p, m)
    Y = C[None]  # (1, p, n): C A^k
    P = A
    for _ in range(steps):
        Y = torch.cat([Y, torch.matmul(Y, P)], dim=0)
        P = P @ P
    return torch.matmul(Y[:length], B)


# ---------------------------------------------------------------------------- recurrences
def _apply_A(A: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """`A s` for a batch of states `s` (..., n); `A` 1-D (diagonal) or 2-D."""
    if A.dim() == 1:
        return A * s
    return s @ A.transpose(-1, -2)


def _state_dtype(A: torch.Tensor, B: torch.Tensor, u: torch.Tensor) -> torch.dtype:
    dt = torch.promote_types(A.dtype, B.dtype)
    if not dt.is_complex:
        dt = torch.promote_types(dt, u.dtype if u.is_floating_point() else torch.float32)
    return dt


def _readout(C: torch.Tensor, s: torch.Tensor, conj: bool) -> torch.Tensor:
    y = s @ C.to(s.dtype).transpose(-1, -2)
    if y.is_complex():
        y = 2.0 * y.real if conj else y.real
    return y


def scan_step(
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    u_t: torch.Tensor,
    state: torch.Tensor | None = None,
    *,
    conj: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One step of the recurrence: `s = A s + B u_t`, `y_t = C s` (for decoding).

    Parameters
    ----------
    A : Tensor, shape (n,) (real or complex diagonal) or (n, n)
    B : Tensor, shape (n, m)
    C : Tensor, shape (p, n)
    u_t : Tensor, shape (..., m)
    state : Tensor, shape (..., n), optional (zero when omitted)
    conj : bool
        Half-storage convention for complex modes (see [`ssm_kernel`][hankelid_torch.scan.ssm_kernel]).

    Returns
    -------
    (y_t, new_state) : shapes (..., p) and (..., n)
    """
    B = _as_2d(B, "B", column=True)
    C = _as_2d(C, "C", column=False)
    dt = _state_dtype(A, B, u_t)
    v = u_t.to(dt) @ B.to(dt).transpose(-1, -2)
    s = v if state is None else _apply_A(A.to(dt), state.to(dt)) + v
    return _readout(C, s, conj), s


def sequential_scan(
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    u: torch.Tensor,
    state: torch.Tensor | None = None,
    *,
    conj: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Reference recurrence `s_t = A s_{t-1} + B u_t`, `y_t = C s_t` (a Python loop over time).

    For tests and benchmarks only: training uses [`fft_scan`][hankelid_torch.scan.fft_scan].

    Parameters
    ----------
    A, B, C : Tensor
        As in [`scan_step`][hankelid_torch.scan.scan_step].
    u : Tensor, shape (..., L, m)
    state : Tensor, shape (..., n), optional
        `s_{-1}` (zero when omitted).

    Returns
    -------
    (y, final_state) : shapes (..., L, p) and (..., n); `final_state = s_{L-1}`.
    """
    B = _as_2d(B, "B", column=True)
    C = _as_2d(C, "C", column=False)
    if u.dim() < 2:
        raise ValueError(f"u must have shape (..., L, m), got {tuple(u.shape)}")
    dt = _state_dtype(A, B, u)
    A_, B_ = A.to(dt), B.to(dt)
    v = u.to(dt) @ B_.transpose(-1, -2)  # (..., L, n)
    s = torch.zeros(v.shape[:-2] + v.shape[-1:], dtype=dt, device=u.device) if state is None else state.to(dt)
    states = []
    for t in range(v.shape[-2]):
        s = _apply_A(A_, s) + v[..., t, :]
        states.append(s)
    S = torch.stack(states, dim=-2)
    return _readout(C, S, conj), s
