"""Slack, in one of two modes, with Block Kit blocks: summary, severity, short quotes, a link.

- ``webhook_url``: an incoming webhook. Fire-and-forget: a webhook can only post, never edit
  what it posted, so acknowledgements and resolutions do not reach it.
- ``bot_token`` + ``channel``: the Web API through slack-sdk's ``AsyncWebClient``.
  ``chat.postMessage`` posts the page; its channel and ``ts`` are kept by the delivery path (the
  ``message_refs`` table) and every later notice for the alert edits that one message with
  ``chat.update``: escalated to a higher severity, acknowledged by X, resolved by X. slack-sdk
  is imported only when a bot-token receiver sends, so webhook-only setups do not need it.

The client's own retries are off: as for every sink, the delivery path's retry stage owns when
to try again; the notifier only says whether a failure is worth it.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

import aiohttp
from pydantic import Field, SecretStr, model_validator

from streams.contracts import Alert
from streams.delivery.models import ReceiverConfig, SecretRef
from streams.delivery.sinks.base import BaseNotifier, Notice, Outcome, conversation_link, post_json
from streams.errors import ConfigError

EMOJI = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":information_source:",
}
# Web API errors worth another try (the rest, e.g. channel_not_found or invalid_auth, are not).
RETRYABLE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})


class SlackReceiver(ReceiverConfig):
    kind: Literal["slack"]
    webhook_url: SecretRef | None = Field(default=None, description="Incoming webhook (posts only); a secret.")
    bot_token: SecretRef | None = Field(default=None, description="Bot token (xoxb-...): posts, then updates.")
    channel: str | None = Field(default=None, min_length=1, max_length=80, description="With bot_token: e.g. C0123.")
    api_url: str = Field(default="https://slack.com/api/", pattern=r"^https?://", description="Web API base URL.")

    @model_validator(mode="after")
    def _one_mode(self) -> SlackReceiver:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError(
                "give exactly one of webhook_url (posts only) or bot_token with channel (posts and updates)"
            )
        if self.bot_token is not None and self.channel is None:
            raise ValueError("channel: required with bot_token")
        if self.webhook_url is not None and self.channel is not None:
            raise ValueError("channel: only with bot_token (an incoming webhook posts to its own channel)")
        return self

    @property
    def secret_field(self) -> str:  # type: ignore[override]
        return "webhook_url" if self.bot_token is None else "bot_token"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message_state(notice: Notice) -> str | None:
    """The line on top of the message that says where the alert stands, if anywhere yet."""
    if notice.action == "acknowledge":
        return f":eyes: Acknowledged by {_escape(notice.actor)}"
    if notice.action == "resolve":
        return f":white_check_mark: Resolved by {_escape(notice.actor)}"
    before = (notice.ref or {}).get("severity")
    if before is not None and before != notice.alert.severity:
        return f":arrow_double_up: Escalated from {before} to {notice.alert.severity}"
    return _escape(notice.note) if notice.note else None


def slack_payload(alert: Alert, conversation_url: str | None, state: str | None = None) -> dict[str, Any]:
    severity = alert.severity
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{severity.upper()}: {alert.rule}"[:150]}},
    ]
    if state:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": state[:300]}]})
    blocks += [
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
    text = f"[{severity}] {alert.rule}: {alert.summary}"
    if state:
        text = f"{text} ({state})"
    return {"text": text[:3000], "blocks": blocks}


def slack_failure(exc: Exception) -> Outcome:
    """A Web API error (slack-sdk's SlackApiError): retry on 408/425/429, 5xx and Slack's own
    transient errors; not on the rest (a wrong token or channel will not fix itself)."""
    response = exc.response  # type: ignore[attr-defined]
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error", ""))
    status = response.status_code
    retry = status in (408, 425, 429) or status >= 500 or error in RETRYABLE_ERRORS
    return Outcome(False, retry, f"HTTP {status} {error}".strip())


class SlackNotifier(BaseNotifier):
    kind = "slack"
    config = SlackReceiver

    def __init__(self, receiver: SlackReceiver, secret: SecretStr | None, conversation_url: str | None) -> None:
        super().__init__(receiver, secret, conversation_url)
        if receiver.bot_token is not None and importlib.util.find_spec("slack_sdk") is None:
            # At start-up, not at the first page: a missing library must not dead-letter pages.
            raise ConfigError(f"receiver {receiver.name}: bot_token needs the slack-sdk package")

    @property
    def takes_updates(self) -> bool:
        return self.receiver.bot_token is not None

    async def notify(self, session: aiohttp.ClientSession, alert: Alert) -> Outcome:
        return await self.send(session, Notice(alert))

    async def send(self, session: aiohttp.ClientSession, notice: Notice) -> Outcome:
        payload = slack_payload(notice.alert, self.conversation_url, message_state(notice))
        if self.receiver.bot_token is None:
            if notice.action != "trigger":
                return Outcome(False, False, "an incoming webhook cannot update a message")
            return await post_json(session, self.secret.get_secret_value(), payload, self.receiver.timeout_seconds)
        return await self._web_api(session, notice, payload)

    async def _web_api(self, session: aiohttp.ClientSession, notice: Notice, payload: dict[str, Any]) -> Outcome:
        from slack_sdk.errors import SlackApiError, SlackClientError
        from slack_sdk.web.async_client import AsyncWebClient

        client = AsyncWebClient(
            token=self.secret.get_secret_value(),
            base_url=self.receiver.api_url.rstrip("/") + "/",
            timeout=int(max(1, self.receiver.timeout_seconds)),
            session=session,
            retry_handlers=[],
        )
        try:
            if notice.ref is not None:
                response = await client.chat_update(channel=notice.ref["channel"], ts=notice.ref["ts"], **payload)
            elif notice.action == "trigger":
                response = await client.chat_postMessage(channel=self.receiver.channel, **payload)
            else:
                return Outcome(False, False, f"no message to {notice.action}")
        except SlackApiError as exc:
            return slack_failure(exc)
        except (TimeoutError, aiohttp.ClientError, OSError, SlackClientError) as exc:
            return Outcome(False, True, type(exc).__name__)
        ref = {"channel": response["channel"], "ts": response["ts"], "severity": notice.alert.severity}
        return Outcome(True, False, "chat.update" if notice.ref is not None else "chat.postMessage", ref)
