"""`mailgate web` (the console on waitress, a production WSGI server) and `mailgate create-admin`."""

from __future__ import annotations

import getpass
import logging
import sys

import click

from mailgate.shared import audit, logs
from mailgate.webui.cli.base import AppContext, main, pass_app


@main.command("create-admin")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (first line).")
@pass_app
def create_admin_cmd(app: AppContext, name: str, password_stdin: bool) -> None:
    """Create a console admin account (the password is stored hashed)."""
    from mailgate.webui.accounts import AccountError, create_admin

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise click.ClickException("the two passwords differ")
    try:
        with app.db.transaction() as s:
            create_admin(s, name, password, actor=audit.cli_actor())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"admin {name} created; log in at {app.settings.console_url}/login")


@main.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@pass_app
def web_cmd(app: AppContext, host: str, port: int, threads: int) -> None:
    """Serve the admin console with waitress (put TLS in front of it for remote access)."""
    from mailgate.shared.serving import serve
    from mailgate.webui import create_app

    app.database()  # fail early, with the CLI's message, when the schema is missing or old
    logs.setup("INFO")
    wsgi = create_app({"MAILGATE_SETTINGS": app.settings})
    proxies = app.settings.trusted_proxies
    logging.getLogger("mailgate.webui").info("console on http://%s:%s/ %s", host, port,
                                             logs.kv(config=app.settings.config_file or "", trusted_proxies=proxies))
    serve(wsgi, host=host, port=port, threads=threads, trusted_proxies=proxies)
