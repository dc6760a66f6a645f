"""The `mailgate` command group and what every subcommand shares.

Commands are thin: they parse arguments, call mailgate.shared, and print.
Settings and the database are built lazily, once per invocation, so
`mailgate --help` works without a configured environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import click

from mailgate.shared import config as config_mod
from mailgate.shared import schema
from mailgate.shared.config import ConfigError, Settings
from mailgate.shared.db import Database, sqlite_path


def one_line(exc: BaseException) -> str:
    """An error as one line for stderr: the driver's own first line (SQLAlchemy's text adds the SQL and
    a link on lines of their own, and `mailgate receive`'s stderr becomes Postfix's deferral reason)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return f"{inner.__class__.__name__}: {text[0]}" if text else inner.__class__.__name__


class AppContext:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = config_mod.from_env()
            except ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}") from None
        return self._settings

    def database(self, *, require_schema: bool = True) -> Database:
        if self._db is None:
            path = sqlite_path(self.settings.database_url)
            if require_schema and path and not Path(path).exists():
                # Only `init` creates a database: a mistyped URL must not leave an empty file behind.
                raise click.ClickException(f"no database at {path} (MAILGATE_DATABASE_URL / MAILGATE_INSTANCE); "
                                           "run `mailgate init` to create it")
            try:
                self._db = Database.from_settings(self.settings)
            except OSError as exc:
                raise click.ClickException(f"cannot create the database folder for {path}: {exc.strerror} "
                                           "(MAILGATE_DATABASE_URL / MAILGATE_INSTANCE)") from None
        if require_schema:
            try:
                current = schema.current_revision(self._db)
            except Exception as exc:
                raise click.ClickException(f"database unavailable: {one_line(exc)}") from None
            problem = schema.mismatch(current)
            if problem:
                raise click.ClickException(problem)
        return self._db

    @property
    def db(self) -> Database:
        return self.database()


pass_app = click.make_pass_decorator(AppContext, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mailgate", prog_name="mailgate", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Mailgate: mail in and out for a tracker-style application."""
    ctx.ensure_object(AppContext)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _cell(value: Any, width: int | None) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ").replace("\r", " ")
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], widths: Sequence[int | None] | None = None) -> None:
    """A plain, aligned table; long cells are cut with an ellipsis, except in columns of width None
    (vocabulary such as a status or reason is shown whole: a cut word cannot be looked up)."""
    rows = [list(r) for r in rows]
    widths = list(widths or [40] * len(headers))
    cells = [[_cell(v, w) for v, w in zip(r, widths)] for r in rows]
    sizes = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(sizes[i]) for i, h in enumerate(headers)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(sizes[i]) for i, v in enumerate(r)).rstrip())
    if not rows:
        click.echo("(none)")


def fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)
