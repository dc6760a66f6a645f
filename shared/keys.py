"""The mail key: the HMAC secret behind every reply address, shared by all hosts via the database."""

from __future__ import annotations

import hashlib
import secrets

from typing import NamedTuple

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from mailgate.shared.db import utcnow
from mailgate.shared.models import MailKey
from mailgate.shared.prepared import Conn, Statement


class NoMailKey(Exception):
    """The database has no current key: `mailgate init` has not run."""


_MEMO = "mailgate.current_key"
_SELECT_CURRENT = select(MailKey).where(MailKey.retired_at.is_(None)).order_by(MailKey.id.desc()).limit(1)


def current_key(session: Session) -> MailKey:
    """The current key, read once per session (one transaction sees one key anyway)."""
    key = session.info.get(_MEMO)
    if key is not None and key in session:
        return key
    key = session.scalars(_SELECT_CURRENT).first()
    if key is None:
        raise NoMailKey("no current mail key; run `mailgate init`")
    session.info[_MEMO] = key
    return key


class SigningKey(NamedTuple):
    """What signing and checking an address needs of the current key: its id and secret."""

    id: int
    secret: str


_SIGNING_MEMO = "mailgate.signing_key"
_KEYS = MailKey.__table__
_SELECT_SIGNING = Statement(select(_KEYS.c.id, _KEYS.c.secret).where(_KEYS.c.retired_at.is_(None))
                            .order_by(_KEYS.c.id.desc()).limit(1))


def signing_key(conn: Conn) -> SigningKey:
    """The current key as a plain pair, read once per unit of work: the per-message path (check and sign).

    One row instead of a MailKey object: this runs for every RCPT and every
    message. Read from the database once per unit of work (a Conn: one RCPT
    check, or one batch, inside one transaction), never cached across them,
    so a rotation on any host applies from the next one on.
    """
    key = conn.memo.get(_SIGNING_MEMO)
    if key is None:
        row = conn.first(_SELECT_SIGNING)
        if row is None:
            raise NoMailKey("no current mail key; run `mailgate init`")
        key = conn.memo[_SIGNING_MEMO] = SigningKey(row[0], row[1])
    return key


_COUNT_ISSUED = Statement(update(_KEYS).where(_KEYS.c.id == bindparam("id"))
                          .values(issued=func.coalesce(_KEYS.c.issued, 0) + 1))


def count_issued(conn: Conn, key: SigningKey) -> None:
    """One more address handed out directly under `key` (see issued_counts); an UPDATE, not a read-modify-write."""
    conn.execute(_COUNT_ISSUED, {"id": key.id})


def _serialise(session: Session) -> None:
    """One key change at a time across every host.

    SQLite writers already serialise (BEGIN IMMEDIATE). On PostgreSQL, two
    READ COMMITTED rotations would each retire the old key and each insert a
    new one, leaving two current keys: a transaction-scoped advisory lock
    makes the second wait for the first and then see its key.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        session.info.pop(_MEMO, None)


_LOCK_KEY = 0x6D61696C6B6579  # "mailkey"


def ensure_key(session: Session) -> MailKey:
    _serialise(session)
    try:
        return current_key(session)
    except NoMailKey:
        key = MailKey(secret=secrets.token_hex(32))
        session.add(key)
        session.flush()
        return key


def rotate_key(session: Session) -> MailKey:
    """Retire every current key and make a new one, in the caller's transaction.

    The UPDATE takes row locks on PostgreSQL (and SQLite's write lock), so
    two concurrent rotations serialise and leave exactly one current key.
    """
    _serialise(session)
    now = utcnow()
    session.execute(update(MailKey).where(MailKey.retired_at.is_(None)).values(retired_at=now))
    key = MailKey(secret=secrets.token_hex(32), created_at=now)
    session.add(key)
    session.flush()
    session.info[_MEMO] = key
    return key


def issued_counts(session: Session, keys: list[MailKey]) -> dict[int, int]:
    """How many reply addresses each key has handed out.

    Addresses given out directly (CLI `reply-address`, the Test Receiver's
    helper) are counted in `MailKey.issued`; those in notifications are the
    outbound rows signed with the key. Counting rows instead of bumping a
    counter keeps every processed message from locking the one key row,
    which on PostgreSQL would serialise all hosts of a fleet.
    """
    if not keys:
        return {}
    from mailgate.shared.models import OutboundMessage

    ids = [k.id for k in keys]
    sent = dict(session.execute(
        select(OutboundMessage.key_id, func.count()).where(OutboundMessage.key_id.in_(ids))
        .group_by(OutboundMessage.key_id)
    ).all())
    return {k.id: (k.issued or 0) + sent.get(k.id, 0) for k in keys}


def issued_count(session: Session, key: MailKey) -> int:
    return issued_counts(session, [key])[key.id]


def fingerprint(key: MailKey) -> str:
    """Safe to show: identifies the key without revealing it."""
    digest = hashlib.sha256(b"mailgate-fingerprint:" + key.secret.encode()).hexdigest()
    return ":".join(digest[i:i + 4] for i in range(0, 16, 4))
