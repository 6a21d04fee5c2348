"""The adapter's options object, its journey from HRMConfig to the core, and the two parametrizations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hankelid as hk
from hankelid_torch.adapter import SSMAdapter
from hankelid_torch.init import HankelInit, hankel_reduction, s4d_full_system
from hankelid_torch.options import HankelInitOptions
from hankelid_torch.parametrization import ModalParametrization, S4DParametrization, s4d_to_modal, s4d_zoh

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from hankelid_torch import HRMConfig  # noqa: E402


def _tiny_model():
    cfg = transformers.MistralConfig(
        hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, vocab_size=16,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.MistralForCausalLM(cfg)


def test_options_validate_with_the_public_keyword_names():
    for kwargs, name in [
        ({"gramians": "approximate"}, "hankel_gramians"),
        ({"length": 0}, "hankel_length"),
        ({"order": 2.5}, "hankel_order"),
        ({"n_trajectories": True}, "hankel_trajectories"),
    ]:
        with pytest.raises(ValueError, match=name):
            HankelInitOptions(**kwargs)
    with pytest.raises(TypeError, match="hankel_trajectoires"):
        HankelInitOptions.from_keywords(hankel_trajectoires=3)
    opts = HankelInitOptions(order=12)
    with pytest.raises(AttributeError):
        opts.order = 3  # frozen: one object is shared by every adapter


def test_the_config_carries_one_options_object_to_every_adapter_and_the_core():
    config = HRMConfig(
        d_state=3, init="hankel", hankel_order=10, hankel_gramians="empirical", hankel_length=64,
        hankel_trajectories=32, seed=1,
    )  # fmt: skip
    expected = HankelInitOptions(order=10, gramians="empirical", length=64, n_trajectories=32)
    assert config.hankel_options == expected
    model = peft.get_peft_model(_tiny_model(), config)
    infos = [m.hankel_info for m in model.modules() if isinstance(m, SSMAdapter)]
    assert len(infos) == 2
    for info in infos:
        assert info.settings == expected and info.full.n == 10
        # what reached the estimator: the core's spelling, the config's numbers
        assert info.options["n_trajectories"] == 32 and info.options["length"] == 64


def test_a_saved_config_of_the_old_form_loads(tmp_path):
    # adapter_config.json as written before HankelInitOptions existed (flat hankel_* fields)
    old = {
        "peft_type": "HRM", "task_type": None, "inference_mode": False, "d_state": 4, "site": "mlp",
        "target_modules": "(.*\\.)?layers\\.\\d+\\.mlp", "init": "hankel", "parametrization": None,
        "gate_init": 0.0, "dt_min": 0.001, "dt_max": 0.1, "hankel_order": 12, "hankel_gramians": "exact",
        "hankel_length": 256, "hankel_trajectories": 40, "d_state_pattern": {}, "seed": 3,
    }  # fmt: skip
    (tmp_path / "adapter_config.json").write_text(json.dumps(old))
    config = HRMConfig.from_pretrained(str(tmp_path))
    assert config.hankel_trajectories == 40 and config.hankel_order == 12
    assert config.hankel_options == HankelInitOptions(
        order=12, gramians="exact", length=256, n_trajectories=40
    )


def test_adapter_takes_the_options_object_or_the_keywords_not_both():
    a = SSMAdapter(6, 2, init="hankel", hankel=HankelInitOptions(gramians="exact", order=8), seed=0)
    b = SSMAdapter(6, 2, init="hankel", hankel_gramians="exact", hankel_order=8, seed=0)
    torch.testing.assert_close(a.kernel(20), b.kernel(20), rtol=0, atol=0)
    with pytest.raises(TypeError, match="not both"):
        SSMAdapter(6, 2, init="hankel", hankel=HankelInitOptions(), hankel_order=8)


def test_hankel_reduction_honours_the_order_and_checks_it():
    info = hankel_reduction(5, 4, 2, HankelInitOptions(order=7, gramians="exact"), seed=0)
    assert isinstance(info, HankelInit) and info.full.n == 7 and info.reduced.n == 2
    with pytest.raises(ValueError, match="hankel_order must be >= d_state"):
        hankel_reduction(5, 4, 3, HankelInitOptions(order=2, gramians="exact"))


def test_zero_order_hold_against_the_matrix_exponential():
    # ZOH of x' = a x + b u over dt: [[A_bar, B_bar], [0, 1]] = expm([[a, b], [0, 0]] dt)
    from scipy.linalg import expm

    log_a = torch.log(torch.tensor([0.3, 2.0, 7.0], dtype=torch.float64))
    dt = torch.tensor([0.05, 0.01, 0.2], dtype=torch.float64)
    log_dt = dt + torch.log(-torch.expm1(-dt))  # inverse softplus
    dta, scale = s4d_zoh(log_a, log_dt, 1e-3, 1.0)
    for j in range(3):
        a = -float(torch.exp(log_a[j]))
        M = expm(np.array([[a, 1.0], [0.0, 0.0]]) * float(dt[j]))
        assert np.isclose(np.exp(float(dta[j])), M[0, 0], rtol=1e-12)
        assert np.isclose(float(scale[j]), M[0, 1], rtol=1e-12)


def test_s4d_to_modal_is_the_full_system_and_both_parametrizations_agree():
    g = torch.Generator().manual_seed(4)
    full = s4d_full_system(3, 2, 5, generator=g)
    ad_s4d = SSMAdapter(3, 4, out_features=2, parametrization="s4d", seed=9, gate_init=1.0).double()
    ad_modal = SSMAdapter(3, 4, out_features=2, parametrization="modal", seed=9, gate_init=1.0).double()
    # same draws, two parametrizations: the same discrete system
    torch.testing.assert_close(ad_s4d.kernel(30), ad_modal.kernel(30), rtol=1e-6, atol=1e-7)
    modal = s4d_to_modal(ad_s4d.log_a, ad_s4d.log_dt, ad_s4d.B, ad_s4d.C, dt_min=1e-3, dt_max=1e-1)
    sys = hk.StateSpace(np.diag(modal.rho), modal.B, modal.C, dt=1.0)
    ref = hk.markov_parameters(sys, 31)[1:]
    assert np.allclose(ad_s4d.kernel(30).detach().numpy(), ref, rtol=1e-9, atol=1e-12)
    assert full.n == 5 and np.all(np.diag(full.A) > 0) and np.all(np.diag(full.A) < 1)
    assert S4DParametrization.partner(ad_s4d) is None
    assert torch.equal(ModalParametrization.partner(ad_modal), torch.arange(4))


def test_hrm_config_documented_hankel_defaults_are_the_options_defaults():
    # HRMConfig's docstring states its Hankel defaults as literals (for the API page); they must
    # stay the defaults of the one options object the config builds.
    from hankelid_torch import HRMConfig
    from hankelid_torch.options import HankelInitOptions

    config, options = HRMConfig(), HankelInitOptions()
    assert (config.hankel_gramians, config.hankel_length) == (options.gramians, options.length)
    assert (config.hankel_gramians, config.hankel_length) == ("horizon", 1024)
