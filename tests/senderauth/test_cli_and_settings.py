"""The command line and settings of sender authentication."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mailgate.shared.config import ConfigError, from_env
from mailgate.webui.cli import main

CREATE = "bugs@reply.example.com"


def run(env, *args, input=None):
    result = CliRunner().invoke(main, list(args), input=input, env=env)
    return result


def test_settings_defaults_and_values(tmp_path):
    base = {"MAILGATE_INSTANCE": str(tmp_path), "MAILGATE_CONFIG": ""}
    s = from_env(base)
    assert (s.sender_auth, s.authserv_id, s.dns_servers, s.dns_timeout) == ("report", "", (), 5.0)
    s = from_env({**base, "MAILGATE_SENDER_AUTH": "Require", "MAILGATE_AUTHSERV_ID": "mx.example.com",
                  "MAILGATE_DNS_SERVERS": "192.0.2.53, 127.0.0.1:5353,[2001:db8::1]:53", "MAILGATE_DNS_TIMEOUT": "2.5"})
    assert (s.sender_auth, s.authserv_id, s.dns_timeout) == ("require", "mx.example.com", 2.5)
    assert s.dns_servers == ("192.0.2.53", "127.0.0.1:5353", "[2001:db8::1]:53")


@pytest.mark.parametrize("name,value", [
    ("MAILGATE_SENDER_AUTH", "strict"), ("MAILGATE_DNS_SERVERS", "dns.example.net"),
    ("MAILGATE_DNS_SERVERS", "127.0.0.1:99999"), ("MAILGATE_DNS_TIMEOUT", "0"), ("MAILGATE_DNS_TIMEOUT", "soon"),
    ("MAILGATE_AUTHSERV_ID", "mx.example.com; dmarc=pass"),
])
def test_bad_settings_name_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError) as err:
        from_env({"MAILGATE_INSTANCE": str(tmp_path), "MAILGATE_CONFIG": "", name: value})
    assert err.value.variable == name


def test_address_add_with_sender_auth_and_list(env, db):
    r = run(env, "address", "add", "tasks", "strict@reply.example.com", "--sender-auth", "require")
    assert r.exit_code == 0, r.output
    data = json.loads(run(env, "address", "list", "--json").output)
    assert data[0]["sender_auth"] == "require"
    assert run(env, "address", "set-sender-auth", "strict@reply.example.com", "default").exit_code == 0
    assert json.loads(run(env, "address", "list", "--json").output)[0]["sender_auth"] is None
    bad = run(env, "address", "add", "tasks", "x@reply.example.com", "--sender-auth", "strict")
    assert bad.exit_code != 0 and "strict" in bad.output


def test_user_create_address_prints_it_last_and_rotates(env, db, people):
    first = run(env, "user", "create-address", "pat")
    assert first.exit_code == 0, first.output
    addr = first.output.strip().splitlines()[-1]
    assert addr.startswith("bugs+u") and addr.endswith("@reply.example.com")
    assert run(env, "user", "create-address", "pat").output.strip().splitlines()[-1] == addr  # stable
    rotated = run(env, "user", "create-address", "pat", "--rotate")
    assert rotated.exit_code == 0 and rotated.output.strip().splitlines()[-1] != addr
    assert run(env, "user", "create-address", "nobody").exit_code != 0


def test_show_inbound_says_the_mismatch_plainly_and_list_filters(env, db, people, mail):
    forged = mail(sender="demo@pass.test", subject="Forged")
    r = run(env, "receive-test", "--from", "mallory@evil.test", "--to", CREATE, "--json", input=forged)
    rec_id = json.loads(r.output)["id"]
    shown = run(env, "show-inbound", str(rec_id))
    # receive-test has no client address: SPF none, nothing aligned, DMARC fail for pass.test
    assert "fail (verified: dmarc=fail spf=none dkim=none aligned=no)" in shown.output
    assert "WARNING: The envelope sender (MAIL FROM mallory@evil.test)" in shown.output
    listed = json.loads(run(env, "list-inbound", "--auth", "fail", "--json").output)
    assert [d["id"] for d in listed] == [rec_id]
    assert json.loads(run(env, "list-inbound", "--auth", "pass", "--json").output) == []


def test_pipe_exits_75_when_required_and_dns_is_down(env, db, people, mail):
    from mailgate.shared import directory
    from mailgate.shared.config import from_env as settings_of
    from mailgate.shared.db import Database

    database = Database.from_settings(settings_of(env))
    with database.transaction() as s:
        directory.add_user_email(s, "demo", "ops@slow.test", settings=settings_of(env), actor="t")
    database.dispose()
    r = run({**env, "MAILGATE_SENDER_AUTH": "require"}, "receive", "--sender", "ops@slow.test",
            "--recipient", CREATE, input=mail(sender="ops@slow.test"))
    assert r.exit_code == 75, r.output
    assert "4.7.0" in r.output


def test_check_says_whether_dns_answers(settings, dns_server):
    import dataclasses

    from mailgate.shared.health import check_sender_auth

    ok = check_sender_auth(settings)
    assert ok.ok and f"DNS at {dns_server.address} answers" in ok.detail
    dead = dataclasses.replace(settings, sender_auth="require", reply_domain="slow.test")
    bad = check_sender_auth(dead)
    assert not bad.ok and "does not answer" in bad.detail and "451" in bad.fix
    assert check_sender_auth(dataclasses.replace(settings, sender_auth="off")).ok
