"""`mailgate imap` (the IMAP poller) and `mailgate ingress` (the public webhook listener): thin commands."""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys

import click

from mailgate.shared.config import ConfigError, reader
from mailgate.webui.cli.base import AppContext, main, pass_app

EX_TEMPFAIL = 75
EX_CONFIG = 78
HARD_LIMIT_MARGIN = 1024 * 1024


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
    poller = Poller(app.settings, app.db, imap)
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
                   + (f", deferred {stats.deferred}" if stats.deferred else "")
                   + "".join(f", {k} {v}" for k, v in sorted(stats.outcomes.items())))


@main.command("ingress")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (put TLS in front).")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option("--log-level", default="INFO", show_default=True)
@pass_app
def ingress_cmd(app: AppContext, host: str, port: int, threads: int, log_level: str) -> None:
    """The public listener for the Postmark, Mailgun and SendGrid inbound webhooks and the service desk's
    one-click unsubscribe (never the console)."""
    from waitress import serve

    from mailgate.ingress.web.app import create_app
    from mailgate.ingress.web.runtime import request_limit
    from mailgate.shared import logs
    from mailgate.shared.batching import Batcher
    from mailgate.shared.serving import proxy_options

    logs.setup(log_level)
    batcher = Batcher(app.db, app.settings)  # concurrent requests share commits and one fsync
    wsgi = create_app(app.settings, app.db, receive=batcher.receive)
    limit = request_limit(app.settings)
    click.echo(f"Mailgate ingress on http://{host}:{port}/mail/{{postmark,mailgun,sendgrid}}/ (Ctrl-C to stop)")
    if app.settings.trusted_proxies and not _loopback(host):
        logging.getLogger("mailgate.ingress").warning(
            "MAILGATE_TRUSTED_PROXIES=%d: every client's X-Forwarded-For is believed, so this listener on %s "
            "must be reachable only through the proxy (firewall it); reached around the proxy, anyone can "
            "claim Postmark's address", app.settings.trusted_proxies, host)
    # waitress buffers a whole body before the app runs: it refuses one past this itself, unread (and
    # uncounted); up to it, the app refuses from Content-Length (logged and counted) before reading.
    serve(wsgi, host=host, port=port, threads=threads, ident="mailgate-ingress",
          max_request_body_size=limit + HARD_LIMIT_MARGIN, **proxy_options(app.settings.trusted_proxies))
    batcher.stop()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"
