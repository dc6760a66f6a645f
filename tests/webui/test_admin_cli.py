"""`mailgate admin passwd | list | disable | enable | unlock`: accounts managed from the server, audited."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select


def _run(env, *args, stdin=None):
    from mailgate.webui.cli import main

    return CliRunner().invoke(main, list(args), input=stdin, env=env)


def _actions(db):
    from mailgate.shared.models import AuditEntry

    with db.read() as s:
        return [(a.action, a.target) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_passwd_sets_a_new_password_that_logs_in(env, db, admin):
    from mailgate.webui.accounts import authenticate

    r = _run(env, "admin", "passwd", admin, "--password-stdin", stdin="the operator's new one\n")
    assert r.exit_code == 0 and "changed" in r.output, r.output
    with db.read() as s:
        assert authenticate(s, admin, "the operator's new one") is not None
        assert authenticate(s, admin, "correct horse battery") is None
    assert ("admin.passwd", admin) in _actions(db)
    r = _run(env, "admin", "passwd", admin, "--password-stdin", stdin="short\n")
    assert r.exit_code == 1 and "at least 10 characters" in r.output
    r = _run(env, "admin", "passwd", "nobody", "--password-stdin", stdin="long enough secret\n")
    assert r.exit_code == 1 and "no admin 'nobody'" in r.output


def test_list_shows_each_admin_and_its_state(env, db, admin):
    _run(env, "create-admin", "second", "--password-stdin", stdin="another long secret\n")
    assert _run(env, "admin", "disable", "second").exit_code == 0
    r = _run(env, "admin", "list", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["username"]: row for row in json.loads(r.output)}
    assert rows[admin]["disabled"] is False and rows[admin]["locked"] is False and rows[admin]["failed_logins"] == 0
    assert rows["second"]["disabled"] is True
    assert {"username", "disabled", "locked", "locked_until", "failed_logins", "created_at", "last_login_at",
            "password_changed_at"} <= set(rows[admin])
    text = _run(env, "admin", "list").output
    assert "second" in text and "disabled" in text and "active" in text


def test_disable_refuses_the_login_and_enable_allows_it_again(env, db, admin):
    from mailgate.webui.accounts import authenticate

    assert _run(env, "admin", "disable", admin).exit_code == 0
    with db.read() as s:
        assert authenticate(s, admin, "correct horse battery") is None
    assert _run(env, "admin", "enable", admin).exit_code == 0
    with db.read() as s:
        assert authenticate(s, admin, "correct horse battery") is not None
    assert [a for a in _actions(db) if a[0].startswith("admin.")][-2:] == [("admin.disable", admin),
                                                                           ("admin.enable", admin)]


def test_unlock_lifts_a_lock(env, db, admin):
    from datetime import timedelta

    from mailgate.shared.db import utcnow
    from mailgate.shared.models import AdminUser

    with db.transaction() as s:
        row = s.scalars(select(AdminUser).where(AdminUser.username == admin)).one()
        row.failed_logins, row.locked_until = 10, utcnow() + timedelta(minutes=15)
    assert json.loads(_run(env, "admin", "list", "--json").output)[0]["locked"] is True
    r = _run(env, "admin", "unlock", admin)
    assert r.exit_code == 0 and "unlocked" in r.output
    row = json.loads(_run(env, "admin", "list", "--json").output)[0]
    assert row["locked"] is False and row["failed_logins"] == 0
    assert ("admin.unlock", admin) in _actions(db)
    assert _run(env, "admin", "unlock", "nobody").exit_code == 1
