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


def test_search_finds_what_it_says(db, seed, receive, mail):
    from mailgate.shared.queries import InboundFilter, inbound_page

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
