"""The directory: application users (`user …`) and create addresses (`address …`)."""

from __future__ import annotations

import click

from mailgate.shared import audit, directory
from mailgate.shared.addresses import incoming
from mailgate.shared.directory import DirectoryError
from mailgate.webui.cli.base import AppContext, emit_json, fail, main, pass_app, table


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
            u = directory.add_user(s, username, list(email), name, settings=app.settings,
                                   actor=audit.cli_actor())
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
            u = directory.add_user_email(s, username, email, settings=app.settings, actor=audit.cli_actor())
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


@user.command("create-address")
@click.argument("username")
@click.option("--rotate", is_flag=True, help="Replace it: the address handed out before stops working.")
@click.option("--address", "base", metavar="CREATE_ADDRESS",
              help="The create address it builds on (default: the first of application tasks).")
@pass_app
def user_create_address(app: AppContext, username: str, rotate: bool, base: str | None) -> None:
    """Print USERNAME's secret personal create address (the address alone on the last line).

    Mail to it opens a task as USERNAME whatever the From says, and passes
    MAILGATE_SENDER_AUTH=require: the secret in it authenticates. Keep it
    private; --rotate (or rotating the mail key) kills it.
    """
    try:
        with app.db.transaction() as s:
            addr = directory.personal_create_address(s, username, rotate=rotate, address=base,
                                                     actor=audit.cli_actor())
    except DirectoryError as exc:
        fail(str(exc))
    if rotate:
        click.echo(f"{username}'s previous personal create address no longer works.", err=True)
    click.echo(addr)


# --- create addresses --------------------------------------------------------------------

@main.group()
def address() -> None:
    """Create addresses: mail to one opens a task in its application."""


@address.command("add")
@click.argument("application")
@click.argument("address")
@click.option("--default-author", metavar="USER", help="Author for mail from unknown senders (opens the address to anyone).")
@click.option("--sender-auth", type=click.Choice(["off", "report", "require"]),
              help="This address's sender authentication (default: MAILGATE_SENDER_AUTH).")
@click.option("--service-desk", is_flag=True,
              help="Anyone may write; the sender becomes the task's external participant and gets answers by mail.")
@click.option("--no-acknowledgement", is_flag=True, help="Service desk: send no acknowledgement of a new task.")
@click.option("--cc-participants", is_flag=True,
              help="Service desk: the addresses a new mail copies (Cc) become participants too.")
@pass_app
def address_add(app: AppContext, application: str, address: str, default_author: str | None,
                sender_auth: str | None, service_desk: bool, no_acknowledgement: bool, cc_participants: bool) -> None:
    """Add ADDRESS as a create address of APPLICATION."""
    if (no_acknowledgement or cc_participants) and not service_desk:
        fail("--no-acknowledgement and --cc-participants go with --service-desk")
    try:
        with app.db.transaction() as s:
            row = directory.add_create_address(s, app.settings, application, address, default_author,
                                               actor=audit.cli_actor(), sender_auth=sender_auth,
                                               service_desk=service_desk, acknowledge=not no_acknowledgement,
                                               cc_participants=cc_participants)
            author = row.default_author.username if row.default_author else None
            click.echo(f"{'service desk' if service_desk else 'create'} address {row.address} -> {application}")
    except DirectoryError as exc:
        fail(str(exc))
    if service_desk:
        click.echo(f"warning: anyone can now open tasks at {row.address}; they are filed as "
                   f"{author or 'the built-in Support identity'} and the sender is answered by mail.", err=True)
    elif default_author:
        click.echo(f"warning: anyone can now open tasks at {address}; they are filed as {default_author}.",
                   err=True)


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


@address.command("set-service-desk")
@click.argument("address")
@click.argument("mode", type=click.Choice(["on", "off"]), required=False)
@click.option("--acknowledgement", type=click.Choice(["on", "off"]), help="Acknowledge each new task by mail.")
@click.option("--cc-participants", type=click.Choice(["on", "off"]), help="Cc'd addresses become participants.")
@click.option("--template", "template_file", type=click.File("r", encoding="utf-8"),
              help="The acknowledgement's text ($ref, $title, $name, $address, $desk); '-' reads standard input.")
@click.option("--default-template", is_flag=True, help="Go back to the built-in acknowledgement text.")
@pass_app
def address_set_service_desk(app: AppContext, address: str, mode: str | None, acknowledgement: str | None,
                             cc_participants: str | None, template_file, default_template: bool) -> None:
    """Turn ADDRESS's service desk on or off, and set its acknowledgement and Cc handling."""
    if template_file is not None and default_template:
        fail("--template and --default-template exclude each other")
    changes: dict = {}
    if template_file is not None:
        changes["template"] = template_file.read()
    elif default_template:
        changes["template"] = None
    try:
        with app.db.transaction() as s:
            row = directory.set_service_desk(s, address, actor=audit.cli_actor(), enabled=_on_off(mode),
                                             acknowledge=_on_off(acknowledgement),
                                             cc_participants=_on_off(cc_participants), **changes)
            click.echo(f"{row.address}: service desk {'on' if row.service_desk else 'off'}; acknowledgement "
                       f"{'on' if row.desk_acknowledge else 'off'} ({'custom' if row.desk_template else 'default'} "
                       f"text); Cc'd become participants: {'yes' if row.desk_cc else 'no'}")
    except DirectoryError as exc:
        fail(str(exc))


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
                 "sender_auth": r.sender_auth,
                 "service_desk": r.service_desk,
                 **({"acknowledgement": r.desk_acknowledge, "cc_participants": r.desk_cc,
                     "acknowledgement_template": "custom" if r.desk_template else "default"}
                    if r.service_desk else {}),
                 "created_at": r.created_at.isoformat(timespec="seconds") + "Z",
                 "handed_out_as": incoming.create_address_form(app.settings.incoming_address, r.address,
                                                               app.settings.reply_domain)} for r in rows]
    if as_json:
        emit_json(data)
        return
    columns = [(d["address"], d["application"], d["default_author"] or "", d["sender_auth"] or "default",
                "service desk" if d["service_desk"] else "") for d in data]
    heads, widths = ["address", "application", "default author", "sender auth", "kind"], [60, 24, 24, 11, 12]
    if incoming.KEY in app.settings.incoming_address:  # MAILGATE_INCOMING_ADDRESS: what people are given
        table([c + (d["handed_out_as"] or "(not at the reply domain: unreachable)",) for c, d in zip(columns, data)],
              heads + ["hand out as"], widths + [60])
    else:
        table(columns, heads, widths)


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


@address.command("set-sender-auth")
@click.argument("address")
@click.argument("mode", type=click.Choice(["off", "report", "require", "default"]))
@pass_app
def address_set_sender_auth(app: AppContext, address: str, mode: str) -> None:
    """Set ADDRESS's sender authentication (default: follow MAILGATE_SENDER_AUTH)."""
    try:
        with app.db.transaction() as s:
            directory.set_sender_auth(s, address, mode, actor=audit.cli_actor())
    except DirectoryError as exc:
        fail(str(exc))
    click.echo(f"{address.lower()}: sender authentication {mode}")


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
