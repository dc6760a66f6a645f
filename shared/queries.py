"""Read models shared by the CLI and the console: the JSON shapes of `--json` output live here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from mailgate.shared.models import (
    AppUser, Attachment, Comment, OutboundMessage, ReceivedMessage, ReceivedRaw, Task, TaskParticipant, TaskSubscriber,
)
from mailgate.shared.senderauth.result import AuthResult, mismatch_sentence


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") + "Z" if dt else None


def inbound_json(rec: ReceivedMessage) -> dict:
    return {
        "id": rec.id,
        "status": rec.status,
        "reason": rec.reason,
        "reason_text": rec.reason_text or None,
        "action": rec.action,
        "object": rec.object_ref,
        "actor": rec.actor,
        "application": rec.application,
        "commands": list(rec.commands or []),
        "unknown_commands": list(rec.unknown_commands or []),
        "robot": rec.robot,
        "source": rec.source,
        "queue_id": rec.queue_id or None,
        "message_id": rec.message_id or None,
        "mail_from": rec.mail_from,
        "rcpt_to": list(rec.rcpt_to or []),
        "from": rec.from_addr or None,
        "subject": rec.subject,
        "size": rec.size,
        "received_at": _iso(rec.created_at),
        "processed_at": _iso(rec.processed_at),
        "duplicate_of": rec.duplicate_of,
        "auth": rec.auth,
    }


def inbound_detail_json(rec: ReceivedMessage) -> dict:
    data = inbound_json(rec)
    data.update({
        "envelope": {
            "mail_from": rec.mail_from, "rcpt_to": list(rec.rcpt_to or []), "client_addr": rec.client_addr,
            "client_name": rec.client_name, "helo": rec.helo, "queue_id": rec.queue_id,
            "auth_results": rec.auth_results,
        },
        "routed_to": rec.routed_to,
        "decisions": list(rec.decisions or []),
        "parse": rec.parse,
        "robot_reason": rec.robot_reason or None,
        "error": rec.error or None,
        "attempts": rec.attempts,
        "truncated": rec.truncated,
        "auth_mismatch": mismatch_sentence(AuthResult.from_json(rec.auth), rec.mail_from, rec.from_addr) or None,
    })
    return data


@dataclass
class InboundFilter:
    status: str | None = None
    reason: str | None = None
    source: str | None = None
    application: str | None = None
    auth: str | None = None  # a verdict (pass, fail, none, temperror), or "unchecked"
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def inbound_query(f: InboundFilter) -> Select:
    q = select(ReceivedMessage)
    if f.status:
        q = q.where(ReceivedMessage.status == f.status)
    if f.reason:
        q = q.where(ReceivedMessage.reason == f.reason)
    if f.source:
        q = q.where(ReceivedMessage.source == f.source)
    if f.application:
        q = q.where(ReceivedMessage.application == f.application)
    if f.auth == "unchecked":
        q = q.where(ReceivedMessage.auth_verdict.is_(None))
    elif f.auth:
        q = q.where(ReceivedMessage.auth_verdict == f.auth)
    if f.since:
        q = q.where(ReceivedMessage.created_at >= f.since)
    if f.until:
        q = q.where(ReceivedMessage.created_at < f.until)
    if f.search:
        term = f"%{f.search.strip()}%"
        q = q.where(or_(
            ReceivedMessage.from_addr.ilike(term), ReceivedMessage.mail_from.ilike(term),
            ReceivedMessage.recipients_text.ilike(term), ReceivedMessage.subject.ilike(term),
            ReceivedMessage.message_id.ilike(term),
        ))
    return q


def auth_verdict_counts(session: Session, since: datetime) -> dict[str, int]:
    """Received messages since `since` per sender-authentication verdict ("unchecked": not checked)."""
    rows = session.execute(select(ReceivedMessage.auth_verdict, func.count()).where(ReceivedMessage.created_at >= since)
                           .group_by(ReceivedMessage.auth_verdict)).all()
    return {verdict or "unchecked": count for verdict, count in rows}


def list_inbound(session: Session, f: InboundFilter | None = None, limit: int = 50,
                 before_id: int | None = None) -> list[ReceivedMessage]:
    """Newest first; keyset pagination on id (`before_id`) stays fast on deep pages."""
    q = inbound_query(f or InboundFilter())
    if before_id is not None:
        q = q.where(ReceivedMessage.id < before_id)
    return list(session.scalars(q.order_by(ReceivedMessage.id.desc()).limit(limit)))


def get_inbound(session: Session, rec_id: int) -> ReceivedMessage | None:
    return session.get(ReceivedMessage, rec_id) if as_id(rec_id) else None


def inbound_raw(session: Session, rec_id: int) -> bytes | None:
    if not as_id(rec_id):
        return None
    return session.scalars(select(ReceivedRaw.raw).where(ReceivedRaw.message_id == rec_id)).first()


# Row ids are INTEGER columns: 32-bit on PostgreSQL. A larger number names no row, and handed to the
# database it is an error (SQLite: OverflowError beyond 64 bits; PostgreSQL: out of range), not a miss.
MAX_ID = 2**31 - 1


def as_id(value: str | int | None) -> int | None:
    """A row id from untrusted text (URL, query string, form): None unless it could name a row."""
    if isinstance(value, int):
        number = value
    else:
        text = (value or "").strip()
        if not (text.isascii() and text.isdigit()):
            return None
        number = int(text)
    return number if 1 <= number <= MAX_ID else None


def parse_task_ref(ref: str) -> int | None:
    ref = (ref or "").strip()
    if ref[:1] in ("T", "t"):
        ref = ref[1:]
    return as_id(ref)


def _attachments_json(items: list[Attachment]) -> list[dict]:
    return [{"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size} for a in items]


def task_json(session: Session, task: Task, with_comments: bool = True) -> dict:
    subs = session.scalars(
        select(AppUser.username).join(TaskSubscriber, TaskSubscriber.user_id == AppUser.id)
        .where(TaskSubscriber.task_id == task.id).order_by(AppUser.username)
    ).all()
    data = {
        "id": task.ref,
        "number": task.id,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "author": task.author.username if task.author else None,
        "assignee": task.assignee.username if task.assignee else None,
        "subscribers": list(subs),
        "participants": participants_json(session, task.id),
        "attachments": _attachments_json(task.attachments),
        "created_at": _iso(task.created_at),
        "updated_at": _iso(task.updated_at),
    }
    if with_comments:
        comments = session.scalars(
            select(Comment).where(Comment.task_id == task.id).order_by(Comment.id)
            .options(selectinload(Comment.author), selectinload(Comment.attachments),
                     selectinload(Comment.participant))
        ).all()
        data["comments"] = [comment_json(c) for c in comments]
    return data


def participants_json(session: Session, task_id: int) -> list[dict]:
    """A task's external participants (service desk), in the order they joined."""
    rows = session.scalars(select(TaskParticipant).where(TaskParticipant.task_id == task_id)
                           .order_by(TaskParticipant.id)).all()
    return [{"address": p.address, "name": p.name, "unsubscribed": p.unsubscribed, "via": p.via,
             "since": _iso(p.created_at), "unsubscribed_at": _iso(p.unsubscribed_at)} for p in rows]


def service_desk_tasks_since(session: Session, since: datetime) -> int:
    """Tasks a service desk opened since `since`: those whose requester (an external participant) wrote then."""
    return session.scalar(select(func.count(func.distinct(TaskParticipant.task_id)))
                          .where(TaskParticipant.via == "from", TaskParticipant.created_at >= since)) or 0


def comment_json(c: Comment) -> dict:
    p = c.participant
    return {"id": c.id, "author": c.author.username, "text": c.text, "attachments": _attachments_json(c.attachments),
            "source_message": c.source_message_id, "created_at": _iso(c.created_at), "internal": bool(c.internal),
            "participant": {"address": p.address, "name": p.name} if p is not None else None}


@dataclass
class CommentPage:
    """One page of a task's comments, oldest first, and where it sits among all of them."""

    comments: list[dict]
    total: int
    first: int  # the position (1-based) of the first comment shown; 0 when there are none
    earlier: bool  # comments before this page
    later: bool  # ... and after it


def comment_page(session: Session, task: Task, *, after: int | None = None, before: int | None = None,
                 last: bool = False, size: int = 100) -> CommentPage:
    """Keyset pages: after a comment id, before one, the last page, or (none given) the first."""
    base = select(Comment).where(Comment.task_id == task.id).options(
        selectinload(Comment.author), selectinload(Comment.attachments), selectinload(Comment.participant))
    if before is not None or last:
        q = base.where(Comment.id < before) if before is not None else base
        rows = list(reversed(session.scalars(q.order_by(Comment.id.desc()).limit(size)).all()))
    else:
        q = base.where(Comment.id > after) if after is not None else base
        rows = list(session.scalars(q.order_by(Comment.id).limit(size)).all())
    count = select(func.count()).select_from(Comment).where(Comment.task_id == task.id)
    total = session.scalar(count) or 0
    if not rows:
        return CommentPage([], total, 0, earlier=total > 0 and (after is not None), later=False)
    earlier = session.scalar(count.where(Comment.id < rows[0].id)) or 0
    later = session.scalar(select(Comment.id).where(Comment.task_id == task.id, Comment.id > rows[-1].id).limit(1))
    return CommentPage([comment_json(c) for c in rows], total, earlier + 1, earlier=earlier > 0,
                       later=later is not None)


def get_task(session: Session, ref: str) -> Task | None:
    number = parse_task_ref(ref)
    return session.get(Task, number) if number is not None else None


def list_tasks(session: Session, status: str | None = None, limit: int = 100,
               before_id: int | None = None) -> list[Task]:
    """Newest first; `before_id` pages on (keyset, like the mail logs)."""
    q = select(Task).options(selectinload(Task.author), selectinload(Task.assignee))
    if status:
        q = q.where(Task.status == status)
    if before_id:
        q = q.where(Task.id < before_id)
    return list(session.scalars(q.order_by(Task.id.desc()).limit(limit)))


def outbound_json(row: OutboundMessage) -> dict:
    return {
        "id": row.id, "status": row.status, "recipient": row.recipient, "subject": row.subject,
        "mailer": row.mailer, "event": row.event, "task": f"T{row.task_id}" if row.task_id else None,
        "reply_to": row.reply_to, "attempts": row.attempts, "last_error": row.last_error or None,
        "created_at": _iso(row.created_at), "sent_at": _iso(row.sent_at),
        "next_attempt_at": _iso(row.next_attempt_at), "status_reason": row.status_reason or None,
    }



# --- console: Received list with an indexed search (appended by the console) -----------------

import re  # noqa: E402
from datetime import timedelta  # noqa: E402

from sqlalchemy import func, literal_column, table, text  # noqa: E402
from sqlalchemy.orm import load_only  # noqa: E402

SEARCH_TABLE = "received_search"  # FTS5 on SQLite (migration 0002_console_search); absent on PostgreSQL
SEARCH_COLUMNS = (
    ReceivedMessage.from_addr, ReceivedMessage.mail_from, ReceivedMessage.recipients_text,
    ReceivedMessage.subject, ReceivedMessage.message_id,
)
LIST_COLUMNS = (
    "id", "created_at", "source", "status", "reason", "action", "application", "object_ref", "actor",
    "from_addr", "mail_from", "recipients_text", "subject", "size", "auth_verdict",
)


@dataclass
class SearchPlan:
    """How a search box becomes an indexed query: FTS5 terms, plus substrings to confirm."""

    match: str | None  # the FTS5 expression (whole tokens; never a syntax error)
    contains: list[str]  # words that must also appear as typed, anywhere in a searchable field


def search_plan(term: str) -> SearchPlan:
    """User words -> an FTS5 query that stays fast on a million rows.

    A plain word matches a whole word (`kettle`), or its beginnings when it
    ends with `*` (`kett*`). A word with punctuation - an address, a domain,
    a Message-ID - matches as typed from the start of a word (`alice@exa`
    finds alice@example.org, `body@else` does not find nobody@else): its
    leading tokens go to the index as a phrase (`"alice"`) and the word
    itself is confirmed with a substring test on those few candidate rows.
    The last token is never a prefix query: FTS5 expands a prefix into every
    matching word, and `example*` over a million addresses is a slow query
    of its own. Quotes and operators in the input are never passed through.
    """
    parts: list[str] = []
    contains: list[str] = []
    for word in (term or "").split():
        tokens = re.findall(r"\w+", word)
        if not tokens:
            continue
        if len(tokens) == 1:
            parts.append(f'"{tokens[0]}"' + (" *" if word.endswith("*") else ""))
            continue
        core = word.strip("<>()[]{}\"',;*")
        # The last token may be cut short (`alice@exa`) unless punctuation follows it (`error273@`).
        typed = word.rstrip("*")
        whole = tokens if not (typed[-1].isalnum() or typed[-1] == "_") else tokens[:-1]
        parts.append('"' + " ".join(whole) + '"')
        contains.append(core)
    return SearchPlan(" AND ".join(parts) or None, contains)


def has_search_index(session: Session) -> bool:
    if session.get_bind().dialect.name != "sqlite":
        return False
    return session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": SEARCH_TABLE}
    ).first() is not None


CLOCK_SLACK = timedelta(minutes=10)
BOUNDARY_ROWS = 100


def _id_bounds(session: Session, f: InboundFilter) -> tuple[int | None, int | None]:
    """Narrow a date range to an id range with two short index reads (None: no bound).

    Ids grow in arrival order and created_at with them, up to clock
    differences between writers (milter hosts, the console). The bounds come
    from the rows just *outside* the range: the smallest id among the
    BOUNDARY_ROWS rows stamped before `since - CLOCK_SLACK`, the largest among
    those from `until + CLOCK_SLACK` on; created_at is still checked on every
    row. So the page is read down the primary key instead of sorting every
    row of a wide range, and only a row whose clock was off by more than the slack *and*
    the boundary rows could be left out.
    """
    col, rid = ReceivedMessage.created_at, ReceivedMessage.id
    lo = hi = None
    if f.since:
        before = select(rid).where(col < f.since - CLOCK_SLACK).order_by(col.desc()).limit(BOUNDARY_ROWS).subquery()
        lo = session.scalar(select(func.min(before.c.id)))
    if f.until:
        after = select(rid).where(col >= f.until + CLOCK_SLACK).order_by(col).limit(BOUNDARY_ROWS).subquery()
        hi = session.scalar(select(func.max(after.c.id)))
    return lo, hi


def inbound_page(session: Session, f: InboundFilter | None = None, limit: int = 50,
                 before_id: int | None = None) -> list[ReceivedMessage]:
    """One page of the Received list, newest first, keyset on id, only the listed columns loaded.

    With a search on SQLite the FTS index drives the query in rowid order
    (descending), so the first page stops after `limit` matches instead of
    reading the table (see `search_plan` for what a word matches); without
    the index (PostgreSQL) every word must appear as typed in one of the
    fields (ILIKE), which is exact but a scan.
    """
    f = f or InboundFilter()
    cols = [getattr(ReceivedMessage, c) for c in LIST_COLUMNS]
    f_lo = None
    if f.since or f.until:
        f_lo, high = _id_bounds(session, f)
        if high is not None:
            before_id = min(before_id, high + 1) if before_id is not None else high + 1
    plan = search_plan(f.search) if f.search else None
    if plan and plan.match and has_search_index(session):
        plain = InboundFilter(**{**f.__dict__, "search": None})
        rowid = literal_column(f"{SEARCH_TABLE}.rowid")
        q = (inbound_query(plain)
             .join(table(SEARCH_TABLE), rowid == ReceivedMessage.id)
             .where(text(f"{SEARCH_TABLE} MATCH :match").bindparams(match=plan.match)))
        for word in plan.contains:
            q = q.where(or_(*(col.icontains(word, autoescape=True) for col in SEARCH_COLUMNS)))
        if before_id is not None:
            q = q.where(rowid < before_id)
        if f_lo is not None:
            q = q.where(rowid >= f_lo)
        q = q.options(load_only(*cols)).order_by(rowid.desc()).limit(limit)
        return list(session.scalars(q))
    q = inbound_query(InboundFilter(**{**f.__dict__, "search": None}))
    for word in (f.search or "").split():  # no index: every word, as typed, anywhere in a field
        core = word.strip("<>()[]{}\"',;*")
        if core:
            q = q.where(or_(*(col.icontains(core, autoescape=True) for col in SEARCH_COLUMNS)))
    if before_id is not None:
        q = q.where(ReceivedMessage.id < before_id)
    if f_lo is not None:
        q = q.where(ReceivedMessage.id >= f_lo)
    q = q.options(load_only(*cols)).order_by(ReceivedMessage.id.desc()).limit(limit)
    return list(session.scalars(q))
