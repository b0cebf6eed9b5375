"""The words turnwatch's parts share, each defined once: severities, review statuses, verdicts,
and the actions of the review audit log. Contracts, the console, delivery and the schemas import
them from here."""

from __future__ import annotations

from detectors.findings import SEVERITY_NAMES as SEVERITIES  # lowest first; detectors own the ladder

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES, start=1)}

STATUSES = ("open", "acknowledged", "resolved")
VERDICTS = ("true_positive", "false_positive", "unsure", "wrong_severity", "wrong_rule")
CORRECTED_VERDICTS = ("wrong_severity", "wrong_rule")  # these name what it should have been

# What a reviewer does in the console, and what turnwatch itself records in the same audit log:
# ``reopen`` when an alert a reviewer had handled escalates with evidence nobody has seen.
REVIEW_ACTIONS = ("acknowledge", "resolve", "verdict", "assign")
SYSTEM_ACTIONS = ("reopen",)
ACTIONS = REVIEW_ACTIONS + SYSTEM_ACTIONS
SYSTEM_ACTOR = "turnwatch"

# What a paging receiver is told about an incident (PagerDuty Events v2 event_action; Slack post or update).
PAGING_ACTIONS = ("trigger", "acknowledge", "resolve")
