"""The reply marker a notification starts with (MAILGATE_REPLY_MARKER), in both parts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mailgate.shared.config import ConfigError, from_env
from mailgate.shared.notify import render_text
from mailgate.shared.outbound.compose import html_from_text

TASK = SimpleNamespace(id=1, ref="T1", title="Printer", status="open", priority="normal")
ACTOR = SimpleNamespace(name="Alice", username="alice")


def test_the_plain_part_starts_with_the_marker(settings) -> None:
    body = render_text(settings, TASK, ACTOR, ["commented"], "It burns.")
    assert body.startswith("##- Reply above this line -##\n\nAlice commented on T1.")


@pytest.mark.parametrize("value, first", [
    ("de", "##- Über dieser Zeile antworten -##"),
    ("Antworten Sie oberhalb", "##- Antworten Sie oberhalb -##"),
    ("off", "Alice commented on T1."),
])
def test_the_marker_is_localisable_or_off(env, value: str, first: str) -> None:
    settings = from_env({**env, "MAILGATE_REPLY_MARKER": value})
    assert render_text(settings, TASK, ACTOR, ["commented"], "x").splitlines()[0] == first


@pytest.mark.parametrize("value", ["## Reply ##", "x" * 81, "two\nlines"])
def test_a_bad_marker_stops_start_up_naming_the_variable(env, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_env({**env, "MAILGATE_REPLY_MARKER": value})
    assert err.value.variable == "MAILGATE_REPLY_MARKER"


def test_the_html_part_has_a_hidden_copy_and_a_visible_line() -> None:
    html = html_from_text("##- Reply <above> this line -##\n\nAlice commented.\n\nIt burns.")
    hidden, visible, rest = html.split("<body", 1)[1].split("\n")[1:4]
    assert hidden.startswith('<div style="font-size:1px;') and "display:none" not in hidden
    assert "##- Reply &lt;above&gt; this line -##" in hidden and "##- Reply &lt;above&gt; this line -##" in visible
    assert rest == "<p>Alice commented.</p>"


def test_without_a_marker_the_html_part_is_as_before() -> None:
    html = html_from_text("Alice commented.\n\nIt burns.")
    assert "font-size:1px" not in html and "<p>Alice commented.</p>" in html
