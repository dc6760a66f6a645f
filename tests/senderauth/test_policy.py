"""The policy through the real pipeline: off / report / require, per create address, deferral, personal addresses."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mailgate.shared import directory, queries
from mailgate.shared.envelope import Envelope
from mailgate.shared.models import ReceivedMessage
from mailgate.shared.outcomes import AuthDeferred, message_reply, tempfail_reply
from mailgate.shared.pipeline import receive, recover_stale

CREATE = "bugs@reply.example.com"


def smtp(sender: str, to: str = CREATE, client: str = "127.0.0.1") -> Envelope:
    return Envelope(source="milter", sender=sender, recipients=[to], client_addr=client, helo="client.test",
                    queue_id="4ABC")


def row(db, rec_id: int) -> dict:
    with db.read() as s:
        return queries.inbound_detail_json(s.get(ReceivedMessage, rec_id))


def forged(mail) -> bytes:
    return mail(sender="demo@pass.test", subject="Wire the money", body="Please pay the attached invoice.")


def test_report_processes_a_forgery_and_says_so(db, settings, people, mail):
    out = receive(db, settings, smtp("mallory@evil.test"), forged(mail))
    assert (out.status, out.action, out.actor) == ("processed", "create", "demo")
    assert out.auth["verdict"] == "fail" and out.auth["source"] == "verified"
    data = row(db, out.id)
    assert data["auth"]["envelope_mismatch"] is True
    assert "may be forged" in data["auth_mismatch"] and "mallory@evil.test" in data["auth_mismatch"]
    assert any("Sender authentication (report): fail" in d for d in data["decisions"])


def test_require_refuses_the_forgery_with_a_sentence(db, settings, people, mail):
    settings = dataclasses.replace(settings, sender_auth="require")
    out = receive(db, settings, smtp("mallory@evil.test"), forged(mail))
    assert (out.status, out.reason) == ("rejected", "unauthenticated_sender")
    assert "DMARC failed for pass.test" in out.text and "personal create address" in out.text
    reply = message_reply(out, all_recipients_ours=True)
    assert (reply.code, reply.xcode) == (550, "5.7.1")
    with db.read() as s:
        assert s.get(ReceivedMessage, out.id).task_id is None


def test_require_takes_an_aligned_signature(db, settings, people, mail, zones):
    settings = dataclasses.replace(settings, sender_auth="require")
    raw = zones.signers["pass.test"].sign(mail(sender="demo@pass.test", subject="Real one"))
    out = receive(db, settings, smtp("bounce@lists.elsewhere.example", client="192.0.2.9"), raw)
    assert (out.status, out.actor, out.auth["verdict"]) == ("processed", "demo", "pass")


def test_require_refuses_a_domain_without_dmarc(db, settings, people, mail):
    settings = dataclasses.replace(settings, sender_auth="require")
    out = receive(db, settings, smtp("pat@nodmarc.test"), mail(sender="pat@nodmarc.test"))
    assert (out.status, out.reason) == ("rejected", "unauthenticated_sender")
    assert "publishes no DMARC policy" in out.text


def test_dmarc_p_none_is_recorded_under_report(db, settings, people, mail):
    out = receive(db, settings, smtp("news@none.test"), mail(sender="news@none.test"))
    assert out.status == "processed"
    assert (out.auth["dmarc"], out.auth["policy"], out.auth["verdict"]) == ("fail", "none", "fail")


def test_address_setting_overrides_the_global_one(db, settings, people, mail):
    settings = dataclasses.replace(settings, sender_auth="off")
    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", "strict@reply.example.com", actor="t", sender_auth="require")
    off = receive(db, settings, smtp("mallory@evil.test"), forged(mail))
    assert off.status == "processed" and off.auth is None  # off: nothing checked, nothing said
    strict = receive(db, settings, smtp("mallory@evil.test", to="strict@reply.example.com"),
                     mail(sender="demo@pass.test", subject="Second try"))
    assert (strict.status, strict.reason) == ("rejected", "unauthenticated_sender")


def test_dns_timeout_under_require_defers_and_loses_nothing(db, settings, people, mail, dns_server_recovered):
    settings = dataclasses.replace(settings, sender_auth="require")
    with db.transaction() as s:
        directory.add_user_email(s, "demo", "ops@slow.test", settings=settings, actor="t")
    raw = mail(sender="ops@slow.test", subject="During the outage")
    with pytest.raises(AuthDeferred) as deferred:
        receive(db, settings, smtp("ops@slow.test"), raw)
    assert (tempfail_reply(deferred.value).code, tempfail_reply(deferred.value).xcode) == (451, "4.7.0")
    with db.read() as s:
        (stored,) = s.query(ReceivedMessage).all()
        assert stored.status == "received" and stored.auth_verdict == "temperror"
        assert "try again later" in stored.reason_text
    # DNS is back: the sender's retry goes through, and the stored copy, when recovered, is its duplicate.
    recovered = dataclasses.replace(settings, dns_servers=(dns_server_recovered.address,))
    out = receive(db, recovered, smtp("ops@slow.test"), raw)
    assert (out.status, out.actor, out.auth["verdict"]) == ("processed", "demo", "pass")
    (again,) = recover_stale(db, recovered, older_than_seconds=0)
    assert (again.status, again.reason, again.duplicate_of) == ("ignored", "duplicate", out.id)


def test_dns_timeout_under_report_is_temperror_and_accepted(db, settings, people, mail):
    with db.transaction() as s:
        directory.add_user_email(s, "demo", "ops@slow.test", settings=settings, actor="t")
    out = receive(db, settings, smtp("ops@slow.test"), mail(sender="ops@slow.test"))
    assert out.status == "processed" and out.auth["verdict"] == "temperror"


def test_personal_address_opens_a_task_under_require_and_dies_with_rotation(db, settings, people, mail):
    settings = dataclasses.replace(settings, sender_auth="require")
    with db.transaction() as s:
        personal = directory.personal_create_address(s, "pat", actor="t")
    assert personal.startswith("bugs+u") and personal.endswith("@reply.example.com")
    out = receive(db, settings, smtp("pat@nodmarc.test", to=personal),
                  mail(sender="Pat <pat@nodmarc.test>", to=personal, subject="From my phone"))
    assert (out.status, out.action, out.actor) == ("processed", "create", "pat")
    assert out.auth["verdict"] == "none"  # not authenticated by DMARC: by the address's secret
    with db.transaction() as s:
        directory.personal_create_address(s, "pat", rotate=True, actor="t")
    dead = receive(db, settings, smtp("pat@nodmarc.test", to=personal),
                   mail(sender="pat@nodmarc.test", to=personal, subject="After rotation"))
    assert (dead.status, dead.reason) == ("rejected", "invalid_hash")


def test_personal_address_dies_with_key_rotation(db, settings, people, mail):
    from mailgate.shared import keys

    with db.transaction() as s:
        personal = directory.personal_create_address(s, "pat", actor="t")
    with db.transaction() as s:
        keys.rotate_key(s)
    out = receive(db, settings, smtp("pat@nodmarc.test", to=personal), mail(sender="pat@nodmarc.test", to=personal))
    assert (out.status, out.reason) == ("rejected", "invalid_hash")


def test_receive_test_json_carries_auth(runner_env, people, mail, zones):
    from click.testing import CliRunner

    from mailgate.webui.cli import main

    raw = zones.signers["pass.test"].sign(mail(sender="demo@pass.test"))
    result = CliRunner().invoke(main, ["receive-test", "--from", "demo@pass.test", "--to", CREATE, "--json"],
                                input=raw, env=runner_env)
    assert result.exit_code == 0, result.output
    auth = json.loads(result.output)["auth"]
    assert auth["dkim"] == [{"domain": "pass.test", "result": "pass"}]
    assert (auth["spf"], auth["dmarc"], auth["aligned"], auth["verdict"], auth["source"]) == \
        ("none", "pass", True, "pass", "verified")


@pytest.fixture
def runner_env(env):
    return env
