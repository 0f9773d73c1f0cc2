"""Command line: ``python -m diffaug_lessons train|reproduce|reference|recipe|runs``.

Examples::

    python -m diffaug_lessons train --strategy diffaugment --n-train 100 --steps 3000
    python -m diffaug_lessons reproduce --out report/ --seeds 3
    python -m diffaug_lessons reference --preset cpu
    python -m diffaug_lessons recipe --dataset digits
    python -m diffaug_lessons runs
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .train import PRESETS, TrainConfig, lesson_config


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One --option per TrainConfig field, with the field's type and default in --help."""
    parser.add_argument("--preset", choices=PRESETS, help="start from this preset (default: from the device)")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        kind = str(field.type)
        if "bool" in kind:
            parser.add_argument(flag, type=_parse_bool, metavar="{true,false}", help=f"default {default}")
        elif "tuple" in kind:
            parser.add_argument(flag, type=float, nargs=2, help=f"default {default}")
        elif "int" in kind and "float" not in kind:
            parser.add_argument(flag, type=_optional(int), help=f"default {default}")
        elif "float" in kind:
            parser.add_argument(flag, type=_optional(float), help=f"default {default}")
        else:
            parser.add_argument(flag, help=f"default {default!r}")


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false")


def _optional(kind: type) -> Any:
    def parse(text: str) -> Any:
        if text.lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__} (or none)") from error

    return parse


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the options describe (options left out keep the preset's values)."""
    overrides = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(TrainConfig)
        if getattr(args, field.name, None) is not None
    }
    if "fraction" in overrides and "n_train" not in overrides:
        overrides["n_train"] = None
    return lesson_config(args.preset, **overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diffaug_lessons", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train_parser = commands.add_parser("train", help="train one experiment (cached: a finished run is loaded)")
    _add_config_options(train_parser)
    train_parser.add_argument("--retrain", action="store_true", help="train again even if the cache has this run")
    train_parser.add_argument("--run-dir", type=Path, help="save the run here instead of the cache")

    reproduce_parser = commands.add_parser(
        "reproduce", help="the grid behind the lessons: four strategies x data amounts; writes a report"
    )
    reproduce_parser.add_argument("--preset", choices=PRESETS, help="cpu, gpu or quick (default: from the device)")
    reproduce_parser.add_argument("--dataset", default="digits", help="default digits")
    reproduce_parser.add_argument(
        "--amounts", nargs="+", help="training-set sizes: all, a percentage (20%%) or a count (100); default: preset's"
    )
    reproduce_parser.add_argument("--steps", type=int, help="training steps per run (default: preset's)")
    reproduce_parser.add_argument("--out", type=Path, default=Path("report"), help="report folder (default report/)")
    reproduce_parser.add_argument("--seeds", type=int, default=1,
                                  help="seeds per setting (0, 1, ...); the report gives mean ± spread and counts")
    reproduce_parser.add_argument("--retrain", action="store_true", help="retrain runs found in the cache")

    reference_parser = commands.add_parser(
        "reference", help="train every lesson's runs over their seeds and write the reference results file"
    )
    reference_parser.add_argument("--preset", choices=PRESETS, default="cpu", help="default cpu (the shipped file's)")
    reference_parser.add_argument("--lessons", nargs="+", help="default: every lesson")
    reference_parser.add_argument("--seeds", type=int, help="seeds per run (default: 3, the strength sweep 2)")
    reference_parser.add_argument("--out", type=Path, help="default: the package's reference/cpu.json")
    reference_parser.add_argument("--cached-only", action="store_true",
                                  help="train nothing: keep the finished runs the cache holds")

    recipe_parser = commands.add_parser(
        "recipe", help="the recipe study: candidates on selection seeds, the rule's choice, fresh confirmation seeds"
    )
    recipe_parser.add_argument("--dataset", required=True, help="digits, faces or conditional-digits")
    recipe_parser.add_argument("--preset", choices=PRESETS, default="cpu", help="default cpu (the committed study's)")
    recipe_parser.add_argument("--out", type=Path, help="default: the package's reference/recipe-<dataset>.json")
    recipe_parser.add_argument("--cached-only", action="store_true",
                               help="train nothing: use what the cache and the shipped reference hold")

    commands.add_parser("results", help="print the README's results section: the lessons' tables and findings "
                        "from the shipped reference")
    commands.add_parser("runs", help="list the saved runs in the cache")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "reference":
            return _reference(args)
        if args.command == "recipe":
            return _recipe(args)
        if args.command == "results":
            from .findings import results_markdown

            print(results_markdown())
            return 0
        return _list_runs()
    except (ValueError, TypeError, OSError, RuntimeError) as error:  # OSError: missing files, a full disk
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the run keeps its last saved evaluation; start the same command again to resume",
              file=sys.stderr)
        return 130


def _train(args: argparse.Namespace) -> int:
    from .distributed import setup, shutdown
    from .runs import Run, cached_train, run_name, runs_dir, train_in_folder

    config = config_from_args(args)
    dist_info = setup()
    if args.run_dir is not None or dist_info.enabled:
        # torchrun: every rank trains; rank 0 writes the run folder and reports
        run_dir = args.run_dir or runs_dir() / run_name(config)
        train_in_folder(config, run_dir, retrain=args.retrain)
        run = Run(run_dir)
    else:
        run = cached_train(config, retrain=args.retrain)
    if dist_info.is_main:
        _report(run)
    if dist_info.enabled:
        shutdown(dist_info)
    return 0


def _report(run: Any) -> None:
    print(f"run saved in {run.path} ({run.status})")
    history = run.history
    if not history:
        print("no evaluation yet: start the same command again to resume")
        return
    last = history[-1]
    print(
        f"step {last['step']}: FID {last['fid']:.2f}, KID {last['kid']:.4f}, "
        f"D on training reals {last['d_train']:.2f}, held-out reals {last['d_heldout']:.2f}, fakes {last['d_fake']:.2f}"
    )


def _reproduce(args: argparse.Namespace) -> int:
    from .experiments import reproduce

    report = reproduce(
        preset=args.preset, dataset=args.dataset, amounts=args.amounts, steps=args.steps, out=args.out,
        retrain=args.retrain, seeds=args.seeds,
    )
    print(report.read_text())
    return 0


def _reference(args: argparse.Namespace) -> int:
    from .evidence import REFERENCE_FILE, build_reference
    from .lessons import LESSONS

    unknown = [lesson for lesson in args.lessons or () if lesson not in LESSONS]
    if unknown:
        raise ValueError(f"unknown lesson(s) {', '.join(unknown)}; choose from {', '.join(LESSONS)}")
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be 1 or more; got {args.seeds}")
    path = build_reference(args.lessons, args.preset, args.out or REFERENCE_FILE, args.seeds,
                           cached_only=args.cached_only)
    data = path.read_text()
    print(f"wrote {path} ({len(data) / 1024:.0f} KiB)")
    return 0


def _recipe(args: argparse.Namespace) -> int:
    from .recipe import report, run_study

    results = run_study(args.dataset, args.preset, out=args.out, train=not args.cached_only)
    print(report(results))
    return 0


def _list_runs() -> int:
    from .runs import runs_dir, scan_runs

    runs, problems = scan_runs()
    if not runs and not problems:
        print(f"no saved runs yet in {runs_dir()}")
    for run in runs:
        history = run.history
        fid = history[-1].get("fid") if history else None
        shown = f"FID {fid:.2f}" if isinstance(fid, (int, float)) else "no evaluation yet"
        print(f"{run.status:9s} {run.path.name}  {shown}")
    for problem in problems:
        print(f"{'broken':9s} {problem.path.name}  {problem.reason}")
    return 0
