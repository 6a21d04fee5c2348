r"""Combining HRM adapters: the exact weighted parallel connection of their state-space systems.

Each adapter of a block is a discrete LTI system \( G_i = (\bar A_i, \bar B_i, \alpha_i C_i, 0) \)
from the block input to its additive output ([`to_state_space`][hankelid_torch.to_state_space]).
A weighted sum of their outputs, \( y = \sum_i w_i\, y_i \), is again such a system: the
*parallel connection*

$$
\bar A = \operatorname{diag}(\bar A_1, \dots, \bar A_k), \quad
\bar B = \begin{bmatrix} \bar B_1 \\ \vdots \\ \bar B_k \end{bmatrix}, \quad
C = \begin{bmatrix} w_1 \alpha_1 C_1 & \cdots & w_k \alpha_k C_k \end{bmatrix},
$$

with a block-diagonal state of size \( \sum_i d_i \) (the weights sit on the outputs). Its
kernel is exactly \( \sum_i w_i K_i \) — something a weighted combination of LoRA factors can
only approximate. It can be balance-truncated back to a target order, with the usual bound
\( \|G - G_r\|_\infty \le 2 \sum_{j > r} \sigma_j \).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.linalg import block_diag

import hankelid as hk

__all__ = ["parallel_connection"]


def parallel_connection(systems: Sequence[hk.StateSpace], weights: Sequence[float]) -> hk.StateSpace:
    r"""The system whose output is \( \sum_i w_i y_i \) for systems \( y_i = G_i u \) on the same input.

    Parameters
    ----------
    systems : sequence of hankelid.StateSpace
        Discrete systems with equal sampling time and equal input and output counts.
    weights : sequence of float
        One finite weight per system.

    Returns
    -------
    hankelid.StateSpace
        Block-diagonal `A`, stacked `B`, `C = [w_1 C_1, ..., w_k C_k]`,
        `D = sum_i w_i D_i`.

    Raises
    ------
    ValueError
        If the lists are empty or of different lengths, a weight is not a finite number, or the
        systems differ in shape or sampling time.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> g1, g2 = hk.random_stable(3, 2, 2, dt=1.0, seed=0), hk.random_stable(2, 2, 2, dt=1.0, seed=1)
    >>> g = parallel_connection([g1, g2], [0.5, -2.0])
    >>> g.n
    5
    >>> ref = 0.5 * hk.markov_parameters(g1, 10) - 2.0 * hk.markov_parameters(g2, 10)
    >>> bool(np.allclose(hk.markov_parameters(g, 10), ref))
    True
    """
    systems, weights = list(systems), list(weights)
    if not systems:
        raise ValueError("parallel_connection needs at least one system")
    if len(weights) != len(systems):
        raise ValueError(f"got {len(systems)} systems but {len(weights)} weights")
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
            raise ValueError(f"weights[{i}] must be a finite number, got {w!r}")
    first = systems[0]
    for i, sys in enumerate(systems[1:], start=1):
        if sys.shape != first.shape or sys.dt != first.dt:
            raise ValueError(
                f"system {i} has shape {sys.shape} and dt={sys.dt}; "
                f"system 0 has shape {first.shape} and dt={first.dt}"
            )
    A = block_diag(*(s.A for s in systems))
    B = np.vstack([s.B for s in systems])
    C = np.hstack([float(w) * s.C for s, w in zip(systems, weights)])
    D = sum(float(w) * s.D for s, w in zip(systems, weights))
    return hk.StateSpace(A, B, C, D, dt=first.dt)


def check_weighted_request(
    existing: Sequence[str], adapters: Any, weights: Any, adapter_name: Any, combination_type: Any
) -> None:
    """Validate an `add_weighted_adapter` call before anything is created."""
    if combination_type not in ("parallel", "cat", "linear"):
        raise ValueError(
            f"combination_type={combination_type!r} is not supported by HRM adapters. Supported: 'parallel' "
            "(aliases 'cat', 'linear'), the exact weighted parallel connection of the adapters' systems "
            "(block-diagonal state, weights on the outputs; order= or tol= balance-truncate the sum). "
            "SVD- and TIES-style merges are LoRA weight-space operations with no SSM counterpart"
        )
    if isinstance(adapters, str) or not isinstance(adapters, Sequence) or not adapters:
        raise ValueError(f"adapters must be a non-empty list of adapter names, got {adapters!r}")
    missing = [a for a in adapters if a not in existing]
    if missing:
        raise ValueError(f"unknown adapters {missing}; the model has {sorted(existing)}")
    if (
        isinstance(weights, (str, bytes))
        or not isinstance(weights, Sequence)
        or len(weights) != len(adapters)
    ):
        raise ValueError(f"give one weight per adapter: {len(adapters)} adapters, weights={weights!r}")
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
            raise ValueError(f"weights[{i}] must be a finite number, got {w!r}")
    if not isinstance(adapter_name, str) or not adapter_name:
        raise ValueError(f"adapter_name must be a non-empty string, got {adapter_name!r}")
    if adapter_name in existing:
        raise ValueError(f"an adapter named {adapter_name!r} exists already; choose a new name")


def add_weighted_adapter(
    tuner: Any,
    adapters: Sequence[str],
    weights: Sequence[float],
    adapter_name: str,
    *,
    combination_type: str = "parallel",
    order: int | None = None,
    tol: float | None = None,
) -> Any:
    """What `HRMModel.add_weighted_adapter` does (see there), on the tuner `tuner`."""
    from .bridge import AdapterReduction, ReductionReport, to_state_space
    from .hrm.config import HRM_ADAPTER_ATTR
    from .hrm.layer import HRMLayer

    check_weighted_request(list(tuner.peft_config), adapters, weights, adapter_name, combination_type)
    if order is not None and tol is not None:
        raise ValueError("give either order or tol, not both")
    if order is not None and (
        isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1
    ):
        raise ValueError(f"order must be a positive integer, got {order!r}")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    plans = []
    for name, layer in tuner.model.named_modules():
        if not isinstance(layer, HRMLayer):
            continue
        held = [a for a in adapters if a in getattr(layer, HRM_ADAPTER_ATTR)]
        if not held:
            continue
        if len(held) != len(adapters):
            lacking = [a for a in adapters if a not in held]
            raise ValueError(
                f"block {layer.block_key!r} holds {held} but not {lacking}: the parallel connection "
                "needs every adapter at the same blocks"
            )
        full = parallel_connection([to_state_space(layer, a) for a in adapters], [float(w) for w in weights])
        reduced, red = full, None
        if order is not None or tol is not None:
            r = None if order is None else min(int(order), full.n)
            red = hk.balanced_truncation(full, r, tol=tol if r is None else None)
            reduced = red.system
        plans.append((name, layer, full, reduced, red))
    if not plans:
        raise ValueError(f"no block holds the adapters {list(adapters)}")

    source = tuner.peft_config[adapters[0]]
    config = type(source)(
        **{
            **{k: v for k, v in source.to_dict().items() if k not in ("peft_type", "peft_version")},
            # the combined adapter is a loaded system: modal, gate 1, one state size per block
            "init": "s4d",
            "parametrization": "modal",
            "parametrization_pattern": {},
            "gate_init": 1.0,
            "target_modules": sorted(layer.block_key for _, layer, *_ in plans),
            "exclude_modules": None,
            "layers_to_transform": None,
            "modules_to_save": None,
            "d_state": plans[0][3].n,
            "d_state_pattern": {layer.block_key: reduced.n for _, layer, _, reduced, _ in plans},
        }
    )
    tuner.peft_config[adapter_name] = config
    try:
        tuner.inject_adapter(tuner.model, adapter_name)
    except Exception:
        del tuner.peft_config[adapter_name]
        raise
    report = ReductionReport()
    for name, layer, full, reduced, red in plans:
        adapter = getattr(layer, HRM_ADAPTER_ATTR)[adapter_name]
        adapter.load_state_space(reduced, gate="one")
        adapter.requires_grad_(adapter_name in layer.active_adapters and not config.inference_mode)
        report.append(
            AdapterReduction(
                layer=name,
                adapter=adapter_name,
                order_before=full.n,
                order_after=reduced.n,
                hsv=np.asarray(red.hsv if red is not None else [], dtype=float),
                error_bound=float(red.error_bound) if red is not None else 0.0,
                gate=1.0,
                in_features=adapter.in_features,
                out_features=adapter.out_features,
                system=reduced,
                reduction=red,
            )
        )
    return report
