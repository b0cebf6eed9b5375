"""PagerDuty Events API v2: one incident per alert, moved through its life.

The trigger carries ``dedup_key = alert_id``; the console's acknowledge and resolve go out as
``event_action`` acknowledge / resolve with the same routing key and dedup key, so the incident
the on-call sees follows what the reviewer did. A trigger again at a higher severity keeps the
dedup key: PagerDuty adds it to the same incident instead of opening a second one.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import Field

from streams.contracts import Alert
from streams.delivery.models import ReceiverConfig, SecretRef
from streams.delivery.sinks.base import (
    BaseNotifier,
    Notice,
    Outcome,
    conversation_link,
    created_at,
    post_json,
)

SEVERITY = {"info": "info", "warning": "warning", "high": "error", "critical": "critical"}


class PagerDutyReceiver(ReceiverConfig):
    secret_field: ClassVar[str | None] = "routing_key"

    kind: Literal["pagerduty"]
    routing_key: SecretRef
    url: str = Field(default="https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://")


def pagerduty_event(alert: Alert, routing_key: str, conversation_url: str | None, note: str = "") -> dict[str, Any]:
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
    if note:
        event["payload"]["custom_details"]["escalation"] = note
    link = conversation_link(conversation_url, alert)
    if link:
        event["links"] = [{"href": link, "text": "Open conversation"}]
    return event


def pagerduty_update(alert: Alert, routing_key: str, action: str) -> dict[str, Any]:
    """acknowledge or resolve: PagerDuty needs only the routing key and the trigger's dedup key."""
    return {"routing_key": routing_key, "event_action": action, "dedup_key": alert.alert_id}


class PagerDutyNotifier(BaseNotifier):
    kind = "pagerduty"
    config = PagerDutyReceiver

    @property
    def takes_updates(self) -> bool:
        return True

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        return await self.send(session, Notice(alert))

    async def send(self, session: aiohttp.ClientSession, notice: Notice) -> Outcome:
        key = self.secret.get_secret_value()
        if notice.action == "trigger":
            event = pagerduty_event(notice.alert, key, self.conversation_url, notice.note)
        else:
            event = pagerduty_update(notice.alert, key, notice.action)
        return await post_json(session, self.receiver.url, event, self.receiver.timeout_seconds)
