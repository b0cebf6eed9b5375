"""The Notifier interface: send one alert, say whether a failure is worth retrying.

As in Alertmanager, the notifier decides *whether* to retry; the retry stage owns *when*.
A receiver kind is one module: its config model (a ``ReceiverConfig``) and its notifier, then
one line in ``streams.runtime.delivery.sinks.NOTIFIERS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from pydantic import SecretStr

from streams.contracts import Alert
from streams.runtime.delivery.models import ReceiverConfig


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool
    detail: str


class BaseNotifier:
    """What every sink keeps: its receiver config, its secret (if any) and the link template."""

    kind: ClassVar[str]
    config: ClassVar[type[ReceiverConfig]]

    def __init__(self, receiver: ReceiverConfig, secret: SecretStr | None, conversation_url: str | None) -> None:
        self.name = receiver.name
        self.receiver = receiver
        self.secret = secret
        self.conversation_url = conversation_url

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        raise NotImplementedError


def conversation_link(template: str | None, alert: Alert) -> str | None:
    """The reviewer's link: the template with {alert_id} and {conversation_id} filled in."""
    return template.format(alert_id=alert.alert_id, conversation_id=alert.conversation_id) if template else None


def created_at(alert: Alert) -> str:
    return alert.created_at.isoformat()


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Any,
    timeout: float,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Outcome:
    """POST and classify: 2xx delivered; 408/429/5xx and network errors retry; other 4xx do not."""
    data = body if body is not None else json.dumps(payload).encode()
    try:
        async with session.post(
            url,
            data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            status = response.status
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return Outcome(False, True, f"{type(exc).__name__}")
    if 200 <= status < 300:
        return Outcome(True, False, f"HTTP {status}")
    return Outcome(False, status in (408, 425, 429) or status >= 500, f"HTTP {status}")
