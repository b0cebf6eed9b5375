"""Commands around configuration and contracts: check-config, routes test, verdict export, schemas, dashboards."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from streams.errors import TurnwatchError
from streams.settings import setting_source
from streams.tooling.cli_support import (
    settings_for,
)


def cmd_schemas(args: argparse.Namespace) -> int:
    from streams.tooling.schemas import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from streams.tooling.config_check import check_config

    problems, summary = check_config(getattr(args, "config", None), args.delivery)
    for line in summary:
        print(line)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(
        "configuration ok" if not problems else f"{len(problems)} problem(s)",
        file=sys.stderr if problems else sys.stdout,
    )
    return 1 if problems else 0


def cmd_routes_test(args: argparse.Namespace) -> int:
    import difflib

    from streams.delivery.config import SEVERITIES, load_delivery_config, registry_rules

    settings = settings_for(args)
    path = args.delivery or settings.delivery_config
    if path is None:
        raise TurnwatchError("no delivery config: pass --delivery PATH or set TURNWATCH_DELIVERY_CONFIG")
    rules = registry_rules()
    if args.rule not in rules:
        close = difflib.get_close_matches(args.rule, list(rules), n=1)
        raise TurnwatchError(f"unknown rule {args.rule!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    detector = rules[args.rule]  # a rule is named after its detector: crisis.method -> crisis
    if args.detector is not None and args.detector != detector:
        raise TurnwatchError(f"rule {args.rule!r} belongs to detector {detector!r}, not {args.detector!r}")
    if args.severity not in SEVERITIES:
        raise TurnwatchError(f"severity must be one of {', '.join(SEVERITIES)}")
    # Routing only: nothing is sent, so the receivers' secrets need not be set here.
    config = load_delivery_config(path, rules, resolve_secrets=False)
    matched = config.matching_routes(detector, args.rule, args.severity)
    if not matched:
        print(f"{detector}/{args.rule} at {args.severity}: no route matches; the alert stays on the alerts topic only")
        return 0
    for index, route in matched:
        print(f"routes[{index}] matches" + (" (continue)" if route.continue_ else ""))
    for name in config.route(detector, args.rule, args.severity):
        print(f"  -> {name} ({config.receiver(name).kind})")
    return 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    from streams.tooling.dashboards import write_dashboards

    for path in write_dashboards(Path(args.out)):
        print(path)
    return 0


def _existing_store(db: str | None, settings, config: str | None) -> str:
    """The console store's SQLAlchemy URL: ``--db`` (a URL, or a plain file path taken as SQLite),
    else ``console_db_url``, else data_dir/console.db. A SQLite store must already exist: opening a
    missing one would create an empty store and export nothing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from streams.console.service import store_url

    if db is not None and "://" not in db:
        url = f"sqlite:///{Path(db).expanduser().resolve()}"
    else:
        url = db or store_url(settings)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise TurnwatchError(
            f"--db {db!r} is neither a file nor a SQLAlchemy URL (sqlite:///PATH, postgresql+psycopg://...)"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise TurnwatchError(f"{url}: an in-memory SQLite store holds no verdicts; name the console's store file")
        path = Path(parsed.database).resolve()
        if not path.is_file():
            if db is not None:
                hint = "check --db"
            elif settings.console_db_url:
                hint = f"check console_db_url ({setting_source('console_db_url', config)})"
            else:
                hint = "run this where the console ran, or pass --db FILE / set TURNWATCH_CONSOLE_DB_URL"
            raise TurnwatchError(f"no console store at {path} (the reviewer console writes it); {hint}")
    return url


def cmd_verdicts_export(args: argparse.Namespace) -> int:
    from streams.console.store import AlertStore

    settings = settings_for(args)
    store = AlertStore.open(_existing_store(args.db, settings, getattr(args, "config", None)))
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    try:
        for example in store.verdict_examples():
            out.write(json.dumps(example, default=str) + "\n")
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
        store.close()
    print(f"{count} judged alerts written to {args.out}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verdicts", help="reviewer verdicts: `verdicts export` writes them as an evaluation set")
    verdicts = p.add_subparsers(dest="verdicts_command", required=True, metavar="SUBCOMMAND")
    p = verdicts.add_parser(
        "export",
        help="judged alerts as JSONL: verdict, corrected severity/rule, reviewer, judged_at, note, alert and its "
        "stored turns (read by `eval --verdicts` and `train --verdicts`)",
    )
    p.add_argument(
        "--db",
        help="the console's store: a SQLAlchemy URL or a SQLite file path (default: console_db_url, else "
        "DATA_DIR/console.db); a missing SQLite store is an error, not an empty export",
    )
    p.add_argument("--out", default="-", help="file to write (default: standard output)")
    p.set_defaults(handler=cmd_verdicts_export)

    p = sub.add_parser(
        "check-config", help="validate settings, detector options and the delivery config (no models loaded)"
    )
    p.add_argument("--delivery", help="delivery config YAML (default: TURNWATCH_DELIVERY_CONFIG)")
    p.set_defaults(handler=cmd_check_config)

    p = sub.add_parser("routes", help="delivery routes: `routes test` prints the receivers an alert would reach")
    routes = p.add_subparsers(dest="routes_command", required=True, metavar="SUBCOMMAND")
    p = routes.add_parser("test", help="which receivers an alert of this detector, rule and severity reaches")
    p.add_argument("--detector", help="detector name, e.g. crisis (default: the rule's, crisis.method -> crisis)")
    p.add_argument("--rule", required=True, help="rule name, e.g. crisis.method")
    p.add_argument("--severity", required=True, help="info, warning, high or critical")
    p.add_argument("--delivery", help="delivery config YAML (default: TURNWATCH_DELIVERY_CONFIG)")
    p.set_defaults(handler=cmd_routes_test)

    p = sub.add_parser("dashboards", help="write the Grafana dashboards (grafana-foundation-sdk) as JSON")
    p.add_argument("--out", default="deploy/grafana/dashboards", help="directory to write them to")
    p.set_defaults(handler=cmd_dashboards)

    p = sub.add_parser("schemas", help="write the JSON Schemas and the AsyncAPI document")
    p.add_argument("--out", default="schemas", help="directory to write them to")
    p.set_defaults(handler=cmd_schemas)
