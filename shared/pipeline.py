"""receive(envelope, raw): the single entry for every way a message arrives.

Eight steps, in a fixed order. Step 1 commits on its own, and receive()
makes every commit durable (one group-commit WAL fsync) before it returns,
so nothing that reached a 2xx is ever lost. Steps 2-8 run in one
transaction, a savepoint per message (receive_many() takes a batch); a
disposition (Ignore/Reject) is an exception that rolls that message's work
back to its savepoint, and is then recorded on the stored message in the
same transaction. A crash is recorded as failed/internal_error with its
traceback; an unavailable database surfaces as TempFail so the caller
answers 4xx and the sender retries.

Every statement on this path is a prepared statement on the pipeline's own
connection (`Database.pipeline()`, `prepared.py`), and what it reads are
plain rows (`rows.py`): no ORM session per message, which costs more than
the mail work itself (bench/RESULTS.md).
"""

from __future__ import annotations

import logging
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Callable, Iterator, Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from mailgate.shared import guard, notify, queries, sender_auth, tracker
from mailgate.shared.queries import MAX_ID
from mailgate.shared.addresses import Recipient, check_recipient, find_user_by_email, is_ours
from mailgate.shared.config import Settings
from mailgate.shared.db import Database, is_unavailable, utcnow
from mailgate.shared.envelope import Envelope
from mailgate.shared.logs import MessageLog, kv
from mailgate.shared.message import (
    MESSAGE_ID_CHARS, FromMailbox, clean_header_value, dedupe_key, from_mailbox, header_addresses, header_text,
    load_message, message_id,
)
from mailgate.shared.models import MessageClaim, ReceivedMessage, ReceivedRaw
from mailgate.shared.outcomes import (
    AuthDeferred, Disposition, Ignore, Outcome, Reason, Reject, Status, TempFail, DEFAULT_TEXT,
)
from mailgate.shared.senderauth.result import AuthResult
from mailgate.shared.parsing import ParsedMessage, for_create, parse_message
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
_SELECT_RECEIVED = Statement(select(*_RECEIVED.columns).where(_RECEIVED.c.id == bindparam("id")))


class _ActedOnElsewhere(Exception):
    """This very message holds its claim: another worker (a second host's recover_stale, a console
    reprocess) acted on it since we read it, and its outcome is committed. Ours must not overwrite it."""


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

    batch: int = 1  # messages stored and processed together with this one (Batcher or the writer process)
    wait: float = 0.0  # for this process's writer turn, or for the Batcher's writer thread
    store: float = 0.0
    parse: float = 0.0
    authorise: float = 0.0
    act: float = 0.0
    durable: float = 0.0  # the one fsync that covers the store and the outcome


class ReadingFailed(Exception):
    """The robot guard or the parser crashed on this message; the traceback was taken where it happened."""

    def __init__(self, step: str, trace: str) -> None:
        super().__init__(f"{step} failed")
        self.trace = trace


@dataclass
class Reading:
    """What steps 3 and 6 find in the message itself: no database, so read outside any transaction.

    The results are applied when their steps come, in the steps' order (a
    duplicate bounce is a duplicate; a robot is never parsed), and a crash
    in either is raised by its step, to be recorded as failed like any other.
    """

    robot: tuple[str, str, str | None] | None = None  # the guard's Ignore: (reason, text, robot kind)
    parsed: ParsedMessage | None = None
    failure: tuple[str, str] | None = None  # ("guard" | "parse", traceback)
    header_recipients: list[str] = field(default_factory=list)  # routing candidates without an envelope
    sender: FromMailbox | None = None  # the From header's one mailbox, or why there is none
    seconds: float = 0.0


def read_message(msg: Message, envelope: Envelope) -> Reading:
    """Steps 3 and 6 on the message: the robot guard's verdict and, for a human, the parse."""
    reading = Reading(sender=from_mailbox(msg))
    if not envelope.recipients:
        for name in ROUTING_HEADERS:
            for addr in header_addresses(msg, name):
                if addr.lower() not in (c.lower() for c in reading.header_recipients):
                    reading.header_recipients.append(addr)
    t0 = time.perf_counter()
    try:
        guard.check(msg, envelope.sender)
    except Disposition as d:
        reading.robot = (d.reason, d.text, d.detail.get("robot"))
        return reading
    except Exception as exc:  # noqa: BLE001 -- raised again by step_guard
        reading.failure = ("guard", "".join(traceback.format_exception(exc)))
        return reading
    try:
        reading.parsed = parse_message(msg)
    except Exception as exc:  # noqa: BLE001 -- raised again by step_parse
        reading.failure = ("parse", "".join(traceback.format_exception(exc)))
    reading.seconds = time.perf_counter() - t0
    return reading


@dataclass
class Context:
    settings: Settings
    conn: Conn
    envelope: Envelope
    rec: Record | ReceivedMessage
    reading: Reading
    log: MessageLog
    raw: bytes = b""  # as stored: sender_auth verifies here only when the message was not prepared
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


@dataclass
class Arrival:
    """One message on its way in: the row step 1 stores, then the Reading, then what became of it."""

    envelope: Envelope
    timings: Timings
    values: dict = field(default_factory=dict)  # the received_messages row as stored
    kept: bytes = b""  # the raw bytes as stored (only the head of an oversized message)
    msg: Message | None = None
    reading: Reading | None = None
    rec: Record | None = None
    outcome: Outcome | None = None


def _arrival(settings: Settings, envelope: Envelope, raw: bytes, timings: Timings) -> Arrival:
    """The row step 1 stores, read from the envelope and the headers (no database)."""
    size = max(len(raw), envelope.size or 0)
    too_large = size > settings.max_message_bytes
    kept = _head(raw) if too_large else raw
    msg = load_message(kept)
    recipients = [_clip(r, 320) for r in envelope.recipients]
    header_rcpts = [] if recipients else [a for h in ROUTING_HEADERS[:2] for a in header_addresses(msg, h)]
    mid = message_id(msg)
    values = dict(
        source=envelope.source,
        queue_id=_clip(envelope.queue_id, 64),
        mail_from=None if envelope.sender is None else _clip(envelope.sender, 320),
        rcpt_to=recipients,
        client_addr=_clip(envelope.client_addr, 64),
        client_name=_clip(envelope.client_name, 255),
        helo=_clip(envelope.helo, 255),
        auth_results=_clip(envelope.auth_results, 4000),
        message_id=mid[:MESSAGE_ID_CHARS],
        dedupe_key=dedupe_key(msg, raw, mid),
        subject=header_text(msg, "Subject")[:998],
        from_addr=_clip(from_mailbox(msg).address, 320),  # '' when unreadable: a forged name is never shown
        recipients_text=", ".join(recipients or header_rcpts)[:4000],
        size=min(size, MAX_ID),  # an INTEGER column: a message past 2 GiB (no Postfix limit) is "2 GiB"
        truncated=too_large,
        status=Status.RECEIVED,
        created_at=utcnow(),
        attempts=0,
        reason_text="", robot_reason="", error="", commands=[], unknown_commands=[], decisions=[],
        **sender_auth.columns(envelope.auth),
    )
    if too_large:
        values.update(status=Status.REJECTED, reason=Reason.TOO_LARGE, processed_at=utcnow(),
                      reason_text=(f"The message is {size:,} bytes; this server accepts at most "
                                   f"{settings.max_message_bytes:,}."))
    return Arrival(envelope, timings, values, kept, msg)


def store(db: Database, settings: Settings, envelope: Envelope, raw: bytes) -> tuple[Record, Message]:
    """Step 1 on its own, durable when it returns (tests and tools; receive() stores with the rest)."""
    arrival = _arrival(settings, envelope, raw, Timings())
    with _durable_unit(db, "could not store the message", [arrival.timings]) as conn:
        _store_all(conn, [arrival])
    return arrival.rec, arrival.msg


@contextmanager
def _durable_unit(db: Database, failure: str, timings: Sequence[Timings] = (), sync: bool = True) -> Iterator[Conn]:
    """The pipeline's connection; its commits are on disk when the block ends (unless `sync` is False).

    Anything that goes wrong here (checkout, commit, fsync) happens before
    anyone was answered: it becomes TempFail, and the sender retries.
    """
    try:
        with db.pipeline() as conn:
            yield conn
        t0 = time.perf_counter()
        if sync:
            db.make_durable()  # one fsync covers every commit of the block (and of concurrent callers')
        durable = time.perf_counter() - t0
        for t in timings:
            t.wait, t.durable = conn.waited, durable
    except TempFail:
        raise
    except Exception as exc:
        raise TempFail(f"{failure}: {exc.__class__.__name__}") from exc


def _store_all(conn: Conn, arrivals: Sequence[Arrival]) -> None:
    """Commit the raw bytes and envelopes before anything else, in one transaction; TempFail if we cannot.

    Committed here, made durable (fsynced) by the caller before it answers.
    """
    t0 = time.perf_counter()
    try:
        with conn.write():
            for a in arrivals:
                a.rec = Record(id=conn.scalar(_INSERT_RECEIVED, a.values), **a.values)
            # The bytes in one statement for the batch (one round trip on PostgreSQL).
            conn.executemany(_INSERT_RAW, [{"message_id": a.rec.id, "raw": a.kept} for a in arrivals])
    except Exception as exc:
        raise TempFail(f"could not store the message: {exc.__class__.__name__}") from exc
    elapsed = time.perf_counter() - t0
    # DEBUG: the "processed" line follows at once (and the milter's own line per message
    # names qid, mid and rec too); at INFO it would be a second line per message.
    # A message whose processing never ends is still findable: the console lists it `received`.
    debug = log.isEnabledFor(logging.DEBUG)
    for a in arrivals:
        a.timings.store = elapsed
        if debug:
            MessageLog(log, qid=a.rec.queue_id, mid=a.rec.message_id, rec=a.rec.id).debug(
                "stored", source=a.rec.source, size=a.rec.size, rcpt=",".join(a.rec.rcpt_to or []))


# --- steps 2-7 --------------------------------------------------------------------------

def step_dedupe(ctx: Context) -> None:
    holder = ctx.conn.scalar(_SELECT_CLAIM, {"key": ctx.rec.dedupe_key})
    if holder == ctx.rec.id:  # another worker finished this very message since it was read
        raise _ActedOnElsewhere()
    if holder is not None:
        raise _duplicate(ctx, holder)


def _duplicate(ctx: Context, first_id: int) -> Disposition:
    key = ctx.rec.dedupe_key
    what = f"Message-ID <{ctx.rec.message_id}>" if key.startswith("mid:") else "identical content"
    ctx.note(f"Same {what} as message #{first_id}, which was already acted on.")
    return Disposition(Reason.DUPLICATE, f"Duplicate of message #{first_id}.", duplicate_of=first_id)


def step_guard(ctx: Context) -> None:
    reading = ctx.reading
    if reading.failure is not None and reading.failure[0] == "guard":
        raise ReadingFailed(*reading.failure)
    if reading.robot is not None:
        reason, text, kind = reading.robot
        ctx.robot = kind
        ctx.note(text)
        raise Ignore(reason, text, robot=kind)


def step_route(ctx: Context) -> None:
    env = ctx.envelope
    if env.recipients:
        candidates = list(env.recipients)
        ctx.note("Routed by the envelope recipients: " + ", ".join(candidates) + ".")
    else:
        candidates = ctx.reading.header_recipients
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


def _sender(ctx: Context) -> str:
    """The From mailbox; the envelope sender only when there is no From header at all (said in the trail)."""
    box = ctx.reading.sender
    if box is None:  # a Reading made without the message
        return ctx.rec.from_addr or (ctx.envelope.sender or "")
    if box.problem:
        envelope = f"; the envelope sender {ctx.envelope.sender} is not taken in its place" if ctx.envelope.sender else ""
        ctx.note(f"From header {box.seen!r}: {box.problem}{envelope}.")
        raise Reject(Reason.UNREADABLE_FROM)
    if not box.present:
        ctx.note(f"No From header: the envelope sender {ctx.envelope.sender or '(none)'} is taken as the sender.")
        return ctx.envelope.sender or ""
    return box.address


def step_authorise(ctx: Context) -> None:
    rcpt = ctx.recipient
    assert rcpt is not None
    sender = _sender(ctx)
    user = find_user_by_email(ctx.conn, sender) if sender else None
    if rcpt.personal is not None:
        return _authorise_personal(ctx, rcpt)
    if user is not None and not user.enabled:
        # Refused outright: not "unknown", which a create address's default author would let in
        # under another name -- disabling someone is meant to stop their mail.
        ctx.note(f"{sender} belongs to {user.username}, whose account is disabled: refused.")
        # The refusal goes back to whoever wrote From (perhaps a forger): it names no account.
        raise Reject(Reason.SENDER_MISMATCH if rcpt.kind == "reply" else Reason.UNKNOWN_SENDER,
                     f"Mail from {sender} is not accepted here: the account is disabled.")
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


def _authorise_personal(ctx: Context, rcpt: Recipient) -> None:
    """A personal create address: its secret, not the From header, says who writes."""
    user = rcpt.personal
    if not user.enabled:
        raise Reject(Reason.UNKNOWN_SENDER, "Mail to this address is not accepted: the account is disabled.")
    ctx.note(f"Personal create address of {user.username}: the task is opened as {user.username}.")
    ctx.author, ctx.actor = user, user.username


def step_parse(ctx: Context) -> None:
    if ctx.reading.failure is not None:
        raise ReadingFailed(*ctx.reading.failure)
    parsed = ctx.reading.parsed
    if ctx.recipient.kind == "create":  # a forward, or a bare quote, is the new task's content
        parsed = for_create(parsed)
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
        conn.rollback_to_savepoint()  # PostgreSQL: the transaction is unusable until then
        holder = conn.scalar(_SELECT_CLAIM, {"key": rec.dedupe_key})
        if holder is None:
            raise
        if holder == rec.id:
            raise _ActedOnElsewhere() from None
        raise _duplicate(ctx, holder) from None
    text = _no_nul(parsed.text)
    if ctx.recipient.kind == "create":
        create = ctx.recipient.create
        task = tracker.create_task(
            conn, app_id=create.application_id, app_name=create.application, author=author,
            title=tracker.make_title(rec.subject, text, parsed.forwarded_subject), description=text,
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
CHECKS = (step_dedupe, step_guard, step_route, sender_auth.step_sender_auth, step_authorise)


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")


def _json_safe(value):
    """PostgreSQL refuses NUL in text and JSON; mail may carry it."""
    if isinstance(value, str):
        return _no_nul(value) if "\x00" in value else value
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
        auth=rec.auth,
    )


def process(db: Database, settings: Settings, rec: Record | ReceivedMessage, msg: Message, envelope: Envelope,
            timings: Timings | None = None, raw: bytes = b"") -> Outcome:
    """Steps 2-8 for a stored message, durable when it returns."""
    timings = timings if timings is not None else Timings()
    reading = read_message(msg, envelope)
    timings.parse = reading.seconds
    with _durable_unit(db, "database unavailable while processing", [timings]) as conn:
        (outcome,) = _process_all(conn, settings, [(rec, reading, envelope, timings, raw)])
    return settled(outcome)


def _process_all(conn: Conn, settings: Settings,
                 stored: Sequence[tuple[Record | ReceivedMessage, Reading, Envelope, Timings, bytes]]
                 ) -> list[Outcome | TempFail]:
    """Steps 2-8 for stored messages: one transaction, a savepoint per message.

    A disposition or a crash rolls back only its own message's work (to its
    savepoint) and is recorded in the same transaction. A message that meets
    an unavailable database (a lock timeout, a deadlock with another host)
    or whose outcome cannot be written gets TempFail on its own, in the
    returned list; a transaction that cannot go on or commit fails them all
    (raised). Either way nobody is answered 2xx for such a message, and its
    stored copy is finished later (recover_stale) or becomes a duplicate of
    the retry.
    """
    contexts = [Context(settings, conn, env, rec, reading,
                        MessageLog(log, qid=rec.queue_id, mid=rec.message_id, rec=rec.id), raw=raw, timings=t)
                for rec, reading, env, t, raw in stored]
    try:
        conn.begin_write()
        outcomes = [_process_one(ctx) for ctx in contexts]
        conn.commit()
    except Exception as exc:
        conn.rollback_quietly()
        log.warning("database unavailable while processing: %s; not answered: %s", exc.__class__.__name__,
                    kv(qids=",".join(c.rec.queue_id or "-" for c in contexts),
                       recs=",".join(str(c.rec.id) for c in contexts)))
        raise TempFail("database unavailable while processing") from exc
    for ctx, outcome in zip(contexts, outcomes):
        if isinstance(outcome, Outcome):
            ctx.log.info("processed", status=outcome.status, reason=outcome.reason, action=outcome.action,
                         object=outcome.object, actor=outcome.actor, source=ctx.rec.source, size=ctx.rec.size,
                         rcpt=",".join(ctx.rec.rcpt_to or []))
    return outcomes


def _process_one(ctx: Context) -> Outcome | TempFail:
    """Steps 2-8 for one message inside the processing transaction; its outcome is written there too."""
    conn = ctx.conn
    conn.savepoint()
    try:
        outcome = _decide_and_act(ctx)
    except AuthDeferred as deferred:
        outcome = _recorded(ctx, _record_deferral, deferred)
    except _ActedOnElsewhere:
        conn.rollback_to_savepoint()
        row = conn.first(_SELECT_RECEIVED, {"id": ctx.rec.id})
        outcome = _outcome(Record(**dict(zip(_COLUMNS, row))))  # what the other worker recorded, as it is
        ctx.log.info("already acted on by another worker; its outcome stands")
    except Disposition as d:
        outcome = _recorded(ctx, _record_disposition, d)
    except Exception as exc:
        if is_unavailable(exc):
            outcome = _not_now(ctx, exc)
        else:
            outcome = _recorded(ctx, _record_failure, exc)
    conn.release_savepoint()
    return outcome


def _decide_and_act(ctx: Context) -> Outcome:
    conn, rec = ctx.conn, ctx.rec
    t0 = time.perf_counter()
    for check in CHECKS:
        check(ctx)
    step_parse(ctx)
    t1 = time.perf_counter()
    step_act(ctx)
    rec.status, rec.reason, rec.reason_text = Status.PROCESSED, None, ""
    rec.actor = ctx.author.username
    rec.commands = [str(c) for c in ctx.plan.valid]
    rec.unknown_commands = list(ctx.plan.unknown)
    rec.decisions = ctx.decisions
    rec.processed_at = utcnow()
    rec.error = ""
    _write_outcome(conn, rec)
    ctx.timings.authorise = t1 - t0
    ctx.timings.act = time.perf_counter() - t1
    return _outcome(rec)


def _recorded(ctx: Context, record: Callable[[Context, BaseException], Outcome | TempFail],
              cause: BaseException) -> Outcome | TempFail:
    """Undo the message's work, then write its disposition or failure (within its savepoint)."""
    ctx.conn.rollback_to_savepoint()
    try:
        return record(ctx, cause)
    except Exception as exc:  # noqa: BLE001 -- the outcome could not be written: this message waits for a retry
        return _not_now(ctx, exc)


def _not_now(ctx: Context, exc: BaseException) -> TempFail:
    """This message only: undone, left `received`, answered 4xx (raises if even the undo fails: all of them)."""
    ctx.conn.rollback_to_savepoint()
    ctx.log.warning("not processed now, the sender retries", error=f"{exc.__class__.__name__}: {exc}"[:300],
                    exc_info=not is_unavailable(exc))
    return TempFail(f"database unavailable while processing: {exc.__class__.__name__}")


OUTCOME_FIELDS = ("status", "reason", "reason_text", "action", "application", "routed_to", "object_ref", "actor",
                  "task_id", "comment_id", "duplicate_of", "commands", "unknown_commands", "robot", "robot_reason",
                  "decisions", "parse", "error", "processed_at", "auth", "auth_verdict")


_UPDATE_OUTCOME = Statement(
    update(_RECEIVED).where(_RECEIVED.c.id == bindparam("rec_id"))
    .values(attempts=_RECEIVED.c.attempts + 1, **{f: bindparam("v_" + f, type_=_RECEIVED.c[f].type)
                                                   for f in OUTCOME_FIELDS})
)


def _write_outcome(conn: Conn, rec: Record | ReceivedMessage) -> None:
    conn.execute(_UPDATE_OUTCOME, {"rec_id": rec.id, **{"v_" + f: getattr(rec, f) for f in OUTCOME_FIELDS}})


def _record_disposition(ctx: Context, d: Disposition) -> Outcome:
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
    _write_outcome(ctx.conn, rec)
    return _outcome(rec)


def _record_deferral(ctx: Context, deferred: AuthDeferred) -> AuthDeferred:
    """Sender authentication could not be completed under `require`: stored, still `received`, answered 4xx.

    The sender retries (and the retry is checked afresh); a copy nobody retries
    is finished by recover_stale, which checks it again first.
    """
    rec = ctx.rec
    rec.status, rec.reason, rec.reason_text = Status.RECEIVED, None, deferred.args[0] if deferred.args else ""
    rec.decisions = ctx.decisions
    rec.application, rec.routed_to = ctx.application, ctx.routed_to
    rec.processed_at = None
    _write_outcome(ctx.conn, rec)
    ctx.log.info("deferred, the sender retries", reason=deferred.reason)
    return deferred


def _record_failure(ctx: Context, exc: BaseException) -> Outcome:
    ctx.log.error("processing crashed", error=exc.__class__.__name__)
    rec = ctx.rec
    rec.status, rec.reason = Status.FAILED, Reason.INTERNAL_ERROR
    rec.reason_text = DEFAULT_TEXT[Reason.INTERNAL_ERROR]
    rec.error = exc.trace if isinstance(exc, ReadingFailed) else "".join(traceback.format_exception(exc))
    rec.decisions = ctx.decisions
    rec.action = rec.task_id = rec.comment_id = None
    rec.processed_at = utcnow()
    _write_outcome(ctx.conn, rec)
    return _outcome(rec)


# --- public entry points ----------------------------------------------------------------

def receive(db: Database, settings: Settings, envelope: Envelope, raw: bytes,
            timings: Timings | None = None) -> Outcome:
    """Store, then decide and act; durable when it returns. Raises only TempFail (answer 4xx)."""
    return settled(receive_many(db, settings, [(envelope, raw)], None if timings is None else [timings])[0])


def settled(result: Outcome | TempFail) -> Outcome:
    """An element of receive_many()'s answer as receive() gives it: the Outcome, or TempFail raised."""
    if isinstance(result, TempFail):
        raise result
    return result


def receive_many(db: Database, settings: Settings, messages: Sequence[tuple[Envelope, bytes]],
                 timings: Sequence[Timings] | None = None, *, sync: bool = True) -> list[Outcome | TempFail]:
    """receive() for several messages at once: one store transaction, one processing transaction, one fsync.

    Concurrent SMTP sessions hand their messages to one caller of this (the
    milter's writer process, or batching.Batcher), so that a message costs a
    share of two commits and of one fsync instead of all of them. Every
    message is stored before any is read or processed; each is decided on
    its own (a savepoint each). The answer has one element per message: its
    Outcome, or TempFail when that message alone could not be processed now.
    Raises TempFail when the batch could not be stored, processed or made
    durable: then none of them may be answered 2xx.
    `sync=False`: the caller calls db.make_durable() before it answers any
    of them (the writer process does, while it works on the next batch).
    """
    for env, raw in messages:  # DNS outside any transaction (the milter has done it in its session thread)
        sender_auth.prepare(settings, env, raw)
    try:
        arrivals = [_arrival(settings, env, raw, t)
                    for (env, raw), t in zip(messages, timings or [Timings() for _ in messages])]
    except Exception as exc:  # pragma: no cover - the header helpers never raise; still never anything but TempFail
        raise TempFail(f"could not read the message: {exc.__class__.__name__}") from exc
    with _durable_unit(db, "could not store the message durably", [a.timings for a in arrivals], sync) as conn:
        _store_all(conn, arrivals)
        todo = [a for a in arrivals if a.rec.status == Status.RECEIVED]
        for a in arrivals:
            if a.rec.status != Status.RECEIVED:
                a.outcome = _outcome(a.rec)
        for a in todo:  # read once stored: a message the parser chokes on is already in the database
            a.reading = read_message(a.msg, a.envelope)
            a.timings.parse = a.reading.seconds
            a.msg = None
        if todo:
            outcomes = _process_all(conn, settings, [(a.rec, a.reading, a.envelope, a.timings, a.kept) for a in todo])
            for a, outcome in zip(todo, outcomes):
                a.outcome = outcome
    return [a.outcome for a in arrivals]


REPROCESSABLE = (Status.FAILED, Status.RECEIVED, Status.REJECTED)


class NotReprocessable(Exception):
    pass


def reprocess(db: Database, settings: Settings, rec_id: int) -> Outcome:
    """Run steps 2-8 again on a stored message (after a fix, or a crash)."""
    with db.read() as s:
        rec = queries.get_inbound(s, rec_id)
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
                            queue_id=rec.queue_id, auth_results=rec.auth_results,
                            auth=AuthResult.from_json(rec.auth))
    if envelope.auth is not None and envelope.auth.verdict == "temperror":
        envelope.auth = None  # DNS did not answer then: ask again now (outside the transaction)
    sender_auth.prepare(settings, envelope, raw)
    for name, value in sender_auth.columns(envelope.auth).items():
        setattr(rec, name, value)
    return process(db, settings, rec, load_message(raw), envelope, raw=raw)


def recover_stale(db: Database, settings: Settings, older_than_seconds: int = 600, limit: int = 200) -> list[Outcome]:
    """Finish messages left 'received': the process died, or power failed, between store and outcome.

    Safe to run on every host at once: a message two of them take is acted on
    once (its dedupe claim), and the second leaves the first's outcome as it is.
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
        except AuthDeferred:
            continue  # its sender's domain still cannot be checked (DNS): left for the next round
    return outcomes
