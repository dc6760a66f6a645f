"""Guard: our own mail coming back, bounces and auto-replies are ignored; robots never act.

The verdict needs only the message, so it is read before the transaction
and applied at the step's turn (`run`): a duplicate bounce is a duplicate
first. Reading is in two parts, so that no body is decoded for a sender
who is not authorised:

- `read`, on the headers and the envelope: our own header, and the robot
  evidence headers carry (null sender, multipart/report, Auto-Submitted,
  a mail system in From, ...). When they show a robot, the reason is then
  taken from the first 64 KB of the message (`load_glance`): bounded work.
- `read_body`, once the steps before the body would let the message
  through: the evidence only a body carries (a delivery-status part deep
  inside, a Final-Recipient block in the text); the headers' evidence, read
  already, is not read again. A robot found there is still ignored at this
  step's turn, before route and authorise.

A robot is never parsed (see `parse.read_body`).
"""

from __future__ import annotations

from mailgate.shared import guard
from mailgate.shared.message import load_glance
from mailgate.shared.outcomes import Ignore
from mailgate.shared.parsing.models import RobotVerdict
from mailgate.shared.pipeline.work import Work

CLEAN = RobotVerdict(None, "")  # the headers and the envelope show no robot, and were read without fault


def read(w: Work) -> None:
    try:
        guard.own_mail(w.msg)
        head = guard.head_verdict(w.msg, w.envelope.sender)
        if head.kind is not None:
            guard.check(w.msg if w.body_read else load_glance(w.msg, w.raw), w.envelope.sender)
        w.robot_head_clean = head == CLEAN
    except Ignore as verdict:
        w.robot_verdict = verdict


def read_body(w: Work) -> None:
    if w.robot_verdict is not None:
        return
    try:
        if w.robot_head_clean:  # the headers' evidence was read, and there was none: the body's only
            guard.check_body(w.body(), w.envelope.sender)
        else:
            guard.check(w.body(), w.envelope.sender)
    except Ignore as verdict:
        w.robot_verdict = verdict


def run(w: Work) -> None:
    apply(w)


def apply(w: Work) -> None:
    """End the message as the robot it was found to be, if it was."""
    verdict = w.robot_verdict
    if verdict is not None:
        w.robot = verdict.detail.get("robot")
        w.note(verdict.text)
        raise verdict
