"""`mailgate check` and `mailgate milter`: the Postfix-facing commands."""

from __future__ import annotations

import sys

import click

from mailgate.webui.cli.base import AppContext, emit_json, main, pass_app, table


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--postfix-config", metavar="DIR", default=None,
              help="Postfix configuration directory to inspect (postconf -c DIR); default: the system instance.")
@pass_app
def check(app: AppContext, as_json: bool, postfix_config: str | None) -> None:
    """Database, mail key, domains, Postfix wiring, milter reachable. Exit 1 when anything fails."""
    from mailgate.webui.health import all_checks

    checks = all_checks(app.settings, app.database(require_schema=False), postfix_config_dir=postfix_config)
    if as_json:
        emit_json([c.to_json() for c in checks])
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name.ljust(width)}  {c.detail}")
            if not c.ok and c.fix:
                click.echo(f"      {''.ljust(width)}  fix: {c.fix}")
    sys.exit(0 if all(c.ok for c in checks) else 1)


@main.command()
@click.option("--socket", "socket_spec", metavar="SPEC", default=None,
              help="unix:/path or inet:port@host (default: MAILGATE_MILTER_SOCKET, unix:/var/spool/postfix/mailgate/milter.sock).")
@click.option("--group", default="postfix", show_default=True, help="Group owning the socket (mode 0660).")
@click.option("--pid-file", type=click.Path(dir_okay=False), default=None, help="Write the daemon's pid here.")
@click.option("--log-level", default="INFO", show_default=True)
@pass_app
def milter(app: AppContext, socket_spec: str | None, group: str, pid_file: str | None, log_level: str) -> None:
    """Run the Postfix milter daemon (foreground; stop with SIGTERM, sessions in flight finish)."""
    from mailgate.milter.server import StartupError, serve
    from mailgate.shared import logs

    try:
        serve(app.settings, socket_spec=socket_spec, group=group, pid_file=pid_file, log_level=log_level)
    except StartupError as exc:
        click.echo(f"{logs.stamp()}mailgate milter: {exc}", err=True)
        sys.exit(exc.exit_code)  # 78 EX_CONFIG: not restarted by the unit; 75: database unreachable, restarted


@main.command("list-refusals")
@click.option("--hours", type=click.IntRange(1, 24 * 366), default=24, show_default=True,
              help="How far back, in hours (the current hour included).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def list_refusals(app: AppContext, hours: int, as_json: bool) -> None:
    """Refusals counted per reason and hour, newest first: the milter's at RCPT (unknown address, invalid
    hash, object gone) and the webhooks' (source postmark, mailgun or sendgrid: forged, malformed, too large)."""
    from mailgate.ingress import refusals as ingress_refusals
    from mailgate.shared import refusals

    with app.db.read() as s:
        rows = [{**r.to_json(), "source": "milter"} for r in refusals.recent(s, hours)]
    rows += ingress_refusals.recent(app.db, hours)
    rows.sort(key=lambda r: (r["hour"], r["source"] != "milter", r["source"], r["reason"]))
    rows.sort(key=lambda r: r["hour"], reverse=True)
    if as_json:
        emit_json(rows)
        return
    table([(r["hour"], r["source"], r["reason"], r["count"]) for r in rows],
          ["hour (UTC)", "source", "reason", "count"], [20, 9, None, 10])
