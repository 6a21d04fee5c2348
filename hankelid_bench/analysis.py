"""Post-training analysis of HRM adapters: gates, eigenvalue spectra, memory length, Hankel spectra.

For each adapter layer the trained adapter is converted to a discrete state-space model with
[`hankelid_torch.to_state_space`][hankelid_torch.bridge.to_state_space] (MLP input -> the adapter's additive
output, gate included). Reported per layer: the gate alpha, the spectral radius `rho = max |eig(Ā)|`, the
effective memory length `-1 / ln(rho)` (steps for the slowest mode to decay by a factor e) and
the leading Hankel singular values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["analyze_adapters", "memory_length"]


def memory_length(rho: float) -> float:
    """Steps for a mode of magnitude `rho` to decay by a factor e: `-1 / ln(rho)`.

    Examples
    --------
    >>> round(memory_length(math.exp(-0.1)), 6)
    10.0
    >>> memory_length(1.0)
    inf
    """
    if not 0.0 <= rho or math.isnan(rho):
        raise ValueError(f"rho must be a non-negative number, got {rho}")
    if rho >= 1.0:
        return math.inf
    return 0.0 if rho == 0.0 else -1.0 / math.log(rho)


def analyze_adapters(model: torch.nn.Module, top: int = 16) -> list[dict[str, Any]]:
    """Per-layer analysis of every HRM adapter in `model` (`[]` if it has none).

    Parameters
    ----------
    model : torch.nn.Module
    top : int
        Number of leading Hankel singular values kept per layer.

    Returns
    -------
    list of dict
        `layer`, `gate`, `rho`, `memory`, `hsv` for each adapter layer.

    Examples
    --------
    >>> analyze_adapters(torch.nn.Linear(2, 2))
    []
    """
    import hankelid as hk
    from hankelid_torch import adapter_layers, to_state_space

    from .train import adapter_gates

    try:
        layers = adapter_layers(model)
    except (NotImplementedError, TypeError, ValueError):
        return []
    gates = adapter_gates(model)
    out = []
    for i, (name, layer) in enumerate(layers):
        sys = to_state_space(layer)
        poles = np.abs(np.linalg.eigvals(np.asarray(sys.A, dtype=float))) if sys.n else np.zeros(1)
        rho = float(poles.max())
        hsv = np.asarray(hk.hsv(sys), dtype=float)[:top] if rho < 1.0 else np.array([])
        out.append(
            {
                "layer": name,
                "gate": gates[i] if i < len(gates) else None,
                "rho": rho,
                "memory": memory_length(rho),
                "hsv": [float(v) for v in hsv],
            }
        )
    return out
