"""``turnwatch eval --sessions DIR``: does the session-quality score tell good counselling from poor?

DIR holds transcripts and a ``ratings.jsonl`` (``{"file", "quality": "high"|"low"|"mixed"}``), such as
the written sessions in ``detectors/therapist/labelled/sessions``. Every session runs through the
worker's pipeline; per session we keep the rolling score after each AI turn. Reported:

- separation: AUC of the mean score, high against low sessions, and the mean score of each group;
- what the worker actually raised (``alerted``), per rating;
- the line: the rolling-score level under which ``RUN_WARNING`` AI turns in a row raise
  ``therapist.low_quality_session``, chosen on the *calibration* half (odd-numbered files) as the one
  that flags the most low sessions minus high ones, then measured on the other half.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from detectors.therapist import quality
from streams.ingest import read_records
from streams.monitor.pipeline import Pipeline
from streams.tooling.scan import scan_records

LINES = tuple(round(x, 2) for x in np.arange(0.15, 0.61, 0.025))


def session_scores(pipeline: Pipeline, folder: Path) -> list[dict[str, Any]]:
    sessions = []
    for line in (folder / "ratings.jsonl").read_text().splitlines():
        rated = json.loads(line)
        results = list(scan_records(read_records([folder / rated["file"]]), pipeline))
        scores = [r.observations["session_quality"] for r in results if "session_quality" in r.observations]
        alerted = any(a.rule == "therapist.low_quality_session" for r in results for a in r.alerts)
        sessions.append({**rated, "scores": scores, "alerted": alerted})
    return sessions


def flagged(scores: list[float], line: float) -> bool:
    run = 0
    for score in scores:
        run = run + 1 if score < line else 0
        if run >= quality.RUN_WARNING:
            return True
    return False


def rate(sessions: list[dict[str, Any]], quality_: str, line: float) -> float:
    group = [s for s in sessions if s["quality"] == quality_]
    return round(float(np.mean([flagged(s["scores"], line) for s in group])), 3) if group else 0.0


def evaluate_sessions(pipeline: Pipeline, folder: Path) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    sessions = session_scores(pipeline, folder)
    number = {s["file"]: int(re.sub(r"\D", "", s["file"]) or 0) for s in sessions}
    calibration = [s for s in sessions if number[s["file"]] % 2 == 1]
    held = [s for s in sessions if number[s["file"]] % 2 == 0]
    best = max(LINES, key=lambda line: (rate(calibration, "low", line) - rate(calibration, "high", line), -line))

    def summary(group: list[dict[str, Any]]) -> dict[str, Any]:
        rated = [s for s in group if s["quality"] in ("high", "low") and s["scores"]]
        means = {q: [float(np.mean(s["scores"])) for s in rated if s["quality"] == q] for q in ("high", "low")}
        return {
            "sessions": len(group),
            "auc_mean_score_high_vs_low": round(
                float(roc_auc_score([s["quality"] == "high" for s in rated], [np.mean(s["scores"]) for s in rated])), 3
            )
            if means["high"] and means["low"]
            else None,
            "mean_score": {q: round(float(np.mean(v)), 3) for q, v in means.items() if v},
            "flagged_at_chosen_line": {q: rate(group, q, best) for q in ("high", "low", "mixed")},
            "flagged_at_shipped_line": {q: rate(group, q, quality.LINE) for q in ("high", "low", "mixed")},
            # what the worker raised: the rule also waits for enough AI turns and counts an episode once
            "alerted": {
                q: round(float(np.mean([s["alerted"] for s in group if s["quality"] == q] or [0.0])), 3)
                for q in ("high", "low", "mixed")
            },
        }

    return {
        "chosen_line_on_calibration_half": best,
        "shipped_line": quality.LINE,
        "calibration_half": summary(calibration),
        "held_out_half": summary(held),
        "all": summary(sessions),
    }
