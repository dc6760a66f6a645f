"""receive(envelope, raw): the single entry for every way a message arrives.

Eight steps, in DESIGN.md's order. Step 1 commits on its own, and receive()
makes every commit durable (one group-commit WAL fsync) before it returns,
so nothing that reached a 2xx is ever lost. Steps 2-8 run in one
transaction and commit only when the message is acted on; a disposition
(Ignore/Reject) is an exception that rolls the transaction back and is then
recorded on the stored message in a short transaction of its own. A crash is
recorded as failed/internal_error with its traceback; an unavailable
database surfaces as TempFail so the caller answers 4xx and the sender
retries.

Every statement on this path is a prepared statement on the pipeline's own
connection (`Database.pipeline()`, `prepared.py`), and what it reads are
plain rows (`rows.py`): no ORM session per message. That is what keeps a
message at about a millisecond of CPU (bench/RESULTS.md).
"""

from __future__ import annotations

import logging
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Iterator

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from mailgate.shared import guard, notify, tracker
from mailgate.shared.addresses import Recipient, check_recipient, find_user_by_email, is_ours
from mailgate.shared.config import Settings
from mailgate.shared.db import Database, is_unavailable, utcnow
from mailgate.shared.envelope import Envelope
from mailgate.shared.logs import MessageLog
from mailgate.shared.message import (
    clean_header_value, dedupe_key, first_address, header_addresses, header_text, load_message, message_id,
)
from mailgate.shared.models import MessageClaim, ReceivedMessage, ReceivedRaw
from mailgate.shared.outcomes import Disposition, Outcome, Reason, Reject, Status, TempFail, DEFAULT_TEXT
from mailgate.shared.parsing import ParsedMessage, parse_message
from mailgate.shared.prepared import Conn, Insert, Statement
from mailgate.shared.rows import UserRef, save_task
from mailgate.shared.tracker import CommandPlan

log = logging.getLogger("mailgate.pipeline")

ROUTING_HEADERS = ("To", "Cc", "Delivered-To", "Envelope-To", "X-Envelope-To")
HEAD_KEEP_BYTES = 64 * 1024  # what is kept of an oversized message: enough for its headers

_RECEIVED = ReceivedMessage.__table__
_INSERT_RECEIVED = Insert(_RECEIVED, returning=_RECEIVED.c.id)
_INSERT_RAW = Insert(ReceivedRaw.__table__)
_CLAIM = MessageClaim.__table__
_SELECT_CLAIM = Statement(select(_CLAIM.c.received_id).where(_CLAIM.c.dedupe_key == bindparam("key")))
_INSERT_CLAIM = Insert(_CLAIM)


class Record:
    """A received message's column values while the pipeline works on them.

    A plain holder rather than a ReceivedMessage: the ORM's attribute events
    on ~60 assignments per message cost more than the insert. reprocess()
    passes a detached ReceivedMessage instead; both have the same attributes.
    """

    def __init__(self, **values) -> None:
        self.__dict__.update(dict.fromkeys(_COLUMNS))
        self.__dict__.update(values)


_COLUMNS = tuple(c.key for c in _RECEIVED.columns)


@dataclass
class Timings:
    """Seconds spent per stage of the last message (the benchmark reads these)."""

    wait: float = 0.0  # for this process's writer turn (concurrent callers: the milter's sessions)
    store: float = 0.0
    parse: float = 0.0
    authorise: float = 0.0
    act: float = 0.0
    durable: float = 0.0  # the one fsync that covers the store and the outcome


@dataclass
class Context:
    settings: Settings
    conn: Conn
    envelope: Envelope
    rec: Record | ReceivedMessage
    msg: Message
    log: MessageLog
    decisions: list[str] = field(default_factory=list)
    recipient: Recipient | None = None
    author: UserRef | None = None
    parsed: ParsedMessage | None = None
    plan: CommandPlan | None = None
    robot: str | None = None
    timings: Timings = field(default_factory=Timings)
    # What the steps found, kept apart from `rec` so that recording a
    # disposition writes only what was established before it.
    application: str | None = None
    routed_to: str | None = None
    object_ref: str | None = None
    actor: str | None = None

    def note(self, sentence: str) -> None:
        self.decisions.append(sentence)


# --- step 1: store ----------------------------------------------------------------------

def _clip(value: str | None, size: int) -> str:
    return clean_header_value(value or "")[:size]


def _head(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    cut = end if 0 <= end < HEAD_KEEP_BYTES else HEAD_KEEP_BYTES
    return raw[:cut] + b"\r\n\r\n[body not kept: message larger than the limit]\r\n"


def store(db: Database, settings: Settings, envelope: Envelope, raw: bytes) -> tuple[Record, Message]:
    """Step 1 on its own, durable when it returns (tests and tools; receive() uses _store)."""
    with _durable_unit(db, "could not store the message") as conn:
        stored = _store(conn, settings, envelope, raw)
    return stored


@contextmanager
def _durable_unit(db: Database, failure: str, timings: Timings | None = None) -> Iterator[Conn]:
    """The pipeline's connection; its commits are on disk when the block ends.

    Anything that goes wrong here (checkout, commit, fsync) happens before
    anyone was answered: it becomes TempFail, and the sender retries.
    """
    try:
        t0 = time.perf_counter()
        with db.pipeline() as conn:
            if timings is not None:
                timings.wait = time.perf_counter() - t0
            yield conn
        t0 = time.perf_counter()
        db.make_durable()  # one fsync covers every commit of the block (and of concurrent callers')
        if timings is not None:
            timings.durable = time.perf_counter() - t0
    except TempFail:
        raise
    except Exception as exc:
        raise TempFail(f"{failure}: {exc.__class__.__name__}") from exc


def _store(conn: Conn, settings: Settings, envelope: Envelope, raw: bytes) -> tuple[Record, Message]:
    """Commit the raw bytes and envelope before anything else; TempFail if we cannot.

    Committed here, made durable (fsynced) by the caller before it answers.
    """
    too_large = len(raw) > settings.max_message_bytes
    kept = _head(raw) if too_large else raw
    msg = load_message(kept)
    recipients = [_clip(r, 320) for r in envelope.recipients]
    header_rcpts = [] if recipients else [a for h in ROUTING_HEADERS[:2] for a in header_addresses(msg, h)]
    values = dict(
        source=envelope.source,
        queue_id=_clip(envelope.queue_id, 64),
        mail_from=None if envelope.sender is None else _clip(envelope.sender, 320),
        rcpt_to=recipients,
        client_addr=_clip(envelope.client_addr, 64),
        client_name=_clip(envelope.client_name, 255),
        helo=_clip(envelope.helo, 255),
        auth_results=_clip(envelope.auth_results, 4000),
        message_id=message_id(msg),
        dedupe_key=dedupe_key(msg, raw)[:260],
        subject=header_text(msg, "Subject")[:998],
        from_addr=_clip(first_address(msg, "From"), 320),
        recipients_text=", ".join(recipients or header_rcpts)[:4000],
        size=len(raw),
        truncated=too_large,
        status=Status.RECEIVED,
        created_at=utcnow(),
        attempts=0,
        reason_text="", robot_reason="", error="", commands=[], unknown_commands=[], decisions=[],
    )
    if too_large:
        values.update(status=Status.REJECTED, reason=Reason.TOO_LARGE, processed_at=utcnow(),
                      reason_text=(f"The message is {len(raw):,} bytes; this server accepts at most "
                                   f"{settings.max_message_bytes:,}."))
    try:
        with conn.write():
            rec_id = conn.scalar(_INSERT_RECEIVED, values)
            conn.execute(_INSERT_RAW, {"message_id": rec_id, "raw": kept})
    except Exception as exc:
        raise TempFail(f"could not store the message: {exc.__class__.__name__}") from exc
    return Record(id=rec_id, **values), msg


# --- steps 2-7 --------------------------------------------------------------------------

def step_dedupe(ctx: Context) -> None:
    holder = ctx.conn.scalar(_SELECT_CLAIM, {"key": ctx.rec.dedupe_key})
    if holder is not None and holder != ctx.rec.id:
        raise _duplicate(ctx, holder)


def _duplicate(ctx: Context, first_id: int) -> Disposition:
    key = ctx.rec.dedupe_key
    what = f"Message-ID <{key[4:]}>" if key.startswith("mid:") else "identical content"
    ctx.note(f"Same {what} as message #{first_id}, which was already acted on.")
    return Disposition(Reason.DUPLICATE, f"Duplicate of message #{first_id}.", duplicate_of=first_id)


def step_guard(ctx: Context) -> None:
    try:
        guard.check(ctx.msg, ctx.envelope.sender)
    except Disposition as d:
        ctx.robot = d.detail.get("robot")
        ctx.note(d.text)
        raise


def step_route(ctx: Context) -> None:
    env = ctx.envelope
    if env.recipients:
        candidates = list(env.recipients)
        ctx.note("Routed by the envelope recipients: " + ", ".join(candidates) + ".")
    else:
        candidates = []
        for name in ROUTING_HEADERS:
            for addr in header_addresses(ctx.msg, name):
                if addr.lower() not in (c.lower() for c in candidates):
                    candidates.append(addr)
        ctx.note("No envelope: routed by the headers " + ", ".join(ROUTING_HEADERS) + ": "
                 + (", ".join(candidates) or "none found") + ".")
    ours = [a for a in candidates if is_ours(ctx.settings, a)]
    if not ours:
        raise Reject(Reason.UNKNOWN_RECIPIENT, "None of the recipients is a Mailgate address.")
    first_refusal: Reject | None = None
    found: list[Recipient] = []
    for addr in ours:
        try:
            rcpt = check_recipient(ctx.conn, ctx.settings, addr)
        except Reject as r:
            ctx.note(f"{addr}: refused ({r.reason}): {r.text}")
            first_refusal = first_refusal or r
            continue
        ctx.note(rcpt.describe())
        found.append(rcpt)
    if not found:
        assert first_refusal is not None
        raise first_refusal
    # A reply to a thread that also copies a create address is a reply.
    ctx.recipient = next((r for r in found if r.kind == "reply"), found[0])
    if len(found) > 1:
        ctx.note(f"Acting on {ctx.recipient.address}; the other Mailgate recipients are recorded only.")
    ctx.routed_to = ctx.rec.routed_to = ctx.recipient.address
    ctx.application = ctx.rec.application = ctx.recipient.application
    if ctx.recipient.token is not None:
        ctx.object_ref = ctx.recipient.token.obj


def step_authorise(ctx: Context) -> None:
    rcpt = ctx.recipient
    assert rcpt is not None
    sender = first_address(ctx.msg, "From") or (ctx.envelope.sender or "")
    user = find_user_by_email(ctx.conn, sender) if sender else None
    if user is not None and not user.enabled:
        ctx.note(f"{sender} belongs to {user.username}, whose account is disabled.")
        user = None
    if rcpt.kind == "reply":
        token = rcpt.token
        if token.is_public:
            if user is None:
                raise Reject(Reason.SENDER_MISMATCH,
                             f"{sender or 'The sender'} is not a known user, so cannot reply to a public address.")
        elif user is None or user.id != token.user_id:
            raise Reject(Reason.SENDER_MISMATCH,
                         f"This reply address was issued to user #{token.user_id}; "
                         f"{sender or 'the sender'} is not one of their addresses.")
        ctx.note(f"Sender {sender} is {user.username}: allowed to reply.")
        ctx.author, ctx.actor = user, user.username
        return
    create = rcpt.create
    if user is not None:
        ctx.note(f"Sender {sender} is {user.username}: allowed to open tasks.")
        ctx.author, ctx.actor = user, user.username
    elif create.default_author is not None and create.default_author.enabled:
        ctx.note(f"Sender {sender or '(none)'} is not known; the address's default author "
                 f"{create.default_author.username} opens the task.")
        ctx.author, ctx.actor = create.default_author, create.default_author.username
    else:
        raise Reject(Reason.UNKNOWN_SENDER,
                     f"{sender or 'The sender'} is not a known user, so cannot open tasks at {rcpt.address}.")


def step_parse(ctx: Context) -> None:
    parsed = parse_message(ctx.msg)
    ctx.parsed = parsed
    ctx.rec.parse = _json_safe(parsed.to_json())
    public = ctx.recipient.kind == "reply" and ctx.recipient.token.is_public
    ctx.plan = tracker.plan_commands(ctx.conn, parsed.commands, allowed=not public)
    has_body = bool(parsed.text.strip() or parsed.attachments or ctx.plan.valid)
    if ctx.recipient.kind == "create":
        has_body = has_body or bool(ctx.rec.subject.strip())
    if not has_body:
        extra = f" (unknown commands: {', '.join('!' + c for c in ctx.plan.unknown)})" if ctx.plan.unknown else ""
        raise Reject(Reason.EMPTY, "The message has no new text, file or command to act on" + extra + ".")


def step_act(ctx: Context) -> None:
    conn, rec, parsed, plan, author = ctx.conn, ctx.rec, ctx.parsed, ctx.plan, ctx.author
    # The claim goes first: a racing host that claimed the same key makes
    # this insert fail (on PostgreSQL it waits for that host's commit), and
    # we become the duplicate before doing any work.
    try:
        conn.execute(_INSERT_CLAIM, {"dedupe_key": rec.dedupe_key, "received_id": rec.id, "claimed_at": utcnow()})
    except IntegrityError:
        conn.rollback()
        holder = conn.scalar(_SELECT_CLAIM, {"key": rec.dedupe_key})
        if holder is None:
            raise
        raise _duplicate(ctx, holder) from None
    text = _no_nul(parsed.text)
    if ctx.recipient.kind == "create":
        create = ctx.recipient.create
        task = tracker.create_task(
            conn, app_id=create.application_id, app_name=create.application, author=author,
            title=tracker.make_title(rec.subject, text), description=text,
            attachments=parsed.attachments, source_message_id=rec.id,
        )
        events = ["created"] + tracker.apply_commands(conn, task, author, plan)
        comment_id = None
        rec.action = "create"
    else:
        task = ctx.recipient.task
        comment_id = tracker.add_comment(conn, task=task, author=author, text=text,
                                         attachments=parsed.attachments, source_message_id=rec.id)
        events = (["commented"] if comment_id else []) + tracker.apply_commands(conn, task, author, plan)
        rec.action = "comment"
    notify.queue_task_event(conn, ctx.settings, task=task, actor=author, events=events, new_text=text,
                            source_received_id=rec.id, parent_message_id=rec.message_id)
    save_task(conn, task)  # what the commands and the first notification (thread id) changed
    rec.task_id = task.id
    rec.comment_id = comment_id
    rec.object_ref = task.ref
    ctx.note(f"{'Created' if rec.action == 'create' else 'Commented on'} {task.ref} as {author.username}"
             + (f"; commands: {', '.join('!' + str(c) for c in plan.valid)}" if plan.valid else "")
             + (f"; unknown commands kept in the text's record: {', '.join('!' + c for c in plan.unknown)}"
                if plan.unknown else "") + ".")


# Steps 2-5 decide; then parse (6) and act (7); record (8) is the driver's.
CHECKS = (step_dedupe, step_guard, step_route, step_authorise)


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")


def _json_safe(value):
    """PostgreSQL refuses NUL in text and JSON; mail may carry it."""
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


# --- steps 2-8 driver -------------------------------------------------------------------

def _outcome(rec: ReceivedMessage) -> Outcome:
    return Outcome(
        id=rec.id, status=Status(rec.status), reason=Reason(rec.reason) if rec.reason else None,
        text=rec.reason_text, action=rec.action, object=rec.object_ref, actor=rec.actor,
        application=rec.application, commands=list(rec.commands or []),
        unknown_commands=list(rec.unknown_commands or []), robot=rec.robot, duplicate_of=rec.duplicate_of,
    )


def process(db: Database, settings: Settings, rec: Record | ReceivedMessage, msg: Message, envelope: Envelope,
            timings: Timings | None = None) -> Outcome:
    """Steps 2-8 for a stored message, durable when it returns."""
    with _durable_unit(db, "database unavailable while processing", timings) as conn:
        outcome = _process(conn, settings, rec, msg, envelope, timings)
    return outcome


def _process(conn: Conn, settings: Settings, rec: Record | ReceivedMessage, msg: Message,
             envelope: Envelope, timings: Timings | None = None) -> Outcome:
    mlog = MessageLog(log, qid=rec.queue_id, mid=rec.message_id, rec=rec.id)
    # Steps fill in `rec`'s outcome fields; one UPDATE writes them with the rest of the work.
    ctx = Context(settings, conn, envelope, rec, msg, mlog, timings=timings or Timings())
    try:
        conn.begin_write()
        t0 = time.perf_counter()
        for check in CHECKS:
            check(ctx)
        t1 = time.perf_counter()
        step_parse(ctx)
        t2 = time.perf_counter()
        step_act(ctx)
        rec.status, rec.reason, rec.reason_text = Status.PROCESSED, None, ""
        rec.actor = ctx.author.username
        rec.commands = [str(c) for c in ctx.plan.valid]
        rec.unknown_commands = list(ctx.plan.unknown)
        rec.decisions = ctx.decisions
        rec.processed_at = utcnow()
        rec.error = ""
        _write_outcome(conn, rec)
        conn.commit()
        ctx.timings.authorise, ctx.timings.parse = t1 - t0, t2 - t1
        ctx.timings.act = time.perf_counter() - t2
        outcome = _outcome(rec)
    except Disposition as d:
        conn.rollback_quietly()
        outcome = _record_disposition(conn, d, ctx)
    except TempFail:
        conn.rollback_quietly()
        raise
    except Exception as exc:
        conn.rollback_quietly()
        if is_unavailable(exc):
            mlog.warning("database unavailable while processing", error=exc.__class__.__name__)
            raise TempFail("database unavailable while processing") from exc
        outcome = _record_failure(conn, ctx, exc)
    mlog.info("processed", status=outcome.status, reason=outcome.reason, action=outcome.action,
              object=outcome.object, actor=outcome.actor)
    return outcome


OUTCOME_FIELDS = ("status", "reason", "reason_text", "action", "application", "routed_to", "object_ref", "actor",
                  "task_id", "comment_id", "duplicate_of", "commands", "unknown_commands", "robot", "robot_reason",
                  "decisions", "parse", "error", "processed_at")


_UPDATE_OUTCOME = Statement(
    update(_RECEIVED).where(_RECEIVED.c.id == bindparam("rec_id"))
    .values(attempts=_RECEIVED.c.attempts + 1, **{f: bindparam("v_" + f, type_=_RECEIVED.c[f].type)
                                                   for f in OUTCOME_FIELDS})
)


def _write_outcome(conn: Conn, rec: Record | ReceivedMessage) -> None:
    conn.execute(_UPDATE_OUTCOME, {"rec_id": rec.id, **{"v_" + f: getattr(rec, f) for f in OUTCOME_FIELDS}})


def _save_outcome(conn: Conn, rec: Record | ReceivedMessage) -> Outcome:
    try:
        with conn.write():
            _write_outcome(conn, rec)
    except Exception as exc:
        raise TempFail("could not record the outcome") from exc
    return _outcome(rec)


def _record_disposition(conn: Conn, d: Disposition, ctx: Context) -> Outcome:
    rec = ctx.rec
    rec.status, rec.reason, rec.reason_text = d.status, d.reason, d.text
    rec.duplicate_of = d.detail.get("duplicate_of")
    rec.robot = ctx.robot
    rec.robot_reason = d.text if ctx.robot else ""
    rec.decisions = ctx.decisions
    rec.application, rec.routed_to, rec.object_ref, rec.actor = ctx.application, ctx.routed_to, ctx.object_ref, ctx.actor
    rec.action = rec.task_id = rec.comment_id = None
    rec.commands, rec.unknown_commands = [], []
    rec.parse = _json_safe(ctx.parsed.to_json()) if ctx.parsed is not None else rec.parse
    rec.processed_at = utcnow()
    rec.error = ""
    return _save_outcome(conn, rec)


def _record_failure(conn: Conn, ctx: Context, exc: BaseException) -> Outcome:
    ctx.log.error("processing crashed", error=exc.__class__.__name__)
    rec = ctx.rec
    rec.status, rec.reason = Status.FAILED, Reason.INTERNAL_ERROR
    rec.reason_text = DEFAULT_TEXT[Reason.INTERNAL_ERROR]
    rec.error = "".join(traceback.format_exception(exc))
    rec.decisions = ctx.decisions
    rec.action = rec.task_id = rec.comment_id = None
    rec.processed_at = utcnow()
    return _save_outcome(conn, rec)


# --- public entry points ----------------------------------------------------------------

def receive(db: Database, settings: Settings, envelope: Envelope, raw: bytes,
            timings: Timings | None = None) -> Outcome:
    """Store, then decide and act; durable when it returns. Raises only TempFail (answer 4xx)."""
    timings = timings if timings is not None else Timings()
    with _durable_unit(db, "could not store the message durably", timings) as conn:
        t0 = time.perf_counter()
        rec, msg = _store(conn, settings, envelope, raw)
        timings.store = time.perf_counter() - t0
        MessageLog(log, qid=rec.queue_id, mid=rec.message_id, rec=rec.id).info(
            "stored", source=rec.source, size=rec.size, rcpt=",".join(rec.rcpt_to or []))
        if rec.status != Status.RECEIVED:
            outcome = _outcome(rec)
        else:
            outcome = _process(conn, settings, rec, msg, envelope, timings)
    return outcome


REPROCESSABLE = (Status.FAILED, Status.RECEIVED, Status.REJECTED)


class NotReprocessable(Exception):
    pass


def reprocess(db: Database, settings: Settings, rec_id: int) -> Outcome:
    """Run steps 2-8 again on a stored message (after a fix, or a crash)."""
    with db.read() as s:
        rec = s.get(ReceivedMessage, rec_id)
        if rec is None:
            raise NotReprocessable(f"no received message #{rec_id}")
        if rec.status not in REPROCESSABLE:
            raise NotReprocessable(
                f"message #{rec_id} is {rec.status}; only {', '.join(REPROCESSABLE)} messages can be reprocessed")
        if rec.truncated:
            raise NotReprocessable(f"message #{rec_id} was too large; its body was not kept")
        raw = s.scalars(select(ReceivedRaw.raw).where(ReceivedRaw.message_id == rec_id)).one()
        s.expunge(rec)  # keep its loaded values readable once this read scope ends
        envelope = Envelope(source=rec.source, sender=rec.mail_from, recipients=list(rec.rcpt_to or []),
                            client_addr=rec.client_addr, client_name=rec.client_name, helo=rec.helo,
                            queue_id=rec.queue_id, auth_results=rec.auth_results)
    return process(db, settings, rec, load_message(raw), envelope)


def recover_stale(db: Database, settings: Settings, older_than_seconds: int = 600, limit: int = 200) -> list[Outcome]:
    """Finish messages left 'received': the process died, or power failed, between store and outcome.

    Safe to run on every host at once: a message acted on twice is stopped by
    its dedupe claim and recorded as a duplicate.
    """
    from datetime import timedelta

    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    with db.read() as s:
        ids = s.scalars(
            select(ReceivedMessage.id).where(ReceivedMessage.status == Status.RECEIVED,
                                             ReceivedMessage.created_at < cutoff)
            .order_by(ReceivedMessage.id).limit(limit)
        ).all()
    outcomes = []
    for rec_id in ids:
        try:
            outcomes.append(reprocess(db, settings, rec_id))
        except NotReprocessable:
            continue  # another host finished it meanwhile
    return outcomes
