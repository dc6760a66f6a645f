"""A participant's reply address is signed for the participant and their e-mail address, not a user id."""

from __future__ import annotations

import pytest

from mailgate.shared import durability, keys
from mailgate.shared.addresses import incoming
from mailgate.shared.addresses import (
    check_recipient, parse_reply_local, participant_reply_address, reply_address, unsubscribe_address,
)
from mailgate.shared.keys import signing_key
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.servicedesk import participants


def _signed(db, settings, ref, pid, address):
    with db.reading() as conn:
        return participant_reply_address(settings, signing_key(conn), ref, pid, address)


def _check(db, settings, address):
    with db.reading() as conn:
        return check_recipient(conn, settings, address)


def test_signed_address_routes_to_the_participant(db, settings, desk_task):
    p = desk_task.participant
    addr = _signed(db, settings, "T1", p.id, p.address)
    assert addr.startswith(f"T1+p{p.id}+") and addr.endswith("@reply.example.com")
    rcpt = _check(db, settings, addr)
    assert rcpt.kind == "reply" and rcpt.participant.address == "jane@customer.example"
    assert rcpt.token.is_participant and rcpt.token.user_id is None and not rcpt.token.is_public
    assert "external participant" in rcpt.describe()


def test_the_signature_covers_the_address(db, settings, desk_task):
    """The same id signed for another address is not this participant's address."""
    p = desk_task.participant
    other = _signed(db, settings, "T1", p.id, "mallory@evil.example")
    with pytest.raises(Reject) as err:
        _check(db, settings, other)
    assert err.value.reason == Reason.INVALID_HASH


def test_a_user_signature_is_not_a_participant_signature(db, settings, seed, desk_task):
    p = desk_task.participant
    with db.reading() as conn:
        user_addr = reply_address(settings, signing_key(conn), "T1", p.id)  # "T1+<id>+hash": a user id
    local, domain = user_addr.split("@")
    obj, _user, digest = local.split("+")
    with pytest.raises(Reject) as err:
        _check(db, settings, f"{obj}+p{p.id}+{digest}@{domain}")
    assert err.value.reason == Reason.INVALID_HASH


def test_broken_signature_other_task_and_missing_participant_are_invalid_hash(db, settings, desk_task):
    p = desk_task.participant
    good = _signed(db, settings, "T1", p.id, p.address)
    local, domain = good.split("@")
    broken = local[:-1] + ("0" if local[-1] != "0" else "1") + "@" + domain
    elsewhere = _signed(db, settings, "T2", p.id, p.address)  # T2 does not exist: no "no such task" answer either
    missing = _signed(db, settings, "T1", p.id + 50, p.address)
    for addr in (broken, elsewhere, missing):
        with pytest.raises(Reject) as err:
            _check(db, settings, addr)
        assert err.value.reason == Reason.INVALID_HASH, addr


def test_rotation_kills_participant_addresses(db, settings, desk_task):
    p = desk_task.participant
    addr = _signed(db, settings, "T1", p.id, p.address)
    with db.transaction() as s:
        keys.rotate_key(s)
    with pytest.raises(Reject) as err:
        _check(db, settings, addr)
    assert err.value.reason == Reason.INVALID_HASH


def test_participant_key_travels_in_an_incoming_template(db, settings, desk_task):
    """MAILGATE_INCOMING_ADDRESS=incoming+%{key}@…: the handed-out form reads back to the same address."""
    p = desk_task.participant
    addr = _signed(db, settings, "T1", p.id, p.address)
    template = "incoming+%{key}@mailbox.example"
    handed = incoming.issue(template, addr)
    key = incoming.key_in(template, handed)
    assert parse_reply_local(settings, key).participant_id == p.id
    assert _check(db, settings, f"{key}@{settings.reply_domain}").participant.id == p.id


def test_unsubscribe_address(db, settings, desk_task):
    p = desk_task.participant
    rcpt = _check(db, settings, unsubscribe_address(settings, p.unsubscribe_token).upper())
    assert rcpt.kind == "unsubscribe" and rcpt.participant.id == p.id and rcpt.task.ref == "T1"
    for bad in (unsubscribe_address(settings, "0" * 32), f"unsubscribe-{p.unsubscribe_token}@other.example"):
        with pytest.raises(Reject) as err:
            _check(db, settings, bad)
        assert err.value.reason == Reason.UNKNOWN_RECIPIENT


def test_support_identity_is_made_once_and_avoids_a_person_called_support(db, settings, seed):
    from mailgate.shared import directory

    with db.transaction() as s:
        directory.add_user(s, "support", ["help@example.org"], settings=settings, actor="test")
    with durability.transaction(db) as conn:
        first = participants.support_identity(conn)
    with durability.transaction(db) as conn:
        again = participants.support_identity(conn)
    with db.transaction() as s:
        orm = directory.support_identity(s)
    assert first.username == "support-2" and first.name == "Support"
    assert again.id == first.id == orm.id
