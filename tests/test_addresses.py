import pytest
from sqlalchemy import select

from mailgate.shared import keys
from mailgate.shared.addresses import (
    AddressError, check_recipient, is_ours, parse_reply_local, reply_address, split_address, verify,
)
from mailgate.shared.config import ConfigError, from_env
from mailgate.shared.outcomes import Reason, Reject


def test_reply_address_shape_and_verification(db, settings, task_with_reply):
    ref, addr = task_with_reply
    local, domain = split_address(addr)
    assert domain == settings.reply_domain
    obj, user, digest = local.split("+")
    assert obj == ref.lower() and user.isdigit() and len(digest) == 16 and int(digest, 16) >= 0
    with db.read() as s:
        token = parse_reply_local(settings, local)
        assert token.obj == ref and verify(keys.current_key(s), token)


def test_parsing_is_case_insensitive(db, settings, seed, task_with_reply):
    _, addr = task_with_reply
    with db.reading() as s:
        rcpt = check_recipient(s, settings, addr.upper())
        assert rcpt.kind == "reply" and rcpt.task.ref == "T1"


def test_forged_hash_is_invalid(db, settings, seed, task_with_reply):
    _, addr = task_with_reply
    local, domain = addr.split("@")
    forged = local[:-1] + ("0" if local[-1] != "0" else "1") + "@" + domain
    with db.reading() as s, pytest.raises(Reject) as err:
        check_recipient(s, settings, forged)
    assert err.value.reason == Reason.INVALID_HASH


def test_other_users_hash_does_not_verify_for_this_user(db, settings, seed, task_with_reply):
    _, addr = task_with_reply
    local, domain = addr.split("@")
    obj, user, digest = local.split("+")
    swapped = f"{obj}+{seed.carol}+{digest}@{domain}"
    with db.reading() as s, pytest.raises(Reject) as err:
        check_recipient(s, settings, swapped)
    assert err.value.reason == Reason.INVALID_HASH


def test_rotation_kills_every_old_address(db, settings, seed, task_with_reply):
    _, addr = task_with_reply
    with db.transaction() as s:
        keys.rotate_key(s)
    with db.reading() as s, pytest.raises(Reject) as err:
        check_recipient(s, settings, addr)
    assert err.value.reason == Reason.INVALID_HASH
    assert "rotated" in err.value.text
    # a freshly issued address works under the new key
    with db.reading() as s:
        assert check_recipient(s, settings, seed.reply_address("T1", seed.bob)).kind == "reply"


def test_missing_object(db, settings, seed, task_with_reply):
    addr = seed.reply_address("T999", seed.bob)
    with db.reading() as s, pytest.raises(Reject) as err:
        check_recipient(s, settings, addr)
    assert err.value.reason == Reason.OBJECT_NOT_FOUND


def test_public_addresses_only_when_enabled(db, env, seed, task_with_reply):
    on = from_env({**env, "MAILGATE_PUBLIC_REPLIES": "true"})
    off = from_env(env)
    with db.reading() as s:
        addr = reply_address(on, keys.signing_key(s), "T1", None)
        assert "+public+" in addr
        assert check_recipient(s, on, addr).token.is_public
        with pytest.raises(Reject) as err:
            check_recipient(s, off, addr)
        assert err.value.reason == Reason.INVALID_HASH


def test_prefix(db, env, seed, task_with_reply):
    pre = from_env({**env, "MAILGATE_REPLY_PREFIX": "mg"})
    with db.reading() as s:
        addr = reply_address(pre, keys.signing_key(s), "T1", seed.bob)
        assert addr.startswith("mg+T1+")
        assert check_recipient(s, pre, addr).kind == "reply"
        # without the prefix (handed out before it was set) it still is, and with an older prefix,
        # or with it after the prefix was dropped: only a rotation kills addresses
        assert check_recipient(s, pre, addr[3:]).kind == "reply"
        assert check_recipient(s, pre, "old+" + addr[3:]).kind == "reply"
        assert check_recipient(s, from_env(env), addr).kind == "reply"
        with pytest.raises(Reject) as err:  # the prefix only routes: the hash is still checked
            local, domain = addr.split("@")
            _, obj, user, digest = local.split("+")
            other = ("1" if digest[0] == "0" else "0") + digest[1:]  # never the real digest
            check_recipient(s, pre, f"old+{obj}+{user}+{other}@{domain}")
        assert err.value.reason == Reason.INVALID_HASH


def test_a_reserved_name_is_no_reply_prefix(env):
    with pytest.raises(ConfigError) as err:
        from_env({**env, "MAILGATE_REPLY_PREFIX": "bounces"})
    assert err.value.variable == "MAILGATE_REPLY_PREFIX"


def test_unknown_and_create_addresses(db, settings, seed):
    with db.reading() as s:
        assert check_recipient(s, settings, "BUGS@Reply.Example.com").kind == "create"
        with pytest.raises(Reject) as err:
            check_recipient(s, settings, "nobody@reply.example.com")
        assert err.value.reason == Reason.UNKNOWN_RECIPIENT


def test_which_addresses_are_ours(settings):
    assert is_ours(settings, "bugs@reply.example.com")
    assert is_ours(settings, "T1+1+abc@REPLY.example.com")
    assert not is_ours(settings, "postmaster@reply.example.com")
    assert not is_ours(settings, "NoReply@reply.example.com")
    assert not is_ours(settings, "bob@example.org")


@pytest.mark.parametrize("bad", ["", "no-at-sign", "a@b@c", "sp ace@x.org", "x@", "@x.org", "a..b@x.org",
                                 "bob\n@x.org", "bob@x\n.org", "bob@ex ample.org"])
def test_bad_syntax(bad):
    with pytest.raises(AddressError):
        split_address(bad)


def test_comparison_is_constant_time():
    import inspect

    from mailgate.shared import addresses

    assert "compare_digest" in inspect.getsource(addresses.verify)


def test_issued_counts_direct_and_notification_addresses(db, settings, seed, receive, mail, task_with_reply):
    """Notifications are counted from their rows: no per-message update of the shared key row."""
    with db.read() as s:
        before = keys.issued_count(s, keys.current_key(s))
        raw_issued = keys.current_key(s).issued
    _, addr = task_with_reply  # issued directly by the fixture, before `before` was read
    out = receive(mail(sender="bob@example.org", to=addr, body="Notifies alice."))
    assert out.status == "processed"
    with db.read() as s:
        key = keys.current_key(s)
        assert key.issued == raw_issued  # the key row was not written by the pipeline
        assert keys.issued_count(s, key) == before + 1
    with db.transaction() as s:
        keys.rotate_key(s)
    with db.read() as s:
        assert keys.issued_count(s, keys.current_key(s)) == 0
