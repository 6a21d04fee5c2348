"""Bridge to the core: adapter layers, to/from StateSpace, reduce_adapters vs an independent truncation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
import torch
from torch import nn

import hankelid as hk
from hankelid_torch.adapter import SSMAdapter
from hankelid_torch.bridge import (
    adapter_layers,
    from_state_space,
    get_adapter,
    reduce_adapters,
    to_state_space,
)

f64 = torch.float64


class Holder(nn.Module):
    """A stand-in for the PEFT layer: a block with an ``hrm_ssm`` ModuleDict of adapters."""

    def __init__(self, D: int, d: int, names=("default",), gate=0.5, seed=0):
        super().__init__()
        self.base_layer = nn.Linear(D, D)
        self.hrm_ssm = nn.ModuleDict(
            {n: SSMAdapter(D, d, init="random", gate_init=gate, seed=seed + i) for i, n in enumerate(names)}
        )
        self.active_adapters = [names[0]]

    def forward(self, u):
        return self.base_layer(u) + sum(self.hrm_ssm[n](u) for n in self.active_adapters)


def tree(D=5, d=8, gate=0.5) -> nn.Module:
    return nn.ModuleDict(
        {
            "layers": nn.ModuleList([Holder(D, d, gate=gate, seed=10 * i) for i in range(2)]),
            "extra": SSMAdapter(D, d, init="random", gate_init=gate, seed=99),
        }
    )


def reference_bt(sys: hk.StateSpace, r: int):
    """Square-root balanced truncation with SciPy's discrete Lyapunov solver (independent reference)."""
    A, B, C, D = sys.matrices
    Wc = sla.solve_discrete_lyapunov(A, B @ B.T)
    Wo = sla.solve_discrete_lyapunov(A.T, C.T @ C)

    def factor(W):
        w, V = np.linalg.eigh((W + W.T) / 2)
        return V * np.sqrt(np.clip(w, 0, None))

    Lc, Lo = factor(Wc), factor(Wo)
    U, s, Vt = np.linalg.svd(Lo.T @ Lc)
    T = Lc @ Vt.T[:, :r] / np.sqrt(s[:r])
    Ti = (U[:, :r] / np.sqrt(s[:r])).T @ Lo.T
    return hk.StateSpace(Ti @ A @ T, Ti @ B, C @ T, D, dt=sys.dt), s


def markov(sys: hk.StateSpace, L: int) -> np.ndarray:
    return hk.markov_parameters(sys, L)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# ---------------------------------------------------------------------------- layers
def test_adapter_layers_finds_holders_and_bare_adapters():
    net = tree()
    names = [n for n, _ in adapter_layers(net)]
    assert names == ["layers.0", "layers.1", "extra"]
    assert adapter_layers(nn.Linear(2, 2)) == []


def test_get_adapter_resolution():
    h = Holder(4, 2, names=("a", "b"))
    assert get_adapter(h) is h.hrm_ssm["a"]  # the only active one
    assert get_adapter(h, "b") is h.hrm_ssm["b"]
    h.active_adapters = ["a", "b"]
    with pytest.raises(ValueError, match="adapter_name"):
        get_adapter(h)
    with pytest.raises(KeyError):
        get_adapter(h, "c")
    with pytest.raises(TypeError):
        get_adapter(nn.Linear(2, 2))


# ---------------------------------------------------------------------------- to / from
@pytest.mark.parametrize("par", ["s4d", "modal"])
def test_to_state_space_markov_parameters_are_the_impulse_response(par):
    ad = SSMAdapter(4, 6, init="random", parametrization=par, gate_init=0.8, seed=3).double()
    L = 20
    u = torch.zeros(4, L, 4, dtype=f64)
    u[torch.arange(4), 0, torch.arange(4)] = 1.0
    impulse = ad(u).detach().permute(1, 2, 0).numpy()  # (L, D_out, D_in)
    sys = to_state_space(ad)
    assert sys.is_discrete and sys.dt == 1.0 and sys.n == 6 and sys.shape == (4, 4)
    assert np.all(sys.D == 0)
    np.testing.assert_allclose(markov(sys, L + 1)[1:], impulse, rtol=1e-10, atol=1e-13)
    same_step = to_state_space(ad, feedthrough=True)  # sample-for-sample convention
    np.testing.assert_allclose(markov(same_step, L), impulse, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(sys.poles(), same_step.poles())


def test_complex_modes_become_real_blocks():
    ad = SSMAdapter(3, 5, init="random", parametrization="modal", gate_init=1.0, seed=0)
    sys = to_state_space(ad)
    assert sys.A.dtype == np.float64
    poles = sys.poles()
    assert np.sum(np.abs(poles.imag) > 0) == 4 and np.all(np.abs(poles) < 1)


def test_from_state_space_round_trip_and_into_holder():
    src = SSMAdapter(5, 6, init="random", parametrization="modal", gate_init=0.3, seed=4).double()
    sys = to_state_space(src)
    h = Holder(5, 2).double()
    ad = from_state_space(h, sys)
    assert ad is h.hrm_ssm["default"] and ad.d_state == 6
    u = torch.randn(2, 15, 5, dtype=f64)
    torch.testing.assert_close(ad(u), src(u), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(markov(to_state_space(h), 30), markov(sys, 30), rtol=1e-9, atol=1e-13)


def test_from_reduced_system_reproduces_its_markov_parameters():
    full = to_state_space(SSMAdapter(6, 10, init="random", gate_init=1.0, seed=5))
    red, _ = reference_bt(full, 4)
    h = Holder(6, 10)
    from_state_space(h, red)  # float32 adapter
    assert rel(markov(to_state_space(h), 80), markov(red, 80)) < 1e-5


# ---------------------------------------------------------------------------- reduction
def test_reduce_adapters_equals_balanced_truncation_of_each_layer():
    net = tree(D=5, d=8)
    before = {n: to_state_space(layer) for n, layer in adapter_layers(net)}
    report = reduce_adapters(net, order=3)
    assert [r.layer for r in report] == list(before)
    for r, (name, layer) in zip(report, adapter_layers(net)):
        assert (r.order_before, r.order_after) == (8, 3)
        ref, hsv = reference_bt(before[name], 3)
        np.testing.assert_allclose(r.hsv, hsv, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(r.error_bound, 2 * hsv[3:].sum(), rtol=1e-6)
        after = to_state_space(layer)
        assert after.n == 3 and get_adapter(layer).parametrization == "modal"
        assert rel(markov(after, 100), markov(ref, 100)) < 1e-5
        assert rel(markov(after, 100), markov(r.system, 100)) < 1e-5
        # H-infinity error of the adapter (|z| = 1) within the bound, above sigma_{r+1}
        w = np.linspace(0, np.pi, 400)
        err = before[name].frequency_response(w) - after.frequency_response(w)
        peak = max(np.linalg.norm(e, 2) for e in err)
        assert hsv[3] * (1 - 1e-3) <= peak <= r.error_bound * (1 + 1e-3) + 1e-6
    assert report.parameters_after < report.parameters_before
    assert "layers.0" in str(report) and report.orders["extra"] == 3


def test_reduced_adapters_keep_the_fft_path_and_gate_and_train():
    net = tree(D=4, d=6, gate=0.5)
    reduce_adapters(net, order=2)
    ad = net["layers"][0].hrm_ssm["default"]
    assert float(ad.gate.detach()) == 0.5
    u = torch.randn(2, 12, 4)
    y = ad(u)
    A, B, C = ad.discrete_system(include_gate=True)
    from hankelid_torch.scan import sequential_scan

    torch.testing.assert_close(y, sequential_scan(A, B, C, u)[0], rtol=1e-5, atol=1e-6)
    y.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ad.parameters())


def test_reduce_with_tolerance_mapping_and_selection():
    net = tree(D=4, d=8)
    sys0 = to_state_space(net["layers"][0])
    _, hsv = reference_bt(sys0, 1)
    tol = 2 * hsv[4:].sum() * 1.0001  # order 4 meets it, order 3 does not
    report = reduce_adapters(net, tol=tol)
    assert report[0].order_after == 4 and report[0].error_bound <= tol
    net = tree(D=4, d=8)
    report = reduce_adapters(net, order={"layers.1": 2})
    assert [(r.layer, r.order_after) for r in report] == [("layers.1", 2)]
    assert net["layers"][0].hrm_ssm["default"].d_state == 8
    with pytest.raises(ValueError, match="order"):
        reduce_adapters(net)


def test_reduce_with_closed_gate_keeps_dynamics():
    h = Holder(4, 6, gate=0.0)
    ad = h.hrm_ssm["default"]
    A, B, C = (M.detach().double().numpy() for M in ad.discrete_system())
    ungated = hk.StateSpace(np.diag(A), B, C, dt=1.0)
    report = reduce_adapters(h, order=3)
    assert float(ad.gate.detach()) == 0.0 and report[0].error_bound == 0.0
    ref, _ = reference_bt(ungated, 3)
    assert rel(ad.kernel(60, include_gate=False).detach().double().numpy(), markov(ref, 61)[1:]) < 1e-5
    assert torch.equal(ad(torch.randn(1, 5, 4)), torch.zeros(1, 5, 4))


def test_reduce_with_empirical_gramians():
    net = tree(D=4, d=8)
    before = to_state_space(net["extra"])
    ref, hsv = reference_bt(before, 3)
    # impulse inputs over a horizon that covers the decay: the exact truncation
    report = reduce_adapters(net, order=3, gramians="empirical", inputs="impulse", length=8000)
    assert rel(markov(to_state_space(net["extra"]), 200), markov(ref, 200)) < 1e-6
    # Gaussian inputs: an estimate, its HSVs near the exact ones
    net = tree(D=4, d=8)
    report = reduce_adapters(net, order=3, gramians="empirical", inputs="gaussian", length=4000, seed=0)
    np.testing.assert_allclose(report[-1].hsv[:3], hsv[:3], rtol=0.15)
    assert report[-1].order_after == 3 and report[-1].reduction.gramians == "empirical"
    with pytest.raises(ValueError, match="empirical"):
        reduce_adapters(net, order=2, seed=0)  # estimator options need gramians="empirical"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_reduce_adapters_on_cuda_keeps_the_device():
    net = tree(D=4, d=6).cuda()
    before = {n: to_state_space(layer) for n, layer in adapter_layers(net)}
    reduce_adapters(net, order=3)
    for name, layer in adapter_layers(net):
        ad = get_adapter(layer)
        assert all(t.is_cuda for t in [*ad.parameters(), *ad.buffers()])
        ref, _ = reference_bt(before[name], 3)
        assert rel(markov(to_state_space(layer), 60), markov(ref, 60)) < 1e-5
        u = torch.randn(2, 9, 4, device="cuda", dtype=torch.bfloat16)
        y = ad(u, mask=torch.ones(2, 9, device="cuda"))
        assert y.is_cuda and y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()


# ---------------------------------------------------------------------------- PEFT model
def test_reduce_adapters_on_a_peft_mistral_saves_and_loads(tmp_path):
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    from hankelid_torch.hrm import HRMConfig

    cfg = transformers.MistralConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=32,
    )
    torch.manual_seed(0)
    config = HRMConfig(d_state=6, gate_init=0.5, seed=0)
    model = peft.get_peft_model(transformers.MistralForCausalLM(cfg), config)
    layers = adapter_layers(model)
    assert [n.rsplit(".", 3)[-3:] for n, _ in layers] == [["layers", "0", "mlp"], ["layers", "1", "mlp"]]
    before = {n: to_state_space(layer) for n, layer in layers}
    report = reduce_adapters(model, order=3)
    for r, (name, layer) in zip(report, adapter_layers(model)):
        ref, _ = reference_bt(before[name], 3)
        assert r.order_after == 3 and rel(markov(to_state_space(layer), 60), markov(ref, 60)) < 1e-5
    assert model.peft_config["default"].parametrization == "modal"
    ids = torch.randint(0, 32, (2, 9))
    with torch.no_grad():
        logits = model(ids).logits
    model.save_pretrained(tmp_path)
    torch.manual_seed(0)
    loaded = peft.PeftModel.from_pretrained(transformers.MistralForCausalLM(cfg), tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, logits, rtol=0, atol=0)
