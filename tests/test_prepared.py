"""Prepared statements: parameters built with the types' own processors, once per value object in a batch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, bindparam, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from mailgate.shared.prepared import Statement

CALLS: list[object] = []


class Counted(TypeDecorator):
    """JSON that records every value it serialises."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):
        CALLS.append(value)
        return value


_TABLE = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("at", DateTime),
               Column("doc", Counted()), Column("name", String(20)))
_INSERT = Statement(insert(_TABLE).values(at=bindparam("at"), doc=bindparam("doc"), name=bindparam("name")))


def test_rows_of_a_batch_get_the_values_one_at_a_time_would():
    c = _INSERT.compiled(sqlite.dialect())
    shared_doc, when = {"To": "a@example.org"}, datetime(2026, 12, 1, 10, 0, 0)
    rows = [{"at": when, "doc": shared_doc, "name": "a"},
            {"at": when, "doc": shared_doc, "name": "b"},
            {"at": datetime(2026, 12, 1, 11, 0, 0), "doc": {"To": "c@example.org"}, "name": "c"},
            {"at": None, "doc": None, "name": "d"}]
    assert c.parameters_many(rows) == [c.parameters(r) for r in rows]


def test_a_value_object_shared_by_rows_is_processed_once():
    c = _INSERT.compiled(sqlite.dialect())
    shared_doc = {"X-Mailgate": "commented; T1"}
    other = {"X-Mailgate": "commented; T1"}  # equal but a different object: processed on its own
    CALLS.clear()
    out = c.parameters_many([{"at": None, "doc": shared_doc, "name": str(i)} for i in range(9)]
                            + [{"at": None, "doc": other, "name": "x"}])
    assert len(CALLS) == 2 and CALLS[0] is shared_doc and CALLS[1] is other
    docs = {p[c.names.index("doc")] if c.positional else p["doc"] for p in out}
    assert docs == {'{"X-Mailgate": "commented; T1"}'}


def test_insert_fills_what_was_not_given_as_the_orm_would():
    from mailgate.shared.models import OutboundMessage
    from mailgate.shared.prepared import Insert

    stmt = Insert(OutboundMessage.__table__)
    filled = stmt.fill({"recipient": "bob@example.org", "status": "sent"})
    assert filled["recipient"] == "bob@example.org" and filled["status"] == "sent"  # given values win
    assert filled["attempts"] == 0 and filled["last_error"] == "" and filled["sent_at"] is None
    assert filled["headers"] == {} and isinstance(filled["created_at"], datetime)  # callables, called
    again = stmt.fill({"recipient": "x@example.org"})
    assert again["headers"] is not filled["headers"]  # a fresh dict per row, never a shared default
    when = datetime(2026, 1, 1)
    assert stmt.fill({"recipient": "x", "created_at": when})["created_at"] is when


def test_sqlite_datetimes_are_written_as_sqlalchemy_writes_them():
    from datetime import date, timedelta, timezone

    own = DateTime().dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    c = _INSERT.compiled(sqlite.dialect())
    at = c.names.index("at")
    values = [datetime(2026, 12, 1, 23, 59, 58, 123456), datetime(2026, 1, 1), datetime(1, 1, 1),
              datetime(9999, 12, 31, 23, 59, 59, 999999), date(2026, 12, 1), None,
              datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))]  # SQLAlchemy drops the zone
    for value in values:
        assert c.parameters({"at": value, "doc": None, "name": "x"})[at] == own(value)
    assert dict(c.processors)[at] is not own  # the faster processor is the one in use
