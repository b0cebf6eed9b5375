"""Slack incoming webhook with Block Kit blocks: summary, severity, short quotes, a link."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import aiohttp

from streams.contracts import Alert
from streams.runtime.delivery.models import ReceiverConfig, SecretRef
from streams.runtime.delivery.sinks.base import BaseNotifier, Outcome, conversation_link, post_json

EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}


class SlackReceiver(ReceiverConfig):
    secret_field: ClassVar[str | None] = "webhook_url"

    kind: Literal["slack"]
    webhook_url: SecretRef  # Slack incoming-webhook URLs are secrets


def slack_payload(alert: Alert, conversation_url: str | None) -> dict[str, Any]:
    severity = alert.severity
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{severity.upper()}: {alert.rule}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{EMOJI.get(severity, '')} {alert.summary}"[:3000]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Severity*\n{severity}"},
                {"type": "mrkdwn", "text": f"*Detector*\n{alert.detector}"},
                {"type": "mrkdwn", "text": f"*Conversation*\n`{alert.conversation_id}`"},
                {"type": "mrkdwn", "text": f"*Turns*\n{', '.join(map(str, alert.turns))}"},
            ],
        },
    ]
    quotes = [f"> _turn {e.turn_index} ({e.role})_: {e.quote}" for e in alert.evidence[:3] if e.quote]
    if quotes:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(quotes)[:3000]}})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Suggested: {alert.suggested_action}"[:300]}]}
    )
    link = conversation_link(conversation_url, alert)
    if link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open conversation"},
                        "url": link,
                        "style": "danger" if severity == "critical" else "primary",
                    },
                ],
            }
        )
    return {"text": f"[{severity}] {alert.rule}: {alert.summary}"[:3000], "blocks": blocks}


class SlackNotifier(BaseNotifier):
    kind = "slack"
    config = SlackReceiver

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        return await post_json(
            session,
            self.secret.get_secret_value(),
            slack_payload(alert, self.conversation_url),
            self.receiver.timeout_seconds,
        )
