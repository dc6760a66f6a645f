"""The Received search box -> an indexed FTS5 query (shared.queries.search_plan)."""

from __future__ import annotations

import pytest

from mailgate.shared.queries import search_plan


@pytest.mark.parametrize("typed, match, contains", [
    ("printer", '"printer"', []),
    ("kett*", '"kett" *', []),
    ("re: printer", '"re" AND "printer"', []),
    ("alice@exa", '"alice"', ["alice@exa"]),
    ("update.error273@", '"update error273"', ["update.error273@"]),
    ("<abc.1@example.org>", '"abc 1 example org"', ["abc.1@example.org"]),
    ('a"b OR c', '"a" AND "OR" AND "c"', ['a"b']),
    ("***", None, []),
])
def test_search_plan(typed, match, contains):
    plan = search_plan(typed)
    assert plan.match == match and plan.contains == contains


def test_search_finds_what_it_says(db, seed, receive, mail, settings):
    from mailgate.shared.queries import InboundFilter, inbound_page

    if not settings.is_sqlite:
        pytest.skip("the FTS5 search index is SQLite's; PostgreSQL searches with ILIKE")
    first = receive(mail(sender="alice@example.org", subject="Kettle broken", msgid="<abc.1@example.org>")).id
    second = receive(mail(sender="bob@example.org", subject="Printer on fire")).id
    with db.read() as s:
        def ids(term):
            return [r.id for r in inbound_page(s, InboundFilter(search=term))]
        assert ids("kettle") == [first]
        assert ids("kett") == [] and ids("kett*") == [first]
        assert ids("alice@exa") == [first] and ids("lice@example.org") == []
        assert ids("example.org") == [second, first]
        assert ids("<abc.1@example.org>") == [first]
        assert ids("fire bob@") == [second]
        assert ids("100%_") == []


def test_date_range_is_exact(db, seed, receive, mail):
    """The id range found by index seeks only narrows the scan; created_at still decides."""
    from datetime import datetime

    from sqlalchemy import update

    from mailgate.shared.models import ReceivedMessage
    from mailgate.shared.queries import InboundFilter, inbound_page

    ids = [receive(mail(subject=f"m{i}")).id for i in range(6)]
    days = ["2026-01-01 10:00", "2026-01-02 10:00", "2026-01-02 23:59", "2026-01-03 00:01",
            "2026-01-02 00:03", "2026-01-05 10:00"]  # #5 arrived late with a clock a day behind
    with db.transaction() as s:
        for i, d in zip(ids, days):
            s.execute(update(ReceivedMessage).where(ReceivedMessage.id == i)
                      .values(created_at=datetime.strptime(d, "%Y-%m-%d %H:%M")))
    with db.read() as s:
        def got(since, until, before=None):
            f = InboundFilter(since=datetime.fromisoformat(since), until=datetime.fromisoformat(until))
            return [r.id for r in inbound_page(s, f, before_id=before)]
        assert got("2026-01-02", "2026-01-03") == [ids[4], ids[2], ids[1]]  # #5 came late: still found
        assert got("2026-01-01", "2026-01-06") == list(reversed(ids))
        assert got("2026-01-04", "2026-01-05") == []
        assert got("2027-01-01", "2027-01-02") == []
        assert got("2026-01-01", "2026-01-06", before=ids[3]) == [ids[2], ids[1], ids[0]]
