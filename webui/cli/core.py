"""Core commands: set-up, directory, keys, receiving, inspecting, the built-in tracker."""

from __future__ import annotations

import sys

import click

from mailgate.shared import audit, directory, keys, schema
from mailgate.shared.addresses import issue_reply_address
from mailgate.shared.directory import DirectoryError
from mailgate.shared.envelope import Envelope
from mailgate.shared.message import load_message
from mailgate.shared.outcomes import EX_TEMPFAIL, Outcome, TempFail, pipe_exit_code
from mailgate.shared.parsing import classify_robot, parse_message
from mailgate.shared.pipeline import NotReprocessable, receive, recover_stale, reprocess
from mailgate.shared import queries
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


# --- set-up ------------------------------------------------------------------------------

@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def init(app: AppContext, as_json: bool) -> None:
    """Create or upgrade the database, the mail key and the built-in application `tasks`."""
    try:
        result = schema.init(app.database(require_schema=False))
    except Exception as exc:
        fail(f"could not initialise the database: {exc.__class__.__name__}: {exc}")
    if as_json:
        emit_json(result)
        return
    before = result["schema_from"]
    click.echo(f"database: {'created' if before is None else 'up to date' if before == result['schema'] else 'upgraded'}"
               f" (schema {result['schema']}) at {app.settings.database_url.split('@')[-1]}")
    click.echo(f"mail key: {result['mail_key']}")
    click.echo(f"application: {result['application']}")
    click.echo(f"reply domain: {app.settings.reply_domain}")


# --- users -------------------------------------------------------------------------------

@main.group()
def user() -> None:
    """Application users (the people who mail tasks)."""


@user.command("add")
@click.argument("username")
@click.argument("email", nargs=-1, required=True)
@click.option("--name", default="", help="Display name.")
@pass_app
def user_add(app: AppContext, username: str, email: tuple[str, ...], name: str) -> None:
    """Add USERNAME with one or more EMAIL addresses."""
    try:
        with app.db.transaction() as s:
            u = directory.add_user(s, username, list(email), name, actor=audit.cli_actor())
            click.echo(f"user {u.username} (#{u.id}): {', '.join(e.address for e in u.emails)}")
    except DirectoryError as exc:
        fail(str(exc))


@user.command("add-email")
@click.argument("username")
@click.argument("email")
@pass_app
def user_add_email(app: AppContext, username: str, email: str) -> None:
    """Give USERNAME another EMAIL address."""
    try:
        with app.db.transaction() as s:
            u = directory.add_user_email(s, username, email, actor=audit.cli_actor())
            click.echo(f"user {u.username}: {', '.join(e.address for e in u.emails)}")
    except DirectoryError as exc:
        fail(str(exc))


def _set_enabled(app: AppContext, username: str, enabled: bool) -> None:
    try:
        with app.db.transaction() as s:
            directory.set_user_enabled(s, username, enabled, actor=audit.cli_actor())
    except DirectoryError as exc:
        fail(str(exc))
    click.echo(f"user {username} {'enabled' if enabled else 'disabled'}")


@user.command("disable")
@click.argument("username")
@pass_app
def user_disable(app: AppContext, username: str) -> None:
    """Disable USERNAME: their mail is refused from now on."""
    _set_enabled(app, username, False)


@user.command("enable")
@click.argument("username")
@pass_app
def user_enable(app: AppContext, username: str) -> None:
    """Enable USERNAME again."""
    _set_enabled(app, username, True)


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def user_list(app: AppContext, as_json: bool) -> None:
    """List users and their addresses."""
    from sqlalchemy import select

    from mailgate.shared.models import AppUser

    with app.db.read() as s:
        users = s.scalars(select(AppUser).order_by(AppUser.username)).all()
        data = [{"id": u.id, "username": u.username, "name": u.name, "enabled": u.enabled,
                 "emails": [e.address for e in u.emails]} for u in users]
    if as_json:
        emit_json(data)
    else:
        table([(d["id"], d["username"], d["name"], "yes" if d["enabled"] else "no", ", ".join(d["emails"]))
               for d in data], ["id", "username", "name", "enabled", "emails"], [6, 24, 30, 7, 60])


# --- create addresses --------------------------------------------------------------------

@main.group()
def address() -> None:
    """Create addresses: mail to one opens a task in its application."""


@address.command("add")
@click.argument("application")
@click.argument("address")
@click.option("--default-author", metavar="USER", help="Author for mail from unknown senders (opens the address to anyone).")
@pass_app
def address_add(app: AppContext, application: str, address: str, default_author: str | None) -> None:
    """Add ADDRESS as a create address of APPLICATION."""
    try:
        with app.db.transaction() as s:
            row = directory.add_create_address(s, app.settings, application, address, default_author,
                                               actor=audit.cli_actor())
            click.echo(f"create address {row.address} -> {application}")
    except DirectoryError as exc:
        fail(str(exc))
    if default_author:
        click.echo(f"warning: anyone can now open tasks at {address}; they are filed as {default_author}.",
                   err=True)


@address.command("list")
@click.argument("application", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def address_list(app: AppContext, application: str | None, as_json: bool) -> None:
    """List create addresses (of APPLICATION, or all)."""
    with app.db.read() as s:
        rows = directory.list_create_addresses(s, application)
        data = [{"address": r.address, "application": r.application.name,
                 "default_author": r.default_author.username if r.default_author else None,
                 "created_at": r.created_at.isoformat(timespec="seconds") + "Z"} for r in rows]
    if as_json:
        emit_json(data)
    else:
        table([(d["address"], d["application"], d["default_author"] or "") for d in data],
              ["address", "application", "default author"], [60, 24, 24])


@address.command("remove")
@click.argument("address")
@pass_app
def address_remove(app: AppContext, address: str) -> None:
    """Remove the create address ADDRESS (mail to it is then refused)."""
    try:
        with app.db.transaction() as s:
            directory.remove_create_address(s, address, actor=audit.cli_actor())
    except DirectoryError as exc:
        fail(str(exc))
    click.echo(f"removed {address.lower()}")


@address.command("set-default-author")
@click.argument("address")
@click.argument("username", required=False)
@pass_app
def address_set_default_author(app: AppContext, address: str, username: str | None) -> None:
    """Set (or, without USERNAME, clear) the author used for unknown senders."""
    try:
        with app.db.transaction() as s:
            directory.set_default_author(s, address, username, actor=audit.cli_actor())
    except DirectoryError as exc:
        fail(str(exc))
    click.echo(f"{address.lower()}: default author {username or '(none)'}")


# --- keys and reply addresses ------------------------------------------------------------

@main.command("reply-address")
@click.argument("obj", metavar="OBJECT")
@click.argument("user_ref", metavar="USER", required=False)
@click.option("--public", is_flag=True, help="The public address (any known user may reply).")
@pass_app
def reply_address_cmd(app: AppContext, obj: str, user_ref: str | None, public: bool) -> None:
    """Print the current signed reply address of OBJECT (e.g. T12) for USER (name or id)."""
    from mailgate.shared.models import AppUser

    task_id = queries.parse_task_ref(obj)
    if task_id is None:
        fail(f"{obj!r} is not an object reference like T12")
    if not public and not user_ref:
        fail("give a USER, or --public")
    with app.db.transaction() as s:
        task = queries.get_task(s, obj)
        if task is None:
            fail(f"no task {obj}")
        user_id = None
        if not public:
            u = s.get(AppUser, int(user_ref)) if user_ref.isdigit() else None
            if u is None:
                try:
                    u = directory.get_user(s, user_ref)
                except DirectoryError as exc:
                    fail(str(exc))
            user_id = u.id
            click.echo(f"reply address for {task.ref} as {u.username}:")
        else:
            if not app.settings.public_replies:
                click.echo("warning: public replies are off (MAILGATE_PUBLIC_REPLIES); this address is refused.",
                           err=True)
            click.echo(f"public reply address for {task.ref}:")
        addr, _key = issue_reply_address(s, app.settings, task.ref, user_id)
    click.echo(addr)


@main.command("rotate-key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def rotate_key_cmd(app: AppContext, yes: bool) -> None:
    """Retire the mail key: every reply address handed out so far stops working at once."""
    if not yes:
        click.confirm("Every reply address sent so far will stop working. Rotate the mail key?", abort=True)
    with app.db.transaction() as s:
        old = keys.current_key(s)
        old_fp, issued = keys.fingerprint(old), keys.issued_count(s, old)
        new = keys.rotate_key(s)
        audit.record(s, audit.cli_actor(), "mailkey.rotate", keys.fingerprint(new), retired=old_fp, issued=issued)
        new_fp = keys.fingerprint(new)
    click.echo(f"retired {old_fp} ({issued} reply addresses issued); current key {new_fp}")


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
        click.echo(f"4.3.0 {exc}", err=True)
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
def parse_cmd(as_json: bool) -> None:
    """Show what the parser sees in a message from standard input (nothing is stored)."""
    msg = load_message(_read_stdin())
    parsed = parse_message(msg)
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
    for a in data["attachments"]:
        click.echo(f"attachment: {a['name']} ({a['content_type']}, {a['size']} bytes)")


# --- inspecting --------------------------------------------------------------------------

@main.command("list-inbound")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--reason")
@click.option("--source", type=click.Choice(["milter", "pipe", "test"]))
@click.option("--search", help="Match sender, recipient, subject or Message-ID.")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_inbound(app: AppContext, status, reason, source, search, limit: int, as_json: bool) -> None:
    """Received messages, newest first."""
    f = queries.InboundFilter(status=status, reason=reason, source=source, search=search)
    with app.db.read() as s:
        data = [queries.inbound_json(r) for r in queries.list_inbound(s, f, limit)]
    if as_json:
        emit_json(data)
        return
    table([(d["id"], d["received_at"], d["source"], d["status"], d["reason"] or "", d["action"] or "",
            d["object"] or "", d["from"] or d["mail_from"] or "", d["subject"]) for d in data],
          ["id", "received", "source", "status", "reason", "action", "object", "from", "subject"],
          [8, 20, 6, 9, 18, 7, 8, 30, 40])


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


# --- the built-in tracker ----------------------------------------------------------------

@main.group()
def task() -> None:
    """Tasks of the built-in application."""


@task.command("list")
@click.option("--status", type=click.Choice(["open", "closed"]))
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def task_list(app: AppContext, status: str | None, limit: int, as_json: bool) -> None:
    """List tasks, newest first."""
    with app.db.read() as s:
        data = [queries.task_json(s, t, with_comments=False) for t in queries.list_tasks(s, status, limit)]
    if as_json:
        emit_json(data)
        return
    table([(d["id"], d["status"], d["priority"], d["author"], d["assignee"] or "", d["title"]) for d in data],
          ["id", "status", "priority", "author", "assignee", "title"], [8, 7, 8, 20, 20, 60])


@task.command("show")
@click.argument("ref", metavar="TASK")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def task_show(app: AppContext, ref: str, as_json: bool) -> None:
    """One task with its comments (TASK is like T12)."""
    with app.db.read() as s:
        t = queries.get_task(s, ref)
        if t is None:
            fail(f"no task {ref}")
        data = queries.task_json(s, t)
    if as_json:
        emit_json(data)
        return
    click.echo(f"{data['id']}: {data['title']}")
    click.echo(f"status {data['status']} · priority {data['priority']} · author {data['author']} · "
               f"assignee {data['assignee'] or '-'}")
    click.echo(f"subscribers: {', '.join(data['subscribers']) or '-'}")
    if data["description"]:
        click.echo("")
        click.echo(data["description"])
    for c in data["comments"]:
        click.echo("")
        click.echo(f"— {c['author']} ({c['created_at']}):")
        click.echo(c["text"])
        for a in c["attachments"]:
            click.echo(f"  [attachment {a['name']}, {a['content_type']}, {a['size']} bytes]")
