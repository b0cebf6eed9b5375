"""``turnwatch silence add|list|expire``: silences from the command line, like ``amtool silence``.

They are the same ``SilenceEvent``s the console publishes on ``turnwatch.silences`` (the topic is the
truth: delivery honours it, the console shows it). ``list`` reads the topic from the start and keeps the
newest version of each silence.

    turnwatch silence add --match rule=therapist.ai_feelings --match severity=info --for 4h \\
        --author rita --comment "known noise while the prompt is fixed"
    turnwatch silence list [--all]
    turnwatch silence expire SILENCE_ID --author rita
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.errors import TurnwatchError

DURATION = re.compile(r"^(\d+)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_matcher(text: str) -> dict[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not value or name not in ("rule", "detector", "severity", "conversation_id"):
        raise TurnwatchError(
            f"--match {text!r}: write NAME=VALUE with NAME rule, detector, severity or conversation_id"
        )
    return {"name": name, "value": value}


def parse_duration(text: str) -> timedelta:
    found = DURATION.match(text)
    if not found:
        raise TurnwatchError(f"--for {text!r}: write a number and m, h or d, like 30m, 4h or 2d")
    return timedelta(**{UNITS[found.group(2)]: int(found.group(1))})


def _producer(settings: Any):
    from kafka import KafkaProducer

    from streams.kafka.probe import require_broker
    from streams.kafka.security import kafka_python_options

    require_broker(settings.broker)
    return KafkaProducer(bootstrap_servers=settings.broker, acks="all", **kafka_python_options(settings))


def publish(settings: Any, silence: Any) -> None:
    producer = _producer(settings)
    try:
        producer.send(settings.silences_topic, key=silence.silence_id.encode(), value=silence.to_json()).get(30)
    finally:
        producer.close(timeout=5)


def read_all(settings: Any) -> dict[str, Any]:
    """Every silence on the topic, newest version of each."""
    from kafka import KafkaConsumer

    from streams.delivery.silences import SilenceBook, SilenceReader
    from streams.kafka.probe import require_broker
    from streams.kafka.security import kafka_python_options

    require_broker(settings.broker)
    consumer = KafkaConsumer(
        settings.silences_topic,
        bootstrap_servers=settings.broker,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=3000,
        **kafka_python_options(settings),
    )
    book = SilenceBook()
    reader = SilenceReader(book, settings.silences_topic, {})  # the reading delivery does, deletions included
    try:
        for record in consumer:
            reader.read(record.key, record.value)
    finally:
        consumer.close()
    return book.all()


def cmd_silence(args: argparse.Namespace) -> int:
    from streams.contracts import SilenceEvent
    from streams.tooling.cli_support import settings_for

    settings = settings_for(args, **({"broker": args.broker} if args.broker else {}))
    if settings.broker is None:
        raise TurnwatchError("silences live on the broker: pass --broker HOST:PORT or set TURNWATCH_BROKER")
    now = datetime.now(UTC)
    if args.silence_command == "add":
        try:
            silence = SilenceEvent(
                silence_id=uuid.uuid4().hex,
                matchers=[parse_matcher(m) for m in args.match],
                created_by=args.author,
                comment=args.comment,
                starts_at=now,
                ends_at=now + parse_duration(args.duration),
                updated_at=now,
            )
        except ValueError as exc:
            raise TurnwatchError(f"not a valid silence: {exc}") from None
        publish(settings, silence)
        print(silence.silence_id)
        return 0
    found = read_all(settings)
    if args.silence_command == "expire":
        silence = found.get(args.silence_id)
        if silence is None:
            raise TurnwatchError(f"no silence {args.silence_id!r} on {settings.silences_topic}")
        if silence.ends_at <= now:
            print(f"{silence.silence_id} already ended at {silence.ends_at.isoformat()}")
            return 0
        publish(settings, silence.expired(args.author, now))
        print(f"{silence.silence_id} expired")
        return 0
    listed = sorted(found.values(), key=lambda s: s.ends_at, reverse=True)
    for silence in listed:
        if not args.all and silence.ends_at <= now:
            continue
        state = "active" if silence.active(now) else ("expired" if silence.ends_at <= now else "pending")
        print(
            json.dumps(
                {
                    "silence_id": silence.silence_id,
                    "state": state,
                    "matchers": {m.name: m.value for m in silence.matchers},
                    "ends_at": silence.ends_at.isoformat(),
                    "created_by": silence.created_by,
                    "expired_by": silence.expired_by,
                    "comment": silence.comment,
                }
            )
        )
    return 0


def register(sub: Any) -> None:
    """Add ``turnwatch silence`` to the CLI."""
    p = sub.add_parser("silence", help="silences like amtool's: add, list, expire (honoured by delivery)")
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (or TURNWATCH_BROKER)")
    # --broker is taken after the subcommand too (`silence list --broker H:P`); absent there, the
    # value given before it (or none) stands.
    broker_after = argparse.ArgumentParser(add_help=False)
    broker_after.add_argument(
        "--broker", default=argparse.SUPPRESS, help="Kafka bootstrap HOST:PORT (or TURNWATCH_BROKER)"
    )
    commands = p.add_subparsers(dest="silence_command", required=True, metavar="SUBCOMMAND")
    add = commands.add_parser(
        "add", help="hold back notifications of alerts matching every --match", parents=[broker_after]
    )
    add.add_argument(
        "--match",
        action="append",
        required=True,
        metavar="NAME=VALUE",
        help="rule=GLOB, detector=GLOB, severity=S or conversation_id=ID (repeat to narrow)",
    )
    add.add_argument("--for", dest="duration", default="1h", help="how long: 30m, 4h, 2d (default 1h)")
    add.add_argument("--author", required=True, help="who is silencing")
    add.add_argument("--comment", required=True, help="why (kept with the silence)")
    listing = commands.add_parser("list", help="active and pending silences as JSON lines", parents=[broker_after])
    listing.add_argument("--all", action="store_true", help="include expired ones")
    expire = commands.add_parser("expire", help="end a silence now", parents=[broker_after])
    expire.add_argument("silence_id")
    expire.add_argument("--author", required=True, help="who is ending it")
    for parser in (add, listing, expire):
        parser.set_defaults(handler=cmd_silence)
