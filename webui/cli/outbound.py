"""Outbound commands: the queue's log, one message in full, a test send, the worker.

Thin on purpose: every rule lives in mailgate.shared.outbound, which the
console's Outbound pages call too.
"""

from __future__ import annotations

import logging
import signal
from datetime import timedelta

import click
from sqlalchemy import select

from mailgate.shared import audit, logs, queries
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound import OutboundError, headers_as_sent, resend, void
from mailgate.shared.outbound.worker import Worker, send_test
from mailgate.webui.cli.base import AppContext, emit_json, fail, main, pass_app, table

OUT_STATUSES = ["queued", "sent", "failed", "void"]


def detail_json(row: OutboundMessage) -> dict:
    """Everything about one row, with the headers exactly as they are sent (Date aside)."""
    data = queries.outbound_json(row)
    data.update({
        "sender": row.sender, "message_id": row.message_id, "source_received_id": row.source_received_id,
        "user_id": row.user_id,
        "headers": [list(h) for h in headers_as_sent(row)],
        "body_text": row.body_text, "body_html": row.body_html,
    })
    return data


@main.command("list-outbound")
@click.option("--status", type=click.Choice(OUT_STATUSES))
@click.option("--limit", type=click.IntRange(1, 100000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def list_outbound(app: AppContext, status: str | None, limit: int, as_json: bool) -> None:
    """Outgoing notifications, newest first."""
    q = select(OutboundMessage)
    if status:
        q = q.where(OutboundMessage.status == status)
    with app.db.read() as s:
        data = [queries.outbound_json(r) for r in s.scalars(q.order_by(OutboundMessage.id.desc()).limit(limit))]
    if as_json:
        emit_json(data)
        return
    table([(d["id"], d["created_at"], d["status"], d["mailer"] or "", d["attempts"], d["recipient"], d["subject"],
            d["last_error"] or d["status_reason"] or "") for d in data],
          ["id", "created", "status", "mailer", "tries", "recipient", "subject", "note"],
          [8, 20, None, 12, 5, 30, 40, 50])


@main.command("show-outbound")
@click.argument("out_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def show_outbound(app: AppContext, out_id: int, as_json: bool) -> None:
    """One outgoing message: status, every header, both bodies."""
    with app.db.read() as s:
        row = s.get(OutboundMessage, out_id)
        if row is None:
            fail(f"there is no outbound message #{out_id}")
        data = detail_json(row)
    if as_json:
        emit_json(data)
        return
    for label, key in (("Status", "status"), ("Reason", "status_reason"), ("Event", "event"), ("Task", "task"),
                       ("Mailer", "mailer"), ("Attempts", "attempts"), ("Last error", "last_error"),
                       ("Next attempt", "next_attempt_at"), ("Created", "created_at"), ("Sent", "sent_at")):
        if data.get(key) not in (None, ""):
            click.echo(f"{label + ':':14}{data[key]}")
    click.echo("\n-- headers --")
    for name, value in data["headers"]:
        click.echo(f"{name}: {value}")
    click.echo("\n-- text/plain --")
    click.echo(data["body_text"])
    click.echo("-- text/html --")
    click.echo(data["body_html"])


@main.command("send-test")
@click.option("--to", "to", required=True, metavar="ADDR", help="Recipient of the test message.")
@click.option("--mailer", "mailer_key", metavar="KEY", help="Only this mailer (default: the usual order).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def send_test_cmd(app: AppContext, to: str, mailer_key: str | None, as_json: bool) -> None:
    """Send a test message now and say what the mailer answered."""
    try:
        row, result = send_test(app.db, app.settings, to, mailer_key, actor=audit.cli_actor())
    except ValueError as exc:
        fail(str(exc))
    data = queries.outbound_json(row)
    if as_json:
        emit_json(data)
    else:
        click.echo(f"#{row.id} {row.status}" + (f" via {row.mailer}" if row.mailer else "")
                   + (f": {row.last_error}" if row.last_error else "")
                   + (f" ({row.status_reason})" if row.status_reason and row.status != "sent" else ""))
    if row.status != "sent":
        raise SystemExit(1)


@main.command("resend-outbound")
@click.argument("out_id", metavar="ID", type=int)
@pass_app
def resend_outbound(app: AppContext, out_id: int) -> None:
    """Queue a message again, due now (the console's Resend)."""
    try:
        with app.db.transaction() as s:
            row = resend(s, out_id, audit.cli_actor(), settings=app.settings)
            click.echo(f"#{row.id} queued")
    except OutboundError as exc:
        fail(str(exc))


@main.command("void-outbound")
@click.argument("out_id", metavar="ID", type=int)
@click.option("--reason", default="", help="Why; shown in the outbound log.")
@pass_app
def void_outbound(app: AppContext, out_id: int, reason: str) -> None:
    """Never send a queued or failed message (the console's Void)."""
    try:
        with app.db.transaction() as s:
            row = void(s, out_id, audit.cli_actor(), reason)
            click.echo(f"#{row.id} void")
    except OutboundError as exc:
        fail(str(exc))


@main.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--batch", type=click.IntRange(1, 10000), default=100, show_default=True,
              help="Rows claimed (and recorded) at a time.")
@click.option("--poll", type=click.FloatRange(0.05, 3600), default=2.0, show_default=True,
              help="Seconds between looks at an empty queue.")
@click.option("--lease", type=click.IntRange(10, 86400), default=300, show_default=True,
              help="Seconds a claimed row stays reserved for this worker.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's counts as JSON at the end.")
@pass_app
def worker_cmd(app: AppContext, once: bool, batch: int, poll: float, lease: int, as_json: bool) -> None:
    """Send the outbound queue (continuously; SIGTERM/SIGINT finish the batch in hand and exit).

    The continuous worker also finishes messages left 'received' by a crash
    and purges old mail once a day (MAILGATE_PURGE_AFTER_DAYS, _PURGE_REJECTED_AFTER_DAYS).
    """
    logs.setup("INFO")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log = logging.getLogger("mailgate.outbound")
    if not any(m.sends_email for m in app.settings.mailers):
        log.warning("no mailer configured to send (MAILGATE_MAILERS); due messages become void")
    w = Worker(app.db, app.settings, batch_size=batch, poll_seconds=poll, lease=timedelta(seconds=lease))
    log.info("worker started %s", logs.kv(once=once, mailers=",".join(m.key for m in app.settings.mailers if m.sends_email),
                                          poll=poll, batch=batch, config=app.settings.config_file or ""))

    def _stop(signum, _frame):
        logging.getLogger("mailgate.outbound").info("signal %s: finishing the current batch", signum)
        w.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if once:
        stats = w.run_once()
    else:
        from mailgate.shared.housekeeping import Housekeeper

        stats = w.run_forever(housekeeping=Housekeeper(app.db, app.settings).tick)
    if as_json:
        emit_json(stats.as_dict())
    else:
        click.echo(f"sent {stats.sent}, retry later {stats.retry}, failed {stats.failed}, void {stats.void}"
                   + (f", lost lease {stats.lost_lease}" if stats.lost_lease else ""))
