"""Generic JSON webhook, signed with HMAC-SHA256 (see ``streams.delivery.signing``)."""

from __future__ import annotations

import json
from typing import ClassVar, Literal

import aiohttp
from pydantic import Field

from streams.contracts import Alert
from streams.delivery.models import ReceiverConfig, SecretRef
from streams.delivery.signing import IDEMPOTENCY_HEADER, signed_headers
from streams.delivery.sinks.base import BaseNotifier, Outcome, conversation_link, post_json


class WebhookReceiver(ReceiverConfig):
    secret_field: ClassVar[str | None] = "secret"

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: SecretRef


class WebhookNotifier(BaseNotifier):
    kind = "webhook"
    config = WebhookReceiver

    def body(self, alert: Alert) -> bytes:
        payload = {
            **alert.model_dump(mode="json"),
            "conversation_url": conversation_link(self.conversation_url, alert),
        }
        return json.dumps(payload, sort_keys=True).encode()

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        body = self.body(alert)
        headers = signed_headers(self.secret.get_secret_value().encode(), body)
        # Upgrades of an episode reuse the key: treat a repeat with a higher severity as an update.
        headers[IDEMPOTENCY_HEADER] = alert.alert_id
        headers["X-Turnwatch-Severity"] = alert.severity
        return await post_json(session, self.receiver.url, None, self.receiver.timeout_seconds, headers, body=body)
