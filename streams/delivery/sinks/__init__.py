"""One module per receiver kind, all behind the Notifier interface in ``base``."""

from streams.delivery.sinks.alertmanager import AlertmanagerNotifier
from streams.delivery.sinks.base import Notifier, Outcome
from streams.delivery.sinks.pagerduty import PagerDutyNotifier
from streams.delivery.sinks.slack import SlackNotifier
from streams.delivery.sinks.webhook import WebhookNotifier

__all__ = ["AlertmanagerNotifier", "Notifier", "Outcome", "PagerDutyNotifier", "SlackNotifier", "WebhookNotifier",
           "build_notifier"]


def build_notifier(receiver, secret, conversation_url):
    kinds = {"webhook": WebhookNotifier, "slack": SlackNotifier, "pagerduty": PagerDutyNotifier,
             "alertmanager": AlertmanagerNotifier}
    return kinds[receiver.kind](receiver, secret, conversation_url)
