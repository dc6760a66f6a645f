"""The MAILGATE_MAILERS entry schema (cluster.mailers keys) and the inbound credentials it hands out."""

from __future__ import annotations

import json

import pytest

from mailgate.shared.config import ConfigError, from_env
from mailgate.shared.inbound_credentials import (POSTMARK_INBOUND_ADDRESSES, MailgunInbound, PostmarkInbound,
                                                 SendgridInbound, inbound_credentials)
from mailgate.shared.mailer_config import fingerprint


def settings(tmp_path, *entries: dict):
    env = {"MAILGATE_INSTANCE": str(tmp_path), "MAILGATE_SECRET_KEY": "x" * 32,
           "MAILGATE_MAILERS": json.dumps(list(entries))}
    return from_env(env)


def refused(tmp_path, *entries: dict) -> str:
    with pytest.raises(ConfigError) as err:
        settings(tmp_path, *entries)
    assert err.value.variable == "MAILGATE_MAILERS"
    return str(err.value)


def test_entry_keys_default_like_cluster_mailers(tmp_path):
    m = settings(tmp_path, {"key": "a", "type": "smtp"}).mailers[0]
    assert (m.inbound, m.outbound, m.media, m.message_id, m.priority) == (True, True, ("email",), True, None)
    assert m.sends_email


def test_entry_keys_are_read(tmp_path):
    m = settings(tmp_path, {"key": "a", "type": "smtp", "priority": 5, "inbound": False, "outbound": True,
                            "media": ["email"], "message-id": False, "options": {"host": "relay"}}).mailers[0]
    assert (m.inbound, m.message_id, m.priority, m.options["host"]) == (False, False, 5, "relay")


def test_an_inbound_only_entry_does_not_send(tmp_path):
    s = settings(tmp_path, {"key": "pm", "type": "postmark", "outbound": False},
                 {"key": "mx", "type": "smtp", "media": []})
    assert [m.sends_email for m in s.mailers] == [False, False]


@pytest.mark.parametrize("entry, words", [
    ({"key": "a", "type": "smtp", "prioirty": 5}, "unknown entry key 'prioirty'"),
    ({"key": "a", "type": "smtp", "host": "relay"}, "unknown entry key 'host'"),
    ({"key": "a", "type": "smtp", "inbound": "false"}, "inbound must be true or false"),
    ({"key": "a", "type": "smtp", "outbound": 0}, "outbound must be true or false"),
    ({"key": "a", "type": "smtp", "message-id": "no"}, "message-id must be true or false"),
    ({"key": "a", "type": "smtp", "media": "email"}, "media must be a list"),
    ({"key": "a", "type": "smtp", "media": ["sms"]}, "media 'sms'"),
    ({"key": "a", "type": "postmark", "outbound": False, "options": {"inbound-addresses": ["1.2.3.4/40"]}},
     "'1.2.3.4/40'"),
    ({"key": "a", "type": "postmark", "outbound": False, "options": {"inbound-addresses": "1.2.3.4"}},
     "options.inbound-addresses must be a list"),
    ({"key": "a", "type": "postmark", "outbound": False, "options": {"inbound-user": "u"}},
     "options.inbound-user and options.inbound-password go together"),
    ({"key": "a", "type": "sendgrid", "outbound": False, "options": {"inbound-password": "p"}},
     "go together"),
    ({"key": "a", "type": "mailgun", "outbound": False}, "needs options.signing-key (or api-key)"),
    ({"key": "a", "type": "mailgun", "outbound": False, "options": {"signing-key": "k", "api-hostname": "https://x"}},
     "options.api-hostname must be a host name"),
    ({"key": "a", "type": "ses", "outbound": False, "options": {"region": "Europe"}}, "options.region"),
    ({"key": "a", "type": "ses", "outbound": False, "options": {"access-key": "AKIA"}}, "go together"),
    ({"key": "a", "type": "postmark", "outbound": False, "options": {"endpoint": "ftp://x"}}, "options.endpoint"),
    ({"key": "a", "type": "postmark", "outbound": False, "options": {"endpoint": "https://u:p@proxy/"}},
     "options.endpoint"),
    ({"key": "a", "type": "sendgrid", "outbound": False, "options": {"timeout": 0}}, "options.timeout"),
    ({"key": "a", "type": "sendgrid", "outbound": False, "options": {"access-token": "t"}},
     "unknown option 'access-token' for type sendgrid"),
])
def test_bad_entries_name_the_variable_and_the_mailer(tmp_path, entry, words):
    text = refused(tmp_path, entry)
    assert "mailer 'a'" in text and words in text


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path):
    text = refused(tmp_path, {"key": "a", "type": "mailgun", "outbound": False,
                              "options": {"signing-key": 123456789}})
    assert "options.signing-key" in text and "123456789" not in text


def test_a_secret_is_kept_out_of_reprs(tmp_path):
    s = settings(tmp_path, {"key": "pm", "type": "postmark", "outbound": False,
                            "options": {"inbound-user": "hook", "inbound-password": "s3cret-pw"}})
    assert "s3cret-pw" not in repr(s) and "s3cret-pw" not in repr(inbound_credentials(s, "postmark"))
    assert s.mailers[0].secret_fingerprints() == {"inbound-password": fingerprint("s3cret-pw")}
    assert fingerprint("s3cret-pw") != fingerprint("s3cret-pX") and len(fingerprint("x")) == 9


def test_ses_does_not_keep_message_ids_unless_told(tmp_path):
    s = settings(tmp_path, {"key": "s", "type": "ses", "outbound": False},
                 {"key": "t", "type": "ses", "outbound": False, "message-id": True})
    assert [m.message_id for m in s.mailers] == [False, True]


def test_postmark_inbound_defaults_to_its_published_addresses(tmp_path):
    s = settings(tmp_path, {"key": "pm", "type": "postmark", "outbound": False})
    [pm] = inbound_credentials(s, "postmark")
    assert isinstance(pm, PostmarkInbound) and pm.basic_auth is None
    assert [str(n) for n in pm.networks] == list(POSTMARK_INBOUND_ADDRESSES)
    assert pm.allows_address("50.31.156.6") and pm.allows_address("::ffff:3.134.147.250")
    assert not pm.allows_address("50.31.156.7") and not pm.allows_address("not an ip")


def test_postmark_inbound_addresses_and_basic_auth(tmp_path):
    s = settings(tmp_path, {"key": "pm", "type": "postmark", "outbound": False,
                            "options": {"inbound-addresses": ["127.0.0.0/8", "::1"],
                                        "inbound-user": "hook", "inbound-password": "pw"}})
    [pm] = inbound_credentials(s, "postmark")
    assert pm.allows_address("127.0.0.5") and pm.allows_address("::1") and not pm.allows_address("50.31.156.6")
    assert pm.basic_auth.matches("hook", "pw")
    assert not pm.basic_auth.matches("hook", "pW") and not pm.basic_auth.matches("Hook", "pw")
    assert not pm.basic_auth.matches(None, None) and not pm.basic_auth.matches("hook", "")


def test_mailgun_signing_key_falls_back_to_the_api_key(tmp_path):
    s = settings(tmp_path, {"key": "a", "type": "mailgun", "outbound": False, "options": {"api-key": "key-1"}},
                 {"key": "b", "type": "mailgun", "outbound": False,
                  "options": {"api-key": "key-2", "signing-key": "sign-2"}})
    assert inbound_credentials(s, "mailgun") == [MailgunInbound("a", "key-1"), MailgunInbound("b", "sign-2")]


def test_only_entries_serving_inbound_are_handed_out(tmp_path):
    s = settings(tmp_path, {"key": "in", "type": "sendgrid", "outbound": False,
                            "options": {"inbound-user": "u", "inbound-password": "p"}},
                 {"key": "off", "type": "sendgrid", "outbound": False, "inbound": False},
                 {"key": "mx", "type": "smtp"})
    [sg] = inbound_credentials(s, "sendgrid")
    assert isinstance(sg, SendgridInbound) and sg.key == "in" and sg.basic_auth.matches("u", "p")
    assert inbound_credentials(s, "postmark") == [] and inbound_credentials(s.mailers, "mailgun") == []
    with pytest.raises(ValueError):
        inbound_credentials(s, "smtp")
