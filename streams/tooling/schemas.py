"""JSON Schemas for the contracts and an AsyncAPI document for the topics, from the code.

``make schemas`` writes them to ``schemas/``; a test fails when the committed files drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from streams import __version__
from streams.contracts import ALERT_SCHEMA_ID, TURN_SCHEMA_ID, VERDICT_SCHEMA_ID, Alert, TurnEvent, VerdictEvent
from streams.settings import Settings

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def turn_schema() -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, **TurnEvent.model_json_schema()}


def alert_schema() -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, **Alert.model_json_schema()}


def verdict_schema() -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, **VerdictEvent.model_json_schema()}


def dead_letter_schema() -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": "turnwatch.dead_letter/1",
        "title": "DeadLetter",
        "type": "object",
        "required": ["reason", "detail", "original", "source"],
        "properties": {
            "reason": {
                "type": "string",
                "enum": [
                    "invalid_json",
                    "schema",
                    "schema_version",
                    "text_too_large",
                    "out_of_order",
                    "processing_error",
                ],
            },
            "detail": {"type": "string", "description": "Names the offending field; never contains turn text."},
            "original": {
                "description": "The event as received (string if it was not a JSON object). "
                "Over 64 KiB: {truncated: its first 4,096 characters, bytes: its size, "
                "sha256: its hash}."
            },
            "source": {
                "type": "object",
                "properties": {
                    "topic": {"type": "string"},
                    "partition": {"type": "integer"},
                    "offset": {"type": "integer"},
                },
            },
        },
    }


def asyncapi() -> dict[str, Any]:
    # Default topic names, not the environment's: the document describes the product.
    settings = Settings.model_construct()
    key = {"type": "string", "description": "conversation_id"}

    def channel(address: str, description: str, message: str) -> dict[str, Any]:
        return {
            "address": address,
            "description": description,
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }

    def message(name: str, schema_file: str, title: str, keyed_by: dict[str, Any] = key) -> dict[str, Any]:
        return {
            "name": name,
            "title": title,
            "contentType": "application/json",
            "bindings": {"kafka": {"key": keyed_by}},
            "payload": {"$ref": f"./{schema_file}"},
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "turnwatch",
            "version": __version__,
            "description": "Conversation turns in, alerts out, reviewers' verdicts back. Turns, alerts and "
            "dead letters are keyed by conversation_id, verdicts by alert_id.",
        },
        "channels": {
            "turns": channel(
                settings.turns_topic, "Every conversation turn (patient, therapist or system).", "TurnEvent"
            ),
            "alerts": channel(settings.alerts_topic, "Alerts for on-call reviewers.", "Alert"),
            "verdicts": channel(
                settings.verdicts_topic,
                "Reviewers' actions on alerts from the console: acknowledge, resolve, verdict.",
                "VerdictEvent",
            ),
            "deadLetters": channel(
                settings.dlq_topic, "Turn events that failed validation, with the reason.", "DeadLetter"
            ),
        },
        "operations": {
            "publishTurn": {"action": "send", "channel": {"$ref": "#/channels/turns"}},
            "monitorTurns": {"action": "receive", "channel": {"$ref": "#/channels/turns"}},
            "publishAlert": {"action": "send", "channel": {"$ref": "#/channels/alerts"}},
            "publishDeadLetter": {"action": "send", "channel": {"$ref": "#/channels/deadLetters"}},
            "publishVerdict": {"action": "send", "channel": {"$ref": "#/channels/verdicts"}},
        },
        "components": {
            "messages": {
                "TurnEvent": message(TURN_SCHEMA_ID, "turn.schema.json", "Conversation turn"),
                "Alert": message(ALERT_SCHEMA_ID, "alert.schema.json", "Alert"),
                "DeadLetter": message("turnwatch.dead_letter/1", "dead_letter.schema.json", "Dead letter"),
                "VerdictEvent": message(
                    VERDICT_SCHEMA_ID,
                    "verdict.schema.json",
                    "Reviewer verdict",
                    {"type": "string", "description": "alert_id"},
                ),
            }
        },
    }


def rendered() -> dict[str, str]:
    """File name → exact file contents."""
    dump = lambda obj: json.dumps(obj, indent=2, sort_keys=True) + "\n"  # noqa: E731
    return {
        "turn.schema.json": dump(turn_schema()),
        "alert.schema.json": dump(alert_schema()),
        "dead_letter.schema.json": dump(dead_letter_schema()),
        "verdict.schema.json": dump(verdict_schema()),
        "asyncapi.yaml": yaml.safe_dump(asyncapi(), sort_keys=False),
    }


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered().items():
        path = directory / name
        path.write_text(content)
        written.append(path)
    return written
