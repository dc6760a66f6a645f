"""The received-message row: its one type on the mail path, and the statements run on it.

`ReceivedRow` is a `received_messages` row as the pipeline stores, reads and
records it: plain attributes, not a `ReceivedMessage`, because the ORM's
attribute events on every assignment cost more than the insert. The console
reads the same rows as `ReceivedMessage` objects. Statements are prepared
(`prepared.py`) and run on the caller's `Conn`, inside its transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from mailgate.shared.models import MessageClaim, ReceivedMessage, ReceivedRaw
from mailgate.shared.outcomes import Outcome, Reason, Status
from mailgate.shared.prepared import Conn, Insert, Statement

_RECEIVED = ReceivedMessage.__table__
_RAW = ReceivedRaw.__table__
_CLAIMS = MessageClaim.__table__
COLUMNS = tuple(c.key for c in _RECEIVED.columns)

# What recording an outcome writes (with attempts + 1); the rest of the row is written once, by the store.
OUTCOME_FIELDS = ("status", "reason", "reason_text", "action", "application", "routed_to", "object_ref", "actor",
                  "task_id", "comment_id", "duplicate_of", "commands", "unknown_commands", "robot", "robot_reason",
                  "decisions", "parse", "error", "processed_at", "auth", "auth_verdict")


class ReceivedRow:
    """One received message's columns (the names of `ReceivedMessage`); unset columns are None."""

    id: int | None
    created_at: datetime | None
    processed_at: datetime | None
    source: str
    queue_id: str
    mail_from: str | None
    rcpt_to: list[str]
    client_addr: str
    client_name: str
    helo: str
    auth_results: str
    auth: dict | None
    auth_verdict: str | None
    message_id: str
    dedupe_key: str
    subject: str
    from_addr: str
    recipients_text: str
    size: int
    truncated: bool
    status: str
    reason: str | None
    reason_text: str
    action: str | None
    application: str | None
    routed_to: str | None
    object_ref: str | None
    actor: str | None
    task_id: int | None
    comment_id: int | None
    duplicate_of: int | None
    commands: list[str]
    unknown_commands: list[str]
    robot: str | None
    robot_reason: str
    decisions: list[str]
    parse: dict | None
    error: str
    attempts: int

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(_UNSET)
        self.__dict__.update(values)

    def outcome(self) -> Outcome:
        """The row's outcome as the adapters answer with it."""
        return outcome_of(self.id, self.__dict__)

    def __repr__(self) -> str:
        return f"<ReceivedRow #{self.id} {self.status}/{self.reason}>"


_UNSET = dict.fromkeys(COLUMNS)


def outcome_of(row_id: int | None, values: dict[str, Any]) -> Outcome:
    """An Outcome from a row's outcome columns (a dict with at least OUTCOME_FIELDS)."""
    reason = values["reason"]
    return Outcome(
        id=row_id, status=Status(values["status"]), reason=Reason(reason) if reason else None,
        text=values["reason_text"], action=values["action"], object=values["object_ref"], actor=values["actor"],
        application=values["application"], commands=list(values["commands"] or []),
        unknown_commands=list(values["unknown_commands"] or []), robot=values["robot"],
        duplicate_of=values["duplicate_of"], auth=values["auth"],
    )


# --- statements -----------------------------------------------------------------------------

_INSERT = Insert(_RECEIVED, returning=_RECEIVED.c.id)
_INSERT_RAW = Insert(_RAW)
_BY_ID = Statement(select(*_RECEIVED.columns).where(_RECEIVED.c.id == bindparam("id")))
_RAW_BY_ID = Statement(select(_RAW.c.raw).where(_RAW.c.message_id == bindparam("id")))
_STALE = Statement(select(_RECEIVED.c.id).where(_RECEIVED.c.status == bindparam("status"),
                                                 _RECEIVED.c.created_at < bindparam("cutoff"))
                   .order_by(_RECEIVED.c.id).limit(bindparam("limit")))
_WRITE_OUTCOME = Statement(
    update(_RECEIVED).where(_RECEIVED.c.id == bindparam("rec_id"))
    .values(attempts=_RECEIVED.c.attempts + 1, **{f: bindparam("v_" + f, type_=_RECEIVED.c[f].type)
                                                   for f in OUTCOME_FIELDS})
)
_CLAIM_HOLDER = Statement(select(_CLAIMS.c.received_id).where(_CLAIMS.c.dedupe_key == bindparam("key")))
_INSERT_CLAIM = Insert(_CLAIMS)


def insert(conn: Conn, values: dict[str, Any]) -> ReceivedRow:
    """Store a new row (columns not given take their defaults); returns it with its id."""
    return ReceivedRow(id=conn.scalar(_INSERT, values), **values)


def insert_raw(conn: Conn, raws: list[tuple[int, bytes]]) -> None:
    """The raw bytes of stored rows, in one statement for all of them (one round trip on PostgreSQL)."""
    conn.executemany(_INSERT_RAW, [{"message_id": row_id, "raw": raw} for row_id, raw in raws])


def by_id(conn: Conn, row_id: int) -> ReceivedRow | None:
    row = conn.first(_BY_ID, {"id": row_id})
    return ReceivedRow(**dict(zip(COLUMNS, row))) if row is not None else None


def raw_of(conn: Conn, row_id: int) -> bytes | None:
    return conn.scalar(_RAW_BY_ID, {"id": row_id})


def stale_ids(conn: Conn, cutoff: datetime, limit: int) -> list[int]:
    """Rows still `received` (stored, never finished) from before `cutoff`, oldest first."""
    return conn.column(_STALE, {"status": Status.RECEIVED, "cutoff": cutoff, "limit": limit})


def write_outcome(conn: Conn, row_id: int, values: dict[str, Any]) -> None:
    """Record an outcome: every field of OUTCOME_FIELDS from `values`, and one more attempt."""
    conn.execute(_WRITE_OUTCOME, {"rec_id": row_id, **{"v_" + f: values[f] for f in OUTCOME_FIELDS}})


_REPLACE_RAW = Statement(update(_RAW).where(_RAW.c.message_id == bindparam("id")).values(raw=bindparam("raw")))
_MARK_TRUNCATED = Statement(update(_RECEIVED).where(_RECEIVED.c.id == bindparam("id")).values(truncated=True))


def keep_only(conn: Conn, row_id: int, raw: bytes) -> None:
    """Replace a row's stored bytes with fewer (a refused message's head) and mark it truncated."""
    conn.execute(_REPLACE_RAW, {"id": row_id, "raw": raw})
    conn.execute(_MARK_TRUNCATED, {"id": row_id})


def claim_holder(conn: Conn, dedupe_key: str) -> int | None:
    """The row that holds the claim on `dedupe_key` (was acted on), or None."""
    return conn.scalar(_CLAIM_HOLDER, {"key": dedupe_key})


def claim(conn: Conn, dedupe_key: str, row_id: int, now: datetime) -> None:
    """Take the claim on `dedupe_key` for `row_id`; IntegrityError if another row holds it."""
    conn.execute(_INSERT_CLAIM, {"dedupe_key": dedupe_key, "received_id": row_id, "claimed_at": now})
