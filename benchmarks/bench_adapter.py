"""Benchmark: the HRM adapter vs iso-parameter PEFT LoRA on one wide Mistral layer.

Usage::

    python benchmarks/bench_adapter.py            # full: L = 512, 2048, 8192, 32768
    python benchmarks/bench_adapter.py --quick    # L <= 2048 (a few minutes on one CPU core)
    python benchmarks/bench_adapter.py --device cuda

Set-up: batch 1, one decoder layer of a Mistral with hidden size 1024, intermediate 3584, 8 heads
and 2 KV heads (so ``v_proj`` is 1024 -> 256, grouped-query attention as in Mistral-7B), float32.
LoRA: PEFT ``LoraConfig(r=16, target_modules=["q_proj", "v_proj"])``. HRM: the default
``HRMConfig`` (beside the MLP) with ``d_state`` from :func:`hankelid_torch.match_parameters`
(the same trainable count within the shapes' granularity ``2·1024 + 2``). Both adapters are made
non-trivial (LoRA ``B`` random, HRM gate 0.5) so that no work is skipped.

What is measured, all variants in the same run:

* **Marginal forward+backward time and peak memory** (input requiring grad, as inside a deep
  network: gradients flow through the layer). Two views:

  - *layer*: a 1-layer ``MistralModel`` fed ``inputs_embeds``, adapted minus the frozen base;
  - *sites*: only the modules the adapters wrap (LoRA: ``q_proj`` and ``v_proj``; HRM: the MLP)
    with their base block replaced by a nearly free stand-in (``x[..., :out] * 1``), minus the
    stand-ins alone. The base blocks cost the same with and without adapters; on a CPU their
    seconds of matmuls (and attention's O(L²)) bury a marginal cost of milliseconds in noise, so
    the sites view isolates the marginal *time* at every L. Its memory is not comparable between
    the two: the HRM site is a single block, so the adapter adds a second gradient path into its
    input and one ``L x D`` accumulation buffer that LoRA's two wrapped projections already have
    in the base; in the real layer both pay it alike, so memory is judged on the layer view.
    On a CPU the layer view is timed at L <= 2048 and its memory is measured at 8192 too; on CUDA
    it covers every L.

* **FFT scan vs the sequential recurrence** (forward+backward): the state recurrence alone on the
  ``d`` projected channels (FFT: the adapter's kernel and ``modal_fft_scan``; sequential:
  :func:`hankelid_torch.scan.sequential_scan`), and the whole SSM path ``u -> alpha C s`` including
  the two ``D x d`` projections both share (FFT: ``SSMAdapter.forward``).
* **Decoding step vs context length**: the adapter's ``step`` from the state a prefill of L tokens
  left, and one cached decoding step of the HRM layer minus the base layer.

Timing: variants interleaved round by round (A B C A B C ...) after a warm-up; the median per
variant and, for marginals, the median of the per-round paired differences. On a CPU the default
is one torch thread and the process CPU-time clock (``time.process_time``), which a busy shared
machine disturbs far less than wall time (``--clock wall`` to change); on CUDA wall time with
synchronization. Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``, minus the memory allocated before the step; on a CPU the PyTorch
profiler with ``profile_memory=True`` records every allocation and free with the CPU allocator's
running total (``total_allocated``); the peak of that total above its value before the step is the
CPU analogue of ``max_memory_allocated``. Gradients are cleared before each measured step.
Results: ``benchmarks/results/bench_adapter.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.tuners_utils import BaseTunerLayer
from transformers import MistralConfig, MistralModel

import hankelid_torch as ht
from hankelid_torch.adapter import SSMAdapter
from hankelid_torch.params import ParameterMatch
from hankelid_torch.scan import modal_fft_scan, sequential_scan

RESULTS = Path(__file__).resolve().parent / "results" / "bench_adapter.json"
HIDDEN = 1024

TARGETS = {
    "hrm_over_lora_time": 0.8,
    "fft_speedup_at_2048": 20.0,
    "hrm_over_lora_memory": 1.2,
}


# ---------------------------------------------------------------------------------------------
# measurement helpers
# ---------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_CLOCK: Callable[[], float] = time.perf_counter


def _time_once(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = _CLOCK()
    fn()
    _sync(device)
    return _CLOCK() - t0


def interleaved_times(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Per-variant times, the variants interleaved round by round (drift hits all alike)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_time_once(fn, device))
    return times


def paired_marginal(times: dict[str, list[float]], name: str, base: str) -> float:
    """Median over rounds of (variant - base): the marginal cost, robust to slow drift."""
    return statistics.median(a - b for a, b in zip(times[name], times[base]))


def _cpu_allocator_peak(fn: Callable[[], object]) -> int:
    """Peak of the CPU allocator's ``total_allocated`` while ``fn`` runs, above its start value.

    The profiler (``profile_memory=True``) records every allocation and free with the allocator's
    running total; this is the CPU analogue of ``torch.cuda.max_memory_allocated``.
    """
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    events = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            extra = node.extra_fields
            events.append((node.start_time_ns, int(extra.alloc_size), int(extra.total_allocated)))
        stack.extend(node.children)
    if not events:
        return 0
    events.sort()
    start = events[0][2] - events[0][1]
    return max(total for _, _, total in events) - start


def peak_memory(fn: Callable[[], object], device: torch.device, reset: Callable[[], None]) -> int:
    """Peak bytes allocated by ``fn`` above what was live before it (see the module docstring)."""
    reset()
    if device.type == "cuda":
        _sync(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        _sync(device)
        return int(torch.cuda.max_memory_allocated(device) - start)
    return _cpu_allocator_peak(fn)


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------


def wide_layer_config() -> MistralConfig:
    return MistralConfig(
        vocab_size=128,
        hidden_size=HIDDEN,
        intermediate_size=3584,
        num_hidden_layers=1,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=65536,
        attn_implementation="sdpa",
    )


def build_models(device: torch.device, dtype: torch.dtype, seed: int = 0):
    """(base, lora, hrm, report): three copies of one layer, frozen base weights, same values."""
    torch.manual_seed(seed)
    base = MistralModel(wide_layer_config()).to(device=device, dtype=dtype).eval()
    base.requires_grad_(False)
    lora_config = LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"])
    hrm_config, report = ht.match_parameters(base, lora_config, return_report=True)
    lora = get_peft_model(copy.deepcopy(base), lora_config).eval()
    hrm = get_peft_model(copy.deepcopy(base), hrm_config).eval()
    # non-trivial adapters (a zero LoRA B or a zero gate would not change the cost, but be explicit)
    with torch.no_grad():
        for model in (lora, hrm):
            for name, p in model.named_parameters():
                if p.requires_grad and p.dim() == 0:
                    p.fill_(0.5)
                elif p.requires_grad and "lora_B" in name:
                    p.normal_(0.0, 0.01)
    return base, lora, hrm, report


def _zero_grads(*modules: torch.nn.Module) -> None:
    for m in modules:
        for p in m.parameters():
            p.grad = None


class _StandInBase(torch.nn.Module):
    """A nearly free replacement for a wrapped block (``x[..., :out] * 1``): its cost is the same
    with and without the adapter, so the difference is the adapter's marginal cost alone."""

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.out_features = out_features

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return x[..., : self.out_features] * 1.0


def _with_stand_in(site: BaseTunerLayer, out_features: int) -> torch.nn.Module:
    twin = copy.copy(site)  # shallow: shares the adapter parameters, own module dicts
    twin._modules = dict(site._modules)
    twin._modules["base_layer"] = _StandInBase(out_features)
    return twin


def _out_features(site: BaseTunerLayer) -> int:
    base = site.get_base_layer()
    return getattr(base, "out_features", None) or HIDDEN


class Step:
    """One forward+backward of ``modules`` on ``x`` (summed outputs, weighted by ``g``)."""

    def __init__(self, modules: list[torch.nn.Module], x: torch.Tensor, layer: bool = False) -> None:
        self.modules, self.x, self.layer = modules, x, layer
        self.g = {}

    def reset(self) -> None:
        self.x.grad = None
        _zero_grads(*self.modules)

    def __call__(self) -> None:
        self.reset()
        total = None
        for m in self.modules:
            if self.layer:
                y = m(inputs_embeds=self.x, use_cache=False).last_hidden_state
            else:
                y = m(self.x)
            if y.shape not in self.g:
                self.g[y.shape] = torch.randn(y.shape, device=y.device, dtype=y.dtype)
            s = (y * self.g[y.shape]).sum()
            total = s if total is None else total + s
        total.backward()


def _sites(model: torch.nn.Module) -> list[BaseTunerLayer]:
    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


def _n_trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------
# benchmarks
# ---------------------------------------------------------------------------------------------


def _measure(
    steps: dict[str, Step], pairs: dict[str, tuple[str, str]], device, repeats, timed: bool = True
) -> dict:
    out: dict = {}
    if timed:
        t = interleaved_times(steps, device, repeats)
        out["time_s"] = {k: statistics.median(v) for k, v in t.items()}
        out["marginal_s"] = {k: paired_marginal(t, a, b) for k, (a, b) in pairs.items()}
    mem = {k: peak_memory(step, device, step.reset) for k, step in steps.items()}
    out["peak_bytes"] = mem
    out["marginal_bytes"] = {k: mem[a] - mem[b] for k, (a, b) in pairs.items()}
    return out


def bench_marginal(
    models, lengths, layer_lengths, device, dtype, repeats, layer_memory_lengths=()
) -> list[dict]:
    base, lora, hrm, _ = models
    stand_ins = {}
    for name, model in (("lora", lora), ("hrm", hrm)):
        sites = _sites(model)
        stand_ins[name] = [_with_stand_in(m, _out_features(m)) for m in sites]
        stand_ins["base_" + name] = [_StandInBase(_out_features(m)) for m in sites]
    pairs = {"lora": ("lora", "base_lora"), "hrm": ("hrm", "base_hrm")}
    rows = []
    for L in lengths:
        torch.manual_seed(L)
        x = torch.randn(1, L, HIDDEN, device=device, dtype=dtype, requires_grad=True)
        row: dict = {"L": L}
        row["sites"] = _measure({k: Step(v, x) for k, v in stand_ins.items()}, pairs, device, repeats)
        if L in layer_lengths or L in layer_memory_lengths:
            steps = {k: Step([m], x, layer=True) for k, m in (("base", base), ("lora", lora), ("hrm", hrm))}
            pairs_layer = {"lora": ("lora", "base"), "hrm": ("hrm", "base")}
            row["layer"] = _measure(steps, pairs_layer, device, repeats, timed=L in layer_lengths)
        rows.append(row)
        _print_progress(f"marginal L={L}", row)
    return rows


def _first_adapter(model: torch.nn.Module) -> SSMAdapter:
    for m in model.modules():
        if isinstance(m, SSMAdapter):
            return m
    raise RuntimeError("no SSMAdapter found in the HRM model")


def bench_scan(hrm, lengths, device, repeats) -> list[dict]:
    """FFT scan vs the sequential recurrence on the same discrete system, forward+backward.

    Two views: ``scan`` is the state recurrence alone on the ``d`` projected channels
    (``v = B_bar u`` given; FFT: the adapter's kernel + ``modal_fft_scan``; sequential:
    :func:`sequential_scan` with identity input/output maps); ``adapter`` is the whole SSM path
    ``u -> alpha C s`` (FFT: ``SSMAdapter.forward``; sequential: ``sequential_scan`` on
    ``discrete_system(include_gate=True)``), whose two ``D x d`` projections both variants share.
    """
    adapter = _first_adapter(hrm)
    d = adapter.d_state
    rows = []
    for L in lengths:
        torch.manual_seed(L)
        u = torch.randn(1, L, adapter.in_features, device=device, requires_grad=True)
        g = torch.randn(1, L, adapter.out_features, device=device)
        v = torch.randn(1, L, d, device=device, requires_grad=True)
        gv = torch.randn(1, L, d, device=device)

        scan_fft = partial(_scan_fft, adapter, v)
        scan_seq = partial(_scan_sequential, adapter, v)
        adapter_fft = partial(adapter, u)
        adapter_seq = partial(_adapter_sequential, adapter, u)
        with torch.no_grad():
            errs = {
                "scan": _rel_diff(scan_fft(), scan_seq()),
                "adapter": _rel_diff(adapter_fft(), adapter_seq()),
            }
        reps = max(1, repeats if L <= 2048 else repeats // 2)
        fns = {
            "scan_fft": _fwd_bwd(adapter, scan_fft, v, gv),
            "scan_sequential": _fwd_bwd(adapter, scan_seq, v, gv),
            "adapter_fft": _fwd_bwd(adapter, adapter_fft, u, g),
            "adapter_sequential": _fwd_bwd(adapter, adapter_seq, u, g),
        }
        t = interleaved_times(fns, device, reps)
        row: dict = {"L": L, "d_state": d}
        for view in ("scan", "adapter"):
            fft_s = statistics.median(t[f"{view}_fft"])
            seq_s = statistics.median(t[f"{view}_sequential"])
            row[view] = {
                "fft_s": fft_s,
                "sequential_s": seq_s,
                "speedup": seq_s / fft_s,
                "max_rel_diff": errs[view],
            }
        rows.append(row)
        _print_progress(f"scan L={L}", row)
    return rows


def _scan_fft(adapter: SSMAdapter, v: torch.Tensor) -> torch.Tensor:
    kd, ko = adapter.state_kernel(v.shape[-2])
    partner = adapter.partner if adapter.parametrization == "modal" else None
    return modal_fft_scan(v, kd, ko, partner)


def _scan_sequential(adapter: SSMAdapter, v: torch.Tensor) -> torch.Tensor:
    A, _, _ = adapter.discrete_system()
    eye = torch.eye(adapter.d_state, device=v.device)
    return sequential_scan(A, eye, eye, v)[0]


def _adapter_sequential(adapter: SSMAdapter, u: torch.Tensor) -> torch.Tensor:
    A, B, C = adapter.discrete_system(include_gate=True)
    return sequential_scan(A, B, C, u)[0]


def _fwd_bwd(module: torch.nn.Module, fn: Callable[[], torch.Tensor], x: torch.Tensor, w: torch.Tensor):
    def step() -> None:
        x.grad = None
        _zero_grads(module)
        (fn() * w).sum().backward()

    return step


def _rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def bench_decode(models, lengths, layer_lengths, device, dtype, repeats, steps: int = 8) -> list[dict]:
    base, _lora, hrm, _ = models
    adapter = _first_adapter(hrm)
    rows = []
    for L in lengths:
        torch.manual_seed(L)
        row: dict = {"L": L}
        with torch.no_grad():
            u = torch.randn(1, L, adapter.in_features, device=device)
            _, state = adapter(u, return_state=True)
            u1 = torch.randn(1, 1, adapter.in_features, device=device)
            step = {"step": partial(adapter.step, u1, state)}
            t = interleaved_times(step, device, repeats=200, warmup=20)
            row["adapter_step_s"] = statistics.median(t["step"])
            if L in layer_lengths:
                ctx = torch.randn(1, L, HIDDEN, device=device, dtype=dtype)
                x1 = torch.randn(1, 1, HIDDEN, device=device, dtype=dtype)
                # one new token at position L per call; the cache grows by one per call (negligible)
                fns = {}
                for name, model in (("base", base), ("hrm", hrm)):
                    cache = model(inputs_embeds=ctx, use_cache=True).past_key_values
                    fns[name] = partial(model, inputs_embeds=x1, past_key_values=cache, use_cache=True)
                t = interleaved_times(fns, device, steps)
                row["layer_step_s"] = {k: statistics.median(v) for k, v in t.items()}
                row["layer_marginal_step_s"] = paired_marginal(t, "hrm", "base")
        rows.append(row)
        _print_progress(f"decode L={L}", row)
    return rows


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _print_progress(label: str, row: dict) -> None:
    print(f"  done {label}", file=sys.stderr, flush=True)


def _fmt_ms(s: float | None) -> str:
    return f"{'—':>9}" if s is None else f"{1e3 * s:9.2f}"


def _fmt_mb(b: int | None) -> str:
    return f"{'—':>9}" if b is None else f"{b / 2**20:9.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "    —"
    return f"{a / b:5.2f}x"


def print_tables(result: dict) -> None:
    rep = result["parameters"]
    print(
        f"\nParameters: LoRA r=16 q,v {rep['target']:,} | HRM d_state={rep['d_state']} {rep['achieved']:,} "
        f"({rep['deviation']:+.3%})"
    )
    print(
        f"Device: {result['device']} | threads {result['threads']} | clock {result['clock']} | "
        f"dtype {result['dtype']} | {result['repeats']} rounds"
    )
    titles = {
        "sites": "sites view: wrapped modules with a stand-in base, minus the stand-in alone",
        "layer": "layer view: whole decoder layer, adapted minus frozen base",
    }
    for view, title in titles.items():
        rows = [r for r in result["marginal"] if view in r]
        if not rows:
            continue
        print(f"\nMarginal forward+backward, {title}")
        print(
            f"{'L':>6} {'LoRA ms':>9} {'HRM ms':>9} {'HRM/LoRA':>8} "
            f"{'LoRA MiB':>9} {'HRM MiB':>9} {'HRM/LoRA':>8}"
        )
        for row in rows:
            t = row[view].get("marginal_s", {"lora": None, "hrm": None})
            m = row[view]["marginal_bytes"]
            print(
                f"{row['L']:>6} {_fmt_ms(t['lora'])} {_fmt_ms(t['hrm'])} {_ratio(t['hrm'], t['lora']):>8} "
                f"{_fmt_mb(m['lora'])} {_fmt_mb(m['hrm'])} {_ratio(m['hrm'], m['lora']):>8}"
            )
    print("\nFFT scan vs sequential recurrence, forward+backward (scan: the d-channel state recurrence")
    print("alone; adapter: the whole SSM path including its two D x d projections)")
    print(f"{'L':>6} {'view':>8} {'FFT ms':>9} {'seq ms':>10} {'speedup':>8} {'max rel diff':>13}")
    for row in result["scan"]:
        for view in ("scan", "adapter"):
            r = row[view]
            print(
                f"{row['L']:>6} {view:>8} {_fmt_ms(r['fft_s'])} {1e3 * r['sequential_s']:10.1f} "
                f"{r['speedup']:7.1f}x {r['max_rel_diff']:13.2e}"
            )
    print("\nDecoding step vs context length (one token after a prefill of L)")
    print(f"{'L':>6} {'adapter step us':>16} {'base layer ms':>14} {'HRM layer ms':>13} {'marginal ms':>12}")
    for row in result["decode"]:
        ls = row.get("layer_step_s") or {}
        print(
            f"{row['L']:>6} {1e6 * row['adapter_step_s']:16.1f} {_fmt_ms(ls.get('base')):>14} "
            f"{_fmt_ms(ls.get('hrm')):>13} {_fmt_ms(row.get('layer_marginal_step_s')):>12}"
        )
    print("\nTargets")
    for line in result["verdicts"]:
        print("  " + line)


def _ratios(rows: list[dict], view: str, key: str) -> list[float]:
    out = []
    for r in rows:
        if key not in r[view]:
            continue
        v = r[view][key]
        out.append(v["hrm"] / v["lora"] if v["lora"] > 0 else float("inf"))
    return out


def verdicts(result: dict) -> list[str]:
    """Target lines. Primary views: memory from the layer view (it includes how the adapter's input
    gradient merges with the block's); time from the layer view on CUDA and from the sites view on a
    CPU, where the layer view's noise exceeds the marginal cost. Other views are ``[info]``."""
    out = []
    time_view = "sites" if result["device"] == "cpu" else "layer"
    for view in ("sites", "layer"):
        rows = [r for r in result["marginal"] if view in r]
        for key, target, what, primary in (
            ("marginal_s", TARGETS["hrm_over_lora_time"], "time", view == time_view),
            ("marginal_bytes", TARGETS["hrm_over_lora_memory"], "memory", view == "layer"),
        ):
            ratios = _ratios(rows, view, key)
            if not ratios:
                continue
            ok = all(0 <= x <= target for x in ratios)
            tag = ("met" if ok else "MISSED") if primary else "info"
            lengths = [r["L"] for r in rows if key in r[view]]
            out.append(
                f"[{tag}] {view}: HRM/LoRA marginal {what} <= {target} at L={lengths}: "
                + ", ".join(f"{x:.2f}" for x in ratios)
            )
    for view in ("scan", "adapter"):
        s2048 = [r[view]["speedup"] for r in result["scan"] if r["L"] == 2048]
        if s2048:
            ok = s2048[0] >= TARGETS["fft_speedup_at_2048"]
            tag = ("met" if ok else "MISSED") if view == "scan" else "info"
            out.append(f"[{tag}] {view}: FFT >= 20x sequential at L=2048: {s2048[0]:.1f}x")
    steps = [r["adapter_step_s"] for r in result["decode"]]
    if len(steps) > 1:
        spread = max(steps) / min(steps)
        tag = "met" if spread < 1.5 else "MISSED"
        out.append(f"[{tag}] adapter decode step flat in L (max/min < 1.5): {spread:.2f}")
    marg = [r["layer_marginal_step_s"] for r in result["decode"] if "layer_marginal_step_s" in r]
    if marg:
        out.append("[info] HRM layer decode-step marginal (ms): " + ", ".join(f"{1e3 * x:.2f}" for x in marg))
    return out


def main(argv: list[str] | None = None) -> dict:
    global _CLOCK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small L (smoke run)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per point")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (CPU default: 1)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default=None,
        help="wall: perf_counter; cpu: process CPU time (default on CPU, robust on a shared machine)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    clock = args.clock or ("cpu" if device.type == "cpu" else "wall")
    _CLOCK = time.process_time if clock == "cpu" else time.perf_counter
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    dtype = torch.float32
    if args.quick:
        lengths, scan_lengths, decode_lengths = [512, 2048], [512, 2048], [512, 2048, 8192]
        layer_lengths, decode_layer_lengths, layer_memory_lengths = [512], [512], []
        repeats = args.repeats or 3
    else:
        lengths = [512, 2048, 8192, 32768]
        scan_lengths = [512, 2048, 8192]
        decode_lengths = [512, 2048, 8192, 32768]
        # on a CPU the O(L^2) attention of the layer view takes minutes per step beyond 2048 and its
        # noise swamps the adapters' marginal cost; the sites view covers every L
        layer_lengths = [512, 2048] + ([8192, 32768] if device.type == "cuda" else [])
        layer_memory_lengths = [8192] if device.type == "cpu" else []  # deterministic: one run each
        decode_layer_lengths = [512, 2048, 8192] + ([32768] if device.type == "cuda" else [])
        repeats = args.repeats or (10 if device.type == "cuda" else 5)

    t0 = time.time()
    models = build_models(device, dtype)
    report: ParameterMatch = models[3]
    result: dict = {
        "benchmark": "bench_adapter",
        "quick": bool(args.quick),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "clock": clock,
        "dtype": str(dtype).removeprefix("torch."),
        "repeats": repeats,
        "config": {"hidden_size": HIDDEN, "intermediate_size": 3584, "heads": 8, "kv_heads": 2, "batch": 1},
        "parameters": {
            "target": report.target,
            "achieved": report.achieved,
            "deviation": report.deviation,
            "d_state": report.d_state,
            "d_state_pattern": report.d_state_pattern,
            "lora_trainable": _n_trainable(models[1]),
            "hrm_trainable": _n_trainable(models[2]),
        },
        "targets": TARGETS,
    }
    result["marginal"] = bench_marginal(
        models, lengths, layer_lengths, device, dtype, repeats, layer_memory_lengths
    )
    result["scan"] = bench_scan(models[2], scan_lengths, device, repeats)
    result["decode"] = bench_decode(models, decode_lengths, decode_layer_lengths, device, dtype, repeats)
    result["verdicts"] = verdicts(result)
    result["wall_s"] = time.time() - t0
    print_tables(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
