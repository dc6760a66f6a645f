"""The dedupe step: a key claimed by another message makes a duplicate; claimed by itself, it is settled."""

import pytest

from mailgate.shared import received
from mailgate.shared.db import utcnow
from mailgate.shared.outcomes import Ignore, Reason
from mailgate.shared.pipeline.steps import dedupe
from mailgate.shared.pipeline.work import AlreadySettled


def test_an_unclaimed_key_passes(stored, deciding):
    w = stored()
    with deciding(w):
        dedupe.run(w)
    assert w.decisions == []


def test_a_key_claimed_by_another_message_is_a_duplicate_of_it(stored, deciding, mail):
    raw = mail(msgid="<same@example.org>")
    first, second = stored(raw), stored(raw)
    with deciding(first, second) as conn:
        received.claim(conn, first.row.dedupe_key, first.row.id, utcnow())
        with pytest.raises(Ignore) as refused:
            dedupe.run(second)
    assert (refused.value.reason, refused.value.detail["duplicate_of"]) == (Reason.DUPLICATE, first.row.id)
    assert "Message-ID <same@example.org>" in second.decisions[0]


def test_a_key_claimed_by_the_message_itself_was_settled_by_another_worker(stored, deciding):
    w = stored()
    with deciding(w) as conn:
        received.claim(conn, w.row.dedupe_key, w.row.id, utcnow())
        with pytest.raises(AlreadySettled):
            dedupe.run(w)
