"""Generic JSON webhook, signed with HMAC-SHA256 (see ``streams.delivery.signing``)."""

from __future__ import annotations

from typing import Any

import json

import aiohttp

from streams.delivery.signing import IDEMPOTENCY_HEADER, signed_headers
from streams.delivery.sinks.base import BaseNotifier, Outcome, conversation_link, post_json


class WebhookNotifier(BaseNotifier):
    kind = "webhook"

    def body(self, alert: dict[str, Any]) -> bytes:
        payload = {**alert, "conversation_url": conversation_link(self.conversation_url, alert["conversation_id"])}
        return json.dumps(payload, sort_keys=True).encode()

    async def notify(self, session: aiohttp.ClientSession, alert: dict[str, Any]) -> Outcome:
        body = self.body(alert)
        headers = signed_headers(self.secret.get_secret_value().encode(), body)
        # Upgrades of an episode reuse the key: treat a repeat with a higher severity as an update.
        headers[IDEMPOTENCY_HEADER] = alert["alert_id"]
        headers["X-Turnwatch-Severity"] = alert["severity"]
        return await post_json(session, self.receiver.url, None, self.receiver.timeout_seconds, headers, body=body)
