"""`mailgate check` and `mailgate milter`: the Postfix-facing commands."""

from __future__ import annotations

import sys

import click

from mailgate.webui.cli.base import AppContext, emit_json, main, pass_app


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--postfix-config", metavar="DIR", default=None,
              help="Postfix configuration directory to inspect (postconf -c DIR); default: the system instance.")
@pass_app
def check(app: AppContext, as_json: bool, postfix_config: str | None) -> None:
    """Database, mail key, domains, Postfix wiring, milter reachable. Exit 1 when anything fails."""
    from mailgate.shared.health import run_checks

    checks = run_checks(app.settings, app.database(require_schema=False), postfix_config_dir=postfix_config)
    checks += _ingress_checks(app)
    if as_json:
        emit_json([c.to_json() for c in checks])
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name.ljust(width)}  {c.detail}")
            if not c.ok and c.fix:
                click.echo(f"      {''.ljust(width)}  fix: {c.fix}")
    sys.exit(0 if all(c.ok for c in checks) else 1)


def _ingress_checks(app: AppContext) -> list:
    """The IMAP poller's checks, when a mailbox is configured (MAILGATE_IMAP_HOST)."""
    from mailgate.ingress.imap import settings as imap_settings
    from mailgate.shared.config import ConfigError
    from mailgate.shared.health import Check

    if not imap_settings.configured():
        return []
    from mailgate.ingress.imap.health import run_checks as imap_checks
    from mailgate.webui.cli.ingress import incoming_address

    try:
        imap = imap_settings.from_env()
    except ConfigError as exc:
        return [Check("imap settings", False, str(exc), f"Fix {exc.variable}.")]
    return imap_checks(app.settings, imap, incoming_address())


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

    try:
        serve(app.settings, socket_spec=socket_spec, group=group, pid_file=pid_file, log_level=log_level)
    except StartupError as exc:
        click.echo(f"mailgate milter: {exc}", err=True)
        sys.exit(exc.exit_code)  # 78 EX_CONFIG: not restarted by the unit; 75: database unreachable, restarted
