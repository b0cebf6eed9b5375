"""PagerDuty Events API v2: trigger events deduplicated by alert_id."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import Field

from streams.contracts import Alert
from streams.runtime.delivery.models import ReceiverConfig, SecretRef
from streams.runtime.delivery.sinks.base import BaseNotifier, Outcome, conversation_link, created_at, post_json

SEVERITY = {"info": "info", "warning": "warning", "high": "error", "critical": "critical"}


class PagerDutyReceiver(ReceiverConfig):
    secret_field: ClassVar[str | None] = "routing_key"

    kind: Literal["pagerduty"]
    routing_key: SecretRef
    url: str = Field(default="https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://")


def pagerduty_event(alert: Alert, routing_key: str, conversation_url: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.alert_id,
        "payload": {
            "summary": f"[{alert.severity}] {alert.summary}"[:1024],
            "source": "turnwatch",
            "severity": SEVERITY[alert.severity],
            "timestamp": created_at(alert),
            "component": alert.detector,
            "group": alert.detector,
            "class": alert.rule,
            "custom_details": {
                "conversation_id": alert.conversation_id,
                "rule": alert.rule,
                "turns": alert.turns,
                "evidence": [item.model_dump(mode="json") for item in alert.evidence],
                "score": alert.score,
                "taxonomy": alert.taxonomy,
                "suggested_action": alert.suggested_action,
                "detector_version": alert.detector_version,
            },
        },
    }
    link = conversation_link(conversation_url, alert)
    if link:
        event["links"] = [{"href": link, "text": "Open conversation"}]
    return event


class PagerDutyNotifier(BaseNotifier):
    kind = "pagerduty"
    config = PagerDutyReceiver

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        event = pagerduty_event(alert, self.secret.get_secret_value(), self.conversation_url)
        return await post_json(session, self.receiver.url, event, self.receiver.timeout_seconds)
