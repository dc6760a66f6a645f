"""Record: the message's outcome, written on its row in the same transaction as what it did.

What is written is what this attempt established: a disposition keeps the
routing and the sender found before it, a crash keeps where the message was
routed and what the parser read. A field no step of this attempt reached
keeps its stored value (the parse of an earlier attempt, say). A deferral
(a step raised TempFail) leaves the message `received`, saying why.
"""

from __future__ import annotations

import traceback
from typing import Any

from mailgate.shared import received
from mailgate.shared.db import utcnow
from mailgate.shared.outcomes import DEFAULT_TEXT, Disposition, Outcome, Reason, Status, TempFail
from mailgate.shared.pipeline.work import Work
from mailgate.shared.received import OUTCOME_FIELDS, outcome_of


def run(w: Work, cause: BaseException | None = None) -> Outcome | TempFail:
    """Write the outcome: processed (no `cause`), the disposition raised, the deferral (a TempFail: the
    answer is that TempFail), or the failure (a crash)."""
    if cause is None:
        values = _processed(w)
    elif isinstance(cause, Disposition):
        values = _disposed(w, cause)
    elif isinstance(cause, TempFail):
        values = _deferred(w, cause)
    else:
        values = _failed(w, cause)
    values.update(w.columns)
    if isinstance(cause, Disposition) and cause.status == Status.REJECTED:
        _refused(w, values)
    received.write_outcome(w.conn, w.row.id, values)
    if isinstance(cause, TempFail):
        w.log.info("deferred, the sender retries", reason=cause.reason)
        return cause
    return outcome_of(w.row.id, values)


REFUSED_KEEP_BODY = 64 * 1024  # what a refused message keeps of its body (and all of its headers)


def _refused(w: Work, values: dict[str, Any]) -> None:
    """Anyone can make Mailgate refuse a message: keep its headers and the first 64 KB of its body only,
    and say when the sender could not be told (other recipients got it: the answer was 250, no bounce)."""
    others = w.envelope.other_recipients
    if others:
        w.note(f"The sender was not told: the message also went to {others} recipient(s) outside Mailgate, "
               "who got it, so the answer was 250; Mailgate sends no bounce.")
    raw = w.raw
    end = raw.find(b"\r\n\r\n")
    end = end + 4 if end >= 0 else (raw.find(b"\n\n") + 2 if b"\n\n" in raw else len(raw))
    if len(raw) > end + REFUSED_KEEP_BODY and not w.row.truncated:
        received.keep_only(w.conn, w.row.id,
                           raw[:end + REFUSED_KEEP_BODY] + b"\r\n\r\n[the rest of this refused message was not kept]\r\n")
        w.note(f"Refused: only its headers and the first {REFUSED_KEEP_BODY // 1024} KB of its {len(raw):,} bytes "
               "are kept.")
    values["decisions"] = w.decisions


def _as_stored(w: Work) -> dict[str, Any]:
    row = w.row
    return {f: getattr(row, f) for f in OUTCOME_FIELDS}


def _processed(w: Work) -> dict[str, Any]:
    values = _as_stored(w)
    values.update(
        status=Status.PROCESSED, reason=None, reason_text="", action=w.action, application=w.application,
        routed_to=w.routed_to, object_ref=w.object_ref, actor=w.author.username, task_id=w.task.id,
        comment_id=w.comment_id, commands=[str(c) for c in w.plan.valid], unknown_commands=list(w.plan.unknown),
        decisions=w.decisions, parse=w.parse, error="", processed_at=utcnow(),
    )
    return values


def _disposed(w: Work, d: Disposition) -> dict[str, Any]:
    values = _as_stored(w)
    values.update(
        status=d.status, reason=d.reason, reason_text=d.text, duplicate_of=d.detail.get("duplicate_of"),
        robot=w.robot, robot_reason=d.text if w.robot else "", decisions=w.decisions,
        application=w.application, routed_to=w.routed_to, object_ref=w.object_ref, actor=w.actor,
        action=None, task_id=None, comment_id=None, commands=[], unknown_commands=[],
        parse=w.parse if w.parse is not None else values["parse"], error="", processed_at=utcnow(),
    )
    return values


def _deferred(w: Work, deferred: TempFail) -> dict[str, Any]:
    """Not decided now (sender authentication could not be completed): still `received`, with why."""
    values = _as_stored(w)
    values.update(status=Status.RECEIVED, reason=None, reason_text=deferred.args[0] if deferred.args else "",
                  decisions=w.decisions, application=w.application, routed_to=w.routed_to, processed_at=None)
    return values


def _failed(w: Work, exc: BaseException) -> dict[str, Any]:
    values = _as_stored(w)
    stopped = w.stopped
    trace = stopped[2] if stopped is not None and stopped[1] is exc else "".join(traceback.format_exception(exc))
    values.update(
        status=Status.FAILED, reason=Reason.INTERNAL_ERROR, reason_text=DEFAULT_TEXT[Reason.INTERNAL_ERROR],
        error=trace, decisions=w.decisions, action=None, task_id=None, comment_id=None, processed_at=utcnow(),
    )
    if w.routed_to is not None:
        values.update(application=w.application, routed_to=w.routed_to)
    if w.parse is not None:
        values["parse"] = w.parse
    return values
