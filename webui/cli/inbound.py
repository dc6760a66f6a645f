"""Mail in: `receive-test`, the pipe ingress `receive`, `reprocess`, `parse`, and the received log."""

from __future__ import annotations

import sys

import click

from mailgate.shared import queries
from mailgate.shared.envelope import SOURCES, Envelope
from mailgate.shared.message import load_message
from mailgate.shared.outcomes import EX_TEMPFAIL, Outcome, TempFail, pipe_exit_code, tempfail_reply
from mailgate.shared.senderauth.result import AuthResult, summary
from mailgate.shared.parsing import classify_robot, parse_message
from mailgate.shared.pipeline import NotReprocessable, receive, recover_stale, reprocess
from mailgate.webui.cli.base import AppContext, emit_json, fail, main, pass_app, table

STATUSES = ["received", "processed", "ignored", "rejected", "failed"]


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read()
    return data


def _print_outcome(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        emit_json(outcome.to_json())
        return
    line = f"#{outcome.id} {outcome.status}"
    if outcome.reason:
        line += f"/{outcome.reason}"
    if outcome.action:
        line += f": {outcome.action} {outcome.object or ''} by {outcome.actor}"
    click.echo(line)
    if outcome.commands:
        click.echo("commands: " + ", ".join("!" + c for c in outcome.commands))
    if outcome.unknown_commands:
        click.echo("unknown commands (ignored): " + ", ".join("!" + c for c in outcome.unknown_commands))
    if outcome.text and outcome.reason:
        click.echo(outcome.text)
    if outcome.auth:
        click.echo(f"sender authentication: {summary(AuthResult.from_json(outcome.auth))}")


# --- receiving ---------------------------------------------------------------------------

@main.command("receive-test")
@click.option("--from", "sender", metavar="ADDR", help="Envelope sender; '<>' is the null sender.")
@click.option("--to", "recipients", multiple=True, metavar="ADDR", help="Envelope recipient (repeatable). "
              "Without it the message is routed by its headers.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def receive_test(app: AppContext, sender: str | None, recipients: tuple[str, ...], as_json: bool) -> None:
    """Run a message from standard input through the real pipeline, marked as a test."""
    raw = _read_stdin()
    envelope = Envelope(source="test", sender=sender, recipients=list(recipients))
    try:
        outcome = receive(app.db, app.settings, envelope, raw)
    except TempFail as exc:
        fail(f"temporarily unable to receive: {exc}", EX_TEMPFAIL)
    _print_outcome(outcome, as_json)


@main.command("receive")
@click.option("--sender", required=True, metavar="ADDR", help="Envelope sender (empty or '<>' for the null sender).")
@click.option("--recipient", "recipients", multiple=True, required=True, metavar="ADDR")
@click.option("--queue-id", default="", help="Postfix queue id, for the logs.")
@click.option("--client-address", default="")
@click.option("--helo", default="")
def receive_pipe(sender: str, recipients: tuple[str, ...], queue_id: str, client_address: str, helo: str) -> None:
    """Pipe ingress for Postfix's pipe(8): exit 0, 67 (no such user) or 75 (try again later)."""
    try:
        app = AppContext()
        raw = _read_stdin()
        envelope = Envelope(source="pipe", sender=sender, recipients=list(recipients), queue_id=queue_id,
                            client_addr=client_address, helo=helo)
        outcome = receive(app.db, app.settings, envelope, raw)
    except TempFail as exc:
        click.echo(f"{tempfail_reply(exc).xcode} {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    except (Exception, click.ClickException) as exc:  # noqa: BLE001 - anything unexpected: let Postfix retry
        message = exc.format_message() if isinstance(exc, click.ClickException) else exc.__class__.__name__
        click.echo(f"4.3.0 {message}", err=True)
        sys.exit(EX_TEMPFAIL)
    code = pipe_exit_code(outcome)
    if code:
        click.echo(f"5.1.1 {outcome.text}", err=True)
    sys.exit(code)


@main.command("reprocess")
@click.argument("rec_id", metavar="[ID]", type=int, required=False)
@click.option("--stale", is_flag=True, help="Instead of ID: every message left 'received' (a crash between "
              "store and outcome).")
@click.option("--older-than", type=click.IntRange(0), default=600, show_default=True,
              help="With --stale: seconds a message must have waited.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def reprocess_cmd(app: AppContext, rec_id: int | None, stale: bool, older_than: int, as_json: bool) -> None:
    """Run a failed, rejected or stuck message through steps 2-8 again."""
    if stale == (rec_id is not None):
        fail("give a message ID, or --stale")
    try:
        if stale:
            outcomes = recover_stale(app.db, app.settings, older_than)
            if as_json:
                emit_json([o.to_json() for o in outcomes])
            else:
                for o in outcomes:
                    _print_outcome(o, False)
                click.echo(f"{len(outcomes)} stale message(s) reprocessed")
            return
        outcome = reprocess(app.db, app.settings, rec_id)
    except NotReprocessable as exc:
        fail(str(exc))
    except TempFail as exc:
        fail(f"temporarily unable: {exc}", EX_TEMPFAIL)
    _print_outcome(outcome, as_json)


@main.command("parse")
@click.option("--json", "as_json", is_flag=True)
@click.option("--create", "as_create", is_flag=True,
              help="Read it as mail to a create address (a forward is kept, with its headers).")
def parse_cmd(as_json: bool, as_create: bool) -> None:
    """Show what the parser sees in a message from standard input (nothing is stored)."""
    msg = load_message(_read_stdin())
    parsed = parse_message(msg, for_create=as_create)
    robot = classify_robot(msg, None)
    data = parsed.to_json()
    data["robot"] = robot.kind
    data["robot_reason"] = robot.reason
    if as_json:
        emit_json(data)
        return
    click.echo(data["text"])
    click.echo("---")
    click.echo(f"robot: {robot.kind or 'none'}" + (f" ({robot.reason})" if robot.kind else ""))
    click.echo("commands: " + (", ".join("!" + c for c in data["commands"]) or "none"))
    for cut in data["cuts"]:
        first = cut["text"].strip().splitlines()[0] if cut["text"].strip() else ""
        click.echo(f"cut by {cut['rule']}: {first[:70]}")
    if parsed.fallback:
        click.echo(f"fallback: {parsed.fallback_rule} would have removed every word; the text was kept")
    if parsed.forwarded_subject:
        click.echo(f"forwarded subject: {parsed.forwarded_subject}")
    for a in data["attachments"]:
        click.echo(f"attachment: {a['name']} ({a['content_type']}, {a['size']} bytes)")


# --- inspecting --------------------------------------------------------------------------

@main.command("list-inbound")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--reason")
@click.option("--source", type=click.Choice(SOURCES))
@click.option("--auth", type=click.Choice(["pass", "fail", "none", "temperror", "unchecked"]),
              help="Sender authentication verdict.")
@click.option("--search", help="Match sender, recipient, subject or Message-ID.")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_inbound(app: AppContext, status, reason, source, auth, search, limit: int, as_json: bool) -> None:
    """Received messages, newest first."""
    f = queries.InboundFilter(status=status, reason=reason, source=source, auth=auth, search=search)
    with app.db.read() as s:
        data = [queries.inbound_json(r) for r in queries.list_inbound(s, f, limit)]
    if as_json:
        emit_json(data)
        return
    table([(d["id"], d["received_at"], d["source"], d["status"], d["reason"] or "", d["action"] or "",
            d["object"] or "", d["from"] or d["mail_from"] or "", d["subject"]) for d in data],
          ["id", "received", "source", "status", "reason", "action", "object", "from", "subject"],
          [8, 20, None, None, None, None, 8, 30, 40])


@main.command("show-inbound")
@click.argument("rec_id", metavar="ID", type=int)
@click.option("--raw", is_flag=True, help="Write the message exactly as received.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def show_inbound(app: AppContext, rec_id: int, raw: bool, as_json: bool) -> None:
    """One received message: envelope, decision, parse result (or the raw bytes)."""
    with app.db.read() as s:
        rec = queries.get_inbound(s, rec_id)
        if rec is None:
            fail(f"no received message #{rec_id}")
        if raw:
            sys.stdout.buffer.write(queries.inbound_raw(s, rec_id) or b"")
            sys.stdout.buffer.flush()
            return
        data = queries.inbound_detail_json(rec)
    if as_json:
        emit_json(data)
        return
    for key in ("id", "status", "reason", "reason_text", "action", "object", "actor", "application", "source",
                "queue_id", "message_id", "mail_from", "rcpt_to", "from", "subject", "size", "received_at",
                "robot", "robot_reason", "commands", "unknown_commands", "duplicate_of"):
        value = data.get(key)
        if value not in (None, "", []):
            click.echo(f"{key:>16}: {', '.join(value) if isinstance(value, list) else value}")
    auth = AuthResult.from_json(data["auth"])
    click.echo(f"{'sender auth':>16}: {summary(auth)}")
    if auth is not None and auth.note:
        click.echo(f"{'':>16}  {auth.note}")
    if data["auth_mismatch"]:
        click.echo(f"{'WARNING':>16}: {data['auth_mismatch']}")
    if data["decisions"]:
        click.echo("decision:")
        for line in data["decisions"]:
            click.echo(f"  - {line}")
    if data["parse"]:
        click.echo("text:")
        for line in (data["parse"].get("text") or "").splitlines():
            click.echo(f"  | {line}")
    if data["error"]:
        click.echo("error:")
        click.echo(data["error"])
