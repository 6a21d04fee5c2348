"""Scan kernels: FFT scan vs direct convolution and the sequential recurrence, kernels vs closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hankelid as hk
from hankelid_torch.scan import (
    fft_scan,
    fft_size,
    modal_fft_scan,
    scan_step,
    sequential_scan,
    ssm_kernel,
)

f64 = torch.float64
CUDA = torch.cuda.is_available()


def direct_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """O(L^2) causal convolution, the definition."""
    L = u.shape[-2]
    y = torch.zeros_like(u)
    for t in range(L):
        for s in range(min(t + 1, k.shape[0])):
            y[..., t, :] += k[s] * u[..., t - s, :]
    return y


def stable_dense(n: int, seed: int) -> torch.Tensor:
    sys = hk.random_stable(n, dt=1.0, seed=seed)
    return torch.as_tensor(np.array(sys.A))


# ---------------------------------------------------------------------------- fft_scan
@pytest.mark.parametrize("L", [1, 2, 7, 16, 33])
def test_fft_scan_equals_direct_convolution(L):
    g = torch.Generator().manual_seed(L)
    u = torch.randn(2, L, 3, generator=g, dtype=f64)
    k = torch.randn(L, 3, generator=g, dtype=f64)
    torch.testing.assert_close(fft_scan(u, k), direct_conv(u, k), rtol=1e-12, atol=1e-12)


def test_fft_scan_long_and_short_kernels():
    g = torch.Generator().manual_seed(1)
    u = torch.randn(3, 20, 2, generator=g, dtype=f64)
    k_long = torch.randn(50, 2, generator=g, dtype=f64)
    torch.testing.assert_close(fft_scan(u, k_long), direct_conv(u, k_long[:20]), rtol=1e-12, atol=1e-12)
    k_short = torch.randn(5, 2, generator=g, dtype=f64)  # FIR taps, zero beyond
    torch.testing.assert_close(fft_scan(u, k_short), direct_conv(u, k_short), rtol=1e-12, atol=1e-12)


def test_fft_scan_leading_dims_and_unbatched():
    g = torch.Generator().manual_seed(2)
    u = torch.randn(2, 3, 9, 4, generator=g, dtype=f64)
    k = torch.randn(9, 4, generator=g, dtype=f64)
    torch.testing.assert_close(fft_scan(u, k), direct_conv(u, k), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fft_scan(u[0, 0], k), direct_conv(u[0, 0], k), rtol=1e-12, atol=1e-12)


def test_fft_size_power_of_two_at_least_2L():
    for L in (1, 2, 3, 511, 512, 513, 4097):
        n = fft_size(L)
        assert n >= 2 * L and n & (n - 1) == 0 and n < 4 * L
    with pytest.raises(ValueError):
        fft_size(0)


def test_fft_scan_equals_sequential_recurrence():
    g = torch.Generator().manual_seed(3)
    a = torch.rand(5, generator=g, dtype=f64) * 1.8 - 0.9  # negative modes too
    B = torch.randn(5, 3, generator=g, dtype=f64)
    C = torch.randn(2, 5, generator=g, dtype=f64)
    u = torch.randn(4, 40, 3, generator=g, dtype=f64)
    y_ref, s_ref = sequential_scan(a, B, C, u)
    k = a[None, :] ** torch.arange(40, dtype=f64)[:, None]  # per-state kernel
    s = fft_scan(u @ B.T, k)
    torch.testing.assert_close(s @ C.T, y_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(s[:, -1], s_ref, rtol=1e-10, atol=1e-12)


def test_fft_scan_gradcheck():
    g = torch.Generator().manual_seed(4)
    u = torch.randn(2, 6, 2, generator=g, dtype=f64, requires_grad=True)
    k = torch.randn(6, 2, generator=g, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(fft_scan, (u, k))


def test_modal_fft_scan_gradcheck():
    g = torch.Generator().manual_seed(5)
    u = torch.randn(2, 5, 3, generator=g, dtype=f64, requires_grad=True)
    kd = torch.randn(5, 3, generator=g, dtype=f64, requires_grad=True)
    ko = torch.randn(5, 3, generator=g, dtype=f64, requires_grad=True)
    partner = torch.tensor([1, 0, 2])
    assert torch.autograd.gradcheck(lambda a, b, c: modal_fft_scan(a, b, c, partner), (u, kd, ko))


def test_gradients_of_fft_path_match_sequential_recurrence():
    """d loss / d(a, B, C, u) through ssm_kernel + fft_scan equals that of the Python recurrence."""
    g = torch.Generator().manual_seed(6)
    a0 = torch.rand(4, generator=g, dtype=f64) * 0.9
    B0 = torch.randn(4, 3, generator=g, dtype=f64)
    C0 = torch.randn(2, 4, generator=g, dtype=f64)
    u0 = torch.randn(2, 12, 3, generator=g, dtype=f64)
    w = torch.randn(2, 12, 2, generator=g, dtype=f64)

    def grads(fn):
        leaves = [t.clone().requires_grad_(True) for t in (a0, B0, C0, u0)]
        (fn(*leaves) * w).sum().backward()
        return [t.grad for t in leaves]

    def via_fft(a, B, C, u):
        k = torch.pow(a[None, :], torch.arange(12, dtype=f64)[:, None])
        return fft_scan(u @ B.T, k) @ C.T

    for g_fft, g_seq in zip(grads(via_fft), grads(lambda a, B, C, u: sequential_scan(a, B, C, u)[0])):
        torch.testing.assert_close(g_fft, g_seq, rtol=1e-9, atol=1e-11)


def test_gradcheck_through_dense_kernel():
    A = stable_dense(3, 0).requires_grad_(True)
    g = torch.Generator().manual_seed(7)
    B = torch.randn(3, 2, generator=g, dtype=f64, requires_grad=True)
    C = torch.randn(2, 3, generator=g, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda A, B, C: ssm_kernel(A, B, C, 9), (A, B, C))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_input(dtype):
    g = torch.Generator().manual_seed(8)
    u = torch.randn(2, 64, 4, generator=g)
    k = torch.rand(64, 4, generator=g) * 0.5 ** torch.arange(64.0)[:, None]
    y = fft_scan(u.to(dtype), k)
    assert y.dtype == dtype and torch.isfinite(y).all()
    # computed in float32 from the rounded input: only the final cast loses precision
    ref = fft_scan(u.to(dtype).float(), k)
    torch.testing.assert_close(y.float(), ref, rtol=1e-2, atol=1e-2)
    # backward in low precision stays finite
    u_ = u.to(dtype).requires_grad_(True)
    fft_scan(u_, k).float().square().sum().backward()
    assert u_.grad.dtype == dtype and torch.isfinite(u_.grad.float()).all()


def test_autocast_disabled_inside():
    g = torch.Generator().manual_seed(9)
    u = torch.randn(2, 32, 3, generator=g)
    k = torch.randn(32, 3, generator=g)
    plain = fft_scan(u, k)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = fft_scan(u, k)
    assert under.dtype == torch.float32
    torch.testing.assert_close(under, plain, rtol=0, atol=0)


def test_fft_scan_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        fft_scan(torch.randn(2, 5, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match="shape"):
        fft_scan(torch.randn(5), torch.randn(5, 1))


# ---------------------------------------------------------------------------- ssm_kernel
def test_kernel_real_diagonal_closed_form():
    a = torch.tensor([0.9, -0.6, 0.0, 0.3], dtype=f64)
    g = torch.Generator().manual_seed(10)
    B = torch.randn(4, 2, generator=g, dtype=f64)
    C = torch.randn(3, 4, generator=g, dtype=f64)
    K = ssm_kernel(a, B, C, 10)
    assert K.shape == (10, 3, 2)
    for k in range(10):
        ref = C @ torch.diag(a**k) @ B
        torch.testing.assert_close(K[k], ref, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize(("m", "p"), [(1, 3), (3, 1), (2, 2)])
def test_kernel_dense_matches_hankelid_markov_parameters(m, p):
    sys = hk.random_stable(6, m, p, dt=1.0, seed=m + 10 * p)
    A, B, C = (torch.as_tensor(np.array(M)) for M in sys.matrices[:3])
    K = ssm_kernel(A, B, C, 37)
    ref = hk.markov_parameters(sys, 38)[1:]  # h_{k+1} = C A^k B
    np.testing.assert_allclose(K.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert ssm_kernel(A, B, C, 1).shape == (1, p, m)


def test_kernel_complex_diagonal_full_and_half_storage():
    sys = hk.random_stable(7, 2, 2, dt=1.0, seed=3)
    A = np.array(sys.A)
    w, V = np.linalg.eig(A)
    assert np.any(w.imag != 0), "need complex modes for this test"
    Bm = np.linalg.solve(V, sys.B)
    Cm = sys.C @ V
    ref = hk.markov_parameters(sys, 21)[1:]
    K = ssm_kernel(torch.as_tensor(w), torch.as_tensor(Bm), torch.as_tensor(Cm), 20)
    assert not K.is_complex()
    np.testing.assert_allclose(K.numpy(), ref, rtol=1e-9, atol=1e-11)
    # half storage: keep one of each conjugate pair, halve the real modes' B rows
    keep = w.imag >= 0
    scale = np.where(w.imag[keep] == 0, 0.5, 1.0)
    K_half = ssm_kernel(
        torch.as_tensor(w[keep]),
        torch.as_tensor(Bm[keep] * scale[:, None]),
        torch.as_tensor(Cm[:, keep]),
        20,
        conj=True,
    )
    np.testing.assert_allclose(K_half.numpy(), ref, rtol=1e-9, atol=1e-11)


def test_kernel_zero_complex_mode_is_finite():
    K = ssm_kernel(
        torch.tensor([0j, 0.5j]),
        torch.ones(2, 1, dtype=torch.complex64),
        torch.ones(1, 2, dtype=torch.complex64),
        4,
    )
    torch.testing.assert_close(K[:, 0, 0], torch.tensor([2.0, 0.0, -0.25, 0.0]))


def test_kernel_rejects_bad_input():
    with pytest.raises(ValueError, match="length"):
        ssm_kernel(torch.ones(2), torch.ones(2, 1), torch.ones(1, 2), 0)
    with pytest.raises(ValueError, match="shapes"):
        ssm_kernel(torch.ones(2), torch.ones(3, 1), torch.ones(1, 2), 4)


# ---------------------------------------------------------------------------- recurrences
@pytest.mark.parametrize("kind", ["real", "complex", "dense"])
def test_sequential_scan_matches_kernel_and_steps(kind):
    sys = hk.random_stable(5, 2, 3, dt=1.0, seed=4)
    A, B, C = (torch.as_tensor(np.array(M)) for M in sys.matrices[:3])
    if kind == "real":
        A = torch.tensor([0.5, -0.7, 0.1, 0.95, 0.0], dtype=f64)
    elif kind == "complex":
        w, V = torch.linalg.eig(A)
        A, B, C = w, torch.linalg.solve(V, B.to(V.dtype)), C.to(V.dtype) @ V
    g = torch.Generator().manual_seed(11)
    u = torch.randn(3, 15, 2, generator=g, dtype=f64)
    y, s_final = sequential_scan(A, B, C, u)
    K = ssm_kernel(A, B, C, 15)
    y_conv = torch.einsum(
        "kpm,btkm->btp",
        K,
        torch.stack([torch.nn.functional.pad(u, (0, 0, k, 0))[:, :15] for k in range(15)], dim=2),
    )
    torch.testing.assert_close(y, y_conv, rtol=1e-10, atol=1e-11)
    # stepping reproduces the scan, and a continued scan equals the full one
    s = None
    for t in range(15):
        y_t, s = scan_step(A, B, C, u[:, t], s)
        torch.testing.assert_close(y_t, y[:, t], rtol=1e-10, atol=1e-11)
    torch.testing.assert_close(s, s_final)
    y1, s1 = sequential_scan(A, B, C, u[:, :6])
    y2, _ = sequential_scan(A, B, C, u[:, 6:], s1)
    torch.testing.assert_close(torch.cat([y1, y2], 1), y, rtol=1e-12, atol=1e-12)


def test_modal_fft_scan_equals_block_diagonal_recurrence():
    rho, th, lam = 0.9, 0.7, -0.5
    A = torch.tensor(
        [[rho * np.cos(th), rho * np.sin(th), 0.0], [-rho * np.sin(th), rho * np.cos(th), 0.0], [0, 0, lam]],
        dtype=f64,
    )
    k = torch.arange(30, dtype=f64)
    kd = torch.stack([rho**k * torch.cos(k * th), rho**k * torch.cos(k * th), lam**k], 1)
    ko = torch.stack([rho**k * torch.sin(k * th), -(rho**k) * torch.sin(k * th), 0 * k], 1)
    g = torch.Generator().manual_seed(12)
    v = torch.randn(2, 30, 3, generator=g, dtype=f64)
    s = modal_fft_scan(v, kd, ko, torch.tensor([1, 0, 2]))
    s_ref, _ = sequential_scan(A, torch.eye(3, dtype=f64), torch.eye(3, dtype=f64), v)
    torch.testing.assert_close(s, s_ref, rtol=1e-10, atol=1e-12)


def test_channel_first_scan_matches_modal_fft_scan():
    g = torch.Generator().manual_seed(13)
    L, c = 37, 3
    kd = torch.randn(L + 5, c, generator=g, dtype=f64)
    ko = torch.randn(L + 5, c, generator=g, dtype=f64)
    partner = torch.tensor([1, 0, 2])
    v = torch.randn(2, L, c, generator=g, dtype=f64)
    vT = v.permute(2, 0, 1).contiguous()  # (c, B, L)
    for off in (None, ko):
        ref = modal_fft_scan(v, kd, off, None if off is None else partner)
        out = modal_fft_scan(vT, kd, off, None if off is None else partner, channels_first=True)
        torch.testing.assert_close(out.permute(1, 2, 0), ref, rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError):
        modal_fft_scan(vT, kd, ko, channels_first=True)


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_fft_scan_matches_cpu():
    g = torch.Generator().manual_seed(13)
    u = torch.randn(2, 300, 8, generator=g)
    k = torch.randn(300, 8, generator=g) * 0.9 ** torch.arange(300.0)[:, None]
    ref = fft_scan(u.double(), k.double())
    y = fft_scan(u.cuda().to(torch.bfloat16), k.cuda())
    assert y.dtype == torch.bfloat16 and y.is_cuda
    torch.testing.assert_close(y.float().cpu(), ref.float(), rtol=3e-2, atol=3e-2)
    torch.testing.assert_close(fft_scan(u.cuda(), k.cuda()).cpu(), ref.float(), rtol=1e-4, atol=1e-4)
    A = stable_dense(6, 1)
    B = torch.randn(6, 2, dtype=f64, generator=g)
    C = torch.randn(3, 6, dtype=f64, generator=g)
    torch.testing.assert_close(ssm_kernel(A.cuda(), B.cuda(), C.cuda(), 50).cpu(), ssm_kernel(A, B, C, 50))


@settings(max_examples=25)
@given(
    L=st.integers(1, 40),
    c=st.integers(1, 3),
    Lk=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_fft_scan_property_equals_definition(L, c, Lk, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(2, L, c, generator=g, dtype=f64)
    k = torch.randn(Lk, c, generator=g, dtype=f64)
    torch.testing.assert_close(fft_scan(u, k), direct_conv(u, k), rtol=1e-10, atol=1e-11)
