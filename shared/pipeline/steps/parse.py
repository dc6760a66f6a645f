"""Parse: the new text, quote, signature, attachments and !commands; a message with nothing new is refused.

The parse needs only the message, so it is read before the transaction
(`read_body`: only for a message the steps before it would let through --
an authorised sender -- and never for a robot). At the step's turn (`run`)
the commands are checked against the database (`!assign` names a user) and
the parse is kept for the record.
"""

from __future__ import annotations

from mailgate.shared import tracker
from mailgate.shared.message import json_safe
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.parsing import for_create, parse_message
from mailgate.shared.pipeline.steps import guard
from mailgate.shared.pipeline.work import Work
from mailgate.shared.tracker import CommandPlan

EXTERNAL_REFUSAL = "commands are the team's: they are not accepted from people without an account."


def read_body(w: Work) -> None:
    if w.robot_verdict is None:  # a robot is never parsed
        w.parsed = parse_message(w.body())


def run(w: Work) -> None:
    if w.parsed is None:
        # Not read ahead: the steps before were foreseen to end this message, and then let it through
        # (a user added meanwhile). Read now, robot evidence of the body first, as reading would have.
        guard.read_body(w)
        guard.apply(w)
        read_body(w)
    parsed = w.parsed
    if w.recipient.kind == "create":  # a forward, or a bare quote, is the new task's content
        parsed = w.parsed = for_create(parsed)
    w.parse = json_safe(parsed.to_json())
    if w.recipient.kind == "unsubscribe":  # what it says does not matter: the address is the request
        w.plan = CommandPlan()
        return
    if w.participant is not None or w.requester is not None:  # someone without an account (service desk)
        w.plan = tracker.plan_commands(w.conn, parsed.commands, allowed=False, refusal=EXTERNAL_REFUSAL)
    else:
        public = w.recipient.kind == "reply" and w.recipient.token.is_public
        w.plan = tracker.plan_commands(w.conn, parsed.commands, allowed=not public)
    has_body = bool(parsed.text.strip() or parsed.attachments or w.plan.valid)
    if w.recipient.kind == "create":
        has_body = has_body or bool(w.row.subject.strip())
    if not has_body:
        extra = f" (unknown commands: {', '.join('!' + c for c in w.plan.unknown)})" if w.plan.unknown else ""
        raise Reject(Reason.EMPTY, "The message has no new text, file or command to act on" + extra + ".")
