"""Markdown report with tables and plots from ``results.jsonl``.

Sections: results per task (trainable parameters and the metric's mean ± sample std over seeds,
before and after adaptation), paired comparisons of every method against a reference method on
matching (task, seed) cells (wins / losses, mean difference, sign-test and Wilcoxon p-values),
two-phase reduction results when present, and figures: metric vs T per task family with error bars,
training-loss curves, HRM gate alpha over training, and Hankel spectra of trained adapters.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .runner import RESULTS_FILE, read_records
from .stats import compare_paired, summarize

__all__ = ["majority_baseline", "paired_table", "results_table", "write_report"]


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
            + (f" (+{n_div} diverged) |" if n_div else " |")
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


def _baseline_table(records: list[dict[str, Any]], n: int) -> str | None:
    rows = {r["task"]: r for r in records if r["metric"] == "accuracy"}
    if not rows:
        return None
    lines = ["| task | majority-class accuracy (test set) |", "|---|---|"]
    for task, r in rows.items():
        lines.append(f"| {task} | {majority_baseline(r['family'], r['task_params'], n):.4f} |")
    return "\n".join(lines)


def _paired(records: list[dict[str, Any]], method: str, reference: str) -> tuple[list[float], list[float]]:
    by_cell = {
        (r["protocol"], r["task"], r["seed"], r["method"]): r["value"]
        for r in records
        if r["value"] is not None
    }
    a, b = [], []
    for (protocol, task, seed, m), value in sorted(by_cell.items()):
        other = by_cell.get((protocol, task, seed, reference))
        if m == method and other is not None:
            a.append(value)
            b.append(other)
    return a, b


def paired_table(records: list[dict[str, Any]], reference: str = "lora") -> str:
    """Markdown table of paired comparisons of each method against ``reference``.

    Rows are per task (pairs = seeds) and pooled over all tasks sharing a metric (pairs = task x
    seed). ``diff`` is mean(method - reference) in the metric's units; wins respect the metric's
    direction (lower bits per character wins).
    """
    lines = [
        f"| scope | method vs {reference} | pairs | wins | losses | ties | mean diff | sign p | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    scopes = [(task, rs) for (task,), rs in _group(records, "task").items()]
    scopes += [(f"all {metric} tasks", rs) for (metric,), rs in _group(records, "metric").items()]
    for scope, rs in scopes:
        higher = rs[0]["higher_is_better"]
        for method in dict.fromkeys(r["method"] for r in rs):
            if method == reference:
                continue
            a, b = _paired(rs, method, reference)
            if not a:
                continue
            c = compare_paired(a, b, higher_is_better=higher)
            lines.append(
                f"| {scope} | {method} | {c.n} | {c.wins} | {c.losses} | {c.ties} | {c.mean_diff:+.4f} "
                f"| {c.sign_p:.3g} | {c.wilcoxon_p:.3g} |"
            )
    return "\n".join(lines)


def _reduction_table(records: list[dict[str, Any]]) -> str | None:
    rows = [r for r in records if r.get("reduced")]
    if not rows:
        return None
    lines = [
        "| task | method | order | full-order value | reduced value | after fine-tune | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for (task, method), rs in _group(rows, "task", "method").items():
        tuned = [r["reduced"]["finetuned_value"] for r in rs if "finetuned_value" in r["reduced"]]
        lines.append(
            f"| {task} | {method} | {rs[0]['reduced']['order']} | {_fmt([r['value'] for r in rs])} "
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


def write_report(
    run_dir: str | Path, *, reference: str = "lora", command: str | None = None, out: str | Path | None = None
) -> Path:
    """Write ``report.md`` and ``figures/*.png`` for the results in ``run_dir``.

    Parameters
    ----------
    run_dir : str or Path
        Directory holding ``results.jsonl`` (and ``config.json``).
    reference : str
        Method spec the paired comparisons are made against (``lora`` by default).
    command : str, optional
        The command that produced the results, quoted in the report (default: from config.json).
    out : str or Path, optional
        Report directory (default ``run_dir``).

    Returns
    -------
    Path
        The written ``report.md``.

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
    if command is None and meta.get("argv"):
        command = " ".join(["hankelid-bench", *meta["argv"][1:]])
    cfg = meta.get("config", {})
    parts = [
        f"# Results: {cfg.get('name', run_dir.name)}",
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"Protocol `{cfg.get('protocol', '?')}`; base model `{records[0]['base']}`; "
        f"{records[0]['steps']} steps, global batch {records[0]['batch_size']}; reference tier "
        f"LoRA r={cfg.get('reference_rank', '?')} on q,v "
        f"({records[0]['reference_params']:,} parameters). "
        "Values are test-set metrics, mean ± sample std over seeds; "
        "`before` is the same model before training.",
        "",
        "## Results",
        "",
        results_table(records),
        "",
        f"## Paired comparisons against `{reference}`",
        "",
        paired_table(records, reference),
    ]
    baseline = _baseline_table(records, int(cfg.get("train", {}).get("eval_samples", 256)))
    if baseline:
        parts += [
            "",
            "## Chance level",
            "",
            "A classifier that ignores the input entirely scores:",
            "",
            baseline,
        ]
    reduction = _reduction_table(records)
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
    figures += _plot_spectra(records, fig_dir)
    parts += ["", "## Figures", ""] + [f"![{name}](figures/{name})" for name in figures]
    path = out_dir / "report.md"
    path.write_text("\n".join(parts) + "\n")
    return path
