"""Re-derive the design problems of issue 17 from the committed results (docs/results/*/results.jsonl).

Prints one line per number that `docs/results/findings.md` quotes in "The first design and why it
was replaced", each computed here from the committed records or, for the DFA shortcut baselines,
exactly from the task generator's fixed test set. Run from the repository root:

    python scripts/design_review.py
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from hankelid_bench.baselines import shortcut_baselines
from hankelid_bench.runner import read_records
from hankelid_bench.stats import compare_paired, summarize
from hankelid_bench.tasks import make_task

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def _values(records, task, method):
    rs = sorted((r for r in records if r["task"] == task and r["method"] == method), key=lambda r: r["seed"])
    return [r["value"] for r in rs if r["value"] is not None], rs


def _paired(records, task, a, b, higher):
    va = {
        r["seed"]: r["value"]
        for r in records
        if r["task"] == task and r["method"] == a and r["value"] is not None
    }
    vb = {
        r["seed"]: r["value"]
        for r in records
        if r["task"] == task and r["method"] == b and r["value"] is not None
    }
    seeds = sorted(set(va) & set(vb))
    return compare_paired([va[s] for s in seeds], [vb[s] for s in seeds], higher_is_better=higher)


def site_confound() -> None:
    sites = read_records(RESULTS / "sites")
    task = "charlm(T=256)"
    gap = _paired(sites, task, "lora_mlp", "lora", higher=False)
    print(
        f"[site] sites/ {task}: LoRA-MLP - LoRA(q,v) = {gap.mean_diff:+.4f} bpc "
        f"(t 95% CI [{gap.t_ci[0]:+.4f}, {gap.t_ci[1]:+.4f}], {gap.n} seeds)"
    )
    main = read_records(RESULTS / "main")
    hl = _paired(main, task, "hrm:init=hankel", "lora", higher=False)
    print(f"[site] main/ {task}: HRM(MLP) - LoRA(q,v) = {hl.mean_diff:+.4f} bpc ({hl.n} seeds)")
    hm = _paired(sites, task, "hrm:init=hankel", "lora_mlp", higher=False)
    print(
        f"[site] sites/ {task}: HRM(MLP) - LoRA-MLP = {hm.mean_diff:+.4f} bpc, HRM better in {hm.wins}/{hm.n}"
    )
    _, rs = _values(sites, task, "lora_mlp")
    cfg = rs[0]["adapter_config"]
    rank = re.search(r"\br=(\d+)", cfg).group(1)
    print(
        f"[site] LoRA-MLP rank {rank}: {rs[0]['trainable_params']:,} parameters vs reference "
        f"{rs[0]['reference_params']:,} ({rs[0]['param_gap']:+.1%})"
    )


def length_extrapolation() -> None:
    main, order = read_records(RESULTS / "main"), read_records(RESULTS / "order")
    b256 = {r["value_before"] for r in main if r["task"] == "charlm(T=256)"}
    b128 = {r["value_before"] for r in order if r["task"] == "charlm(T=128)"}
    spec = json.loads((RESULTS / "main" / "config.json").read_text())["config"]["base"]
    print(
        f"[length] base pre-trained at {spec['seq_len']} tokens; bpc before adaptation: "
        f"T=256 {min(b256):.4f}, T=128 {min(b128):.4f}"
    )


def learning_rates() -> None:
    for name in ("main", "sites", "init", "order", "scratch", "scratch_long", "demo"):
        cfg = json.loads((RESULTS / name / "config.json").read_text())["config"]
        methods = sorted({r["method"] for r in read_records(RESULTS / name)})
        print(f"[lr] {name}: one rate {cfg['train']['lr']:g} for all {len(methods)} methods, no selection")


def dfa_shortcut() -> None:
    for T in (64, 128):
        base = shortcut_baselines(make_task("dfa", k=4, T=T), 256, lasts=(0, 4, 8))
        s = base["suffix"]
        print(
            f"[dfa] T={T} test set (256): table only {s[0]['accuracy']:.3f}, + last 4 "
            f"{s[4]['accuracy']:.3f}, + last 8 {s[8]['accuracy']:.3f}"
        )
    means = []
    for name in ("main", "sites", "init"):
        recs = read_records(RESULTS / name)
        groups = defaultdict(list)
        for r in recs:
            if r["family"] == "dfa" and r["value"] is not None:
                groups[(r["task"], r["method"])].append(r["value"])
        means += [np.mean(v) for v in groups.values()]
    print(f"[dfa] adaptation-protocol DFA means (main, sites, init): {min(means):.3f} - {max(means):.3f}")
    recs = read_records(RESULTS / "scratch_long")
    sl = [np.mean(_values(recs, "dfa(k=4,T=64)", m)[0]) for m in ("none", "hrm:init=hankel", "lora")]
    print(f"[dfa] scratch_long (3000 steps) DFA T=64 means: {min(sl):.3f} - {max(sl):.3f}")
    demo = read_records(RESULTS / "demo")
    v, _ = _values(demo, "dfa(k=4,T=32)", "hrm:init=hankel")
    s = summarize(v)
    print(f"[dfa] demo HRM on DFA T=32: {s.mean:.4f} ± {s.std:.4f} over {s.n} seeds (identical values)")


def parity() -> None:
    moved = []
    for name in ("main", "scratch", "scratch_long"):
        for r in read_records(RESULTS / name):
            if r["family"] == "parity" and r["value"] is not None:
                moved.append(abs(r["value"] - r["value_before"]))
    print(
        f"[parity] {len(moved)} parity cells: max |after - before| = {max(moved):.4f}; "
        f"{sum(m == 0 for m in moved)} end exactly where they started"
    )


def init_parametrization() -> None:
    recs = read_records(RESULTS / "sites")
    for method in ("hrm:init=hankel", "hrm:init=s4d", "hrm:init=random"):
        rs = [r for r in recs if r["method"] == method]
        if not rs:
            rs = [r for r in read_records(RESULTS / "main") if r["method"] == method]
        form = re.search(r"parametrization=(\w+|None)", rs[0]["adapter_config"]).group(1)
        # None: the adapter's default, which is tied to the init (modal for hankel, s4d otherwise)
        default = "modal" if "init=hankel" in method else "s4d"
        resolved = f"{default} (forced by the init)" if form == "None" else form
        print(f"[init] {method}: parametrization {resolved}")


def statistics() -> None:
    main = read_records(RESULTS / "main")
    a, b = [], []
    for task in ("dfa(k=4,T=64)", "dfa(k=4,T=128)", "parity(T=64)"):
        va = {r["seed"]: r["value"] for r in main if r["task"] == task and r["method"] == "hrm:init=hankel"}
        vb = {r["seed"]: r["value"] for r in main if r["task"] == task and r["method"] == "lora"}
        a += [va[s] for s in sorted(va)]
        b += [vb[s] for s in sorted(va)]
    c = compare_paired(a, b)
    print(
        f"[stats] main/ pooled accuracy HRM vs LoRA: {c.wins} wins, {c.losses} losses, {c.ties} ties, "
        f"sign p = {c.sign_p:.4f} (pools DFA T=128 and parity, where HRM or LoRA is a constant predictor)"
    )
    print("[stats] smallest two-sided sign-test p: n=5 -> 0.0625, n=3 -> 0.25")
    g = _paired(main, "charlm(T=256)", "hrm:init=hankel", "lora", higher=False)
    print(
        f"[stats] main/ charlm T=256 HRM - LoRA: {g.mean_diff:+.4f}, t 95% CI "
        f"[{g.t_ci[0]:+.4f}, {g.t_ci[1]:+.4f}], d_z {g.effect_size:+.1f} (n = {g.n}, one base model)"
    )


if __name__ == "__main__":
    site_confound()
    length_extrapolation()
    learning_rates()
    dfa_shortcut()
    parity()
    init_parametrization()
    statistics()
