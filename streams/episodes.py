"""The one episode policy: one alert per episode, raised again only at a higher severity.

Detectors report findings with an episode key (``Finding.episode``) and keep no record of what
was alerted; this book, kept in each conversation's state, decides. Per rule and episode it
holds the opening turn and the worst severity alerted:

- the first finding of an episode opens it at ``finding.opened_at``; the alert id is a hash of
  conversation, rule and that turn, so repeats of the episode map to the same alert;
- a repeat becomes an alert again only above the episode's worst severity (same alert id,
  higher severity); at the same or a lower severity it is held back.

A detector chooses the episode: "" for one per rule per conversation (crisis steps, most
therapist rules), the turn that started a run or a rise (loops, distress), or the turn itself
(a malformed answer).
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
    """A view over ``ConversationState.episodes``: ``{rule: {episode: [opened_at, worst]}}``."""

    def __init__(self, conversation_id: str, data: dict[str, Any]) -> None:
        self.conversation_id = conversation_id
        self.data = data

    def admit(self, finding: Finding) -> str | None:
        """The alert id to raise for ``finding``, or None when the policy holds it back."""
        episodes = self.data.setdefault(finding.rule, {})
        entry = episodes.setdefault(finding.episode, [finding.opened_at, 0])
        while len(episodes) > MAX_EPISODES_PER_RULE:
            episodes.pop(next(iter(episodes)))
        if int(finding.severity) <= entry[1]:
            return None
        entry[1] = int(finding.severity)
        return alert_id(self.conversation_id, finding.rule, entry[0])
