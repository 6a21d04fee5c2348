"""Benchmark: the HRM adapter vs iso-parameter PEFT LoRA on one wide Mistral layer.

Usage::

    python benchmarks/bench_adapter.py            # full: L = 512, 2048, 8192, 32768
    python benchmarks/bench_adapter.py --quick    # small L, a minute on a laptop CPU
    python benchmarks/bench_adapter.py --device cuda

What is measured (batch 1, one decoder layer of a Mistral with hidden size 1024, intermediate
3584, 8 heads, 2 KV heads so ``v_proj`` is 1024 -> 256 as in Mistral-7B's grouped-query attention):

* **marginal forward+backward time and peak memory** of the HRM adapter (beside the MLP, default
  config, ``d_state`` chosen by :func:`hankelid_torch.match_parameters`) and of PEFT LoRA r=16 on
  ``q_proj``/``v_proj`` (the same trainable-parameter count within the shapes' granularity), in the
  same run. Marginal = adapted minus frozen base, with the input requiring grad (as inside a deep
  network, gradients flow through the layer). Two views:

  - *layer*: the whole decoder layer (a 1-layer ``MistralModel`` fed ``inputs_embeds``);
  - *sites*: only the modules the adapters wrap (LoRA: the wrapped ``q_proj`` and ``v_proj``; HRM:
    the wrapped MLP) minus their base modules. Attention's O(L²) cost is identical in the adapted
    and the base layer and cancels in the layer marginal, but on a busy CPU its noise swamps the
    difference at long L; the sites view measures the same marginal without it. At L = 32768 the
    layer view runs only on CUDA.

* **FFT scan vs the sequential recurrence** (forward+backward of the adapter's SSM path: the FFT
  path is ``SSMAdapter.forward``; the reference is :func:`hankelid_torch.scan.sequential_scan` on
  the same discrete system, a Python loop over time).
* **decoding step time vs context length**: after a prefill of L tokens, one token with the KV
  cache; the HRM adapter's own step (``SSMAdapter.step`` from the prefill state) and the marginal
  step time of the HRM layer over the base layer.

Timing: every variant is run interleaved with the others (A B C A B C ...) after a warm-up and the
median is reported (the marginal is the median of the per-round paired differences). Peak memory:
on CUDA ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` minus the memory
allocated before the step; on CPU the PyTorch profiler's memory timeline
(``torch.profiler.profile(profile_memory=True, record_shapes=True, with_stack=True)`` then
``export_memory_timeline(...json)``: the total size of live tensors over time, peak minus the value
at the start of the step). Results go to ``benchmarks/results/bench_adapter.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
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


def _time_once(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def interleaved_times(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Per-variant wall times, the variants interleaved round by round (drift hits all alike)."""
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


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated by ``fn`` above what was live before it (see the module docstring)."""
    if device.type == "cuda":
        _sync(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        _sync(device)
        return int(torch.cuda.max_memory_allocated(device) - start)
    from torch.profiler import ProfilerActivity, profile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
        ) as prof:
            fn()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "timeline.json")
            prof.export_memory_timeline(path, device="cpu")
            with open(path) as fh:
                _times, sizes = json.load(fh)
    totals = [sum(s) for s in sizes]
    return int(max(totals) - totals[0]) if totals else 0


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


def _layer_step(model: torch.nn.Module, x: torch.Tensor, g: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        x.grad = None
        _zero_grads(model)
        out = model(inputs_embeds=x, use_cache=False).last_hidden_state
        (out * g).sum().backward()

    return step


def _sites(model: torch.nn.Module) -> list[BaseTunerLayer]:
    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


def _sites_step(modules: list[torch.nn.Module], x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        x.grad = None
        _zero_grads(*modules)
        total = None
        for m in modules:
            y = m(x)
            s = (y * y).mean()
            total = s if total is None else total + s
        total.backward()

    return step


def _n_trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------
# benchmarks
# ---------------------------------------------------------------------------------------------


def bench_marginal(models, lengths, layer_lengths, device, dtype, repeats) -> list[dict]:
    base, lora, hrm, _ = models
    rows = []
    lora_sites, hrm_sites = _sites(lora), _sites(hrm)
    for L in lengths:
        torch.manual_seed(L)
        x = torch.randn(1, L, HIDDEN, device=device, dtype=dtype, requires_grad=True)
        g = torch.randn(1, L, HIDDEN, device=device, dtype=dtype)
        row: dict = {"L": L}
        # sites view
        fns = {
            "base_lora_sites": _sites_step([m.get_base_layer() for m in lora_sites], x),
            "lora_sites": _sites_step(lora_sites, x),
            "base_hrm_sites": _sites_step([m.get_base_layer() for m in hrm_sites], x),
            "hrm_sites": _sites_step(hrm_sites, x),
        }
        t = interleaved_times(fns, device, repeats)
        row["sites_time_s"] = {k: statistics.median(v) for k, v in t.items()}
        row["sites_marginal_s"] = {
            "lora": paired_marginal(t, "lora_sites", "base_lora_sites"),
            "hrm": paired_marginal(t, "hrm_sites", "base_hrm_sites"),
        }
        mem = {k: peak_memory(fn, device) for k, fn in fns.items()}
        row["sites_peak_bytes"] = mem
        row["sites_marginal_bytes"] = {
            "lora": mem["lora_sites"] - mem["base_lora_sites"],
            "hrm": mem["hrm_sites"] - mem["base_hrm_sites"],
        }
        # layer view
        if L in layer_lengths:
            fns = {
                "base": _layer_step(base, x, g),
                "lora": _layer_step(lora, x, g),
                "hrm": _layer_step(hrm, x, g),
            }
            t = interleaved_times(fns, device, repeats)
            row["layer_time_s"] = {k: statistics.median(v) for k, v in t.items()}
            row["layer_marginal_s"] = {
                "lora": paired_marginal(t, "lora", "base"),
                "hrm": paired_marginal(t, "hrm", "base"),
            }
            mem = {k: peak_memory(fn, device) for k, fn in fns.items()}
            row["layer_peak_bytes"] = mem
            row["layer_marginal_bytes"] = {"lora": mem["lora"] - mem["base"], "hrm": mem["hrm"] - mem["base"]}
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
    return modal_fft_scan(v, kd, ko, adapter._partner())


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
            t = interleaved_times({"step": partial(adapter.step, u1, state)}, device, repeats * steps)
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
    return "—" if s is None else f"{1e3 * s:9.2f}"


def _fmt_mb(b: int | None) -> str:
    return "—" if b is None else f"{b / 2**20:9.1f}"


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
    print(f"Device: {result['device']} | threads {result['threads']} | dtype {result['dtype']}")
    for view in ("sites", "layer"):
        print(f"\nMarginal forward+backward, {view} view (adapted minus frozen base; ms, MiB)")
        print(
            f"{'L':>6} {'LoRA ms':>9} {'HRM ms':>9} {'HRM/LoRA':>8} "
            f"{'LoRA MiB':>9} {'HRM MiB':>9} {'HRM/LoRA':>8}"
        )
        for row in result["marginal"]:
            t = row.get(f"{view}_marginal_s")
            m = row.get(f"{view}_marginal_bytes")
            if t is None:
                continue
            print(
                f"{row['L']:>6} {_fmt_ms(t['lora'])} {_fmt_ms(t['hrm'])} {_ratio(t['hrm'], t['lora']):>8} "
                f"{_fmt_mb(m['lora'])} {_fmt_mb(m['hrm'])} {_ratio(m['hrm'], m['lora']):>8}"
            )
    print("\nFFT scan vs sequential recurrence (forward+backward; scan: the d-channel state recurrence")
    print("alone; adapter: the whole SSM path with its two D x d projections)")
    print(f"{'L':>6} {'view':>8} {'FFT ms':>9} {'seq ms':>10} {'speedup':>8} {'max rel diff':>13}")
    for row in result["scan"]:
        for view in ("scan", "adapter"):
            r = row[view]
            print(
                f"{row['L']:>6} {view:>8} {_fmt_ms(r['fft_s'])} {1e3 * r['sequential_s']:10.1f} "
                f"{r['speedup']:7.1f}x {r['max_rel_diff']:13.2e}"
            )
    print("\nDecoding step vs context length")
    print(f"{'L':>6} {'adapter step µs':>16} {'base layer ms':>14} {'HRM layer ms':>13} {'marginal ms':>12}")
    for row in result["decode"]:
        ls = row.get("layer_step_s") or {}
        print(
            f"{row['L']:>6} {1e6 * row['adapter_step_s']:16.1f} {_fmt_ms(ls.get('base')):>14} "
            f"{_fmt_ms(ls.get('hrm')):>13} {_fmt_ms(row.get('layer_marginal_step_s')):>12}"
        )
    print("\nTargets")
    for line in result["verdicts"]:
        print("  " + line)


def verdicts(result: dict) -> list[str]:
    out = []
    for view in ("sites", "layer"):
        rows = [r for r in result["marginal"] if f"{view}_marginal_s" in r]
        if not rows:
            continue
        tr = [r[f"{view}_marginal_s"]["hrm"] / r[f"{view}_marginal_s"]["lora"] for r in rows]
        mr = [r[f"{view}_marginal_bytes"]["hrm"] / max(r[f"{view}_marginal_bytes"]["lora"], 1) for r in rows]
        ok_t = all(0 <= x <= TARGETS["hrm_over_lora_time"] for x in tr)
        ok_m = all(x <= TARGETS["hrm_over_lora_memory"] for x in mr)
        out.append(
            f"[{'met' if ok_t else 'MISSED'}] {view}: HRM/LoRA marginal time <= 0.8 at every L: "
            + ", ".join(f"{x:.2f}" for x in tr)
        )
        out.append(
            f"[{'met' if ok_m else 'MISSED'}] {view}: HRM/LoRA marginal memory <= 1.2 at every L: "
            + ", ".join(f"{x:.2f}" for x in mr)
        )
    for view in ("scan", "adapter"):
        s2048 = [r[view]["speedup"] for r in result["scan"] if r["L"] == 2048]
        if s2048:
            ok = s2048[0] >= TARGETS["fft_speedup_at_2048"]
            out.append(
                f"[{'met' if ok else 'MISSED'}] {view}: FFT >= 20x sequential at L=2048: {s2048[0]:.1f}x"
            )
    steps = [r["adapter_step_s"] for r in result["decode"]]
    if len(steps) > 1:
        spread = max(steps) / min(steps)
        out.append(
            f"[{'met' if spread < 1.5 else 'MISSED'}] adapter decode step flat in L: max/min {spread:.2f}"
        )
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small L (smoke run)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per point")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.float32
    if args.quick:
        lengths, scan_lengths, decode_lengths = [128, 512, 2048], [128, 512, 2048], [128, 512, 2048]
        layer_lengths = [128, 512]
        repeats = args.repeats or 3
    else:
        lengths = [512, 2048, 8192, 32768]
        scan_lengths = [512, 2048, 8192]
        decode_lengths = [512, 2048, 8192, 32768]
        # on a CPU the O(L^2) attention of the layer view takes minutes per step beyond 2048 and its
        # noise swamps the adapters' marginal cost; the sites view covers every L
        layer_lengths = [512, 2048] + ([8192, 32768] if device.type == "cuda" else [])
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
    result["marginal"] = bench_marginal(models, lengths, layer_lengths, device, dtype, repeats)
    result["scan"] = bench_scan(models[2], scan_lengths, device, repeats)
    result["decode"] = bench_decode(models, decode_lengths, layer_lengths, device, dtype, repeats)
    result["verdicts"] = verdicts(result)
    result["wall_s"] = time.time() - t0
    print_tables(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
