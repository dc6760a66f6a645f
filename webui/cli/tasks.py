"""The built-in tracker: `task list`, `task show`."""

from __future__ import annotations

import click

from mailgate.shared import queries
from mailgate.webui.cli.base import AppContext, emit_json, fail, main, pass_app, table


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
