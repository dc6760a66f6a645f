"""The outbound commands: JSON shapes other tools rely on, and the worker through the CLI."""

from __future__ import annotations

import json

import pytest

from mailgate.webui.cli import main


def test_list_show_worker_void_resend(cli, task_with_reply):
    rows = json.loads(cli("list-outbound", "--json").stdout)
    assert len(rows) == 1
    assert {"id", "status", "recipient", "subject", "mailer"} <= set(rows[0])
    assert rows[0]["status"] == "queued" and rows[0]["recipient"] == "bob@example.org"
    out = cli("worker", "--once", "--json").stdout
    assert json.loads(out[out.index("{"):])["sent"] == 1
    (row,) = json.loads(cli("list-outbound", "--status", "sent", "--json").stdout)
    assert row["mailer"] == "test"
    detail = json.loads(cli("show-outbound", str(row["id"]), "--json").stdout)
    names = [h[0] for h in detail["headers"]]
    for name in ("From", "To", "Reply-To", "Subject", "Message-ID", "Auto-Submitted", "X-Auto-Response-Suppress",
                 "X-Mailgate-Notification", "Content-Type"):
        assert name in names
    assert "Printer on fire" in detail["body_text"] and detail["body_html"].startswith("<!DOCTYPE html>")
    text = cli("show-outbound", str(row["id"])).stdout
    assert "-- text/plain --" in text and "-- text/html --" in text and "Reply-To: T1+" in text
    assert cli("void-outbound", str(row["id"]), ok=False).exit_code == 1  # sent: cannot be voided
    cli("resend-outbound", str(row["id"]))
    assert json.loads(cli("list-outbound", "--status", "queued", "--json").stdout)[0]["id"] == row["id"]
    cli("void-outbound", str(row["id"]), "--reason", "not needed")
    (void,) = json.loads(cli("list-outbound", "--status", "void", "--json").stdout)
    assert void["status_reason"] == "not needed"


def test_send_test_and_unknown_mailer(cli):
    res = cli("send-test", "--to", "ops@example.org", "--json")
    assert json.loads(res.stdout)["status"] == "sent"
    res = cli("send-test", "--to", "ops@example.org", "--mailer", "nope", ok=False)
    assert res.exit_code == 1 and "no mailer 'nope'" in res.output


@pytest.mark.parametrize("to", ["jörg@example.com", "Ops <ops@example.org>", "ops@", "ops@example.org\nBcc: x@y.z"])
def test_send_test_refuses_what_is_not_a_plain_ascii_address(cli, db, to):
    from sqlalchemy import func, select

    from mailgate.shared.models import OutboundMessage

    res = cli("send-test", "--to", to, ok=False)
    assert res.exit_code == 1
    assert len(res.output.strip().splitlines()) == 1 and "not a plain ASCII address" in res.output
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboundMessage)) == 0  # no row left behind


def test_bad_mailer_options_are_a_clean_configuration_error(cli, env):
    from click.testing import CliRunner

    bad = '[{"key": "a", "type": "smtp", "options": {"port": "abc"}}]'
    for args in (["worker", "--once"], ["send-test", "--to", "ops@example.org"]):
        res = CliRunner().invoke(main, args, env={**env, "MAILGATE_MAILERS": bad})
        assert res.exit_code == 1, res.output
        assert "MAILGATE_MAILERS: mailer 'a': options.port" in res.output and "Traceback" not in res.output


def test_send_test_builds_its_mailers_before_writing_the_row(db, settings):
    from dataclasses import replace

    from sqlalchemy import func, select

    from mailgate.shared.config import MailerConfig
    from mailgate.shared.models import OutboundMessage
    from mailgate.shared.outbound.worker import send_test

    broken = replace(settings, mailers=(MailerConfig("a", "smtp", None, {"port": "abc"}),))  # not via from_env
    with pytest.raises(ValueError):
        send_test(db, broken, "ops@example.org")
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(OutboundMessage)) == 0  # no stray leased row
