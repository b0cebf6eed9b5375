"""The one episode policy: one alert per episode, raised again only at a higher severity.

Detectors report findings with an episode key (``Finding.episode``) and keep no record of what
was alerted; this book, kept in each conversation's state, decides. Per rule it holds each
episode's opening turn and worst alerted severity, and the worst severity alerted for the rule:

- the first finding of an episode opens it at ``finding.opened_at``; the alert id is a hash of
  conversation, rule and that turn, so repeats of the episode map to the same alert;
- a repeat becomes an alert again only above the episode's worst severity (same alert id);
- a new episode becomes an alert only above the worst severity already alerted for the rule in
  this conversation (no re-paging for a relapse reviewers have seen), unless the finding is
  ``recurring`` (every occurrence matters on its own: a malformed answer, a missed crisis).

A detector chooses the episode: "" for one per rule per conversation (crisis steps, most
therapist rules), the turn that started a run or a rise (loops, distress), or the turn itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

from detectors.findings import Finding

MAX_EPISODES_PER_RULE = 16


def alert_id(conversation_id: str, rule: str, opened_at: int) -> str:
    """Stable identity of an episode: the same conversation, rule and opening turn."""
    digest = hashlib.sha256(f"{conversation_id}\x1f{rule}\x1f{opened_at}".encode()).hexdigest()
    return digest[:32]


class EpisodeBook:
    """A view over ``ConversationState.episodes``: ``{rule: {"worst": int, "open": {key: [opened_at, worst]}}}``."""

    def __init__(self, conversation_id: str, data: dict[str, Any]) -> None:
        self.conversation_id = conversation_id
        self.data = data

    def admit(self, finding: Finding) -> str | None:
        """The alert id to raise for ``finding``, or None when the policy holds it back."""
        book = self.data.setdefault(finding.rule, {"worst": 0, "open": {}})
        severity = int(finding.severity)
        entry = book["open"].get(finding.episode)
        if entry is None:
            entry = book["open"][finding.episode] = [finding.opened_at, 0]
            while len(book["open"]) > MAX_EPISODES_PER_RULE:
                book["open"].pop(next(iter(book["open"])))
            if not finding.recurring and severity <= book["worst"]:
                entry[1] = severity  # a relapse at a level already seen: quiet, but remembered
                return None
        if severity <= entry[1]:
            return None
        entry[1] = severity
        book["worst"] = max(book["worst"], severity)
        return alert_id(self.conversation_id, finding.rule, entry[0])
