"""The `mailgate` CLI: the whole loop of the core issue, as an operator types it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailgate.webui.cli import main

from .conftest import j, make_mail

MAILGATE = str(Path(sys.executable).with_name("mailgate"))


def test_full_loop(cli):
    cli("user", "add", "alice", "alice@example.org", "--name", "Alice")
    cli("user", "add", "bob", "bob@example.org")
    cli("address", "add", "tasks", "bugs@reply.example.com")
    assert j(cli("address", "list", "--json"))[0]["address"] == "bugs@reply.example.com"

    create = make_mail(subject="Printer on fire", body="It burns.\n\n!assign bob")
    out = j(cli("receive-test", "--to", "bugs@reply.example.com", "--json", input=create))
    assert {k: out[k] for k in ("status", "action", "object", "actor", "commands")} == {
        "status": "processed", "action": "create", "object": "T1", "actor": "alice", "commands": ["assign bob"]}

    addr = cli("reply-address", "T1", "bob").stdout.strip().splitlines()[-1]
    assert addr.startswith("T1+2+") and addr.endswith("@reply.example.com")

    reply = make_mail(sender="bob@example.org", to=addr, subject="Re: Printer on fire",
                      body="Fixed.\n\n!close\n\nOn Mon, 2 Nov 2026 at 10:00, Alice <alice@example.org> wrote:\n> It burns.")
    out = j(cli("receive-test", "--json", input=reply))
    assert (out["status"], out["action"], out["object"], out["actor"], out["commands"]) == (
        "processed", "comment", "T1", "bob", ["close"])
    assert j(cli("receive-test", "--json", input=reply))["reason"] == "duplicate"

    robot = make_mail(sender="bob@example.org", to=addr, body="I am on holiday.", headers={"Auto-Submitted": "auto-replied"})
    assert j(cli("receive-test", "--json", input=robot))["reason"] == "auto_generated"
    bounce = make_mail(sender="mailer-daemon@example.org", to=addr, body="Undeliverable")
    assert j(cli("receive-test", "--from", "<>", "--to", addr, "--json", input=bounce))["reason"] == "bounce"

    local = addr[:-len("@reply.example.com")]
    # Four other hex digits, never the real ones (the key is random: 1 in 65536 digests end in abcd).
    forged_local = local[:-4] + ("abcd" if not local.endswith("abcd") else "1234")
    forged = make_mail(sender="bob@example.org", to=forged_local + "@reply.example.com")
    assert j(cli("receive-test", "--json", input=forged))["reason"] == "invalid_hash"

    assert "stop working" in cli("rotate-key", input="n\n", ok=False).output
    cli("rotate-key", "--yes")
    late = make_mail(sender="bob@example.org", to=addr, body="After rotation.")
    assert j(cli("receive-test", "--json", input=late))["reason"] == "invalid_hash"

    listing = j(cli("list-inbound", "--json"))
    assert [m["status"] for m in listing] == ["rejected", "rejected", "ignored", "ignored", "ignored", "processed", "processed"]
    assert [m["reason"] for m in listing][:5] == ["invalid_hash", "invalid_hash", "bounce", "auto_generated", "duplicate"]
    assert j(cli("list-inbound", "--status", "processed", "--json"))[0]["action"] == "comment"

    task = j(cli("task", "show", "T1", "--json"))
    assert (task["id"], task["status"], task["assignee"], task["priority"]) == ("T1", "closed", "bob", "normal")
    assert task["subscribers"] == ["alice", "bob"]
    assert task["comments"] == [{**task["comments"][0], "author": "bob", "text": "Fixed.", "attachments": []}]
    assert "T1" in cli("task", "list").stdout


def test_show_inbound_and_raw(cli, seed):
    raw = make_mail(subject="Show me")
    out = j(cli("receive-test", "--json", input=raw))
    detail = j(cli("show-inbound", str(out["id"]), "--json"))
    assert detail["subject"] == "Show me" and detail["decisions"] and detail["parse"]["text"] == "Some text."
    assert cli("show-inbound", str(out["id"]), "--raw").stdout_bytes == raw
    human = cli("show-inbound", str(out["id"])).stdout
    assert "processed" in human and "decision:" in human
    missing = cli("show-inbound", "999", ok=False)
    assert missing.exit_code != 0 and "no received message #999" in missing.stderr


def test_reprocess_refuses_processed_messages(cli, seed):
    out = j(cli("receive-test", "--json", input=make_mail()))
    res = cli("reprocess", str(out["id"]), ok=False)
    assert res.exit_code == 1 and "only failed, received, rejected" in res.stderr


def test_parse_json(cli):
    raw = make_mail(body="New text.\n\n!priority high\n\nOn Mon, 2 Nov 2026 at 10:00, A <a@x.org> wrote:\n> old")
    data = j(cli("parse", "--json", input=raw))
    assert data["text"] == "New text." and data["commands"] == ["priority high"]
    assert "old" in data["quoted"] and data["robot"] is None and data["attachments"] == []
    auto = make_mail(headers={"Auto-Submitted": "auto-replied"})
    assert j(cli("parse", "--json", input=auto))["robot"] == "auto_reply"
    assert data["fallback"] is False and data["fallback_rule"] is None


def test_parse_says_when_it_kept_a_reply_and_reads_a_forward_for_a_create_address(cli):
    kept = make_mail(body="I met sales@vendor.example today, and here is what their engineer wrote:\n> worn\n")
    data = j(cli("parse", "--json", input=kept))
    assert data["fallback"] is True and data["fallback_rule"] == "quote_header:en_wrote"
    assert "fallback: quote_header:en_wrote would have removed every word" in cli("parse", input=kept).stdout
    forward = make_mail(subject="Fwd: Jam", body="FYI\n\n---------- Forwarded message ---------\nFrom: B <b@x.org>\n"
                                                 "Date: Tue, Mar 5, 2024\nSubject: Jam\nTo: A <a@x.org>\n\n\nIt jams.\n")
    assert j(cli("parse", "--json", input=forward))["text"] == "FYI"
    created = j(cli("parse", "--json", "--create", input=forward))
    assert created["text"].endswith("It jams.") and created["forwarded_subject"] == "Jam"


@pytest.mark.parametrize("args,message", [
    (("user", "add", "alice", "not-an-address"), "is not an email address"),
    (("address", "add", "tasks", "postmaster@reply.example.com"), "reserved"),
    (("address", "add", "tasks", "bugs@elsewhere.org"), "not a domain Mailgate serves"),
    (("address", "add", "tasks", "t1+2+abc@reply.example.com"), "reply-address format"),
    (("address", "add", "nosuchapp", "x@reply.example.com"), "no application"),
    (("address", "remove", "nope@reply.example.com"), "no create address"),
    (("reply-address", "T99", "alice"), "no task T99"),
    (("task", "show", "T42"), "no task T42"),
])
def test_errors_are_one_line_and_nonzero(cli, args, message):
    res = cli(*args, ok=False)
    assert res.exit_code != 0
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_address_clash_with_a_user(cli, seed):
    res = cli("address", "add", "tasks", "bugs@reply.example.com", ok=False)
    assert "already a create address" in res.stderr


def test_uninitialised_database_says_run_init(env, tmp_path):
    fresh = {**env, "MAILGATE_INSTANCE": str(tmp_path / "fresh"),
             "MAILGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh' / 'x.db'}"}
    res = CliRunner().invoke(main, ["list-inbound"], env=fresh)
    assert res.exit_code == 1 and "mailgate init" in res.output


def test_bad_configuration_names_the_variable(env):
    res = CliRunner().invoke(main, ["list-inbound"], env={**env, "MAILGATE_PUBLIC_REPLIES": "perhaps"})
    assert res.exit_code == 1 and "MAILGATE_PUBLIC_REPLIES" in res.output


# --- the pipe ingress, as Postfix's pipe(8) runs it: a real process, real exit codes ----

def run_pipe(env, raw: bytes, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAILGATE, "receive", *args], input=raw, env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, cwd="/")


def test_pipe_exit_codes(env, seed, task_with_reply):
    _, addr = task_with_reply
    ok = run_pipe(env, make_mail(sender="bob@example.org", to=addr, body="Via pipe."),
                  "--sender", "bob@example.org", "--recipient", addr)
    assert ok.returncode == 0, ok.stderr
    nouser = run_pipe(env, make_mail(to="nobody@reply.example.com"),
                      "--sender", "alice@example.org", "--recipient", "nobody@reply.example.com")
    assert nouser.returncode == 67
    down = run_pipe({**env, "MAILGATE_DATABASE_URL": "sqlite:////nonexistent-dir/x.db"}, make_mail(),
                    "--sender", "a@example.org", "--recipient", "bugs@reply.example.com")
    assert down.returncode == 75, down.stderr
    bad_config = run_pipe({**env, "MAILGATE_MAX_MESSAGE_BYTES": "many"}, make_mail(),
                          "--sender", "a@example.org", "--recipient", "bugs@reply.example.com")
    assert bad_config.returncode == 75 and b"MAILGATE_MAX_MESSAGE_BYTES" in bad_config.stderr


def test_pipe_content_refusal_is_recorded_without_a_bounce(env, seed):
    out = run_pipe(env, make_mail(sender="stranger@example.com"),
                   "--sender", "stranger@example.com", "--recipient", "bugs@reply.example.com")
    assert out.returncode == 0
    listing = subprocess.run([MAILGATE, "list-inbound", "--json"], env={"PATH": "/usr/bin:/bin", **env},
                             capture_output=True, cwd="/", check=True)
    first = json.loads(listing.stdout)[0]
    assert (first["source"], first["status"], first["reason"]) == ("pipe", "rejected", "unknown_sender")


def test_disable_and_enable_a_user(cli, seed, task_with_reply):
    _, addr = task_with_reply
    cli("user", "disable", "bob")
    out = j(cli("receive-test", "--json", input=make_mail(sender="bob@example.org", to=addr)))
    assert out["reason"] == "sender_mismatch"
    cli("user", "enable", "bob")
    out = j(cli("receive-test", "--json", input=make_mail(sender="bob@example.org", to=addr, body="Back.")))
    assert out["status"] == "processed"
    assert "no user 'zed'" in cli("user", "disable", "zed", ok=False).stderr


def test_usernames_are_unique_without_case(cli, seed, task_with_reply):
    err = cli("user", "add", "CAROL", "carol2@example.org", ok=False).stderr
    assert "already exists (as 'carol'; usernames ignore case)" in err
    _, addr = task_with_reply
    out = j(cli("receive-test", "--json", input=make_mail(sender="bob@example.org", to=addr, body="x\n!assign CAROL")))
    assert out["status"] == "processed" and out["commands"] == ["assign carol"]
    assert "disabled" in cli("user", "disable", "BOB").stdout


@pytest.mark.parametrize("args", [("show-inbound", "99999999999999999999"), ("reprocess", "99999999999999999999"),
                                  ("show-inbound", str(2**31))])
def test_an_id_no_row_can_have_is_one_line_not_a_traceback(cli, args):
    result = cli(*args, ok=False)
    assert result.exit_code == 1 and result.stderr.strip() == f"Error: no received message #{args[1]}"


def test_a_mistyped_database_url_creates_nothing(tmp_path, env):
    target = tmp_path / "no" / "such" / "x.db"
    result = CliRunner().invoke(main, ["list-inbound"], env={**env, "MAILGATE_DATABASE_URL": f"sqlite:///{target}"})
    assert result.exit_code == 1 and "run `mailgate init`" in result.output
    assert not (tmp_path / "no").exists()


def test_an_instance_folder_that_cannot_be_made_is_one_line(tmp_path, env):
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(main, ["init"], env={**env, "MAILGATE_INSTANCE": str(tmp_path / "file" / "inst"),
                                                     "MAILGATE_DATABASE_URL": ""})
    assert result.exit_code == 1 and "MAILGATE_INSTANCE" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_look_at_the_log_does_not_wait_for_the_writer(cli, settings, db):
    """list-inbound while a writer holds SQLite's lock (a milter batch, a purge): answered at once."""
    import sqlite3
    import time

    from mailgate.shared.db import sqlite_path

    if not settings.is_sqlite:
        pytest.skip("SQLite's writer lock")
    holder = sqlite3.connect(sqlite_path(settings.database_url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        cli("list-inbound", "--json")
        assert time.monotonic() - started < 5  # the busy timeout is 10 s
    finally:
        holder.rollback()
        holder.close()


def test_a_database_error_is_one_line(tmp_path, env):
    result = CliRunner().invoke(main, ["list-inbound"], env={
        **env, "MAILGATE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("Error: database unavailable: OperationalError:")


@pytest.mark.parametrize("args", [
    ("user", "add", "dave", "dave@reply.example.com"),
    ("user", "add", "dave", "dave@example.org", "Bugs@Reply.Example.COM"),
    ("user", "add-email", "alice", "T1+2+0123456789abcdef@reply.example.com"),
])
def test_a_user_address_at_mailgates_own_domain_is_refused(cli, seed, args):
    """Issue 20 item 11: mail "from" one of Mailgate's own addresses would authorise as that user."""
    res = cli(*args, ok=False)
    assert res.exit_code != 0 and "Mailgate's own domain" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "dave" not in cli("user", "list").stdout
