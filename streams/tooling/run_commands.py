"""Commands that run turnwatch: the demo, a worker, the embedded broker, the console, a webhook receiver."""

from __future__ import annotations

import argparse

from streams.errors import TurnwatchError
from streams.tooling.cli_support import (
    add_example_option,
    settings_for,
)


def cmd_broker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from streams.kafka.broker import EmbeddedBroker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(host=args.host, port=args.port) as broker:
        print(f"tansu broker listening on {broker.address} (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.kafka.probe import require_broker
    from streams.logs import configure
    from streams.monitor.worker import run_worker

    settings = settings_for(args, broker=args.broker, web_port=args.web_port)
    configure(settings.log_level, settings.log_format)
    if settings.broker is not None:
        require_broker(settings.broker, wait_seconds=settings.broker_wait_seconds)
    run_worker(settings)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.tooling.demo import run_demo

    settings = settings_for(args, web_port=args.web_port)
    return run_demo(settings, paths=args.paths, duration=args.duration, speed=args.speed)


def cmd_receiver(args: argparse.Namespace) -> int:
    from streams.delivery.receiver import receiver_secret, run_receiver

    receiver_secret()  # fails with the variables to set before anything is printed

    print(f"webhook receiver on http://{args.host}:{args.port}/hook (verifying signatures)", flush=True)
    run_receiver(args.host, args.port)
    return 0


CONSOLE_PROBE_SECONDS = 3.0


def cmd_console(args: argparse.Namespace) -> int:
    from streams.console.service import run_console
    from streams.kafka.probe import require_broker
    from streams.kafka.security import kafka_python_options
    from streams.kafka.topics import ensure_topics
    from streams.logs import configure

    settings = settings_for(args, broker=args.broker, console_port=args.port, console_host=args.host)
    if settings.broker is None:
        raise TurnwatchError("the console reads the alerts topic: pass --broker HOST:PORT or set TURNWATCH_BROKER")
    configure(settings.log_level, settings.log_format)
    # One short probe, no waiting (broker_wait_seconds is the worker's): a wrong or dead address
    # is one line naming it, not half a minute of silence.
    require_broker(settings.broker, connect_timeout=CONSOLE_PROBE_SECONDS)
    ensure_topics(settings.broker, [settings.verdicts_topic], settings.partitions, kafka_python_options(settings))
    run_console(settings, on_ready=lambda url: print(f"reviewer console on {url}", flush=True))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="embedded broker + worker, replay the shipped examples, print alerts live")
    p.add_argument("paths", nargs="*", metavar="PATH", help="transcripts to replay (default: the shipped examples)")
    add_example_option(p)
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop this many seconds after the worker is ready (default: Ctrl-C)",
    )
    p.add_argument(
        "--speed", type=float, default=40.0, help="real-time pacing factor for the replay (0 = as fast as possible)"
    )
    p.add_argument("--web-port", type=int, default=None, help="port for /metrics, /healthz, /readyz, /v1/turns")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("worker", help="run the Faust worker (monitor agent, HTTP ingest, /metrics)")
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (default: start an embedded broker)")
    p.add_argument("--web-port", type=int, default=None, help="port for /metrics, /healthz, /readyz, /v1/turns")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (tansu) on loopback")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9092, help="port to listen on")
    p.set_defaults(handler=cmd_broker)

    p = sub.add_parser(
        "receiver",
        help="a small webhook receiver that verifies signatures and prints alerts "
        "(needs TURNWATCH_RECEIVER_SECRET or TURNWATCH_RECEIVER_SECRET_FILE)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port to listen on")
    p.set_defaults(handler=cmd_receiver)

    p = sub.add_parser("console", help="the reviewer console: live alerts, conversation timeline, verdicts")
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (or TURNWATCH_BROKER)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, console_host)")
    p.add_argument("--port", type=int, default=None, help="port (default 6070, console_port)")
    p.set_defaults(handler=cmd_console)
