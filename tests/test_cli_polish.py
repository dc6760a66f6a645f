"""Small things an operator tripped over on the command line (issue 15, item 9)."""

from __future__ import annotations

from click.testing import CliRunner

from mailgate.webui.cli import main


def test_list_inbound_shows_the_whole_reason(env, receive, task_with_reply, mail):
    ref, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, subject="Re: x", body="!priority\n"), to=(addr,))
    assert out.reason == "command_not_allowed"  # 19 characters: the column cut it at 18
    text = CliRunner().invoke(main, ["list-inbound"], env=env).output
    assert "command_not_allowed" in text and "…" not in text.split("command_not_allowed")[0].splitlines()[-1]


def test_version():
    from importlib.metadata import version

    out = CliRunner().invoke(main, ["--version"])
    assert out.exit_code == 0 and out.output == f"mailgate {version('mailgate')}\n"
