"""The service desk from the command line: `address add --service-desk`, `address set-service-desk`,
`task comment`, and `task show --json`'s participants."""

from __future__ import annotations

from email import message_from_bytes, policy

from sqlalchemy import select

from mailgate.shared.models import Comment, OutboundMessage
from mailgate.shared.outbound.render import Outgoing, render_bytes

from ..conftest import j
from .conftest import DESK


def _rows(db, **where):
    with db.read() as s:
        q = select(OutboundMessage).order_by(OutboundMessage.id)
        for k, v in where.items():
            q = q.where(getattr(OutboundMessage, k) == v)
        rows = s.scalars(q).all()
        for r in rows:
            s.expunge(r)
        return [(r, message_from_bytes(render_bytes(Outgoing.of(r)), policy=policy.default)) for r in rows]


def test_address_add_service_desk_and_list(cli, seed):
    out = cli("address", "add", "tasks", "Help@reply.example.com", "--service-desk", "--cc-participants")
    assert "service desk address help@reply.example.com" in out.stdout
    assert "anyone can now open tasks" in out.stderr and "Support identity" in out.stderr
    listed = {d["address"]: d for d in j(cli("address", "list", "--json"))}
    assert listed["help@reply.example.com"]["service_desk"] is True
    assert listed["help@reply.example.com"]["cc_participants"] is True
    assert listed["help@reply.example.com"]["acknowledgement"] is True
    assert listed["bugs@reply.example.com"]["service_desk"] is False
    cli("address", "add", "tasks", "desk2@reply.example.com", "--service-desk", "--default-author", "alice")
    plain = {d["address"]: d for d in j(cli("address", "list", "--json"))}["desk2@reply.example.com"]
    assert (plain["service_desk"], plain["cc_participants"], plain["acknowledgement"]) == (True, False, True)
    assert "service desk" in cli("address", "list").stdout
    users = {u["username"]: u for u in j(cli("user", "list", "--json"))}
    assert users["support"]["emails"] == []  # the built-in identity: no address, never mailed


def test_desk_options_need_the_desk(cli, seed):
    out = cli("address", "add", "tasks", "x@reply.example.com", "--cc-participants", ok=False)
    assert out.exit_code != 0 and "--service-desk" in out.stderr


def test_set_service_desk_template_is_checked(cli, seed, tmp_path):
    cli("address", "set-service-desk", "bugs@reply.example.com", "on", "--acknowledgement", "off")
    bad = cli("address", "set-service-desk", "bugs@reply.example.com", "--template", "-",
              input="Hello $customer", ok=False)
    assert bad.exit_code != 0 and "unknown placeholder $customer" in bad.stderr
    good = cli("address", "set-service-desk", "bugs@reply.example.com", "--template", "-", input="We got $ref.")
    assert "custom text" in good.stdout and "acknowledgement off" in good.stdout
    back = cli("address", "set-service-desk", "bugs@reply.example.com", "--default-template", "--acknowledgement", "on")
    assert "acknowledgement on (default text)" in back.stdout


def test_the_support_identity_is_nobody_s_mailbox(cli, seed, desk):
    out = cli("user", "add-email", "support", "x@example.org", ok=False)
    assert out.exit_code != 0 and "built-in Support identity" in out.stderr


def test_task_comment_reaches_team_and_participant(cli, db, desk_task):
    out = cli("task", "comment", "T1", "--as", "bob", input="We are on it.\n")
    assert "mailed to 1 external participant" in out.stdout
    shown = j(cli("task", "show", "T1", "--json"))
    assert shown["participants"] == [{"address": "jane@customer.example", "name": "Jane Doe", "unsubscribed": False,
                                      "via": "from", "since": shown["participants"][0]["since"],
                                      "unsubscribed_at": None}]
    assert shown["comments"][-1]["author"] == "bob" and shown["comments"][-1]["internal"] is False
    assert "bob" in shown["subscribers"]  # commenting subscribes, as a mail reply does
    team = _rows(db, recipient="alice@example.org")
    assert len(team) == 1 and "mailed to them too" in team[0][0].body_text
    [(row, msg)] = _rows(db, recipient="jane@customer.example")
    assert row.participant_id == desk_task.participant.id and row.user_id is None
    assert msg["From"].addresses[0].addr_spec == DESK and msg["From"].addresses[0].display_name == "Bob"
    assert msg["To"] == "jane@customer.example"
    assert msg["Reply-To"].startswith(f"T1+p{desk_task.participant.id}+")
    assert msg["In-Reply-To"] == "<original-1@customer.example>"
    assert "We are on it." in row.body_text
    raw = render_bytes(Outgoing.of(row)).decode()
    for leak in ("bob@example.org", "alice@example.org", "localhost:8080", "!close"):
        assert leak not in raw, leak


def test_internal_comment_is_not_mailed_to_participants(cli, db, desk_task):
    out = cli("task", "comment", "T1", "--as", "bob", "--internal", input="Customer is grumpy.\n")
    assert "(internal)" in out.stdout
    assert _rows(db, recipient="jane@customer.example") == []
    assert "internal" in _rows(db, recipient="alice@example.org")[0][0].body_text
    with db.read() as s:
        assert s.scalars(select(Comment.internal)).all() == [True]
    cli("task", "comment", "T1", "--as", "bob", input="!internal\nStill grumpy.\n")  # the same as a line
    assert _rows(db, recipient="jane@customer.example") == []


def test_task_comment_commands_and_refusals(cli, db, desk_task):
    out = cli("task", "comment", "T1", "--as", "bob", input="Fixed.\n\n!close\n")
    assert "closed" in out.stdout
    [(row, _)] = _rows(db, recipient="jane@customer.example")
    assert "This request is now closed." in row.body_text
    assert j(cli("task", "show", "T1", "--json"))["status"] == "closed"
    for args, text, says in ((("T1", "--as", "nobody"), "x", "no active user"),
                             (("T9", "--as", "bob"), "x", "no task T9"),
                             (("T1", "--as", "bob"), "\n", "nothing to add"),
                             (("T1", "--as", "bob"), "!priority extreme\n", "use one of")):
        bad = cli("task", "comment", *args, input=text, ok=False)
        assert bad.exit_code != 0 and says in bad.stderr, (args, bad.stderr)
