"""`mailgate purge`: retention from the command line (the worker runs it daily when configured)."""

from __future__ import annotations

import click

from mailgate.shared import audit
from mailgate.shared.retention import MIN_DAYS, purge
from mailgate.webui.cli.base import AppContext, emit_json, main, pass_app


@main.command("purge")
@click.option("--older-than", "days", type=click.IntRange(MIN_DAYS), required=True, metavar="DAYS",
              help=f"Remove messages older than this many days (at least {MIN_DAYS}: dedupe claims go too).")
@click.option("--include-failed", is_flag=True, help="Also remove failed messages awaiting a reprocess.")
@click.option("--dry-run", is_flag=True, help="Count only.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def purge_cmd(app: AppContext, days: int, include_failed: bool, dry_run: bool, as_json: bool) -> None:
    """Remove old received and outbound messages (never unfinished or queued ones)."""
    result = purge(app.db, days, include_failed=include_failed, dry_run=dry_run, actor=audit.cli_actor())
    if as_json:
        emit_json({**result.to_json(), "dry_run": dry_run})
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {result.received} received and {result.outbound} outbound message(s) "
               f"older than {days} days")
    if result.kept_failed:
        click.echo(f"kept {result.kept_failed} failed message(s) awaiting a reprocess (--include-failed removes them)")
