"""Alertmanager ``POST /api/v2/alerts``: lets an existing on-call setup route turnwatch alerts."""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
from pydantic import Field

from streams.contracts import Alert
from streams.delivery.models import ReceiverConfig
from streams.delivery.sinks.base import BaseNotifier, Outcome, conversation_link, created_at, post_json


class AlertmanagerReceiver(ReceiverConfig):
    kind: Literal["alertmanager"]
    url: str = Field(pattern=r"^https?://", description="Alertmanager base URL; alerts go to /api/v2/alerts.")


def alertmanager_alerts(alert: Alert, conversation_url: str | None) -> list[dict[str, Any]]:
    item: dict[str, Any] = {
        "labels": {
            "alertname": alert.rule.replace(".", "_"),
            "rule": alert.rule,
            "severity": alert.severity,
            "detector": alert.detector,
            "alert_id": alert.alert_id,
            "conversation_id": alert.conversation_id,
            "source": "turnwatch",
        },
        "annotations": {"summary": alert.summary, "suggested_action": alert.suggested_action},
        "startsAt": created_at(alert),
    }
    link = conversation_link(conversation_url, alert)
    if link:
        item["generatorURL"] = link
    return [item]


class AlertmanagerNotifier(BaseNotifier):
    kind = "alertmanager"
    config = AlertmanagerReceiver

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        url = self.receiver.url.rstrip("/") + "/api/v2/alerts"
        return await post_json(
            session, url, alertmanager_alerts(alert, self.conversation_url), self.receiver.timeout_seconds
        )
