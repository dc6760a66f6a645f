"""External participants as plain rows on a `Conn` (the mail path's data layer), and the Support identity.

A participant is an address and a display name on one task, never an
account: their reply address is signed for the row and the address
(`addresses.participant_reply_address`), and they are mailed public
comments until they unsubscribe.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update

from mailgate.shared.db import utcnow
from mailgate.shared.models import AppUser, TaskParticipant
from mailgate.shared.prepared import Conn, Insert, Statement
from mailgate.shared.rows import UserRef

_P = TaskParticipant.__table__
_USERS = AppUser.__table__

SUPPORT_USERNAME = "support"
SUPPORT_NAME = "Support"
TOKEN_BYTES = 16  # 32 hex characters in the unsubscribe link and address


def display_name(value: str) -> str:
    """A display name fit to show to others: decoded, one line, never an address (some clients put the
    address in the name, and other participants must not see it)."""
    # Imported here: message -> addresses -> this module would otherwise be a cycle at import time.
    from mailgate.shared.message import clean_header_value, decode_header_value

    name = clean_header_value(decode_header_value(value))[:200]
    return "" if "@" in name else name.strip("'\" ")


def team_name(author: UserRef) -> str:
    """A team member as a participant sees them: their name, or else their username -- never an address,
    even when the name was set to one."""
    return display_name(author.name or "") or author.username


class ParticipantRow(NamedTuple):
    id: int
    task_id: int
    address: str
    name: str
    via: str
    desk: str
    thread_root: str
    unsubscribe_token: str
    unsubscribed_at: datetime | None

    @property
    def unsubscribed(self) -> bool:
        return self.unsubscribed_at is not None

    def shown_name(self) -> str:
        """What other participants see of them: the name they wrote with, never the address."""
        if self.name:
            return self.name
        return "The requester" if self.via == "from" else "A participant"


_COLUMNS = (_P.c.id, _P.c.task_id, _P.c.address, _P.c.name, _P.c.via, _P.c.desk, _P.c.thread_root, _P.c.unsubscribe_token,
            _P.c.unsubscribed_at)
_BY_ID = Statement(select(*_COLUMNS).where(_P.c.id == bindparam("id")))
_BY_TOKEN = Statement(select(*_COLUMNS).where(_P.c.unsubscribe_token == bindparam("token")))
_OF_TASK = Statement(select(*_COLUMNS).where(_P.c.task_id == bindparam("task_id")).order_by(_P.c.id))
_INSERT = Insert(_P, returning=_P.c.id)
_SET_ROOT = Statement(update(_P).where(_P.c.id == bindparam("id")).values(thread_root=bindparam("root")))
_RECENT = Statement(select(func.count()).select_from(_P).where(
    _P.c.address == bindparam("address"), _P.c.via == "from", _P.c.created_at >= bindparam("since")))
MEMO = "mailgate.participants"


def by_id(conn: Conn, participant_id: int) -> ParticipantRow | None:
    row = conn.first(_BY_ID, {"id": participant_id})
    return ParticipantRow(*row) if row is not None else None


def by_token(conn: Conn, token: str) -> ParticipantRow | None:
    row = conn.first(_BY_TOKEN, {"token": token})
    return ParticipantRow(*row) if row is not None else None


def of_task(conn: Conn, task_id: int) -> list[ParticipantRow]:
    """The task's participants, read once per unit of work (a comment asks for them; so may its notices)."""
    memo = conn.memo.setdefault(MEMO, {})
    if task_id not in memo:
        memo[task_id] = [ParticipantRow(*r) for r in conn.all(_OF_TASK, {"task_id": task_id})]
    return memo[task_id]


def add(conn: Conn, *, task_id: int, address: str, name: str, via: str, desk: str,
        thread_root: str) -> ParticipantRow:
    """A new participant of `task_id` (the caller checked they are not one yet)."""
    values = dict(task_id=task_id, address=address, name=name[:200], via=via, desk=desk,
                  thread_root=thread_root if len(thread_root) <= 250 else "",
                  unsubscribe_token=secrets.token_hex(TOKEN_BYTES), unsubscribed_at=None, created_at=utcnow())
    pid = conn.scalar(_INSERT, values)
    row = ParticipantRow(pid, task_id, address, values["name"], via, desk, values["thread_root"],
                         values["unsubscribe_token"], None)
    conn.memo.setdefault(MEMO, {}).setdefault(task_id, []).append(row)
    return row


def set_thread_root(conn: Conn, participant: ParticipantRow, root: str) -> ParticipantRow:
    conn.execute(_SET_ROOT, {"id": participant.id, "root": root})
    updated = participant._replace(thread_root=root)
    rows = conn.memo.get(MEMO, {}).get(participant.task_id)
    if rows is not None:
        rows[:] = [updated if r.id == participant.id else r for r in rows]
    return updated


def opened_lately(conn: Conn, address: str, within: timedelta) -> int:
    """How many tasks `address` opened within the last `within` (the acknowledgement's rate limit)."""
    return conn.scalar(_RECENT, {"address": address, "since": utcnow() - within}) or 0


# --- the Support identity ----------------------------------------------------------------------

_SUPPORT = Statement(select(_USERS.c.id, _USERS.c.username, _USERS.c.name, _USERS.c.enabled)
                     .where(_USERS.c.builtin.is_(True)).order_by(_USERS.c.id).limit(1))
_NAME_TAKEN = Statement(select(_USERS.c.id).where(func.lower(_USERS.c.username) == bindparam("folded")))
_INSERT_USER = Statement(_USERS.insert().values(
    username=bindparam("username"), name=bindparam("name"), enabled=True, builtin=True,
    create_address_serial=0, created_at=bindparam("created_at")))
_SUPPORT_MEMO = "mailgate.support_identity"


def support_identity(conn: Conn, *, create: bool = True) -> UserRef | None:
    """The built-in "Support" user: made on first need (a username of its own if `support` is a person's);
    None when there is none yet and `create` is false (a reading that must not write)."""
    found = conn.memo.get(_SUPPORT_MEMO)
    if found is not None:
        return found
    row = conn.first(_SUPPORT)
    if row is None:
        if not create:
            return None
        username = SUPPORT_USERNAME
        n = 1
        while conn.first(_NAME_TAKEN, {"folded": username}) is not None:
            n += 1
            username = f"{SUPPORT_USERNAME}-{n}"
        conn.execute(_INSERT_USER, {"username": username, "name": SUPPORT_NAME, "created_at": utcnow()})
        row = conn.first(_SUPPORT)
    found = conn.memo[_SUPPORT_MEMO] = UserRef(*row)
    return found
