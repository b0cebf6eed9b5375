"""The Notifier interface: send one alert, say whether a failure is worth retrying.

As in Alertmanager, the notifier decides *whether* to retry; the retry stage owns *when*.
A receiver kind is one module: its config model (a ``ReceiverConfig``) and its notifier, then
one line in ``streams.delivery.sinks.NOTIFIERS``.

Most receivers only take the page itself (``notify``). A paging receiver that can follow the
alert's life (PagerDuty, Slack with a bot token) says so with ``takes_updates`` and implements
``send`` for every ``Notice``: the trigger, then the acknowledgement and the resolution a
reviewer makes in the console. What such a receiver returns to refer to its page later (Slack's
channel and ``ts``) comes back in ``Outcome.ref``; the delivery path stores it and hands it back
in the next notice for the same alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import SecretStr

from streams.contracts import Alert
from streams.delivery.models import ReceiverConfig
from streams.vocabulary import PAGING_ACTIONS

Action = Literal[PAGING_ACTIONS]


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retry: bool
    detail: str
    ref: dict[str, Any] | None = None  # how the receiver names what it made (Slack: channel, ts)


@dataclass(frozen=True)
class Notice:
    """What one delivery tells a receiver: the alert, and what happened to it.

    ``trigger`` is the page (again at a higher severity, an update of the same page where the
    receiver can update); ``acknowledge`` and ``resolve`` carry the reviewer in ``actor``.
    ``note`` says why this receiver is told (an escalation step); ``ref`` is what the receiver
    returned the last time it was sent this alert."""

    alert: Alert
    action: Action = "trigger"
    actor: str = ""
    note: str = ""
    ref: dict[str, Any] | None = None


class BaseNotifier:
    """What every sink keeps: its receiver config, its secret (if any) and the link template."""

    kind: ClassVar[str]
    config: ClassVar[type[ReceiverConfig]]

    def __init__(self, receiver: ReceiverConfig, secret: SecretStr | None, conversation_url: str | None) -> None:
        self.name = receiver.name
        self.receiver = receiver
        self.secret = secret
        self.conversation_url = conversation_url

    @property
    def takes_updates(self) -> bool:
        """Whether acknowledgements and resolutions reach this receiver (see ``send``)."""
        return False

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        raise NotImplementedError

    async def send(self, session: aiohttp.ClientSession, notice: Notice) -> Outcome:
        """Deliver one notice. A receiver that takes updates overrides this; the others only page
        (the delivery path never sends them anything else)."""
        if notice.action != "trigger":
            return Outcome(False, False, f"{self.kind} receivers take no {notice.action}")
        return await self.notify(session, notice.alert)


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
