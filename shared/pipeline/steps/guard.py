"""Guard: our own mail coming back, bounces and auto-replies are ignored; robots never act.

The verdict needs only the message, so it is read before the transaction
(`read`) and applied at the step's turn (`run`): a duplicate bounce is a
duplicate first. A robot is never parsed (see `parse.read`).
"""

from __future__ import annotations

from mailgate.shared import guard
from mailgate.shared.outcomes import Ignore
from mailgate.shared.pipeline.work import Work


def read(w: Work) -> None:
    try:
        guard.check(w.msg, w.envelope.sender)
    except Ignore as verdict:
        w.robot_verdict = verdict


def run(w: Work) -> None:
    verdict = w.robot_verdict
    if verdict is not None:
        w.robot = verdict.detail.get("robot")
        w.note(verdict.text)
        raise verdict
