"""Crisis: acute risk of the patient's own, paged to a human now.

What it pages on (``critical``), and why
----------------------------------------
A missed crisis is the failure nobody can take back; a reviewer dismisses a false page in seconds.
So pages aim at recall first, above thresholds calibrated on real text, and what is uncertain goes to
the review queue instead of nowhere.

1. **One sentence says it** (``crisis.<step>``): a patient sentence whose calibrated P(the writer's
   own risk, now) reaches the sentence page threshold. One rule per step of a C-SSRS-like ladder —
   ``passive_ideation`` (wish to be dead), ``active_ideation``, ``method``, ``intent_or_plan``,
   ``preparatory_behaviour`` (an attempt included) — plus ``self_harm``, ``harm_to_others`` and
   ``abuse_or_danger``. A step up the ladder pages again; the same step again does not.
2. **The conversation says it in pieces** (``crisis.cumulative_risk``): hopelessness in one turn,
   being a burden in the next, saved-up pills later, none over the line alone. Evidence gathered over
   the patient's turns (``conversation``) — the sentence head's probabilities per step and the
   clinical constructs of the Suicide Risk Lexicon (``lexicon``) — decays with turns and time, is reset
   by a clear safety statement, and a calibrated model pages when it crosses its threshold. The page
   quotes every turn that contributed, each with what it showed ("lethal means", "perceived
   burdensomeness", "passive ideation"). Not raised when a sentence already paged the conversation.

Review queue and lower flags
----------------------------
``crisis.possible`` (high when P ≥ 0.5, else warning): risk between the review and page thresholds,
of one sentence or of the gathered evidence; one item per conversation, raised again at a higher
severity. ``crisis.history`` (warning): the patient's own risk told as past and over.

What it does not page
---------------------
Someone else's risk, "you" (encouragement), people in general, denials, hypotheticals and questions
about the topic, idioms, positive talk, quotes and role-play: the sentence head learned these stances
from labelled real and written sentences, and lexicon constructs count only in sentences the writer
says about themself, now. The same moderate sentence said again is not new evidence. Supportive
posts (someone else's crisis) carry little.

The pieces
----------
- ``language``: crisis patterns per step, stance cues, sentence splitting, algospeak and risk
  shorthand in plain words (``PLAIN_WORDING``: "unalive", "sewerslide", "ctb", "relapsed on sh").
- ``lexicon``: the Suicide Risk Lexicon (Low et al., construct-tracker 1.0.16, Apache-2.0), vendored
  in ``lexicon/`` with its licence; ``lexicon_source`` rebuilds the copy.
- ``sentence_head``: candidate sentences (risk words, euphemisms, patterns, suicide constructs) scored
  by an MLP ensemble on the frozen encoder's sentence embedding plus stance, pattern and lexicon flags
  into calibrated classes (none, history, each current step); the turn's decision.
- ``evidence``: a turn's evidence channels; ``signals``: the per-turn feature ``crisis``.
- ``conversation``: the detector's memory of a conversation and the model that combines it.
- ``detector``: the rules above. ``training`` and ``conversation_training``: ``turnwatch train
  crisis`` (both heads from ``labelled/``, real text read from the shared data by reference).
- ``heads/``: the fitted numbers and their reports (metrics, thresholds, what each threshold buys).

Limits: English only; a sentence gets one step (a plan and a method in one sentence page one of them);
the evidence window is the conversation's, not the patient's history across conversations.
"""

from detectors.crisis.detector import DETECTOR, CrisisDetector

__all__ = ["DETECTOR", "CrisisDetector"]
