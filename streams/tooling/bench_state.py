"""What the monitor's state costs, read from its two changelogs: bytes written per processed
turn, bytes stored per conversation, and copies of stored conversations under new ids (so a
worker can be made to hold 10k conversations without encoding 10k conversations).

A conversation is a head (``<app>-conversations-changelog``, keyed by conversation id) plus
one record per turn in its window (``<app>-turns-changelog``, keyed ``<id>#<index>``); values
are written with ``streams.monitor.state_codec``, keys as JSON strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.partitioner.default import murmur2

from streams.monitor import state_codec
from streams.monitor.conversation_store import turn_key

Records = list[tuple[bytes, bytes | None]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Changelogs:
    heads: Records
    turns: Records

    @classmethod
    def read(cls, bootstrap: str, app_id: str) -> Changelogs:
        return cls(
            heads=all_records(bootstrap, f"{app_id}-conversations-changelog"),
            turns=all_records(bootstrap, f"{app_id}-turns-changelog"),
        )

    def bytes_per_turn(self) -> dict[str, float]:
        """Every byte both changelogs got (keys, values, deletions) over the turns processed; and the
        p99 over turns of what each head record cost with the turn records it added, shared among
        the turns it added (``turns_processed`` against the key's previous head)."""
        record_bytes = {key: len(key) + len(value) for key, value in self.turns if value is not None}
        total_bytes = sum(len(key) + len(value or b"") for key, value in self.heads + self.turns)
        processed: dict[bytes, int] = {}
        listed: dict[bytes, set[int]] = {}
        per_turn: list[float] = []
        for key, value in self.heads:
            if value is None:
                continue
            head = state_codec.loads(value)
            added = int(head.get("turns_processed", 0)) - processed.get(key, 0)
            processed[key] = int(head.get("turns_processed", 0))
            window = {i for i in head.get("window", []) if isinstance(i, int)}
            new = window - listed.get(key, set())
            listed[key] = window
            if added <= 0:
                continue
            conversation = json.loads(key)
            cost = len(key) + len(value) + sum(record_bytes.get(_turn_key_bytes(conversation, i), 0) for i in new)
            per_turn.extend([cost / added] * added)
        if not per_turn:
            return {}
        return {
            "mean": round(total_bytes / len(per_turn), 1),
            "p99": round(percentile(per_turn, 99), 1),
            "records": len(self.heads) + len(self.turns),
            "turns": len(per_turn),
        }

    def stored_conversations(self) -> dict[str, tuple[bytes, dict[int, bytes]]]:
        """The latest head of each conversation with its window's turn records (stored bytes)."""
        latest_turns = dict(self.turns)
        latest_heads = dict(self.heads)
        stored = {}
        for key, value in latest_heads.items():
            if value is None:
                continue
            conversation = json.loads(key)
            window = state_codec.loads(value).get("window", [])
            stored[conversation] = (
                value,
                {
                    i: latest_turns[_turn_key_bytes(conversation, i)]
                    for i in window
                    if latest_turns.get(_turn_key_bytes(conversation, i))
                },
            )
        return stored


def _turn_key_bytes(conversation: str, index: int) -> bytes:
    return json.dumps(turn_key(conversation, index)).encode()


def conversation_bytes(stored: tuple[bytes, dict[int, bytes]]) -> int:
    head, turns = stored
    return len(head) + sum(len(value) for value in turns.values())


def all_records(bootstrap: str, topic: str) -> Records:
    """Every (key, value) of a topic, in offset order per partition; deletions have value None."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None, consumer_timeout_ms=3000
    )
    records = [(message.key, message.value) for message in consumer]
    consumer.close()
    return records


def copy_conversations(
    bootstrap: str, app_id: str, templates: list[tuple[bytes, dict[int, bytes]]], count: int, prefix: str = "held"
) -> None:
    """Write ``count`` conversations to the changelogs, each a copy of a template under a new id, in
    the partition its turns would have come from (a worker writes a changelog record to the
    partition of the turn it processed)."""
    # One record per batch: tansu answers ListOffsets(latest) from the last batch's base offset.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, batch_size=1, max_request_size=2**21)
    heads_topic, turns_topic = f"{app_id}-conversations-changelog", f"{app_id}-turns-changelog"
    partitions = sorted(producer.partitions_for(heads_topic))
    for n in range(count):
        conversation = f"{prefix}-{n:05d}"
        partition = partitions[(murmur2(conversation.encode()) & 0x7FFFFFFF) % len(partitions)]  # as for its turns
        head_value, turns = templates[n % len(templates)]
        for index, value in turns.items():
            producer.send(turns_topic, key=_turn_key_bytes(conversation, index), value=value, partition=partition)
        head: dict[str, Any] = {**state_codec.loads(head_value), "conversation_id": conversation}
        producer.send(
            heads_topic, key=json.dumps(conversation).encode(), value=state_codec.dumps(head), partition=partition
        )
    producer.flush()
    producer.close()
