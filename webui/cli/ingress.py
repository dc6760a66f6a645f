"""`mailgate imap` (the IMAP poller) and `mailgate ingress` (the public webhook listener): thin commands."""

from __future__ import annotations

import signal
import sys

import click

from mailgate.shared.config import ConfigError, reader
from mailgate.webui.cli.base import AppContext, main, pass_app

EX_TEMPFAIL = 75
EX_CONFIG = 78


def incoming_address() -> str:
    """MAILGATE_INCOMING_ADDRESS: GitLab's template with %{key}, a dedicated mailbox's address, or ''."""
    return (reader().get("INCOMING_ADDRESS") or "").strip()


@main.command("imap")
@click.option("--once", is_flag=True, help="One pass over the mailbox, then exit (cron, tests).")
@click.option("--log-level", default="INFO", show_default=True)
@pass_app
def imap_cmd(app: AppContext, once: bool, log_level: str) -> None:
    """Read mail from an IMAP mailbox (MAILGATE_IMAP_*): IDLE, store each message of ours, then remove it."""
    from mailgate.ingress.imap import settings as imap_settings
    from mailgate.ingress.imap.connection import ConnectionLost, LoginRefused
    from mailgate.ingress.imap.poller import Poller
    from mailgate.shared import logs
    from mailgate.shared.outcomes import TempFail

    logs.setup(log_level)
    try:
        imap = imap_settings.from_env()
    except ConfigError as exc:
        click.echo(f"mailgate imap: configuration: {exc}", err=True)
        sys.exit(EX_CONFIG)
    poller = Poller(app.settings, app.db, imap, incoming_address=incoming_address())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: poller.stop())
    try:
        stats = poller.run(once=once)
    except LoginRefused as exc:
        click.echo(f"mailgate imap: {exc}", err=True)
        sys.exit(EX_CONFIG)  # the unit does not restart-loop on a wrong password
    except (ConnectionLost, TempFail) as exc:
        click.echo(f"mailgate imap: {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    if once:
        click.echo(f"stored {stats.stored}, left alone {stats.left_alone}"
                   + "".join(f", {k} {v}" for k, v in sorted(stats.outcomes.items())))
