"""MAILGATE_INCOMING_ADDRESS: addresses handed out inside GitLab's template, and read back."""

from __future__ import annotations

import pytest

from mailgate.shared.addresses import incoming
from mailgate.shared.config import ConfigError, from_env

REPLY = "T12+7+3f9c0a5be1d2c4e8@reply.example.com"


def test_issue_and_read_back():
    template = "incoming+%{key}@gmail.com"
    issued = incoming.issue(template, REPLY)
    assert issued == "incoming+T12+7+3f9c0a5be1d2c4e8@gmail.com"
    assert incoming.key_in(template, issued) == "t12+7+3f9c0a5be1d2c4e8"
    assert incoming.issue(template, "bugs@reply.example.com") == "incoming+bugs@gmail.com"
    assert incoming.issue("", REPLY) == REPLY
    assert incoming.issue("support@example.com", REPLY) == "support@example.com"
    assert incoming.reply_reference("support@example.com", REPLY) == "reply-t12+7+3f9c0a5be1d2c4e8@reply.example.com"
    assert incoming.reply_reference(template, REPLY) is None and incoming.reply_reference("", REPLY) is None


@pytest.mark.parametrize("value, fragment", [
    ("%{key}", "not an address"),
    ("incoming+%{key}", "not an address"),
    ("incoming@%{key}.example.com", "local part"),
    ("a%{key}b%{key}@example.com", "once"),
    ("in coming+%{key}@example.com", "not an address"),
])
def test_bad_templates_name_the_variable(env, value, fragment):
    with pytest.raises(ConfigError) as exc:
        from_env({**env, "MAILGATE_INCOMING_ADDRESS": value})
    assert exc.value.variable == "MAILGATE_INCOMING_ADDRESS" and fragment in exc.value.problem


def test_good_templates(env):
    for value in ("incoming+%{key}@gmail.com", "incoming-%{key}@exchange.example.com", "support@example.com"):
        assert from_env({**env, "MAILGATE_INCOMING_ADDRESS": value}).incoming_address == value


def test_a_service_that_replaces_message_ids_keeps_the_reply_key_in_references():
    from mailgate.shared.outbound.render import Outgoing, thread_fallback

    root = Outgoing(id=1, sender="noreply@reply.example.com", recipient="bob@example.org", reply_to="support@example.com",
                    subject="[T12] x", message_id="mailgate.t12.abc1@reply.example.com",
                    headers={"X-Mailgate-Task": "T12", "References": f"<reply-{REPLY.lower()}>"})
    refs = thread_fallback(root)["References"].split()
    assert refs == ["<mailgate.t12.abc1@reply.example.com>", f"<reply-{REPLY.lower()}>"]


def test_reply_address_command_prints_the_issued_form(env, db, seed, task_with_reply):
    from click.testing import CliRunner

    from mailgate.webui.cli import main

    task, mailgate_form = task_with_reply
    out = CliRunner().invoke(main, ["reply-address", task, "bob"],
                             env={**env, "MAILGATE_INCOMING_ADDRESS": "incoming+%{key}@gmail.com"})
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[-1] == "incoming+" + mailgate_form.split("@")[0] + "@gmail.com"


def test_address_list_says_how_create_addresses_are_handed_out(env, db, seed):
    import json

    from click.testing import CliRunner

    from mailgate.webui.cli import main

    with_template = {**env, "MAILGATE_INCOMING_ADDRESS": "incoming+%{key}@gmail.com"}
    data = json.loads(CliRunner().invoke(main, ["address", "list", "--json"], env=with_template).output)
    assert [(d["address"], d["handed_out_as"]) for d in data] == [("bugs@reply.example.com", "incoming+bugs@gmail.com")]
    text = CliRunner().invoke(main, ["address", "list"], env=with_template).output
    assert "HAND OUT AS" in text and "incoming+bugs@gmail.com" in text
    plain = json.loads(CliRunner().invoke(main, ["address", "list", "--json"], env=env).output)
    assert plain[0]["handed_out_as"] is None
    assert incoming.create_address_form("incoming+%{key}@gmail.com", "help@other.example", "reply.example.com") is None
