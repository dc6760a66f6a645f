"""The rows the per-message path works with: a task, a user, a create address.

Plain objects read with prepared statements (`prepared.py`), not ORM
instances: every RCPT and every message reads them, and loading ORM objects
(identity map, attribute instrumentation, flush) cost more than the mail
work. The console keeps using the ORM models; both read the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update

from mailgate.shared.db import utcnow
from mailgate.shared.models import AppUser, Application, CreateAddress, Task, UserEmail
from mailgate.shared.prepared import Conn, Statement

_USERS = AppUser.__table__
_EMAILS = UserEmail.__table__
_TASKS = Task.__table__
_APPS = Application.__table__
_CREATE = CreateAddress.__table__


class UserRef(NamedTuple):
    """A user as the pipeline needs it (sender, default author, assignee)."""

    id: int
    username: str
    name: str
    enabled: bool


_USER_COLUMNS = (_USERS.c.id, _USERS.c.username, _USERS.c.name, _USERS.c.enabled)
_USER_BY_EMAIL = Statement(select(*_USER_COLUMNS).join(_EMAILS, _EMAILS.c.user_id == _USERS.c.id)
                           .where(_EMAILS.c.address == bindparam("address")))
_USER_BY_NAME = Statement(select(*_USER_COLUMNS).where(_USERS.c.username == bindparam("username")))
_USER_BY_FOLDED_NAME = Statement(select(*_USER_COLUMNS).where(func.lower(_USERS.c.username) == bindparam("folded"))
                                 .order_by(_USERS.c.id).limit(1))


def user_by_email(conn: Conn, normalised_address: str) -> UserRef | None:
    row = conn.first(_USER_BY_EMAIL, {"address": normalised_address})
    return UserRef(*row) if row is not None else None


_PERSONAL_USER = Statement(select(*_USER_COLUMNS, _USERS.c.create_address_serial).where(_USERS.c.id == bindparam("id")))


def user_with_serial(conn: Conn, user_id: int) -> tuple[UserRef, int] | None:
    """A user and the serial of their personal create address (addresses/personal.py)."""
    row = conn.first(_PERSONAL_USER, {"id": user_id})
    return (UserRef(*row[:4]), row[4] or 0) if row is not None else None


_USER_BY_ID = Statement(select(*_USER_COLUMNS).where(_USERS.c.id == bindparam("id")))


def user_by_id(conn: Conn, user_id: int) -> UserRef | None:
    row = conn.first(_USER_BY_ID, {"id": user_id})
    return UserRef(*row) if row is not None else None


def user_by_name(conn: Conn, username: str) -> UserRef | None:
    """Usernames are told apart without case (`!assign CAROL` is carol), as addresses are; the exact
    spelling wins where an older database holds two that differ only in case."""
    row = conn.first(_USER_BY_NAME, {"username": username}) or \
        conn.first(_USER_BY_FOLDED_NAME, {"folded": username.lower()})
    return UserRef(*row) if row is not None else None


# Fields of a task the mail path reads or changes; `save_task` writes the changed ones.
TASK_FIELDS = ("id", "application_id", "title", "status", "priority", "assignee_id", "thread_id")
_CHANGEABLE = frozenset({"status", "priority", "assignee_id", "thread_id"})


class TaskRow:
    """A task read for one message; assignments to its fields are remembered and saved in one UPDATE.

    Shaped like the ORM Task where the tracker and notifications read it
    (`id`, `ref`, `title`, `status`, `priority`, `assignee_id`, `thread_id`),
    so those functions serve the console's ORM objects as well.
    """

    __slots__ = (*TASK_FIELDS, "application", "changed")

    def __init__(self, id: int, application_id: int | None, title: str, status: str, priority: str,
                 assignee_id: int | None, thread_id: str, application: str | None = None) -> None:
        object.__setattr__(self, "changed", set())
        for name, value in zip(TASK_FIELDS, (id, application_id, title, status, priority, assignee_id, thread_id)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "application", application)

    def __setattr__(self, name: str, value) -> None:
        if name in _CHANGEABLE and getattr(self, name) != value:
            self.changed.add(name)
        object.__setattr__(self, name, value)

    @property
    def ref(self) -> str:
        return f"T{self.id}"

    def __repr__(self) -> str:
        return f"<TaskRow {self.ref} {self.status}/{self.priority}>"


_TASK_BY_ID = Statement(
    select(*(_TASKS.c[f] for f in TASK_FIELDS), _APPS.c.name)
    .outerjoin(_APPS, _APPS.c.id == _TASKS.c.application_id)
    .where(_TASKS.c.id == bindparam("task_id"))
)
_SAVE_TASK = {}  # frozenset of changed fields -> Statement (at most 15 shapes)


def task_by_id(conn: Conn, task_id: int) -> TaskRow | None:
    row = conn.first(_TASK_BY_ID, {"task_id": task_id})
    return TaskRow(*row) if row is not None else None


def save_task(conn: Conn, task: TaskRow) -> None:
    """One UPDATE of the fields assigned since the task was read (none: nothing to do)."""
    if not task.changed:
        return
    fields = frozenset(task.changed)
    stmt = _SAVE_TASK.get(fields)
    if stmt is None:
        stmt = _SAVE_TASK[fields] = Statement(
            update(_TASKS).where(_TASKS.c.id == bindparam("task_id"))
            .values(updated_at=bindparam("updated_at"), **{f: bindparam(f) for f in sorted(fields)}))
    conn.execute(stmt, {"task_id": task.id, "updated_at": utcnow(), **{f: getattr(task, f) for f in fields}})
    task.changed.clear()


@dataclass(frozen=True)
class CreateTarget:
    """A create address with its application and default author, read in one query."""

    id: int
    address: str
    application_id: int
    application: str
    default_author: UserRef | None
    sender_auth: str | None = None  # off|report|require of this address; None: MAILGATE_SENDER_AUTH
    service_desk: bool = False  # anyone may write; the sender becomes an external participant
    desk_acknowledge: bool = True
    desk_template: str | None = None  # the acknowledgement's text; None: the default
    desk_cc: bool = False  # the Cc'd addresses of a new mail become participants too


_AUTHORS = _USERS.alias("default_author")
_CREATE_BY_ADDRESS = Statement(
    select(_CREATE.c.id, _CREATE.c.address, _APPS.c.id, _APPS.c.name,
           _AUTHORS.c.id, _AUTHORS.c.username, _AUTHORS.c.name, _AUTHORS.c.enabled, _CREATE.c.sender_auth,
           _CREATE.c.service_desk, _CREATE.c.desk_acknowledge, _CREATE.c.desk_template, _CREATE.c.desk_cc)
    .join(_APPS, _APPS.c.id == _CREATE.c.application_id)
    .outerjoin(_AUTHORS, _AUTHORS.c.id == _CREATE.c.default_author_id)
    .where(_CREATE.c.address == bindparam("address"))
)


def create_target(conn: Conn, normalised_address: str) -> CreateTarget | None:
    row = conn.first(_CREATE_BY_ADDRESS, {"address": normalised_address})
    if row is None:
        return None
    author = UserRef(*row[4:8]) if row[4] is not None else None
    return CreateTarget(row[0], row[1], row[2], row[3], author, row[8], bool(row[9]), bool(row[10]), row[11],
                        bool(row[12]))
