"""Hankel init from task data: recorded block inputs, the data-Gramian truncation, and its errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.linalg as sla

from .conftest import build_tiny_mistral

torch = pytest.importorskip("torch")
from peft import get_peft_model  # noqa: E402

import hankelid as hk  # noqa: E402
from hankelid_torch import HRMConfig, capture_adapter_inputs, hankel_init_from_data  # noqa: E402
from hankelid_torch.adapter import SSMAdapter  # noqa: E402
from hankelid_torch.bridge import adapter_layers, to_state_space  # noqa: E402


def _hankel_model(seed: int = 0, **kw):
    base = build_tiny_mistral(seed)
    cfg = HRMConfig(d_state=3, init="hankel", hankel_gramians="exact", gate_init=0.5, seed=seed, **kw)
    return base, get_peft_model(copy.deepcopy(base), cfg)


def _mlp_inputs(base, ids: torch.Tensor) -> list[torch.Tensor]:
    """Independent record: pre-hooks on the plain model's MLP blocks."""
    seen: list[torch.Tensor] = []
    handles = [
        layer.mlp.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().double()))
        for layer in base.model.layers
    ]
    with torch.no_grad():
        base(input_ids=ids)
    for h in handles:
        h.remove()
    return seen


def test_recorded_inputs_are_the_frozen_models_mlp_inputs() -> None:
    base, model = _hankel_model()
    ids = torch.randint(0, 64, (5, 12), generator=torch.Generator().manual_seed(1))
    recorded = capture_adapter_inputs(model, [ids[:3], {"input_ids": ids[3:]}])
    expected = _mlp_inputs(base, ids)
    assert len(recorded) == 2
    for got, want in zip(recorded.values(), expected):
        assert got.shape == (5, 12, 32) and got.dtype == torch.float64
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert all(not layer._disable_adapters for _, layer in adapter_layers(model))  # restored


def test_padded_positions_are_recorded_as_zero_input() -> None:
    _, model = _hankel_model()
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[0, 7:] = 0
    rec = next(iter(capture_adapter_inputs(model, [{"input_ids": ids, "attention_mask": mask}]).values()))
    assert torch.all(rec[0, 7:] == 0) and torch.all(rec[0, :7].abs().sum(-1) > 0)


def test_max_sequences_caps_the_record() -> None:
    _, model = _hankel_model()
    ids = torch.randint(0, 64, (4, 8))
    rec = capture_adapter_inputs(model, [ids, ids, ids], max_sequences=6)
    assert {tuple(v.shape) for v in rec.values()} == {(6, 8, 32)}


def _reference_truncation(full: hk.StateSpace, U: np.ndarray, order: int) -> np.ndarray:
    """Square-root balanced truncation by hand: stepped data Gramian, scipy Lyapunov observability."""
    A, B, C, _ = (np.asarray(M) for M in full.matrices)
    K, L, _ = U.shape
    Wc = np.zeros((full.n, full.n))
    for i in range(K):
        x = np.zeros(full.n)
        for k in range(L):
            x = A @ x + B @ U[i, k]
            Wc += np.outer(x, x)
    Wc /= K * L
    Wo = sla.solve_discrete_lyapunov(A.T, C.T @ C)
    lam, V = np.linalg.eigh(Wc)
    Lc = V * np.sqrt(np.clip(lam, 0, None))
    Lo = np.linalg.cholesky(Wo + 1e-300 * np.eye(full.n))
    Uo, s, Vt = np.linalg.svd(Lo.T @ Lc)
    T = Lc @ Vt[:order].T / np.sqrt(s[:order])
    Ti = (Uo[:, :order] / np.sqrt(s[:order])).T @ Lo.T
    red = hk.StateSpace(Ti @ A @ T, Ti @ B, C @ T, dt=1.0)
    return hk.markov_parameters(red, 20)[1:]


def test_data_init_loads_the_balanced_truncation_of_the_recorded_inputs() -> None:
    _, model = _hankel_model()
    ids = torch.randint(0, 64, (6, 16), generator=torch.Generator().manual_seed(3))
    gates = [float(a.gate.detach()) for _, layer in adapter_layers(model) for a in layer.hrm_ssm.values()]
    before = [to_state_space(layer) for _, layer in adapter_layers(model)]
    recorded = capture_adapter_inputs(model, [ids])
    inits = hankel_init_from_data(model, [ids])
    assert len(inits) == 2
    for (name, layer), old in zip(adapter_layers(model), before):
        adapter = layer.hrm_ssm["default"]
        info = adapter.hankel_info
        assert info.options["inputs"] == "data (6, 16, 32)" and np.isnan(info.error_bound)
        U = recorded[name].numpy()
        want = _reference_truncation(info.full, U, 3)
        got = to_state_space(layer)  # strictly proper, alpha C included
        np.testing.assert_allclose(
            hk.markov_parameters(got, 20)[1:] / 0.5, want, rtol=2e-4, atol=2e-5 * np.abs(want).max()
        )
        # the task's inputs change the truncation: not the white-noise (exact-Gramian) reduction
        assert not np.allclose(hk.markov_parameters(got, 20), hk.markov_parameters(old, 20), rtol=1e-2)
    assert [
        float(a.gate.detach()) for _, layer in adapter_layers(model) for a in layer.hrm_ssm.values()
    ] == gates


def test_data_init_errors_name_the_problem() -> None:
    base = build_tiny_mistral(0)
    s4d = get_peft_model(copy.deepcopy(base), HRMConfig(d_state=3))
    ids = torch.randint(0, 64, (2, 8))
    with pytest.raises(ValueError, match="no Hankel-initialized adapter"):
        hankel_init_from_data(s4d, [ids])
    with pytest.raises(ValueError, match="no HRM adapter layers"):
        capture_adapter_inputs(base, [ids])
    with pytest.raises(TypeError, match="input_ids"):
        capture_adapter_inputs(s4d, [[1, 2, 3]])
    with pytest.raises(ValueError, match="no sequences"):
        capture_adapter_inputs(s4d, [])
    with pytest.raises(ValueError, match="max_sequences"):
        capture_adapter_inputs(s4d, [ids], max_sequences=0)
    adapter = SSMAdapter(4, 2, init="hankel", hankel_gramians="exact", seed=0)
    with pytest.raises(ValueError, match=r"shape \(K, L, 4\)"):
        adapter.hankel_init_from_data(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="this adapter has none"):
        SSMAdapter(4, 2, parametrization="modal").hankel_init_from_data(
            np.zeros((1, 5, 4))
        )  # s4d init: no full system


@pytest.mark.parametrize("masked", [False, True])
def test_fused_block_output_equals_the_separate_sum(masked: bool) -> None:
    adapter = SSMAdapter(6, 3, out_features=5, init="random", gate_init=0.7, seed=1)
    u = torch.randn(2, 9, 6)
    base = torch.randn(2, 9, 5)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1, 1], [1] * 9]) if masked else None
    torch.testing.assert_close(adapter(u, mask=mask, base=base), base + adapter(u, mask=mask))
    low = base.to(torch.bfloat16)  # not fused: added in the block's dtype
    out = adapter(u, mask=mask, base=low)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, low + adapter(u, mask=mask).to(torch.bfloat16))
    with pytest.raises(ValueError, match=r"base must have shape \(2, 9, 5\)"):
        adapter(u, base=base[:, :4])
