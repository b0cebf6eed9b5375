"""One module per receiver kind (its config model and its notifier), registered here."""

from __future__ import annotations

from pydantic import SecretStr

from streams.delivery.models import ReceiverConfig
from streams.delivery.sinks.alertmanager import AlertmanagerNotifier, AlertmanagerReceiver
from streams.delivery.sinks.base import BaseNotifier, Notice, Outcome
from streams.delivery.sinks.pagerduty import PagerDutyNotifier, PagerDutyReceiver
from streams.delivery.sinks.slack import SlackNotifier, SlackReceiver
from streams.delivery.sinks.webhook import WebhookNotifier, WebhookReceiver

# The registration: a new receiver kind is its module plus one entry here.
NOTIFIERS: tuple[type[BaseNotifier], ...] = (WebhookNotifier, SlackNotifier, PagerDutyNotifier, AlertmanagerNotifier)
SINKS: dict[str, type[BaseNotifier]] = {notifier.kind: notifier for notifier in NOTIFIERS}

__all__ = [
    "NOTIFIERS",
    "SINKS",
    "AlertmanagerReceiver",
    "BaseNotifier",
    "Notice",
    "Outcome",
    "PagerDutyReceiver",
    "SlackReceiver",
    "WebhookReceiver",
    "build_notifier",
]


def build_notifier(receiver: ReceiverConfig, secret: SecretStr | None, conversation_url: str | None) -> BaseNotifier:
    return SINKS[receiver.kind](receiver, secret, conversation_url)
