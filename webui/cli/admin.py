"""Console admin accounts from the server: `admin passwd | list | disable | enable | unlock`.

The shell is where an admin who is locked out, or has lost a password, gets back
in; every change is audited and ends the account's console sessions where it
should (a new password, disabling).
"""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from typing import Callable

import click

from mailgate.shared import audit
from mailgate.webui.cli.base import AppContext, emit_json, fail, main, pass_app, table


def read_password(from_stdin: bool) -> str:
    """The first line of standard input, or asked twice on the terminal (never an argument: argv is public)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != password:
        raise click.ClickException("the two passwords differ")
    return password


@main.group()
def admin() -> None:
    """Console admin accounts (create one with `mailgate create-admin NAME`)."""


def _change(app: AppContext, change: Callable[..., object], name: str, done: str, **kwargs: object) -> None:
    from mailgate.webui.accounts import AccountError

    try:
        with app.db.transaction() as s:
            change(s, name, actor=audit.cli_actor(), **kwargs)
    except AccountError as exc:
        fail(str(exc))
    click.echo(done)


@admin.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (first line).")
@pass_app
def admin_passwd(app: AppContext, name: str, password_stdin: bool) -> None:
    """Set NAME's password: their console sessions end, and a failed-login lock is lifted."""
    from mailgate.webui.accounts import set_password

    password = read_password(password_stdin)
    _change(app, set_password, name, f"password of admin {name} changed; their console sessions are logged out",
            password=password)


@admin.command("disable")
@click.argument("name")
@pass_app
def admin_disable(app: AppContext, name: str) -> None:
    """Disable NAME: no more logins, and their open console sessions end at once."""
    from mailgate.webui.accounts import set_disabled

    _change(app, set_disabled, name, f"admin {name} disabled; their console sessions are logged out", disabled=True)


@admin.command("enable")
@click.argument("name")
@pass_app
def admin_enable(app: AppContext, name: str) -> None:
    """Enable NAME again."""
    from mailgate.webui.accounts import set_disabled

    _change(app, set_disabled, name, f"admin {name} enabled", disabled=False)


@admin.command("unlock")
@click.argument("name")
@pass_app
def admin_unlock(app: AppContext, name: str) -> None:
    """Lift the lock that failed logins put on NAME (and forget those failures)."""
    from mailgate.webui.accounts import unlock

    _change(app, unlock, name, f"admin {name} unlocked")


@admin.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def admin_list(app: AppContext, as_json: bool) -> None:
    """List console admins: state, last login, failed logins and any lock."""
    from sqlalchemy import select

    from mailgate.shared.db import utcnow
    from mailgate.shared.models import AdminUser
    from mailgate.webui.accounts import is_locked

    now = utcnow()
    with app.db.read() as s:
        rows = [dict(username=r.username, disabled=r.disabled, locked=is_locked(r, now),
                     locked_until=r.locked_until if is_locked(r, now) else None, failed_logins=r.failed_logins,
                     created_at=r.created_at, last_login_at=r.last_login_at,
                     password_changed_at=r.password_changed_at)
                for r in s.scalars(select(AdminUser).order_by(AdminUser.username))]
    if as_json:
        emit_json(rows)
        return
    table([(r["username"], "disabled" if r["disabled"] else f"locked until {r['locked_until']:%Y-%m-%d %H:%M} UTC"
            if r["locked"] else "active", r["failed_logins"], _when(r["last_login_at"]), _when(r["created_at"]))
           for r in rows], ["name", "state", "failed logins", "last login", "created"], [64, 40, 14, 20, 20])


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "never"
