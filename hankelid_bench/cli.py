"""`hankelid-bench`: run experiment grids, write reports, list what exists, run the demo.

Examples:

```text
hankelid-bench demo                                   # = make demo
hankelid-bench list
hankelid-bench run --config hankelid_bench/grids/main.toml --out runs/main
hankelid-bench run --tasks dfa:k=4,T=64 parity:T=64 --methods hrm lora dora ssmlora \\
    --seeds 0 1 2 --steps 300 --out runs/quick          # flags override the config file
torchrun --nproc_per_node 2 -m hankelid_bench.cli run ...   # DDP
hankelid-bench report runs/main --reference lora
hankelid-bench merge runs/main runs/main-part0 runs/main-part1     # a grid split over processes
hankelid-bench merge runs/sites runs/main --config sites            # reuse shared cells, then `run`
hankelid-bench longctx --format quality --data quality_dev.jsonl --base-model /models/mistral-7b
```
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _preset_dirs() -> list[Path]:
    # Presets ship inside the package (grids/); a grids/ folder in the working directory wins,
    # so a user can edit a copy without touching the installed one.
    return [Path.cwd() / "grids", Path(__file__).resolve().parent / "grids"]


def _find_config(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    for folder in _preset_dirs():
        if (folder / f"{name}.toml").is_file():
            return folder / f"{name}.toml"
    raise ValueError(f"config {name!r} is neither a file nor a preset in hankelid_bench/grids/")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:i] | mps (default auto)")
    p.add_argument("--cache-dir", default=None, help="base-model cache (default ~/.cache/hankelid)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: $OMP_NUM_THREADS, else 1)")


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is None and "OMP_NUM_THREADS" not in os.environ:
        # The harness's models are tiny and overhead-bound: extra intra-op threads mostly spin,
        # and on a shared CPU they slow every process down.
        threads = 1
    if threads is not None:
        if threads < 1:
            raise SystemExit("hankelid-bench: error: --threads must be positive")
        torch.set_num_threads(threads)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hankelid-bench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a grid of (task, method, seed) cells (resumable)")
    run.add_argument("--config", help="TOML file or preset name in hankelid_bench/grids/ (e.g. main)")
    run.add_argument("--out", help="output directory (default runs/<config name>)")
    run.add_argument("--tasks", nargs="+", help="task specs, e.g. dfa:k=4,T=64 charlm:T=256")
    run.add_argument("--methods", nargs="+", help="method specs, e.g. hrm hrm:init=s4d lora dora ssmlora")
    run.add_argument("--seeds", nargs="+", type=int)
    run.add_argument("--protocol", choices=["adapt", "scratch"])
    run.add_argument("--reference-rank", type=int, help="rank of the reference LoRA tier on q,v")
    run.add_argument("--steps", type=int, help="training steps per cell")
    run.add_argument("--batch-size", type=int, help="per-process batch size")
    run.add_argument("--lr", type=float)
    run.add_argument("--lr-grid", nargs="+", type=float, help="select each run's rate on the val split")
    run.add_argument("--gate-lr-grid", nargs="+", type=float, help="candidate rates of HRM gates")
    run.add_argument("--val-samples", type=int, help="validation samples for the rate selection")
    run.add_argument(
        "--lr-select",
        choices=["per_run", "first_seed"],
        help="select in every run, or in the first seed only",
    )
    run.add_argument("--base-seeds", nargs="+", type=int, help="pre-training seeds of the base model")
    run.add_argument("--eval-samples", type=int)
    run.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="auto = bf16 on CUDA")
    run.add_argument("--base-steps", type=int, help="pre-training steps of the default base model")
    run.add_argument("--base-model", help="local HuggingFace checkpoint to adapt instead")
    run.add_argument("--no-report", action="store_true", help="skip writing report.md")
    run.add_argument("--reference", default="lora", help="reference method of the paired comparisons")
    _add_common(run)

    rep = sub.add_parser("report", help="write report.md and figures from a run directory")
    rep.add_argument("run_dir")
    rep.add_argument("--reference", default="lora")
    rep.add_argument("--out", help="report directory (default: the run directory)")
    rep.add_argument("--command-line", help="command to quote in the report (default: the recorded one)")

    mrg = sub.add_parser(
        "merge",
        help="merge run directories (same settings required); --config keeps only that grid's cells",
    )
    mrg.add_argument("out", help="merged run directory (its own results are kept)")
    mrg.add_argument("sources", nargs="+", help="run directories to merge in")
    mrg.add_argument("--config", help="keep only the cells of this grid (TOML file or preset name)")

    sub.add_parser("list", help="list tasks, methods and preset configs")

    demo = sub.add_parser("demo", help="HRM vs iso-parameter LoRA on the embedded defaults (~5 min CPU)")
    demo.add_argument("--out", default="runs/demo")
    _add_common(demo)

    lc = sub.add_parser("longctx", help="evaluate a model on local QuALITY / QMSum / NarrativeQA files")
    lc.add_argument("--format", required=True, choices=["quality", "qmsum", "narrativeqa"])
    lc.add_argument("--data", required=True)
    lc.add_argument("--base-model", help="local checkpoint (default: the cached byte-level base model)")
    lc.add_argument("--limit", type=int, help="evaluate only the first N examples")
    lc.add_argument("--max-length", type=int, default=2048)
    _add_common(lc)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import ExperimentConfig, load_config
    from .report import write_report
    from .runner import run_experiment

    cfg = load_config(_find_config(args.config)) if args.config else ExperimentConfig(name="cli")
    cfg = cfg.replace(
        tasks=args.tasks,
        methods=args.methods,
        seeds=args.seeds,
        protocol=args.protocol,
        reference_rank=args.reference_rank,
        base_path=args.base_model,
        train_steps=args.steps,
        train_batch_size=args.batch_size,
        train_lr=args.lr,
        train_lr_grid=None if args.lr_grid is None else tuple(args.lr_grid),
        train_gate_lr_grid=None if args.gate_lr_grid is None else tuple(args.gate_lr_grid),
        train_val_samples=args.val_samples,
        train_lr_select=args.lr_select,
        base_seeds=args.base_seeds,
        train_eval_samples=args.eval_samples,
        train_precision=args.precision,
        base_steps=args.base_steps,
    )
    from .config import parse_spec
    from .methods import check_method

    for spec in cfg.methods:  # every method spec checked before the first cell trains
        check_method(*parse_spec(spec))
    out = Path(args.out or f"runs/{cfg.name}")
    run_experiment(cfg, out, device=args.device, cache_dir=args.cache_dir, progress=not args.no_progress)
    from .ddp import init_distributed

    if not args.no_report and init_distributed(args.device).is_main:
        print(f"report: {write_report(out, reference=args.reference)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(write_report(args.run_dir, reference=args.reference, command=args.command_line, out=args.out))
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from .config import load_config
    from .merge import merge_runs

    cfg = load_config(_find_config(args.config)) if args.config else None
    summary = merge_runs(args.out, args.sources, config=cfg)
    print(
        f"{args.out}: {summary['cells']} cells ({summary['added']} new"
        + (f", {summary['skipped']} outside the {cfg.name!r} grid left out" if cfg is not None else "")
        + ")"
    )
    return 0


def _cmd_list() -> int:
    from .methods import METHODS
    from .tasks import TASK_FAMILIES

    for name, cls in TASK_FAMILIES.items():
        print(f"task:    {name:<8} {cls.__doc__.splitlines()[0]}")
    print(
        "         spec examples: dfa:k=4,T=64  perm:n=5,T=64  lag:lag=160,T=252  parity:T=64  charlm:T=256"
        "  charlm:T=256,path=/data/enwik8"
    )
    print("methods: " + ", ".join(METHODS))
    print(
        "         options: hrm:init=s4d,parametrization=modal  hrm:reduce_to=8,finetune_steps=50  "
        "hrm:recipe=paper  hrm:recipe=paper,finetune=full  lora:rank=8  lora:lr_scale=2"
    )
    seen = set()
    for folder in _preset_dirs():
        for path in sorted(folder.glob("*.toml")):
            if path.name not in seen:
                seen.add(path.name)
                first = path.read_text().splitlines()[0].lstrip("# ")
                print(f"config:  {path.stem:<14} {first}")
    return 0


def _cmd_longctx(args: argparse.Namespace) -> int:
    from .base_model import BaseModelSpec, load_base_model
    from .longctx import evaluate_longctx, load_longctx
    from .train import resolve_device

    device = resolve_device(args.device)
    examples = load_longctx(args.data, args.format)[: args.limit]
    model, codec, name = load_base_model(
        BaseModelSpec(), path=args.base_model, cache_dir=args.cache_dir, progress=not args.no_progress
    )
    scores = evaluate_longctx(model.to(device), examples, codec, max_length=args.max_length, device=device)
    print(f"{name} on {args.data} ({args.format}): " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `hankelid-bench`; returns the exit status.

    Examples
    --------
    >>> main(["list"])  # doctest: +ELLIPSIS
    task:    dfa ...
    0
    """
    import warnings

    args = _parser().parse_args(argv)
    _set_threads(getattr(args, "threads", None))
    # transformers 5 deprecates a property PEFT still reads: one FutureWarning per wrapped model.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "merge":
            return _cmd_merge(args)
        if args.command == "list":
            return _cmd_list()
        if args.command == "demo":
            from .demo import run_demo

            run_demo(args.out, device=args.device, cache_dir=args.cache_dir, progress=not args.no_progress)
            return 0
        return _cmd_longctx(args)
    except ValueError as exc:
        print(f"hankelid-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: a short message and the shell's conventional status 128 + SIGINT, no traceback;
        # finished cells are on disk and a rerun resumes from them.
        print("hankelid-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
