"""Markdown report with tables and plots from `results.jsonl`.

Sections: the base model (pre-training length, bits per character at that length and at every
evaluated T, loss curve), results per task (trainable parameters and the metric's mean ± sample std
over seeds, before and after adaptation; constant predictors flagged), the learning rates selected
on the validation split, the exact shortcut baselines of the automaton tasks beside chance and the
majority class, paired comparisons of every method against a reference method on matching (task,
base seed, seed) cells (mean difference with t and bootstrap 95 % CIs, effect size d_z, wins /
losses, sign-test and Wilcoxon p-values; pooled rows leave out tasks where either method is a
constant predictor), two-phase reduction results when present, and figures: metric vs T per task
family with error bars, training-loss curves, HRM gate alpha over training, Hankel spectra of
trained adapters and the base model's pre-training loss.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .runner import MERGED_KEY, RESULTS_FILE, read_base_quality, read_records
from .stats import compare_paired, summarize

__all__ = [
    "base_table",
    "constant_note",
    "lr_table",
    "majority_baseline",
    "paired_table",
    "reduction_table",
    "results_table",
    "shortcut_table",
    "write_report",
]


def _family_label(record: dict[str, Any]) -> str:
    params = {k: v for k, v in record["task_params"].items() if k != "T"}
    return record["family"] + (f"({','.join(f'{k}={v}' for k, v in params.items())})" if params else "")


def _group(records: Iterable[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[tuple(r[k] for k in keys)].append(r)
    return groups


def _fmt(values: list[float], digits: int = 4) -> str:
    s = summarize(values)
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f}"


def constant_note(records: list[dict[str, Any]]) -> str:
    """A warning for a group of runs that are (or look like) constant predictors, else `""`.

    Runs record `constant_predictor` (one class for every test sample); for older records
    without it, identical accuracies over two or more seeds are flagged as suspect.

    Examples
    --------
    >>> rec = dict(metric="accuracy", value=0.2656, constant_predictor=None)
    >>> constant_note([rec, rec])
    '⚠ identical over seeds (constant predictor?)'
    >>> constant_note([{**rec, "constant_predictor": True}, {**rec, "constant_predictor": False}])
    '⚠ constant predictor in 1/2 seeds'
    """
    flags = [r.get("constant_predictor") for r in records]
    n_const = sum(1 for f in flags if f)
    if n_const:
        return f"⚠ constant predictor in {n_const}/{len(records)} seeds"
    values = [r["value"] for r in records if r.get("value") is not None]
    if (
        all(f is None for f in flags)
        and records
        and records[0]["metric"] == "accuracy"
        and len(values) > 1
        and len(set(values)) == 1
    ):
        return "⚠ identical over seeds (constant predictor?)"
    return ""


def results_table(records: list[dict[str, Any]]) -> str:
    """Markdown table: one row per (protocol, task, method) with mean ± std over seeds.

    Examples
    --------
    >>> rec = dict(protocol="adapt", task="parity(T=4)", method="lora", metric="accuracy", seed=0,
    ...            trainable_params=10, param_gap=0.0, value=0.5, value_before=0.25, T=4)
    >>> print(results_table([rec, {**rec, "seed": 1, "value": 0.7}]).splitlines()[-1])
    | adapt | parity(T=4) | lora | 10 (+0.0%) | accuracy | 0.6000 ± 0.1414 | 0.2500 ± 0.0000 | 2 |
    """
    lines = [
        "| protocol | task | method | trainable (gap) | metric | after adaptation | before | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (protocol, task, method), all_rs in _group(records, "protocol", "task", "method").items():
        rs = [r for r in all_rs if r["value"] is not None] or all_rs
        n_div = len(all_rs) - len([r for r in all_rs if r["value"] is not None])
        if n_div == len(all_rs):
            lines.append(
                f"| {protocol} | {task} | {method} | {all_rs[0]['trainable_params']:,} "
                f"| {all_rs[0]['metric']} | diverged | - | 0 (+{n_div} diverged) |"
            )
            continue
        lines.append(
            f"| {protocol} | {task} | {method} | {rs[0]['trainable_params']:,} ({rs[0]['param_gap']:+.1%}) "
            f"| {rs[0]['metric']} | {_fmt([r['value'] for r in rs])} "
            f"| {_fmt([r['value_before'] for r in rs])} | {len(rs)}"
            + (f" (+{n_div} diverged)" if n_div else "")
            + (f" {note}" if (note := constant_note(rs)) else "")
            + " |"
        )
    return "\n".join(lines)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def lr_table(records: list[dict[str, Any]]) -> str | None:
    """Markdown table of the learning rates used per (task, method): selected rate -> number of runs.

    `None` when no run selected its rate (no grid).

    Examples
    --------
    >>> rec = dict(task="t", method="hrm", lr=0.01, gate_lr=0.03,
    ...            lr_selection={"candidates": [1, 2, 3, 4]})
    >>> print(lr_table([rec, rec]).splitlines()[-1])
    | t | hrm | 4 | 0.01 / 0.03 (x2) |
    """
    rows = [r for r in records if r.get("lr_selection")]
    if not rows:
        return None
    lines = [
        "| task | method | candidates | selected lr / gate lr (runs) |",
        "|---|---|---|---|",
    ]
    for (task, method), rs in _group(rows, "task", "method").items():
        counts: dict[str, int] = defaultdict(int)
        for r in rs:
            counts[
                _rate(r["lr"]) + (f" / {_rate(r['gate_lr'])}" if r.get("gate_lr") is not None else "")
            ] += 1
        chosen = ", ".join(f"{k} (x{v})" for k, v in sorted(counts.items()))
        n_cand = max(len(r["lr_selection"].get("candidates", [])) for r in rs)
        inherited = sum(1 for r in rs if "selected_on_seed" in r["lr_selection"])
        note = f" ({inherited} of {len(rs)} runs reuse their first seed's choice)" if inherited else ""
        lines.append(f"| {task} | {method} | {n_cand} | {chosen}{note} |")
    return "\n".join(lines)


def shortcut_table(records: list[dict[str, Any]], n: int) -> str | None:
    """Markdown table of chance, majority class and the exact shortcut baselines per accuracy task.

    The baselines ([`shortcut_baselines`][hankelid_bench.baselines.shortcut_baselines]) are the
    Bayes predictors that see the transition table and the last `j` symbols only, scored on the
    same fixed test set.
    """
    from .baselines import chance_level, shortcut_baselines
    from .tasks import make_task

    rows = {r["task"]: r for r in records if r["metric"] == "accuracy"}
    if not rows:
        return None
    lasts = (0, 1, 2, 4, 8)
    lines = [
        "| task | chance | majority class | table only | + last 1 | + last 2 | + last 4 | + last 8 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, r in rows.items():
        t = make_task(r["family"], **r["task_params"])
        n_task = int(r.get("eval_samples") or n)
        base = shortcut_baselines(t, n_task, lasts)
        cells = ["-"] * len(lasts)
        if base is not None:
            cells = [f"{base['suffix'][j]['accuracy']:.4f}" if j in base["suffix"] else "-" for j in lasts]
        majority = majority_baseline(r["family"], r["task_params"], n_task)
        lines.append(f"| {task} | {chance_level(t):.4f} | {majority:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def base_table(run_dir: str | Path) -> str | None:
    """Markdown table of the base models of a run (`base_quality.json`), or `None`."""
    rows = read_base_quality(run_dir)
    if not rows:
        return None
    lengths = sorted({int(k) for q in rows for k in q["bpc"]})
    lines = [
        "| base | pre-training seed | pre-trained at | sliding window | final pre-training loss | "
        + " | ".join(f"bpc T={T}" for T in lengths)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(lengths),
    ]
    for q in rows:
        loss = f"{q['history'][-1]['loss']:.4f}" if q.get("history") else "-"
        bpc = [f"{q['bpc'][str(T)]:.4f}" if str(T) in q["bpc"] else "-" for T in lengths]
        lines.append(
            f"| {q['base']} | {q['base_seed']} | {q.get('pretrain_seq_len') or '-'} "
            f"| {q.get('sliding_window') or 'none'} | {loss} | " + " | ".join(bpc) + " |"
        )
    return "\n".join(lines)


def majority_baseline(family: str, params: dict[str, Any], n: int) -> float:
    """Accuracy of always answering the most frequent label of the fixed test set.

    Examples
    --------
    >>> 0.5 <= majority_baseline("parity", {"T": 8}, 64) <= 1.0
    True
    """
    gold = _test_labels(family, params, n)
    return float(np.unique(gold, return_counts=True)[1].max() / gold.size)


def _test_labels(family: str, params: dict[str, Any], n: int) -> np.ndarray:
    """The answers (last target) of the fixed test set of a task."""
    from .tasks import make_task

    batches = make_task(family, **params).eval_batches("test", n, 256)
    return np.concatenate([b.targets[:, -1] for b in batches])


def _paired(records: list[dict[str, Any]], method: str, reference: str) -> tuple[list[float], list[float]]:
    by_cell = {
        (r["protocol"], r["task"], r.get("base_seed", 0), r["seed"], r["method"]): r["value"]
        for r in records
        if r["value"] is not None
    }
    a, b = [], []
    for (protocol, task, base_seed, seed, m), value in sorted(by_cell.items()):
        other = by_cell.get((protocol, task, base_seed, seed, reference))
        if m == method and other is not None:
            a.append(value)
            b.append(other)
    return a, b


def _ci(lo_hi: tuple[float, float]) -> str:
    lo, hi = lo_hi
    return "-" if lo != lo else f"[{lo:+.4f}, {hi:+.4f}]"


def paired_table(records: list[dict[str, Any]], reference: str = "lora") -> str:
    """Markdown table of paired comparisons of each method against `reference`.

    Rows are per task (pairs = base seeds x seeds) and pooled over the tasks sharing a metric
    (pairs = task x base seed x seed) — pooling leaves out every task where the method or the
    reference is flagged by [`constant_note`][hankelid_bench.report.constant_note] (a constant
    predictor's accuracy is a label frequency, not a result), and the row names the tasks left
    out. `diff` is mean(method - reference) in the metric's units with Student-t and
    percentile-bootstrap 95 % CIs; `d_z` the paired effect size; wins respect the metric's
    direction (lower bits per character wins).
    """
    lines = [
        f"| scope | method vs {reference} | pairs | mean diff | t 95% CI | bootstrap 95% CI | d_z "
        "| wins | losses | ties | sign p | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(scope: str, method: str, rs: list[dict[str, Any]], note: str = "") -> None:
        a, b = _paired(rs, method, reference)
        if not a:
            return
        c = compare_paired(a, b, higher_is_better=rs[0]["higher_is_better"])
        d_z = "-" if c.effect_size != c.effect_size else f"{c.effect_size:+.2f}"
        lines.append(
            f"| {scope}{note} | {method} | {c.n} | {c.mean_diff:+.4f} | {_ci(c.t_ci)} | {_ci(c.boot_ci)} "
            f"| {d_z} | {c.wins} | {c.losses} | {c.ties} | {c.sign_p:.3g} | {c.wilcoxon_p:.3g} |"
        )

    by_task = _group(records, "task")
    for (task,), rs in by_task.items():
        for method in dict.fromkeys(r["method"] for r in rs):
            if method != reference:
                row(task, method, rs)
    for (metric,), rs in _group(records, "metric").items():
        tasks = list(dict.fromkeys(r["task"] for r in rs))
        for method in dict.fromkeys(r["method"] for r in rs):
            if method == reference:
                continue
            kept, dropped = [], []
            for task in tasks:
                runs = by_task[(task,)]
                flagged = any(
                    constant_note([r for r in runs if r["method"] == m]) for m in (method, reference)
                )
                (dropped if flagged else kept).append(task)
            if len(kept) < 2:
                continue  # one task left: the pooled row would repeat the per-task one
            note = f" (without constant-predictor tasks: {', '.join(dropped)})" if dropped else ""
            row(f"all {metric} tasks", method, [r for r in rs if r["task"] in kept], note)
    return "\n".join(lines)


def _orders(rs: list[dict[str, Any]]) -> str:
    """The reduced orders of a group of runs: one number, a range, or per-adapter ranges."""
    values = []
    for r in rs:
        order = r["reduced"]["order"]
        values += list(order.values()) if isinstance(order, dict) else [order]
    lo, hi = min(values), max(values)
    text = str(lo) if lo == hi else f"{lo}-{hi}"
    return text + (" per adapter" if any(isinstance(r["reduced"]["order"], dict) for r in rs) else "")


def reduction_table(records: list[dict[str, Any]]) -> str | None:
    """Markdown table of the two-phase cells (train, balance-truncate, fine-tune), or None.

    `full order` is the model before the reduction, `reduced` right after it and `fine-tuned`
    after the last phase; `trainable` is the reduced adapter's count. Under `equal_steps` the
    cell's headline value is the fine-tuned one; otherwise it is the full-order one.

    Examples
    --------
    >>> rec = {"task": "t", "method": "hrm:reduce_to=2", "value": 0.45,   # equal_steps: the final value
    ...        "reduced": {"order": 2, "trainable_params": 10, "value": 0.4, "finetuned_value": 0.45,
    ...                    "full_order_value": 0.5}}
    >>> print(reduction_table([rec]).splitlines()[-1])
    | t | hrm:reduce_to=2 | 2 | 10 | 0.5000 ± 0.0000 | 0.4000 ± 0.0000 | 0.4500 ± 0.0000 | 1 |
    """
    rows = [r for r in records if r.get("reduced")]
    if not rows:
        return None
    lines = [
        "| task | method | order | trainable | full order | reduced | fine-tuned | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (task, method), rs in _group(rows, "task", "method").items():
        tuned = [r["reduced"]["finetuned_value"] for r in rs if "finetuned_value" in r["reduced"]]
        # Records before issue 17 lack full_order_value; their headline value is the full-order one.
        full = [r["reduced"].get("full_order_value", r["value"]) for r in rs]
        counts = sorted({r["reduced"]["trainable_params"] for r in rs if "trainable_params" in r["reduced"]})
        count = "-" if not counts else f"{counts[0]:,}" + (f"-{counts[-1]:,}" if len(counts) > 1 else "")
        lines.append(
            f"| {task} | {method} | {_orders(rs)} | {count} | {_fmt(full)} "
            f"| {_fmt([r['reduced']['value'] for r in rs])} | {_fmt(tuned) if tuned else '-'} | {len(rs)} |"
        )
    return "\n".join(lines)


def _plot_metric_vs_T(records: list[dict[str, Any]], fig_dir: Path, n_eval: int = 256) -> list[str]:
    import matplotlib.pyplot as plt

    names = []
    for (protocol, family), rs in _group(
        [{**r, "family_label": _family_label(r)} for r in records], "protocol", "family_label"
    ).items():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for (method,), ms in _group(rs, "method").items():
            Ts = sorted({r["T"] for r in ms})
            stats = [summarize([r["value"] for r in ms if r["T"] == T]) for T in Ts]
            ax.errorbar(
                Ts, [s.mean for s in stats], yerr=[s.std for s in stats], marker="o", capsize=3, label=method
            )
        if rs[0]["metric"] == "accuracy":
            _draw_baselines(ax, rs, n_eval)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("T")
        ax.set_ylabel(rs[0]["metric"])
        ax.set_title(f"{family} ({protocol}); mean ± std over seeds")
        ax.legend(fontsize=7)
        name = f"metric_vs_T_{protocol}_{family}".replace("(", "_").replace(")", "").replace(",", "_")
        name = name.replace("=", "") + ".png"
        fig.tight_layout()
        fig.savefig(fig_dir / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


def _draw_baselines(ax: Any, records: list[dict[str, Any]], n_eval: int) -> None:
    """Chance (uniform guess over the answers) and majority-class accuracy at each T."""
    by_T = {r["T"]: r for r in records}
    Ts = sorted(by_T)
    labels = [_test_labels(by_T[T]["family"], by_T[T]["task_params"], n_eval) for T in Ts]
    chance = [1.0 / np.unique(gold).size for gold in labels]
    majority = [np.unique(gold, return_counts=True)[1].max() / gold.size for gold in labels]
    ax.plot(Ts, chance, color="0.5", linestyle=":", label="chance (uniform guess)")
    ax.plot(Ts, majority, color="k", linestyle="--", label="majority class (input ignored)")


def _plot_curves(records: list[dict[str, Any]], fig_dir: Path, what: str) -> list[str]:
    import matplotlib.pyplot as plt

    names = []
    for (protocol, task), rs in _group(records, "protocol", "task").items():
        series = {}
        for (method,), ms in _group(rs, "method").items():
            hist = [r["history"] for r in ms if r["history"]]
            if what == "gates":
                hist = [h for h in hist if h[0]["gates"]]
            if not hist:
                continue
            steps = [h["step"] for h in hist[0]]
            if what == "loss":
                vals = np.array([[h["loss"] for h in run][: len(steps)] for run in hist])
            else:  # gates: mean |alpha| over layers
                vals = np.array([[np.mean(np.abs(h["gates"])) for h in run][: len(steps)] for run in hist])
            series[method] = (steps, vals.mean(axis=0), vals.std(axis=0))
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for method, (steps, mean, std) in series.items():
            ax.plot(steps, mean, label=method)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss" if what == "loss" else "mean |gate alpha| over layers")
        ax.set_title(f"{task} ({protocol})")
        ax.legend(fontsize=7)
        name = (
            f"{what}_{protocol}_{task}".replace("(", "_").replace(")", "").replace(",", "_").replace("=", "")
        )
        fig.tight_layout()
        fig.savefig(fig_dir / f"{name}.png", dpi=110)
        plt.close(fig)
        names.append(f"{name}.png")
    return names


def _plot_spectra(records: list[dict[str, Any]], fig_dir: Path) -> list[str]:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = [r for r in records if r.get("analysis")]
    if not rows:
        return []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for k, ((task, method), rs) in enumerate(_group(rows, "task", "method").items()):
        style = {"color": f"C{k % 10}", "label": f"{task} {method}"}
        for j, layer in enumerate(rs[0]["analysis"]):
            if layer["hsv"]:
                # One colour per (task, method); the legend names it once.
                ax1.semilogy(
                    np.arange(1, len(layer["hsv"]) + 1),
                    layer["hsv"],
                    marker=".",
                    **(style if j == 0 else {"color": style["color"]}),
                )
        rho = [layer["rho"] for r in rs for layer in r["analysis"]]
        mem = [np.nan if layer["memory"] is None else layer["memory"] for r in rs for layer in r["analysis"]]
        ax2.scatter(rho, mem, s=12, **style)
    ax1.set_xlabel("index")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_ylabel("Hankel singular value")
    ax1.set_title("trained adapters (first seed, every layer)")
    ax1.legend(fontsize=6)
    ax2.set_xlabel("spectral radius |a| max")
    # Radii crowd just below 1: few ticks, so their long labels do not overlap.
    ax2.xaxis.set_major_locator(MaxNLocator(4))
    ax2.set_ylabel("memory length -1/ln|a| (steps)")
    ax2.set_yscale("log")
    ax2.set_title("every layer, every seed")
    fig.tight_layout()
    fig.savefig(fig_dir / "adapter_spectra.png", dpi=110)
    plt.close(fig)
    return ["adapter_spectra.png"]


def _plot_pretraining(run_dir: Path, fig_dir: Path) -> list[str]:
    import matplotlib.pyplot as plt

    rows = [q for q in read_base_quality(run_dir) if q.get("history")]
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for q in rows:
        ax.plot([h["step"] for h in q["history"]], [h["loss"] for h in q["history"]], label=q["base"])
    ax.set_xlabel("pre-training step")
    ax.set_ylabel("training loss (nats per token)")
    ax.set_title("base-model pre-training")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(fig_dir / "base_pretraining.png", dpi=110)
    plt.close(fig)
    return ["base_pretraining.png"]


def _recorded_commands(meta: dict[str, Any]) -> list[str]:
    """The commands that produced a run directory: merged runs first, then the latest `run`."""
    commands = [m["command"] for m in meta.get(MERGED_KEY) or [] if m.get("command")]
    if meta.get("argv"):
        commands.append(" ".join(["hankelid-bench", *meta["argv"][1:]]))
    return commands


def _commands_line(commands: list[str]) -> str:
    if len(commands) <= 1:
        return f"Command: `{commands[0]}`" if commands else ""
    head = "Commands (cells merged with `hankelid-bench merge`, then completed by the last one):"
    return head + "\n\n" + "\n".join(f"- `{c}`" for c in commands)


def write_report(
    run_dir: str | Path, *, reference: str = "lora", command: str | None = None, out: str | Path | None = None
) -> Path:
    """Write `report.md` and `figures/*.png` for the results in `run_dir`.

    Parameters
    ----------
    run_dir : str or Path
        Directory holding `results.jsonl` (and `config.json`).
    reference : str
        Method spec the paired comparisons are made against (`lora` by default).
    command : str, optional
        The command that produced the results, quoted in the report (default: from config.json).
    out : str or Path, optional
        Report directory (default `run_dir`).

    Returns
    -------
    Path
        The written `report.md`.

    Raises
    ------
    ValueError
        If there are no results.
    """
    import matplotlib

    matplotlib.use("Agg")
    run_dir = Path(run_dir)
    records = read_records(run_dir)
    if not records:
        raise ValueError(f"no results in {run_dir / RESULTS_FILE}")
    out_dir = Path(out) if out is not None else run_dir
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    meta_path = run_dir / "config.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    commands = [command] if command is not None else _recorded_commands(meta)
    cfg = meta.get("config", {})
    n_eval = int(cfg.get("train", {}).get("eval_samples", 256))
    bases = sorted({r["base"] for r in records})
    parts = [
        f"# Results: {cfg.get('name', run_dir.name)}",
        "",
        _commands_line(commands),
        "",
        f"Protocol `{cfg.get('protocol', '?')}`; base model{'s' if len(bases) > 1 else ''} "
        + ", ".join(f"`{b}`" for b in bases)
        + f"; {records[0]['steps']} steps, global batch {records[0]['batch_size']}; reference tier "
        f"LoRA r={cfg.get('reference_rank', '?')} on q,v "
        f"({records[0]['reference_params']:,} parameters). "
        "Values are test-set metrics, mean ± sample std over seeds (and base seeds); "
        "`before` is the same model before training.",
    ]
    base = base_table(run_dir)
    if base:
        parts += [
            "",
            "## Base model",
            "",
            "Bits per character of the frozen base on the character-LM test split at its pre-training "
            "length and at every evaluated T (a large rise beyond the pre-training length means the "
            "task measures length extrapolation):",
            "",
            base,
        ]
    parts += ["", "## Results", "", results_table(records)]
    lrs = lr_table(records)
    if lrs:
        parts += [
            "",
            "## Learning rates selected on the validation split",
            "",
            "Each run trained every candidate from the same initial adapter and kept the best "
            "validation score; the test values above are at the selected rate.",
            "",
            lrs,
        ]
    shortcuts = shortcut_table(records, n_eval)
    if shortcuts:
        parts += [
            "",
            "## Chance, majority class and shortcut baselines",
            "",
            "What a predictor scores on the same test set without tracking state: guessing, always "
            "answering the most frequent label, and the exact Bayes predictor that sees the "
            "transition table and only the last j symbols (automaton tasks; `-` elsewhere). An "
            "accuracy at or below the table-only column shows no state tracking.",
            "",
            shortcuts,
        ]
    parts += ["", f"## Paired comparisons against `{reference}`", "", paired_table(records, reference)]
    reduction = reduction_table(records)
    if reduction:
        parts += [
            "",
            "## Two-phase: train, reduce by balanced truncation, evaluate / fine-tune",
            "",
            reduction,
        ]
    finished = [r for r in records if r["value"] is not None]
    figures = _plot_metric_vs_T(finished, fig_dir, int(cfg.get("train", {}).get("eval_samples", 256)))
    figures += _plot_curves(records, fig_dir, "loss") + _plot_curves(records, fig_dir, "gates")
    figures += _plot_spectra(records, fig_dir) + _plot_pretraining(run_dir, fig_dir)
    parts += ["", "## Figures", ""] + [f"![{name}](figures/{name})" for name in figures]
    path = out_dir / "report.md"
    path.write_text("\n".join(parts) + "\n")
    return path
