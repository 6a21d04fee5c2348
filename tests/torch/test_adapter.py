"""SSMAdapter: recurrence equivalence, padding, decoding state, dtypes, initializations, exact loading."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import hankelid as hk
from hankelid_torch.adapter import SSMAdapter
from hankelid_torch.scan import sequential_scan

f64 = torch.float64
CUDA = torch.cuda.is_available()
KINDS = [("s4d", "s4d"), ("s4d", "modal"), ("random", "s4d"), ("random", "modal")]


def adapter(init="s4d", par="s4d", D=6, d=4, gate=0.7, dtype=f64, **kw) -> SSMAdapter:
    return SSMAdapter(D, d, init=init, parametrization=par, gate_init=gate, seed=0, **kw).to(dtype)


def reference(ad: SSMAdapter, u: torch.Tensor, state=None):
    """The Python recurrence on the adapter's own discrete system."""
    A, B, C = ad.discrete_system(include_gate=True)
    return sequential_scan(A, B, C, u, state)


def loaded(sys: hk.StateSpace, dtype=torch.float32) -> SSMAdapter:
    return SSMAdapter.from_state_space(sys).to(dtype)


def markov(sys: hk.StateSpace, L: int) -> np.ndarray:
    return hk.markov_parameters(sys, L)


def kernel_error(ad: SSMAdapter, sys: hk.StateSpace, L: int) -> float:
    K = ad.kernel(L).detach().cpu().double().numpy()
    ref = hk.markov_parameters(sys, L + 1)[1:]
    return float(np.abs(K - ref).max() / np.abs(ref).max())


# ---------------------------------------------------------------------------- the scan
@pytest.mark.parametrize(("init", "par"), KINDS)
def test_forward_equals_sequential_recurrence(init, par):
    ad = adapter(init, par)
    u = torch.randn(3, 25, 6, dtype=f64, generator=torch.Generator().manual_seed(0))
    y, s = ad(u, return_state=True)
    y_ref, s_ref = reference(ad, u)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(s, s_ref, rtol=1e-10, atol=1e-12)


def test_zero_gate_is_an_exact_no_op():
    for init, par in KINDS:
        ad = SSMAdapter(8, 4, init=init, parametrization=par, seed=1)
        u = torch.randn(2, 17, 8)
        y = ad(u)
        assert torch.equal(y, torch.zeros_like(y))
        y_t, _ = ad.step(u[:, :1])
        assert torch.equal(y_t, torch.zeros_like(y_t))


@pytest.mark.parametrize(("init", "par"), KINDS)
def test_impulse_response_equals_kernel(init, par):
    ad = adapter(init, par, D=3, d=5)
    L = 12
    u = torch.zeros(3, L, 3, dtype=f64)
    u[torch.arange(3), 0, torch.arange(3)] = 1.0  # e_j at t = 0 in batch row j
    y = ad(u)  # y[j, t] = K_t[:, j]
    torch.testing.assert_close(y.permute(1, 2, 0), ad.kernel(L), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("init", "par"), KINDS)
def test_padding_matches_unpadded_runs(init, par):
    ad = adapter(init, par)
    g = torch.Generator().manual_seed(2)
    lengths = [9, 5, 1]
    seqs = [torch.randn(n, 6, dtype=f64, generator=g) for n in lengths]
    L = 12
    for side in ("left", "right"):
        u = torch.randn(3, L, 6, dtype=f64, generator=g)  # garbage at the pads
        mask = torch.zeros(3, L, dtype=torch.long)
        for i, x in enumerate(seqs):
            n = x.shape[0]
            sl = slice(L - n, L) if side == "left" else slice(0, n)
            u[i, sl], mask[i, sl] = x, 1
        y, s = ad(u, mask=mask, return_state=True)
        for i, x in enumerate(seqs):
            n = x.shape[0]
            sl = slice(L - n, L) if side == "left" else slice(0, n)
            y_ref, s_ref = ad(x[None], return_state=True)
            torch.testing.assert_close(y[i, sl], y_ref[0], rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(s[i], s_ref[0], rtol=1e-10, atol=1e-12)
            assert torch.equal(y[i][mask[i] == 0], torch.zeros_like(y[i][mask[i] == 0]))


def test_interior_padding_skips_time_and_state():
    ad = adapter("random", "modal")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 7, 6, dtype=f64, generator=g)
    u = torch.randn(1, 10, 6, dtype=f64, generator=g)
    keep = torch.tensor([1, 1, 0, 1, 0, 0, 1, 1, 1, 1])
    u[0, keep == 1] = x[0]
    state = torch.randn(1, 4, dtype=f64, generator=g)
    y, s = ad(u, mask=keep[None], state=state, return_state=True)
    y_ref, s_ref = ad(x, state=state, return_state=True)
    torch.testing.assert_close(y[0, keep == 1], y_ref[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(s, s_ref, rtol=1e-10, atol=1e-12)


def test_fully_padded_row_keeps_its_state():
    ad = adapter()
    state = torch.randn(2, 4, dtype=f64)
    u = torch.randn(2, 5, 6, dtype=f64)
    mask = torch.tensor([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    y, s = ad(u, mask=mask, state=state, return_state=True)
    torch.testing.assert_close(s[0], state[0])
    assert torch.equal(y[0], torch.zeros_like(y[0]))
    _, s_full = ad(u[1:], state=state[1:], return_state=True)
    torch.testing.assert_close(s[1], s_full[0])


def test_mask_longer_than_input_uses_last_columns():
    ad = adapter()
    u = torch.randn(2, 3, 6, dtype=f64)
    full_mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 0, 1]])
    y_a = ad(u, mask=full_mask)
    y_b = ad(u, mask=full_mask[:, -3:])
    torch.testing.assert_close(y_a, y_b)
    with pytest.raises(ValueError, match="mask"):
        ad(u, mask=full_mask[:, :2])


@pytest.mark.parametrize(("init", "par"), KINDS)
def test_prefill_then_decode_equals_full_scan(init, par):
    ad = adapter(init, par)
    u = torch.randn(2, 20, 6, dtype=f64, generator=torch.Generator().manual_seed(4))
    y_full, s_full = ad(u, return_state=True)
    y_pre, s = ad(u[:, :8], return_state=True)
    torch.testing.assert_close(y_pre, y_full[:, :8])
    for t in range(8, 14):  # token by token, (B, 1, D)
        y_t, s = ad.step(u[:, t : t + 1], s)
        torch.testing.assert_close(y_t[:, 0], y_full[:, t], rtol=1e-10, atol=1e-12)
    y_rest, s = ad(u[:, 14:], state=s, return_state=True)  # then a chunk with the state
    torch.testing.assert_close(y_rest, y_full[:, 14:], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(s, s_full, rtol=1e-10, atol=1e-12)
    y2, _ = ad.step(u[:, 0], None)  # (B, D) input works too
    torch.testing.assert_close(y2, y_full[:, 0])


def test_step_with_padding_mask_keeps_state():
    ad = adapter()
    s = torch.randn(2, 4, dtype=f64)
    u = torch.randn(2, 1, 6, dtype=f64)
    y, new = ad.step(u, s, mask=torch.tensor([[1, 0], [1, 1]]))  # last column: row 0 pads
    torch.testing.assert_close(new[0], s[0])
    assert torch.equal(y[0], torch.zeros_like(y[0]))
    _, ref = ad.step(u[1:], s[1:])
    torch.testing.assert_close(new[1], ref[0])


def test_adapter_gradcheck_with_mask_and_state():
    ad = adapter("random", "modal", D=3, d=4)
    u = torch.randn(2, 6, 3, dtype=f64, requires_grad=True)
    s0 = torch.randn(2, 4, dtype=f64, requires_grad=True)
    mask = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    assert torch.autograd.gradcheck(lambda u, s: ad(u, mask=mask, state=s, return_state=True), (u, s0))


@pytest.mark.parametrize(("init", "par"), KINDS)
def test_parameter_gradients_match_recurrence(init, par):
    ad = adapter(init, par)
    u = torch.randn(2, 10, 6, dtype=f64, generator=torch.Generator().manual_seed(5))
    w = torch.randn(2, 10, 6, dtype=f64, generator=torch.Generator().manual_seed(6))
    (ad(u) * w).sum().backward()
    g_fft = {n: p.grad.clone() for n, p in ad.named_parameters()}
    ad.zero_grad()
    (reference(ad, u)[0] * w).sum().backward()
    for n, p in ad.named_parameters():
        torch.testing.assert_close(g_fft[n], p.grad, rtol=1e-8, atol=1e-11, msg=n)
        assert torch.isfinite(p.grad).all()


# ---------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_and_model_casts(dtype):
    ad = SSMAdapter(16, 4, init="random", parametrization="modal", gate_init=0.5, seed=2)
    ad.to(dtype)  # a bf16/fp16 model cast
    assert all(p.dtype == torch.float32 for p in ad.parameters())
    assert ad.partner.dtype == torch.int64
    ad.half()
    assert all(p.dtype == torch.float32 for p in ad.parameters())
    u = torch.randn(2, 40, 16).to(dtype).requires_grad_(True)
    y = ad(u)
    assert y.dtype == dtype and torch.isfinite(y.float()).all()
    ref = ad(u.detach().float())
    torch.testing.assert_close(y.float(), ref, rtol=2e-2, atol=2e-2)
    y.float().square().sum().backward()
    assert u.grad.dtype == dtype and torch.isfinite(u.grad.float()).all()
    assert all(torch.isfinite(p.grad).all() for p in ad.parameters())


def test_autocast_does_not_reach_the_adapter():
    ad = SSMAdapter(8, 4, gate_init=0.3, seed=3)
    u = torch.randn(2, 9, 8)
    plain = ad(u)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = ad(u)
    assert under.dtype == torch.float32
    torch.testing.assert_close(under, plain, rtol=0, atol=0)


def test_float64_cast_is_allowed():
    ad = SSMAdapter(8, 4, parametrization="modal", seed=3).double()
    assert all(p.dtype == f64 for p in ad.parameters())
    assert ad(torch.randn(1, 3, 8, dtype=f64)).dtype == f64


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_moves_parameters_and_buffers():
    sys = hk.random_stable(5, 6, 6, dt=1.0, seed=0)
    ad = loaded(sys).to("cuda", torch.bfloat16)
    assert all(t.is_cuda for t in [*ad.parameters(), *ad.buffers()])
    assert all(p.dtype == torch.float32 for p in ad.parameters())
    assert kernel_error(ad, sys, 40) < 1e-5
    u = torch.randn(2, 30, 6, device="cuda", dtype=torch.bfloat16)
    y, s = ad(u, mask=torch.ones(2, 30, device="cuda"), return_state=True)
    y_t, _ = ad.step(u[:, :1], s)
    assert y.dtype == torch.bfloat16 and y.is_cuda and s.is_cuda and y_t.is_cuda
    ref = ad.cpu()(u.cpu())
    torch.testing.assert_close(y.cpu().float(), ref.float(), rtol=2e-2, atol=2e-2)


# ---------------------------------------------------------------------------- inits
def test_s4d_init_and_zero_order_hold():
    ad = SSMAdapter(5, 6, seed=4, dt_min=1e-3, dt_max=1e-1)
    a = -torch.exp(ad.log_a.detach().double())
    torch.testing.assert_close(a, -torch.arange(1.0, 7.0, dtype=f64), rtol=1e-6, atol=0)
    dt = torch.nn.functional.softplus(ad.log_dt.detach().double())
    assert bool(((dt >= 1e-3 * 0.999) & (dt <= 1e-1 * 1.001)).all())
    A, Bbar, _ = ad.discrete_system()
    for i in range(6):  # per-state ZOH against hankelid.c2d
        cont = hk.StateSpace([[a[i].item()]], ad.B.detach().double()[i : i + 1].numpy(), [[1.0]])
        disc = hk.c2d(cont, float(dt[i]), "zoh")
        np.testing.assert_allclose(A[i].item(), disc.A[0, 0], rtol=1e-6)
        np.testing.assert_allclose(Bbar[i].detach().double().numpy(), disc.B[0], rtol=1e-5, atol=1e-9)


def test_dt_is_clamped():
    ad = SSMAdapter(4, 3, seed=0, dt_min=1e-2, dt_max=2e-2)
    with torch.no_grad():
        ad.log_dt.fill_(10.0)
    A, _, _ = ad.discrete_system()
    torch.testing.assert_close(A, torch.exp(-2e-2 * torch.arange(1.0, 4.0)))


def test_modal_s4d_init_is_the_same_system():
    a = SSMAdapter(6, 5, seed=7, gate_init=1.0)
    b = SSMAdapter(6, 5, seed=7, gate_init=1.0, parametrization="modal")
    torch.testing.assert_close(a.kernel(30), b.kernel(30), rtol=1e-5, atol=1e-7)


def test_random_modal_init_has_conjugate_pairs_and_is_stable():
    ad = SSMAdapter(6, 5, init="random", parametrization="modal", seed=1)
    assert int((ad.partner != torch.arange(5)).sum()) == 4
    A, _, _ = ad.discrete_system()
    assert np.abs(np.linalg.eigvals(A.detach().double().numpy())).max() < 1


def test_seeds_reproduce():
    for init, par in KINDS:
        a = SSMAdapter(6, 4, init=init, parametrization=par, seed=11)
        b = SSMAdapter(6, 4, init=init, parametrization=par, seed=11)
        for (n, p), q in zip(a.named_parameters(), b.parameters()):
            assert torch.equal(p, q), n
    torch.manual_seed(0)
    a = SSMAdapter(6, 4)
    torch.manual_seed(0)
    b = SSMAdapter(6, 4)
    assert torch.equal(a.B, b.B)


@pytest.mark.parametrize("gramians", ["exact", "empirical"])
def test_hankel_init_kernel_equals_reduced_markov_parameters(gramians):
    ad = SSMAdapter(12, 4, init="hankel", hankel_gramians=gramians, hankel_order=16, seed=0, gate_init=1.0)
    info = ad.hankel_info
    assert ad.parametrization == "modal" and ad.d_state == 4
    assert info.full.n == 16 and info.reduced.n == 4
    assert all(p.dtype == torch.float32 for p in ad.parameters())
    assert kernel_error(ad, info.reduced, 64) < 1e-5
    y = ad(torch.randn(2, 33, 12))
    assert torch.isfinite(y).all()


def test_hankel_init_exact_is_the_balanced_truncation_of_the_full_system():
    # D = 20 > N = 12: the Gramians are computed on the channel-compressed system
    ad = SSMAdapter(20, 3, init="hankel", hankel_gramians="exact", seed=1, gate_init=1.0)
    info = ad.hankel_info
    red = hk.balanced_truncation(info.full, order=3)
    np.testing.assert_allclose(info.hsv, red.hsv, rtol=1e-10)
    assert kernel_error(ad, red.system, 50) < 1e-5


def test_hankel_requires_modal():
    with pytest.raises(ValueError, match="modal"):
        SSMAdapter(4, 2, init="hankel", parametrization="s4d")


# ---------------------------------------------------------------------------- loading
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_load_state_space_is_exact(seed):
    sys = hk.random_stable(7, 5, 4, dt=1.0, seed=seed)  # real, negative and complex poles
    ad = SSMAdapter(5, 3, out_features=4, gate_init=0.25, seed=seed)
    ad.load_state_space(sys)
    assert ad.d_state == 7 and ad.parametrization == "modal"
    assert float(ad.gate.detach()) == 0.25  # gate kept, C rescaled
    assert kernel_error(ad, sys, 80) < 1e-5  # float32 parameters: fp32 rounding
    ad64 = SSMAdapter(5, 3, out_features=4, gate_init=0.25).double().load_state_space(sys)
    assert ad64.B.dtype == f64 and kernel_error(ad64, sys, 80) < 1e-11
    u = torch.randn(2, 20, 5, dtype=f64)
    y_ref, _ = sequential_scan(*(torch.as_tensor(np.array(M)) for M in sys.matrices[:3]), u)
    torch.testing.assert_close(ad64(u), y_ref, rtol=1e-9, atol=1e-11)


def test_load_same_step_realization_and_gate_options():
    sys = hk.random_stable(4, 3, 3, dt=1.0, seed=5)
    A, B, C, _ = sys.matrices
    same_step = hk.StateSpace(A, B, C @ A, C @ B, dt=1.0)
    ad = SSMAdapter.from_state_space(same_step)
    assert kernel_error(ad, sys, 30) < 1e-5
    ad2 = SSMAdapter(3, 2).load_state_space(sys, gate=2.0)
    assert float(ad2.gate.detach()) == 2.0 and kernel_error(ad2, sys, 30) < 1e-5


def test_load_state_space_rejects_bad_systems():
    ad = SSMAdapter(3, 2)
    before = {k: v.clone() for k, v in ad.state_dict().items()}
    sys = hk.random_stable(3, 3, 3, dt=1.0, seed=0)
    with pytest.raises(ValueError, match="discrete"):
        ad.load_state_space(hk.random_stable(3, 3, 3, seed=0))
    with pytest.raises(ValueError, match="inputs"):
        ad.load_state_space(hk.random_stable(3, 2, 3, dt=1.0, seed=0))
    with pytest.raises(ValueError, match="feed-through"):
        ad.load_state_space(sys.with_D(np.eye(3)))
    with pytest.raises(ValueError, match="modulus"):
        ad.load_state_space(hk.StateSpace(np.diag([1.2, 0.5, 0.1]), sys.B, sys.C, dt=1.0))
    after = ad.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_state_dict_round_trip_into_a_fresh_adapter():
    sys = hk.random_stable(6, 4, 4, dt=1.0, seed=8)
    src = SSMAdapter.from_state_space(sys, gate=0.5)
    fresh = SSMAdapter(4, 6, parametrization="modal", seed=123)
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    buf.seek(0)
    fresh.load_state_dict(torch.load(buf))
    u = torch.randn(2, 11, 4)
    torch.testing.assert_close(fresh(u), src(u), rtol=0, atol=0)
    pytest.importorskip("safetensors")
    from safetensors.torch import load, save

    again = SSMAdapter(4, 6, parametrization="modal")
    again.load_state_dict(load(save(dict(src.state_dict()))))
    torch.testing.assert_close(again(u), src(u), rtol=0, atol=0)


def test_parameter_count_and_repr():
    for par in ("s4d", "modal"):
        ad = SSMAdapter(10, 3, out_features=7, parametrization=par)
        n = sum(p.numel() for p in ad.parameters() if p.requires_grad)
        assert n == SSMAdapter.count_parameters(10, 3, 7) == 2 * 3 + 3 * 10 + 7 * 3 + 1
        assert f"parametrization='{par}'" in repr(ad) and "out_features=7" in repr(ad)


def test_constructor_validation():
    with pytest.raises(ValueError, match="init"):
        SSMAdapter(4, 2, init="cubic")
    with pytest.raises(ValueError, match="parametrization"):
        SSMAdapter(4, 2, parametrization="complex")
    with pytest.raises(ValueError, match="d_state"):
        SSMAdapter(4, 0)
    with pytest.raises(ValueError, match="dt_min"):
        SSMAdapter(4, 2, dt_min=0.2, dt_max=0.1)
    with pytest.raises(ValueError, match="shape"):
        SSMAdapter(4, 2)(torch.randn(2, 3, 5))


@pytest.mark.parametrize(("init", "par"), [("s4d", "s4d"), ("s4d", "modal"), ("random", "s4d")])
def test_a_few_optimizer_steps_fit_a_target_filter(init, par):
    torch.manual_seed(0)
    target = SSMAdapter(6, 3, init="random", parametrization="modal", gate_init=1.0, seed=5)
    ad = SSMAdapter(6, 4, init=init, parametrization=par, gate_init=0.0, seed=6)
    u = torch.randn(4, 32, 6)
    with torch.no_grad():
        y_target = target(u)
    opt = torch.optim.Adam(ad.parameters(), lr=3e-2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = (ad(u) - y_target).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    A, _, _ = ad.discrete_system()
    A = A.detach().double().numpy()
    assert np.abs(np.linalg.eigvals(np.diag(A) if A.ndim == 1 else A)).max() < 1  # stays stable


@pytest.mark.parametrize(("init", "par"), [*KINDS, ("hankel", None)])
def test_construction_on_the_meta_device(init, par):
    with torch.device("meta"):
        ad = SSMAdapter(4096, 16, init=init, parametrization=par, hankel_gramians="exact")
    assert all(t.is_meta for t in [*ad.parameters(), *ad.buffers()])
    assert sum(p.numel() for p in ad.parameters()) == SSMAdapter.count_parameters(4096, 16)
