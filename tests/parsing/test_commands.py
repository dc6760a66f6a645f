"""!command lines: extracted from the first and last lines only, removed from the text."""

from __future__ import annotations

from mailgate.shared.parsing import Command, parse_text
from mailgate.shared.parsing.commands import extract_commands, parse_command


def test_known_and_unknown_commands_are_all_extracted() -> None:
    parsed = parse_text("!close\n!priority HIGH\n\nDone, closing.\n\n!assign bob\n!frobnicate now please")
    assert [str(c) for c in parsed.commands] == ["close", "priority HIGH", "assign bob", "frobnicate now please"]
    assert parsed.text == "Done, closing."
    assert parsed.cuts[-1].rule == "command"


def test_names_are_lowercased_and_line_kept() -> None:
    cmd = parse_command("  !ReOpen  ")
    assert cmd == Command(name="reopen", args=[], line="!ReOpen")
    assert str(cmd) == "reopen"


def test_commands_in_the_middle_are_prose() -> None:
    body = "First line\n!close\nlast line"
    assert parse_text(body).commands == []
    assert parse_text(body).text == body


def test_emphasis_is_not_a_command() -> None:
    assert parse_text("!!! urgent").commands == []
    assert parse_text("!1 is not a command").commands == []


def test_command_below_quote_and_signature() -> None:
    body = "!subscribe\n\nOn Mon, 3 Feb 2025, Bob <b@example.com> wrote:\n> q\n"
    parsed = parse_text(body)
    assert [str(c) for c in parsed.commands] == ["subscribe"]
    assert parsed.text == ""


def test_command_before_signature_is_found() -> None:
    parsed = parse_text("Fixed in 1.2.\n!close\n\n-- \nBob")
    assert [str(c) for c in parsed.commands] == ["close"]
    assert parsed.text == "Fixed in 1.2."


def test_only_commands() -> None:
    rest, cmds, cuts = extract_commands("!unsubscribe")
    assert rest == "" and [c.name for c in cmds] == ["unsubscribe"] and cuts


def test_full_width_exclamation_mark() -> None:
    assert [str(c) for c in parse_text("！close\n\n好的").commands] == ["close"]
