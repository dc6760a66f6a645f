"""The built-in tracker: `task list`, `task show`."""

from __future__ import annotations

import sys

import click

from mailgate.shared import durability, queries
from mailgate.shared.commenting import CommentError, comment_as
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
    if data["participants"]:
        click.echo("external participants: " + ", ".join(
            (f"{p['name']} <{p['address']}>" if p["name"] else p["address"])
            + (" (unsubscribed)" if p["unsubscribed"] else "") for p in data["participants"]))
    if data["description"]:
        click.echo("")
        click.echo(data["description"])
    for c in data["comments"]:
        click.echo("")
        who = c["author"]
        if c["participant"]:
            who = f"{c['participant']['name'] or c['participant']['address']} (external)"
        click.echo(f"— {who} ({c['created_at']}){' [internal]' if c['internal'] else ''}:")
        click.echo(c["text"])
        for a in c["attachments"]:
            click.echo(f"  [attachment {a['name']}, {a['content_type']}, {a['size']} bytes]")


@task.command("comment")
@click.argument("ref", metavar="TASK")
@click.option("--as", "username", required=True, metavar="USER", help="The team member who writes.")
@click.option("--internal", is_flag=True, help="Never mailed to the task's external participants.")
@pass_app
def task_comment(app: AppContext, ref: str, username: str, internal: bool) -> None:
    """Comment on TASK as USER, the text on standard input.

    The same path as a reply by mail: `!close`, `!assign bob` lines at the
    top or bottom act, notifications are queued, and on a service-desk task
    a comment is mailed to the external participants unless it is
    --internal (or has a `!internal` line).
    """
    text = sys.stdin.read()
    try:
        with durability.transaction(app.db) as conn:
            task, done = comment_as(conn, app.settings, ref=ref, username=username, text=text, internal=internal)
    except CommentError as exc:
        fail(str(exc))
    what = f"comment #{done.comment_id}" if done.comment_id else "no comment (commands only)"
    extra = [e for e in done.events if e not in ("commented", "internal", "public")]
    click.echo(f"{task.ref}: {what} by {username}" + (" (internal)" if done.internal else "")
               + (f"; {', '.join(extra)}" if extra else "")
               + (f"; mailed to {done.participants_notified} external participant(s)"
                  if done.participants_notified else ""))
