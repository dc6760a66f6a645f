"""The authorise step: who may reply to an address, who may open tasks."""

import pytest

from mailgate.shared import directory
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.pipeline.steps import authorise, route


def _authorise(w) -> None:
    """The steps up to and including authorise, as the driver runs them for one message."""
    route.run(w)
    authorise.read(w)
    authorise.run(w)


def test_a_known_sender_opens_tasks_as_themselves(stored, deciding):
    w = stored()
    with deciding(w):
        _authorise(w)
    assert (w.author.username, w.actor) == ("alice", "alice")


def test_an_unknown_sender_is_refused_at_a_create_address_without_default_author(stored, deciding, mail):
    w = stored(mail(sender="stranger@example.com"))
    with deciding(w):
        with pytest.raises(Reject) as refused:
            _authorise(w)
    assert refused.value.reason == Reason.UNKNOWN_SENDER and w.actor is None


def test_a_reply_from_someone_else_is_a_mismatch(stored, deciding, mail, task_with_reply):
    _, bobs = task_with_reply
    w = stored(mail(sender="carol@example.org", to=bobs), to=[bobs])
    with deciding(w):
        with pytest.raises(Reject) as refused:
            _authorise(w)
    assert refused.value.reason == Reason.SENDER_MISMATCH


def test_a_disabled_user_is_refused_naming_no_account(db, stored, deciding, mail, task_with_reply):
    _, bobs = task_with_reply
    with db.transaction() as s:
        directory.set_user_enabled(s, "bob", False, actor="test")
    w = stored(mail(sender="bob@example.org", to=bobs), to=[bobs])
    with deciding(w):
        with pytest.raises(Reject) as refused:
            _authorise(w)
    assert refused.value.reason == Reason.SENDER_MISMATCH and w.author is None
    assert refused.value.text == "Mail from bob@example.org is not accepted here: the account is disabled."


def test_a_from_that_names_no_single_mailbox_is_refused_not_replaced(stored, deciding):
    raw = (b"From: alice@example.org <mallory@evil.test>\r\nTo: bugs@reply.example.com\r\nSubject: Hi\r\n"
           b"Message-ID: <two@example.org>\r\n\r\nHello.\r\n")
    w = stored(raw, sender="alice@example.org")
    authorise.read(w)
    with deciding(w):
        route.run(w)
        with pytest.raises(Reject) as refused:
            authorise.run(w)
    assert refused.value.reason == Reason.UNREADABLE_FROM and "not taken in its place" in w.decisions[-1]
