r"""The bridge between trained HRM adapters and the NumPy core (`hankelid`).

* [`adapter_layers`][hankelid_torch.bridge.adapter_layers] -- every module of a model that holds HRM adapters.
* [`to_state_space`][hankelid_torch.bridge.to_state_space] -- an adapter as a discrete
  [`hankelid.StateSpace`][hankelid.systems.StateSpace] (float64).
* [`from_state_space`][hankelid_torch.bridge.from_state_space] -- load a discrete system into an adapter
  exactly.
* [`reduce_adapters`][hankelid_torch.bridge.reduce_adapters] -- the paper's two-phase use: train at full
  order, reduce every adapter by balanced truncation, keep training or evaluate.

The time convention
-------------------
The adapter reads its state after the current token entered it:

```text
s_t = A s_{t-1} + B u_t,        y_t = alpha C s_t,
```

so its output at token `t` depends on `u_t` (its kernel is `K_k = alpha C A^k B`,
`k >= 0`).  [`to_state_space`][hankelid_torch.bridge.to_state_space] returns, by default, the strictly proper
system `G = (A, B, alpha C, 0)` whose Markov parameters are `h_0 = 0`, `h_{k+1} = K_k`: the
adapter emits at token `t` what `G` emits at sample `t + 1` (a one-sample advance; the
adapter's transfer function is `z G(z)`).  Why this system and not the same-step one:

* its Hankel matrix `[h_{i+j+1}] = [K_{i+j}]` is the Hankel matrix of the adapter's kernel,
  so its Hankel singular values are the adapter's;
* `|z| = 1` on the unit circle, so `||z G - z G_r|| = ||G - G_r||` in H2 and H-infinity: the
  error bounds of a balanced truncation of `G` hold for the adapter's input-output map;
* every balanced truncation `G_r = (A_r, B_r, C_r, 0)` is again an adapter of order `r`
  (kernel `C_r A_r^k B_r`), loaded exactly -- whereas a truncation of the same-step
  realization keeps the full-rank feed-through `D = alpha C B`, which no adapter of order
  `r` can hold.

Pass `feedthrough=True` for the same-step realization `(A, B, alpha C A, alpha C B)` whose
Markov parameters are the adapter's impulse response sample for sample.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

import hankelid as hk

from .adapter import SSMAdapter
from .hrm.config import HRM_ADAPTER_ATTR

__all__ = [
    "AdapterReduction",
    "ReductionReport",
    "adapter_layers",
    "from_state_space",
    "get_adapter",
    "reduce_adapters",
    "to_state_space",
]


def _adapter_dict(layer: nn.Module) -> nn.ModuleDict | None:
    """The `HRM_ADAPTER_ATTR` ModuleDict of a PEFT layer, or `None`."""
    md = getattr(layer, HRM_ADAPTER_ATTR, None)
    return md if isinstance(md, nn.ModuleDict) else None


def adapter_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every module of `model` that holds HRM adapters, as `(qualified_name, module)`.

    A module qualifies if it has an `hrm_ssm` `torch.nn.ModuleDict` (the PEFT layer,
    adapters keyed by adapter name) or is a bare [`SSMAdapter`][hankelid_torch.adapter.SSMAdapter] not held by
    such a layer.

    Parameters
    ----------
    model : torch.nn.Module
        A PEFT model, a transformers model with HRM adapters loaded, or any module tree.

    Returns
    -------
    list of (str, torch.nn.Module)
        In the order of `model.named_modules()`.

    Examples
    --------
    >>> from torch import nn
    >>> from hankelid_torch.adapter import SSMAdapter
    >>> net = nn.Sequential(nn.Linear(4, 4), SSMAdapter(4, 2))
    >>> [name for name, _ in adapter_layers(net)]
    ['1']
    """
    out: list[tuple[str, nn.Module]] = []
    held: set[int] = set()
    for name, mod in model.named_modules():
        md = _adapter_dict(mod)
        if md is not None:
            out.append((name, mod))
            held.update(id(m) for m in md.values())
    for name, mod in model.named_modules():
        if isinstance(mod, SSMAdapter) and id(mod) not in held:
            out.append((name, mod))
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    out.sort(key=lambda item: order.get(item[0], math.inf))
    return out


def _active(layer: nn.Module) -> list[str]:
    act = getattr(layer, "active_adapters", None)
    if act is None:
        act = getattr(layer, "active_adapter", None)
    if act is None:
        return []
    if isinstance(act, str):
        return [act]
    return list(act)


def get_adapter(layer: nn.Module, adapter_name: str | None = None) -> SSMAdapter:
    """The [`SSMAdapter`][hankelid_torch.adapter.SSMAdapter] of `layer` named `adapter_name`.

    `layer` is an [`SSMAdapter`][hankelid_torch.adapter.SSMAdapter] or a module with an `hrm_ssm` ModuleDict.
    Without `adapter_name` the layer's only adapter, or its only active adapter, is used.

    Raises
    ------
    KeyError
        If `adapter_name` is not an adapter of the layer.
    ValueError
        If the choice is ambiguous.
    TypeError
        If `layer` holds no HRM adapter.
    """
    if isinstance(layer, SSMAdapter):
        return layer
    md = _adapter_dict(layer)
    if md is None:
        raise TypeError(f"{type(layer).__name__} holds no HRM adapter (no `{HRM_ADAPTER_ATTR}` ModuleDict)")
    if adapter_name is not None:
        if adapter_name not in md:
            raise KeyError(f"adapter {adapter_name!r} not in this layer (has {list(md.keys())})")
        return md[adapter_name]
    names = list(md.keys())
    if len(names) == 1:
        return md[names[0]]
    active = [a for a in _active(layer) if a in md]
    if len(active) == 1:
        return md[active[0]]
    raise ValueError(f"the layer holds adapters {names} (active: {active}); pass adapter_name=")


def to_state_space(
    layer: nn.Module, adapter_name: str | None = None, *, feedthrough: bool = False
) -> hk.StateSpace:
    r"""An HRM adapter as a discrete [`hankelid.StateSpace`][hankelid.systems.StateSpace] (`dt = 1`, float64).

    Input: the block input `u` (the MLP's input); output: the adapter's additive
    contribution `y`, gate included.  Complex-conjugate modes appear as real `2 x 2`
    blocks of `A`.

    Parameters
    ----------
    layer : SSMAdapter or a module with `hrm_ssm`
    adapter_name : str, optional
        Which adapter of the layer (see [`get_adapter`][hankelid_torch.bridge.get_adapter]).
    feedthrough : bool
        `False` (default): the strictly proper system `(A, B, alpha C, 0)`; its Markov
        parameters `h_{k+1}` are the adapter's impulse response `K_k` (the adapter emits at
        token `t` what this system emits at `t + 1`); this is the system that
        [`reduce_adapters`][hankelid_torch.bridge.reduce_adapters] balance-truncates, and any of its
        truncations loads back exactly.  `True`: the same-step realization `(A, B, alpha C A, alpha C B)`
        whose Markov parameters `h_k` equal `K_k`.

    Returns
    -------
    hankelid.StateSpace

    Examples
    --------
    >>> import numpy as np, torch, hankelid as hk
    >>> from hankelid_torch.adapter import SSMAdapter
    >>> ad = SSMAdapter(3, 4, gate_init=0.5, seed=0)
    >>> sys = to_state_space(ad)
    >>> sys.n, sys.shape, sys.dt
    (4, (3, 3), 1.0)
    >>> K = ad.kernel(8).double().detach().numpy()
    >>> bool(np.allclose(hk.markov_parameters(sys, 9)[1:], K, atol=1e-6))
    True
    """
    ad = get_adapter(layer, adapter_name)
    with torch.no_grad():
        A, B, C = ad.discrete_system(include_gate=True)
    A = A.detach().to(device="cpu", dtype=torch.float64).numpy()
    if A.ndim == 1:
        A = np.diag(A)
    B = B.detach().to(device="cpu", dtype=torch.float64).numpy()
    C = C.detach().to(device="cpu", dtype=torch.float64).numpy()
    if feedthrough:
        return hk.StateSpace(A, B, C @ A, C @ B, dt=1.0)
    return hk.StateSpace(A, B, C, None, dt=1.0)


def from_state_space(
    layer: nn.Module,
    sys: hk.StateSpace,
    adapter_name: str | None = None,
    *,
    gate: str | float = "keep",
) -> SSMAdapter:
    """Load the discrete system `sys` into an adapter exactly (see
    [`SSMAdapter.load_state_space`][hankelid_torch.adapter.SSMAdapter.load_state_space]).

    `sys` is read in [`to_state_space`][hankelid_torch.bridge.to_state_space]'s convention: a strictly proper
    `(A, B, C, 0)` gives the adapter kernel `markov_parameters(sys, L + 1)[1:]`; a same-step realization
    (`feedthrough=True`) is accepted too.  The adapter switches to the `"modal"`
    parametrization with `sys.n` states; its gate is kept (`gate="keep"`, `C` rescaled
    so that the loaded contribution is exactly `sys`) or set.

    Returns
    -------
    SSMAdapter
        The adapter that was loaded.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> from hankelid_torch.adapter import SSMAdapter
    >>> sys = hk.random_stable(5, 3, 3, dt=1.0, seed=0)     # real and complex poles
    >>> ad = from_state_space(SSMAdapter(3, 2, gate_init=1.0), sys)
    >>> ad.d_state, ad.parametrization
    (5, 'modal')
    >>> K = ad.kernel(20).double().detach().numpy()
    >>> bool(np.allclose(K, hk.markov_parameters(sys, 21)[1:], rtol=1e-5, atol=1e-6))
    True
    """
    ad = get_adapter(layer, adapter_name)
    return ad.load_state_space(sys, gate=gate)


# ---------------------------------------------------------------------------- reduction
@dataclass
class AdapterReduction:
    """One adapter's balanced truncation inside [`reduce_adapters`][hankelid_torch.bridge.reduce_adapters].

    `hsv` and `error_bound` are those of the layer's system (gate included); `system` is
    the reduced system that was loaded (in [`to_state_space`][hankelid_torch.bridge.to_state_space]'s
    convention) and `reduction` the [`hankelid.Reduction`][hankelid.truncation.Reduction] behind it.
    """

    layer: str
    adapter: str | None
    order_before: int
    order_after: int
    hsv: np.ndarray
    error_bound: float
    gate: float
    in_features: int = 0
    out_features: int = 0
    system: hk.StateSpace | None = field(repr=False, default=None)
    reduction: Any = field(repr=False, default=None)

    @property
    def parameters_before(self) -> int:
        return SSMAdapter.count_parameters(self.in_features, self.order_before, self.out_features)

    @property
    def parameters_after(self) -> int:
        return SSMAdapter.count_parameters(self.in_features, self.order_after, self.out_features)

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "adapter": self.adapter,
            "order_before": self.order_before,
            "order_after": self.order_after,
            "error_bound": self.error_bound,
            "gate": self.gate,
            "hsv": [float(x) for x in self.hsv],
        }


class ReductionReport(list):
    """The list of [`AdapterReduction`][hankelid_torch.bridge.AdapterReduction] returned by
    [`reduce_adapters`][hankelid_torch.bridge.reduce_adapters], printable as a table."""

    @property
    def orders(self) -> dict[str, int]:
        """`{layer (or layer/adapter): order_after}`."""
        return {_key(r): r.order_after for r in self}

    @property
    def parameters_before(self) -> int:
        """Trainable adapter parameters before the reduction."""
        return sum(r.parameters_before for r in self)

    @property
    def parameters_after(self) -> int:
        """Trainable adapter parameters after the reduction."""
        return sum(r.parameters_after for r in self)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self]

    def __str__(self) -> str:
        lines = [f"{'layer':<48} {'adapter':<10} {'order':>11} {'bound':>11} {'hsv[0]':>11}"]
        for r in self:
            lines.append(
                f"{r.layer:<48} {r.adapter or '-':<10} {r.order_before:>5} -> {r.order_after:<3} "
                f"{r.error_bound:>11.4g} {(r.hsv[0] if len(r.hsv) else float('nan')):>11.4g}"
            )
        return "\n".join(lines)


def _key(r: AdapterReduction) -> str:
    return r.layer if r.adapter is None else f"{r.layer}/{r.adapter}"


def reduce_adapters(
    model: nn.Module,
    order: int | Mapping[str, int] | None = None,
    tol: float | None = None,
    gramians: str = "exact",
    *,
    adapter_name: str | None = None,
    **estimator_options: Any,
) -> ReductionReport:
    r"""Reduce every HRM adapter of `model` by balanced truncation and load the result.

    For each adapter, the system of [`to_state_space`][hankelid_torch.bridge.to_state_space] (gate included)
    is reduced with [`hankelid.balanced_truncation`][hankelid.truncation.balanced_truncation] and loaded back
    exactly with [`from_state_space`][hankelid_torch.bridge.from_state_space] (modal parametrization, FFT scan
    kept, gate kept).  Afterwards `to_state_space(layer)` has the Markov parameters of the balanced truncation
    (to float32 rounding) and the adapter's H-infinity error obeys the reported bound.

    Parameters
    ----------
    model : nn.Module
        A PEFT model (or any module tree) holding HRM adapters.
    order : int or mapping, optional
        Reduced order (clipped to each adapter's order), or `{qualified layer name: order}`.
    tol : float, optional
        Error tolerance instead of an order: the smallest order whose bound
        `2 sum_{i > r} sigma_i` is `<= tol` (as
        [`hankelid.balanced_truncation`][hankelid.truncation.balanced_truncation]).
    gramians : {"exact", "empirical"}
        Exact Lyapunov Gramians, or empirical ones (`estimator_options` are passed on,
        e.g. `length`, `n_trajectories`, `seed`).
    adapter_name : str, optional
        Only this adapter of each layer (default: all of them).

    Returns
    -------
    ReductionReport
        One [`AdapterReduction`][hankelid_torch.bridge.AdapterReduction] per adapter: order before/after,
        HSVs, error bound.

    Examples
    --------
    >>> import numpy as np, hankelid as hk
    >>> from torch import nn
    >>> from hankelid_torch.adapter import SSMAdapter
    >>> net = nn.Sequential(SSMAdapter(4, 8, init="random", gate_init=0.5, seed=0))
    >>> full = to_state_space(net[0])
    >>> report = reduce_adapters(net, order=3)
    >>> report[0].order_before, report[0].order_after, net[0].d_state
    (8, 3, 3)
    >>> ref = hk.balanced_truncation(full, order=3).system
    >>> bool(np.allclose(hk.markov_parameters(to_state_space(net[0]), 50),
    ...                  hk.markov_parameters(ref, 50), atol=1e-5))
    True

    Notes
    -----
    The reduced parameters replace the old ones (new shapes): create the optimizer after
    reducing.  An adapter whose gate is exactly 0 contributes nothing; it is reduced without
    its gate (so its dynamics survive for later training) and reported with zero HSVs.
    """
    layers = _check_reduction_request(model, order, tol, adapter_name)
    report = ReductionReport()
    for lname, layer in layers:
        if isinstance(layer, SSMAdapter):
            items = [(None, layer)]
        else:
            items = [
                (k, m) for k, m in _adapter_dict(layer).items() if adapter_name is None or k == adapter_name
            ]
        for aname, ad in items:
            r = order.get(lname) if isinstance(order, Mapping) else order
            if isinstance(order, Mapping) and r is None and tol is None:
                continue
            n = ad.d_state
            g = float(ad.gate.detach().cpu())
            sys = to_state_space(ad)
            if g == 0.0:
                A, B, _ = (np.asarray(M) for M in sys.matrices[:3])
                with torch.no_grad():
                    C = ad.C.detach().to("cpu", torch.float64).numpy()
                sys = hk.StateSpace(A, B, C, None, dt=1.0)
            r_eff = None if r is None else min(int(r), n)
            tol_eff = tol if r_eff is None else None
            red = hk.balanced_truncation(sys, r_eff, tol=tol_eff, gramians=gramians, **estimator_options)
            reduced = red.system
            ad.load_state_space(reduced, gate="keep")
            hsv = np.asarray(red.hsv, dtype=float) * (0.0 if g == 0.0 else 1.0)
            bound = float(red.error_bound) * (0.0 if g == 0.0 else 1.0)
            entry = AdapterReduction(
                layer=lname,
                adapter=aname,
                order_before=n,
                order_after=ad.d_state,
                hsv=hsv,
                error_bound=bound,
                gate=g,
                in_features=ad.in_features,
                out_features=ad.out_features,
                system=reduced,
                reduction=red,
            )
            report.append(entry)
            _sync_layer_bookkeeping(layer, aname, ad.d_state)
    _sync_peft_config(model, report)
    return report


def _check_order_value(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer state count, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{what} must be >= 1, got {value}")
    return int(value)


def _check_reduction_request(
    model: nn.Module, order: Any, tol: Any, adapter_name: str | None
) -> list[tuple[str, nn.Module]]:
    """Validate everything `reduce_adapters` is asked before any adapter changes; return the layers."""
    if order is None and tol is None:
        raise ValueError("give an order or a tol")
    layers = adapter_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} holds no HRM adapters: nothing to reduce")
    if isinstance(order, Mapping):
        unknown = sorted(str(k) for k in order if k not in dict(layers))
        if unknown:
            raise KeyError(
                f"order names layers that hold no HRM adapter: {unknown}; layers: {[n for n, _ in layers]}"
            )
        for key, value in order.items():
            _check_order_value(value, f"order[{key!r}]")
    elif order is not None:
        _check_order_value(order, "order")
    if tol is not None:
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not math.isfinite(tol) or tol <= 0:
            raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    if adapter_name is not None:
        names = {k for _, layer in layers for k in _adapter_dict(layer) or {}}
        if adapter_name not in names:
            raise ValueError(f"no HRM adapter named {adapter_name!r}; the model has {sorted(names)}")
    return layers


def _sync_layer_bookkeeping(layer: nn.Module, adapter_name: str | None, order: int) -> None:
    # The PEFT layer records each adapter's state size next to the module (LoRA's `r` dict).
    sizes = getattr(layer, "d_state", None)
    if adapter_name is not None and isinstance(sizes, dict) and adapter_name in sizes:
        sizes[adapter_name] = order


def _sync_peft_config(model: nn.Module, report: ReductionReport) -> None:
    """Record the reduced orders in the PEFT config so that a saved model loads back.

    Each reduced layer gets its order in `d_state_pattern` (keyed by the block's name in the
    base model).  When every adapter of that name is modal now, the config switches to
    `parametrization="modal"`; after a partial reduction the reduced layers are recorded in
    `parametrization_pattern` instead, so a saved copy loads back layer by layer exactly.
    """
    configs = getattr(model, "peft_config", None)
    if not isinstance(configs, dict):
        return
    layers = dict(adapter_layers(model))
    for name in {r.adapter for r in report if r.adapter is not None}:
        cfg = configs.get(name)
        if cfg is None or not hasattr(cfg, "d_state_pattern"):
            continue
        # each reduced block under its name in the base model (the patterns' keys)
        reduced = {
            getattr(layers[r.layer], "block_key", None) or r.layer: r for r in report if r.adapter == name
        }
        for key, r in reduced.items():
            cfg.d_state_pattern[key] = r.order_after
        dicts = [md for md in map(_adapter_dict, layers.values()) if md is not None and name in md]
        kinds = {md[name].parametrization for md in dicts}
        if kinds == {"modal"}:
            cfg.parametrization = "modal"
            cfg.parametrization_pattern = {}
        else:  # a partial reduction: the reduced layers are modal, the others keep theirs
            cfg.parametrization_pattern.update(dict.fromkeys(reduced, "modal"))
