"""`mailgate create-admin` and `mailgate web` (the console on waitress) from the command line."""

from __future__ import annotations

import urllib.request

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from .running import mailgate_web


def test_create_admin_from_stdin(env, db):
    from mailgate.shared.models import AdminUser, AuditEntry
    from mailgate.webui.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["create-admin", "root", "--password-stdin"], input="a long enough secret\n", env=env)
    assert r.exit_code == 0, r.output
    with db.read() as s:
        row = s.scalars(select(AdminUser).where(AdminUser.username == "root")).one()
        assert row.password_hash.startswith(("scrypt:", "pbkdf2:")) and "a long enough" not in row.password_hash
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.action == "admin.create")).first()
    r = runner.invoke(main, ["create-admin", "root", "--password-stdin"], input="a long enough secret\n", env=env)
    assert r.exit_code != 0 and "already exists" in r.output
    r = runner.invoke(main, ["create-admin", "other", "--password-stdin"], input="short\n", env=env)
    assert r.exit_code != 0 and "at least" in r.output


@pytest.mark.slow
def test_mailgate_web_serves_the_console(env, db):
    with mailgate_web(env) as base:
        with urllib.request.urlopen(f"{base}/login", timeout=30) as r:
            body = r.read().decode()
            assert r.status == 200 and "Username" in body
            assert r.headers["Server"] == "mailgate"  # waitress, not the Flask dev server
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
