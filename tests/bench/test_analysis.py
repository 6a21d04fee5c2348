"""Adapter analysis against the S4D-real parametrization's closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hankelid_bench.analysis import analyze_adapters, memory_length


def test_memory_length_closed_form():
    assert memory_length(math.exp(-0.25)) == pytest.approx(4.0)
    assert memory_length(0.0) == 0.0 and memory_length(1.5) == math.inf
    with pytest.raises(ValueError, match="rho"):
        memory_length(-0.1)


def test_analyze_s4d_adapters_closed_form():
    import peft

    from hankelid_bench.base_model import BaseModelSpec, build_model
    from hankelid_torch import HRMConfig, adapter_layers
    from hankelid_torch.bridge import get_adapter

    model = peft.get_peft_model(
        build_model(BaseModelSpec.tiny(layers=2)), HRMConfig(d_state=3, seed=0, gate_init=0.5)
    )
    rows = analyze_adapters(model, top=2)
    assert [r["layer"] for r in rows] == [name for name, _ in adapter_layers(model)]
    for row, (_, layer) in zip(rows, adapter_layers(model)):
        ad = get_adapter(layer)
        # S4D-real, zero-order hold: |a_bar| = exp(-exp(log_a) * clamp(softplus(log_dt))).
        dt = torch.nn.functional.softplus(ad.log_dt.double()).clamp(ad.dt_min, ad.dt_max)
        rho = float(torch.exp(-torch.exp(ad.log_a.double()) * dt).max())
        assert row["rho"] == pytest.approx(rho, rel=1e-5)
        assert row["memory"] == pytest.approx(-1 / np.log(rho), rel=1e-4)
        assert row["gate"] == pytest.approx(0.5)
        assert len(row["hsv"]) == 2 and row["hsv"][0] >= row["hsv"][1] > 0
