"""Alertmanager ``POST /api/v2/alerts``: lets an existing on-call setup route turnwatch alerts."""

from __future__ import annotations

from typing import Any

import aiohttp

from streams.delivery.sinks.base import BaseNotifier, Outcome, conversation_link, post_json


def alertmanager_alerts(alert: dict[str, Any], conversation_url: str | None) -> list[dict[str, Any]]:
    item: dict[str, Any] = {
        "labels": {
            "alertname": alert["rule"].replace(".", "_"),
            "rule": alert["rule"],
            "severity": alert["severity"],
            "detector": alert["detector"],
            "alert_id": alert["alert_id"],
            "conversation_id": alert["conversation_id"],
            "source": "turnwatch",
        },
        "annotations": {"summary": alert["summary"], "suggested_action": alert["suggested_action"]},
        "startsAt": alert["created_at"],
    }
    link = conversation_link(conversation_url, alert["conversation_id"])
    if link:
        item["generatorURL"] = link
    return [item]


class AlertmanagerNotifier(BaseNotifier):
    kind = "alertmanager"

    async def notify(self, session: aiohttp.ClientSession, alert: dict[str, Any]) -> Outcome:
        url = self.receiver.url.rstrip("/") + "/api/v2/alerts"
        return await post_json(session, url, alertmanager_alerts(alert, self.conversation_url), self.receiver.timeout_seconds)
