"""Commands that measure and teach the detectors: eval (labelled conversations, real data sets, the therapist sets, verdicts) and train."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.errors import TurnwatchError
from streams.tooling.cli_support import (
    add_path_arguments,
    read_paths,
    settings_for,
    stderr_console,
    stdout_console,
)

# The therapist's labelled sets ship in the package; found without importing it (numpy, models).
THERAPIST_LABELLED = Path(importlib.util.find_spec("detectors").origin).parent / "therapist" / "labelled"
SHIPPED_BEHAVIOURS = str(THERAPIST_LABELLED / "counselling_written.jsonl")
SHIPPED_SESSIONS = str(THERAPIST_LABELLED / "sessions")

if TYPE_CHECKING:
    from streams.monitor.build import RuleThreshold
    from streams.settings import Settings


def cmd_train(args: argparse.Namespace) -> int:
    if args.verdicts:
        if args.head:
            raise TurnwatchError(
                "train --verdicts FILE recalibrates rule thresholds (and, with --data DIR, retrains the counselling "
                "codes head); it takes no head name"
            )
        return cmd_train_verdicts(args)
    if not args.head or not args.data:
        raise TurnwatchError("name a head and its --data (train crisis --data DIR), or pass --verdicts FILE")
    data = Path(args.data)
    if not data.exists():
        raise FileNotFoundError(f"{data}: no such file or directory")
    if args.head == "emotion":
        from streams.tooling.training.emotion import train_emotion

        report = train_emotion(data)
    elif args.head == "crisis":
        from detectors.crisis.conversation_training import train_crisis

        report = train_crisis(data)
    elif args.head == "lexicon":
        from detectors.crisis.lexicon_source import build_lexicon

        report = {"constructs": len(build_lexicon(data)["constructs"])}
    else:
        from detectors.therapist.training import train_counselling

        report = train_counselling(data)
    print(json.dumps(report, indent=2))
    return 0


def cmd_train_verdicts(args: argparse.Namespace) -> int:
    from streams.monitor.build import build_pipeline, build_rule_thresholds
    from streams.tooling.verdict_eval import read_examples
    from streams.tooling.verdict_training import THRESHOLDS_FILE, train_from_verdicts, write_thresholds

    for name, value, fits in (
        ("--target-precision", args.target_precision, 0.0 < args.target_precision <= 1.0),
        ("--min-recall", args.min_recall, 0.0 <= args.min_recall <= 1.0),
        ("--holdout", args.holdout, 0.0 < args.holdout < 1.0),
    ):
        if not fits:
            raise TurnwatchError(f"{name} {value} is out of range: it is a fraction between 0 and 1")
    if args.min_examples < 1:
        raise TurnwatchError(f"--min-examples {args.min_examples}: at least 1")
    if args.head_folds < 2 or (args.head_members is not None and args.head_members < 1):
        raise TurnwatchError("--head-folds takes at least 2 and --head-members at least 1")
    data = Path(args.data) if args.data else None
    if data is not None and not data.is_dir():
        raise TurnwatchError(f"--data {data}: not a directory (the shared data folder with counsel-chat and sdcnl)")
    try:
        examples = list(read_examples(Path(args.verdicts)))
    except ValueError as exc:
        raise TurnwatchError(str(exc)) from None
    if not examples:
        raise TurnwatchError(f"{args.verdicts}: no judged alerts; reviewers' verdicts come from the console")
    settings = settings_for(args)
    current = build_rule_thresholds(settings)
    thresholds, report = train_from_verdicts(
        examples,
        build_pipeline(settings),
        current=current,
        target_precision=args.target_precision,
        min_examples=args.min_examples,
        min_recall=args.min_recall,
        holdout=args.holdout,
    )
    out = Path(args.out) if args.out else settings.data_dir / THRESHOLDS_FILE
    if data is not None:  # before the thresholds are written: a failed retrain leaves the files as they were
        report["heads"] = retrain_heads(examples, settings, data, out.parent, thresholds, args)
    write_thresholds(thresholds, out)
    report = {"verdicts": str(args.verdicts), "thresholds_file": str(out), **report}
    print(json.dumps(report, indent=2))
    print(
        f"{len(thresholds)} rule thresholds written to {out}; a worker started with TURNWATCH_RULE_THRESHOLDS={out} "
        "applies them",
        file=sys.stderr,
    )
    for name, setting in HEAD_SETTINGS:
        if report.get("heads", {}).get(name, {}).get("adopted"):
            entry = report["heads"][name]
            files = " ".join(f"{env}={entry[key]}" for key, env in setting)
            print(f"{name} retrained from the verdicts; a worker started with {files} uses it", file=sys.stderr)
    return 0


HEAD_SETTINGS = (
    ("counselling", (("head", "TURNWATCH_COUNSELLING_HEAD"),)),
    ("crisis", (("head", "TURNWATCH_CRISIS_HEAD"), ("conversation_model", "TURNWATCH_CRISIS_CONVERSATION_MODEL"))),
)


def retrain_heads(
    examples: list[dict[str, Any]],
    settings: Settings,
    data: Path,
    out_dir: Path,
    thresholds: Mapping[str, RuleThreshold],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The heads that verdicts label sentences for, each retrained and checked on the held-out verdicts."""
    from streams.tooling.verdict_crisis import retrain_crisis_heads
    from streams.tooling.verdict_heads import HEAD_FILE, retrain_counselling_head

    options = {
        "min_scores": {rule: entry.min_score for rule, entry in thresholds.items()},
        "holdout": args.holdout,
        "folds": args.head_folds,
        **({"members": args.head_members} if args.head_members else {}),
        "log": lambda line: print(line, file=sys.stderr),
    }
    heads = {
        "counselling": retrain_counselling_head(examples, settings, data, out_dir / HEAD_FILE, **options),
        "crisis": retrain_crisis_heads(examples, settings, data, out_dir, **options),
    }
    return {"retrained": [name for name, entry in heads.items() if entry["adopted"]], **heads}


def labelled_paths(option: str, paths: list[str], shipped: str) -> list[str]:
    """What ``--sessions`` / ``--behaviours`` read: the value given to the option, the PATHs after
    it, or the shipped set when neither is given."""
    given = [] if option == shipped else [option]
    return [*given, *paths] or [shipped]


def cmd_eval_behaviours(args: argparse.Namespace) -> int:
    from streams.monitor.build import build_pipeline
    from streams.tooling.behaviour_eval import blind_items, evaluate_behaviours

    items = [
        item
        for path in labelled_paths(args.behaviours, args.paths, SHIPPED_BEHAVIOURS)
        for item in blind_items(Path(path))
    ]
    report = evaluate_behaviours(build_pipeline(settings_for(args)), items)
    out = Path(".turnwatch/eval")
    out.mkdir(parents=True, exist_ok=True)
    (out / "behaviours.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def cmd_eval_sessions(args: argparse.Namespace) -> int:
    from streams.monitor.build import build_pipeline
    from streams.tooling.session_eval import evaluate_sessions

    found = labelled_paths(args.sessions, args.paths, SHIPPED_SESSIONS)
    (folder,) = found if len(found) == 1 else (None,)
    if folder is None or not (Path(folder) / "ratings.jsonl").is_file():
        raise ValueError("--sessions takes one PATH: a folder of transcripts with a ratings.jsonl beside them")
    report = evaluate_sessions(build_pipeline(settings_for(args)), Path(folder))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sessions.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def cmd_eval_dataset(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from streams.monitor.build import build_pipeline
    from streams.tooling.realdata import evaluate_dataset, plot_precision_recall, read_dataset, severity_columns

    settings = settings_for(args)
    (path,) = args.paths if len(args.paths) == 1 else (None,)
    if path is None:
        raise ValueError(f"--dataset {args.dataset} takes one PATH (the dataset file or directory)")
    total = sum(1 for _ in read_dataset(args.dataset, Path(path), args.split))
    console = stderr_console()
    pipeline = build_pipeline(settings)
    with Progress(
        TextColumn(f"eval {args.dataset}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("eval", total=total)
        report = evaluate_dataset(args.dataset, Path(path), pipeline, args.split, lambda n: progress.advance(task, n))
    turns = ", ".join(f"{n} {role} turns" for role, n in sorted(report.turns.items()))
    table = Table(title=f"{args.dataset}: alerts on real text ({turns})")
    table.add_column("rule", no_wrap=True)
    for column in (*severity_columns(), "alerts", "per 100 turns", "critical per 100"):
        table.add_column(column, justify="right")
    for rule, counts in sorted(report.by_rule.items()):
        table.add_row(
            rule,
            *(str(counts.get(s, 0)) for s in severity_columns()),
            str(sum(counts.values())),
            f"{report.per_100(rule):.2f}",
            f"{report.critical_per_100(rule):.2f}",
        )
    wide = stdout_console(132)
    wide.print(table)
    data = report.to_dict()
    for group, counts in data["groups"].items():
        wide.print(f"{group}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if data["labelled"]:
        wide.print("labelled (post level): " + json.dumps(data["labelled"]))
    if data["rejected"]:
        wide.print(
            f"not scored (dead-lettered as the worker would; raise TURNWATCH_MAX_TEXT_BYTES to include): "
            f"{json.dumps(data['rejected'])}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{args.dataset}.json"
    target.write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"report: {target}")
    if data["crisis_ranking"]:
        wide.print("crisis ranking (hand labels): " + json.dumps(data["crisis_ranking"]))
    if args.plot:
        plot = plot_precision_recall(report, out / f"{args.dataset}-precision-recall.png")
        console.print(f"plot: {plot}" if plot else "plot: this data set has no hand labels to draw a curve against")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.verdicts:
        return cmd_eval_verdicts(args)
    if args.dataset:
        return cmd_eval_dataset(args)
    if args.behaviours:
        return cmd_eval_behaviours(args)
    if args.sessions:
        return cmd_eval_sessions(args)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from streams.examples import LABELS_DIR
    from streams.monitor.build import build_pipeline
    from streams.tooling.evaluate import (
        alerts_per_100_turns,
        load_labels,
        plot_conversation,
        report_tables,
        run_conversations,
        score,
    )

    settings = settings_for(args)
    label_paths = (
        [Path(p) for p in args.labels]
        if args.labels
        else sorted(LABELS_DIR.glob("expected.jsonl")) + sorted(LABELS_DIR.glob("seeds.jsonl"))
    )
    from detectors.registry import discover, rule_names

    labels = load_labels(label_paths, known_rules=rule_names(discover().values()))
    records = read_paths(args)
    console = stderr_console()
    pipeline = build_pipeline(settings)
    with Progress(
        TextColumn("eval"), BarColumn(), MofNCompleteColumn(), console=console, disable=not console.is_terminal
    ) as progress:
        task = progress.add_task("eval", total=len(records))
        runs = run_conversations(args.paths, pipeline, progress=lambda: progress.advance(task))
    report = score(runs, labels)
    if not report["conversations"]:
        raise TurnwatchError(
            f"none of the {len(runs)} conversations has a line in the labels "
            f"({', '.join(str(p) for p in label_paths)}); pass --labels with their expected alerts"
        )
    out = Path(args.out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for run in runs.values():
        plot_conversation(
            run, out / "plots" / f"{run.conversation_id.replace('/', '_')}.png", labels.get(run.conversation_id)
        )
    report["alerts_per_100_turns"] = alerts_per_100_turns(runs)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    wide = stdout_console(140)  # full rule names and every column
    for table in report_tables(report, runs):
        wide.print(table)
    console.print(f"report: {out / 'report.json'}; plots: {out / 'plots'}/ ({len(runs)} conversations)")
    return 0


def cmd_eval_verdicts(args: argparse.Namespace) -> int:
    from rich.table import Table

    from streams.monitor.build import build_pipeline
    from streams.tooling.verdict_eval import evaluate_verdicts, read_examples

    if len(args.paths) != 1:
        raise TurnwatchError("--verdicts takes one file written by `turnwatch verdicts export`")
    examples = list(read_examples(Path(args.paths[0])))
    if not examples:
        raise TurnwatchError(f"{args.paths[0]}: no judged alerts; reviewers' verdicts come from the console")
    report = evaluate_verdicts(examples, build_pipeline(settings_for(args)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verdicts.json").write_text(json.dumps(report, indent=2) + "\n")
    table = Table(title=f"reviewer verdicts against the current code ({len(examples)} judged alerts)")
    columns = ("kept", "lost", "remaining", "fixed", "unsure", "wrong_severity", "severity_fixed", "wrong_rule")
    columns += ("precision",)
    for column in ("rule", *columns):
        table.add_column(column.replace("_", " "), justify="left" if column == "rule" else "right")
    rows = [*report["per_rule"].items(), ("TOTAL", report["total"])]
    for rule, row in rows:
        table.add_row(rule, *("-" if row[c] is None else str(row[c]) for c in columns))
    stdout_console(120).print(table)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a head on the frozen encoder and write its weights to detectors/heads/, or (--verdicts) "
        "recalibrate the rules' score thresholds from reviewer verdicts",
    )
    p.add_argument(
        "head",
        nargs="?",
        choices=["emotion", "crisis", "counselling", "lexicon"],
        help="emotion: GoEmotions; crisis: the sentence head then the conversation model; counselling: the "
        "labelled sentence sets (real ones read from --data); lexicon: rebuild the vendored Suicide Risk Lexicon",
    )
    p.add_argument(
        "--data",
        help="emotion: the GoEmotions directory; crisis, counselling: the shared data directory "
        "(counsel-chat/, sdcnl/); lexicon: construct-tracker's wheel (pip download --no-deps construct-tracker==1.0.16); "
        "with --verdicts: the shared data directory, to retrain the counselling codes head and the crisis models "
        "with the sentences the verdicts label (each written beside the thresholds file only if it passes the "
        "held-out checks)",
    )
    p.add_argument(
        "--verdicts",
        metavar="FILE",
        help="a `turnwatch verdicts export` file: per rule, the lowest score threshold that reaches "
        "--target-precision on part of the verdicts, checked before/after on the held-out rest (a JSON report)",
    )
    p.add_argument(
        "--target-precision", type=float, default=0.9, help="with --verdicts: the precision each rule should reach"
    )
    p.add_argument(
        "--min-examples",
        type=int,
        default=10,
        help="with --verdicts: judged alerts of a rule (raised again by the current code) needed to calibrate it",
    )
    p.add_argument(
        "--min-recall",
        type=float,
        default=0.5,
        help="with --verdicts: leave a rule alone if its threshold would keep fewer of its true alerts than this",
    )
    p.add_argument(
        "--holdout", type=float, default=0.3, help="with --verdicts: share of conversations held out for the check"
    )
    p.add_argument(
        "--out", help="with --verdicts: the thresholds file to write (default: DATA_DIR/rule_thresholds.json)"
    )
    p.add_argument(
        "--head-members",
        type=int,
        help="with --verdicts --data: MLPs in the retrained head's ensemble (default: as many as the shipped head; "
        "fewer train faster, for a trial run)",
    )
    p.add_argument(
        "--head-folds",
        type=int,
        default=5,
        help="with --verdicts --data: cross-validation folds that set the retrained head's temperature and bars",
    )
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="precision/recall per rule and detector against labelled conversations")
    add_path_arguments(p)
    p.add_argument(
        "--labels",
        nargs="*",
        help="label JSONL files (default: the shipped streams/examples/labelled/expected.jsonl and seeds.jsonl)",
    )
    p.add_argument("--out", default=".turnwatch/eval", help="directory for report.json and plots/")
    p.add_argument(
        "--behaviours",
        nargs="?",
        const=SHIPPED_BEHAVIOURS,
        metavar="FILE",
        help="FILE is a written counselling set (default: the shipped counselling_written.jsonl): "
        "score the therapist rules on its blind split",
    )
    p.add_argument(
        "--sessions",
        nargs="?",
        const=SHIPPED_SESSIONS,
        metavar="FOLDER",
        help="FOLDER holds sessions with ratings.jsonl (default: the shipped labelled sessions): how well "
        "the session-quality score separates high from low, and the low-quality line",
    )
    p.add_argument(
        "--verdicts",
        action="store_true",
        help="PATH is a `turnwatch verdicts export` file: per rule, judged alerts the current code raises again",
    )
    p.add_argument(
        "--dataset",
        choices=["counsel-chat", "sdcnl", "goemotions"],
        help="real-data mode: PATH is that dataset's file or directory; alerts per 100 real turns per rule",
    )
    p.add_argument(
        "--split",
        choices=["holdout", "all"],
        default="holdout",
        help="sdcnl and counsel-chat: the seeded hold-out the crisis head never trained on (default) or all",
    )
    p.add_argument(
        "--plot",
        action="store_true",
        help="with --dataset: draw the crisis precision/recall curve against the hand labels, thresholds marked",
    )
    p.set_defaults(handler=cmd_eval, needs_paths=lambda args: not (args.sessions or args.behaviours))
