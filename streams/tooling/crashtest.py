"""``turnwatch crashtest``: replay turns, SIGKILL workers mid-stream, compare alerts with a clean run.

The clean run is the same pipeline in-process (``scan``). The crash run publishes the same
turns to a broker, runs real worker processes with delivery to a counting webhook receiver,
kills them at spaced points (and, with several workers, adds one mid-run), and waits until
the group's committed offsets reach the end of the turns topic. Then it compares:

- the ``(alert_id, severity)`` set on ``turnwatch.alerts`` with the clean run's: missing and
  unexpected must both be empty;
- records on the alerts topic beyond the first per ``(alert_id, severity)``: duplicates,
  reported (at-least-once output; the delivery path removes them);
- deliveries at the receiver: each routed ``(alert_id, severity)`` at least once, and exactly once
  as a receiver honouring ``Idempotency-Key`` sees them (the README's promise). A repeat with the
  same key is the documented window (a worker killed between a receiver's 200 and the flush of its
  delivered marker); each partition has one delivery in flight, so a run may show at most
  kills × partitions of them, and none without a kill;
- dead letters: a state restored older than its resumed offset shows up as ``out_of_order``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer

from streams.ingest.files import Record
from streams.kafka.faust_tuning import OFFSET_JUMP_EXIT_CODE
from streams.kafka.processes import stop_process
from streams.testing.counting_receiver import Receiver
from streams.testing.workers import metric_total, spawn_worker, wait_ready

log = logging.getLogger(__name__)
SECRET = "crashtest-webhook-secret"
AlertKey = tuple[str, str]


@dataclass
class CrashPlan:
    turns: int = 2000
    kills: int = 3
    workers: int = 1
    add_worker: bool = False  # start one more worker mid-run (rebalance onto a newcomer)
    partitions: int = 4
    seed: int = 7
    settle_timeout: float = 240.0  # bound on reaching the end after the last restart


@dataclass
class CrashReport:
    turns: int
    conversations: int
    expected_alerts: int
    observed_alerts: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    topic_duplicates: int = 0
    routed: int = 0
    delivered: int = 0
    undelivered: int = 0
    duplicate_deliveries: int = 0  # repeats of a delivered (Idempotency-Key, severity)
    redelivery_bound: int = 0  # kills × partitions: the most the documented window allows
    dead_letters: dict[str, int] = field(default_factory=dict)
    expected_dead_letters: dict[str, int] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    turn_gaps: int = 0
    stale_state_records: int = 0
    caught_up: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.caught_up
            and not self.missing
            and not self.unexpected
            and not self.undelivered
            and not self.turn_gaps
            and self.duplicate_deliveries <= self.redelivery_bound
            and not self.dead_letters.get("out_of_order")
        )

    def lines(self) -> list[str]:
        return [
            f"turns {self.turns} in {self.conversations} conversations; {len(self.events)} fault events",
            *(f"  {event}" for event in self.events),
            f"alerts: expected {self.expected_alerts}, observed {self.observed_alerts}, "
            f"missing {len(self.missing)}, unexpected {len(self.unexpected)}, duplicates on the topic {self.topic_duplicates}",
            f"webhook: routed {self.routed}, delivered {self.delivered}, undelivered {self.undelivered}, "
            f"repeated with the same Idempotency-Key {self.duplicate_deliveries} (at most {self.redelivery_bound}: "
            "one in-flight delivery per partition per kill; a receiver honouring the key drops them)",
            *(f"  missing: {m}" for m in self.missing),
            *(f"  unexpected: {u}" for u in self.unexpected),
            f"turn gaps seen by workers {self.turn_gaps}; stale changelog records skipped at recovery {self.stale_state_records}",
            f"dead letters: {dict(self.dead_letters) or 'none'} (clean run: {self.expected_dead_letters or 'none'}); caught up: {self.caught_up}; {self.seconds:.0f} s",
            "PASS" if self.ok else "FAIL",
        ]

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def workload(target_turns: int, seed: int) -> list[Record]:
    """The example transcripts (crises, loops, therapist failures) cloned under new ids, plus
    synthetic small talk, until ``target_turns``; conversations interleave, each in order."""
    from streams.examples import example_paths
    from streams.ingest.files import read_records
    from streams.tooling.synthetic import conversations

    examples = [r for r in read_records(example_paths()) if r.key]
    chats: list[list[Record]] = []
    total, clone = 0, 0
    while total < target_turns * 0.6:
        by_conversation: dict[str, list[Record]] = {}
        for record in examples:
            by_conversation.setdefault(record.key, []).append(_renamed(record, f"{record.key}.c{clone}"))
        chats.extend(by_conversation.values())
        total += len(examples)
        clone += 1
    for turns in conversations(max(1, (target_turns - total) // 30 + 1), seed=seed):
        if total >= target_turns:
            break
        chats.append([Record(key=t["conversation_id"], value=json.dumps(t).encode(), ts=None) for t in turns])
        total += len(turns)
    random.Random(seed).shuffle(chats)
    return list(round_robin(chats))


def _renamed(record: Record, conversation_id: str) -> Record:
    event = json.loads(record.value)
    event["conversation_id"] = conversation_id
    event["event_id"] = f"{conversation_id}:{event['turn_index']}"
    return Record(key=conversation_id, value=json.dumps(event).encode(), ts=record.ts)


def round_robin(chats: list[list[Record]]) -> Iterator[Record]:
    """One turn of each conversation in turn, each conversation's turns in order."""
    position = 0
    while any(position < len(chat) for chat in chats):
        for chat in chats:
            if position < len(chat):
                yield chat[position]
        position += 1


def clean_alerts(records: list[Record]) -> tuple[dict[AlertKey, str], Counter]:
    """The alerts (with what they are about) and dead-letter reasons of an uninterrupted in-process run."""
    from streams.monitor.build import build_pipeline
    from streams.settings import load_settings
    from streams.tooling.scan import scan_records

    alerts: dict[AlertKey, str] = {}
    dead: Counter = Counter()
    for result in scan_records(records, build_pipeline(load_settings())):
        alerts.update({(a.alert_id, a.severity): _about(a.model_dump(mode="json")) for a in result.alerts})
        if result.dead_letter is not None:
            dead[result.dead_letter.reason] += 1
    return alerts, dead


def _about(alert: dict) -> str:
    return f"{alert['rule']} in {alert['conversation_id']} at turns {alert['turns']}"


def delivery_config(url: str) -> str:
    return f"""
cooldown_seconds: 0
max_attempts: 30
backoff_initial_seconds: 0.5
backoff_max_seconds: 2.0
receivers:
  - name: crashtest
    kind: webhook
    url: "{url}"
    secret: {{env: TURNWATCH_CRASHTEST_SECRET}}
routes:
  - receivers: [crashtest]
"""


class Fleet:
    """Worker processes in one consumer group, each with its own web port and data dir."""

    def __init__(self, broker: str, env: dict[str, str], run_dir: Path) -> None:
        self.broker = broker
        self.env = env
        self.run_dir = run_dir
        self.running: dict[str, tuple[subprocess.Popen, int]] = {}
        self.started = 0
        self.counts: dict[str, float] = {}
        self.exits: list[str] = []

    def start(self) -> str:
        from streams.kafka.broker import free_port

        self.started += 1
        name = f"worker-{self.started}"
        port = free_port()
        data_dir = self.run_dir / name
        process = spawn_worker(
            self.broker, port, self.run_dir / f"{name}.log", extra_env={**self.env, "TURNWATCH_DATA_DIR": str(data_dir)}
        )
        try:
            wait_ready(port, timeout=180, process=process)
        except Exception:
            stop_process(process)
            if process.returncode == OFFSET_JUMP_EXIT_CODE:
                self.exits.append(f"{name} exited with {OFFSET_JUMP_EXIT_CODE} (offset jump) while starting")
                return self.start()
            raise
        self.running[name] = (process, port)
        return name

    def supervise(self) -> None:
        """Restart a worker that exited by itself, as Kubernetes or compose would."""
        for name, (process, _) in list(self.running.items()):
            if process.poll() is not None:
                del self.running[name]
                self.exits.append(f"{name} exited with {process.returncode}; restarted as {self.start()}")

    def kill(self, name: str) -> None:
        self.record_counts(name)
        process, _ = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def all_working(self) -> bool:
        """Every running worker has processed (or skipped as already done) a turn since it started."""
        try:
            return all(
                metric_total(port, "turnwatch_turns_total") + metric_total(port, "turnwatch_duplicate_turns_total") > 0
                for _, port in self.running.values()
            )
        except OSError:  # one just exited; supervise() restarts it
            return False

    def record_counts(self, name: str) -> None:
        """Add a worker's turn-gap and stale-state counters to the fleet's totals (before it goes)."""
        port = self.running[name][1]
        for metric in ("turnwatch_turn_gaps_total", "turnwatch_stale_state_records_total"):
            try:
                self.counts[metric] = self.counts.get(metric, 0) + metric_total(port, metric)
            except OSError:
                pass

    def stop_all(self) -> None:
        for name in list(self.running):
            self.record_counts(name)
        for process, _ in self.running.values():
            stop_process(process, timeout=60)
        self.running.clear()


class Committed:
    """The consumer group's committed offsets on the turns topic (an admin client kept open)."""

    def __init__(self, broker: str, group: str, topic: str, partitions: int) -> None:
        from kafka import TopicPartition

        self.admin = KafkaAdminClient(bootstrap_servers=broker, client_id="turnwatch-crashtest")
        self.group = group
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]

    def offsets(self) -> dict[int, int]:
        found = self.admin.list_group_offsets({self.group: self.tps}).get(self.group, {})
        return {tp.partition: meta.offset for tp, meta in found.items() if meta.offset >= 0}

    def total(self) -> int:
        return sum(self.offsets().values())

    def close(self) -> None:
        self.admin.close()


def read_topic(broker: str, topic: str, quiet_seconds: float = 3.0, bound: float = 120.0) -> list[dict]:
    """Every record of a topic, read until nothing new arrives for ``quiet_seconds``."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=int(quiet_seconds * 1000),
    )
    records: list[dict] = []
    deadline = time.monotonic() + bound
    try:
        while time.monotonic() < deadline:
            before = len(records)
            records.extend(json.loads(message.value) for message in consumer)
            if len(records) == before:
                break
    finally:
        consumer.close()
    return records


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def run_crashtest(
    broker: str,
    plan: CrashPlan,
    run_dir: Path,
    say: Callable[[str], None] = print,
    clean: tuple[dict[AlertKey, str], Counter] | None = None,
) -> CrashReport:
    """``clean``: the clean run's result for this plan's workload, when a caller already has it."""
    from streams.ingest.replay import replay
    from streams.kafka.topics import ensure_topics
    from streams.topology import TOPICS, topic_settings

    started = time.monotonic()
    rng = random.Random(plan.seed)
    records = workload(plan.turns, plan.seed)
    if clean is None:
        say(f"clean run of {len(records)} turns in-process ...")
        clean = clean_alerts(records)
    expected, expected_dead = clean
    suffix = uuid.uuid4().hex[:8]
    renamed = topic_settings(f"crashtest-{suffix}-")  # every named topic of streams.topology, fresh
    topics = {spec.role: renamed[f"TURNWATCH_{spec.setting.upper()}"] for spec in TOPICS if spec.setting}
    group = f"turnwatch-crashtest-{suffix}"
    ensure_topics(
        broker, [topics[role] for role in ("turns", "alerts", "dlq", "delivery_retry", "delivery_dlq")], plan.partitions
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(SECRET.encode()).start()
    config = run_dir / "delivery.yaml"
    config.write_text(delivery_config(receiver.url))
    env = {
        "TURNWATCH_APP_ID": group,
        "TURNWATCH_PARTITIONS": str(plan.partitions),
        **renamed,
        "TURNWATCH_DELIVERY_CONFIG": str(config),
        "TURNWATCH_CRASHTEST_SECRET": SECRET,
    }
    fleet = Fleet(broker, env, run_dir)
    committed = Committed(broker, group, topics["turns"], plan.partitions)
    report = CrashReport(
        turns=len(records),
        conversations=len({r.key for r in records}),
        expected_alerts=len(expected),
        observed_alerts=0,
        expected_dead_letters=dict(expected_dead),
        redelivery_bound=plan.kills * plan.partitions,
    )
    try:
        for _ in range(plan.workers):
            fleet.start()
        say(f"{plan.workers} worker(s) ready; publishing ...")
        sent = replay(records, broker, topics["turns"])
        if sent.failed:
            raise RuntimeError(f"replay failed for {sent.failed} turns: {sent.errors[:3]}")
        end = sent.end_offsets
        _inject_faults(fleet, plan, rng, committed, len(records), report, say)
        report.caught_up = wait_for(lambda: fleet.supervise() or committed.offsets() == end, plan.settle_timeout)
        if not report.caught_up:
            report.events.append(f"committed offsets stuck at {committed.offsets()}, end {end}")
        observed = read_topic(broker, topics["alerts"])
        keys = Counter((a["alert_id"], a["severity"]) for a in observed)
        report.observed_alerts = len(keys)
        about = {(a["alert_id"], a["severity"]): _about(a) for a in observed}
        report.missing = sorted(f"{key[1]} {expected[key]}" for key in expected.keys() - keys.keys())
        report.unexpected = sorted(f"{key[1]} {about[key]}" for key in keys.keys() - expected.keys())
        report.topic_duplicates = sum(n - 1 for n in keys.values())
        report.routed = len(keys)
        wait_for(lambda: set(receiver.deliveries) >= set(keys), timeout=60)
        time.sleep(2)  # a late duplicate would land now
        report.delivered = len(set(receiver.deliveries) & set(keys))
        report.undelivered = report.routed - report.delivered
        report.duplicate_deliveries = sum(n - 1 for n in receiver.deliveries.values())
        report.dead_letters = dict(Counter(d["reason"] for d in read_topic(broker, topics["dlq"], quiet_seconds=1)))
    finally:
        fleet.stop_all()
        receiver.stop()
        committed.close()
    report.events.extend(fleet.exits)
    report.turn_gaps = int(fleet.counts.get("turnwatch_turn_gaps_total", 0))
    report.stale_state_records = int(fleet.counts.get("turnwatch_stale_state_records_total", 0))
    report.seconds = time.monotonic() - started
    return report


def _inject_faults(
    fleet: Fleet,
    plan: CrashPlan,
    rng: random.Random,
    committed: Committed,
    total: int,
    report: CrashReport,
    say: Callable[[str], None],
) -> None:
    """Kill a worker each time another ``1/(kills+1)`` of the turns is committed, after a random
    pause so the kill lands anywhere between commits; restart it (one worker) or, with several,
    restart it only after the fleet has rebalanced without it. Add a newcomer half-way if asked."""
    points = [total * (k + 1) / (plan.kills + 1 + plan.add_worker) for k in range(plan.kills + plan.add_worker)]
    actions = ["kill"] * plan.kills
    if plan.add_worker:
        actions.insert(len(actions) // 2 + 1, "add")
    for point, action in zip(points, actions):
        if not wait_for(
            lambda point=point: fleet.supervise() or (committed.total() >= point and fleet.all_working()),
            timeout=plan.settle_timeout,
        ):
            report.events.append(f"progress stalled before {point:.0f} committed turns")
            return
        time.sleep(rng.uniform(0.0, 3.0))
        done = committed.total()
        if action == "add":
            name = fleet.start()
            report.events.append(f"added {name} at {done} committed turns")
        else:
            victim = rng.choice(sorted(fleet.running))
            fleet.kill(victim)
            report.events.append(f"SIGKILL {victim} at {done} committed turns")
            if not fleet.running:
                name = fleet.start()
                report.events.append(f"restarted as {name}")
            elif len(fleet.running) < plan.workers:
                time.sleep(rng.uniform(1.0, 4.0))
                name = fleet.start()
                report.events.append(f"started {name} after the survivors took over")
        say(report.events[-1])
