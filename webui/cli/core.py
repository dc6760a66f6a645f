"""Set-up and the mail key: `init`, `reply-address`, `rotate-key`."""

from __future__ import annotations

import click

from mailgate.shared import audit, directory, durability, keys, queries, schema
from mailgate.shared.addresses import incoming, issue_reply_address
from mailgate.shared.directory import DirectoryError
from mailgate.webui.cli.base import AppContext, emit_json, fail, main, one_line, pass_app


# --- set-up ------------------------------------------------------------------------------

@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def init(app: AppContext, as_json: bool) -> None:
    """Create or upgrade the database, the mail key and the built-in application `tasks`."""
    db = app.database(require_schema=False)
    try:
        result = schema.init(db)
    except Exception as exc:
        fail(f"could not initialise the database: {one_line(exc)}")
    if as_json:
        emit_json(result)
        return
    before = result["schema_from"]
    click.echo(f"database: {'created' if before is None else 'up to date' if before == result['schema'] else 'upgraded'}"
               f" (schema {result['schema']}) at {app.settings.database_url.split('@')[-1]}")
    click.echo(f"mail key: {result['mail_key']}")
    click.echo(f"application: {result['application']}")
    click.echo(f"reply domain: {app.settings.reply_domain}")


# --- keys and reply addresses ------------------------------------------------------------

@main.command("reply-address")
@click.argument("obj", metavar="OBJECT")
@click.argument("user_ref", metavar="[USER]", required=False)
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
    with app.db.read() as s:
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
        ref = task.ref
    with durability.transaction(app.db) as conn:
        addr, _key = issue_reply_address(conn, app.settings, ref, user_id)
    template = app.settings.incoming_address
    if template and incoming.KEY in template:
        click.echo(f"(Mailgate's own form: {addr})")
        addr = incoming.issue(template, addr)  # the address handed out, inside MAILGATE_INCOMING_ADDRESS
    elif template:
        click.echo(f"(a dedicated mailbox cannot carry it: replies to {template} are routed by their References)")
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
