"""`mailgate imap` and `mailgate check` as an operator runs them, against a real Dovecot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPLY_DOMAIN, make_mail
from .dovecot import PASSWORD

MAILGATE = str(Path(sys.executable).with_name("mailgate"))
pytestmark = pytest.mark.slow


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONSAFEPATH": "1"}
    return subprocess.run([MAILGATE, *args], env=full, capture_output=True, text=True, timeout=60)


def imap_checks(out: str) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(out) if c["name"].startswith(("imap", "incoming"))}


def test_once_stores_and_reports(dovecot, env, db, seed):
    dovecot.append(make_mail(to=f"bugs@{REPLY_DOMAIN}", subject="from the CLI"))
    dovecot.append(make_mail(to="friend@elsewhere.example", subject="not ours"))
    result = run({**env, **dovecot.env()}, "imap", "--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stored 1, left alone 1, processed 1"
    assert "left alone: not for Mailgate" in result.stderr and "received qid=imap:" in result.stderr
    listed = json.loads(run(env, "list-inbound", "--source", "imap", "--json").stdout)
    assert [(m["source"], m["subject"]) for m in listed] == [("imap", "from the CLI")]


def test_wrong_password_exits_78_with_one_clear_line(dovecot, env, db):
    result = run({**env, **dovecot.env(MAILGATE_IMAP_PASSWORD="wrong")}, "imap")
    assert result.returncode == 78
    assert "IMAP login refused for user 'mailgate@example.net' at 127.0.0.1:" in result.stderr
    assert "check MAILGATE_IMAP_USER and MAILGATE_IMAP_PASSWORD" in result.stderr
    assert "wrong" not in result.stderr.replace("wrong password", "")


def test_check_reports_login_mailbox_idle_and_template(dovecot, env, db):
    good = imap_checks(run({**env, **dovecot.env(), "MAILGATE_INCOMING_ADDRESS": "incoming+%{key}@example.net"},
                           "check", "--json").stdout)
    assert all(c["ok"] for c in good.values()), good
    assert set(good) == {"imap login", "imap mailbox", "imap idle", "incoming address"}
    assert "IDLE supported" in good["imap idle"]["detail"]
    assert "routes back to t1+1+0123456789abcdef@reply.example.com" in good["incoming address"]["detail"]

    bad = imap_checks(run({**env, **dovecot.env(MAILGATE_IMAP_PASSWORD="wrong")}, "check", "--json").stdout)
    assert not bad["imap login"]["ok"] and "IMAP login refused" in bad["imap login"]["detail"]
    assert PASSWORD not in json.dumps(bad) and '"wrong"' not in json.dumps(bad)

    no_key = run({**env, **dovecot.env(), "MAILGATE_INCOMING_ADDRESS": "%{key}"}, "check", "--json")
    assert no_key.returncode == 1 and "MAILGATE_INCOMING_ADDRESS: '%{key}': not an address" in no_key.stderr


def test_check_without_imap_shows_no_imap_lines(env, db):
    assert imap_checks(run(env, "check", "--json").stdout) == {}
