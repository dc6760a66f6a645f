"""The acknowledgement's template: checked when set, rendered per task."""

from __future__ import annotations

import pytest

from mailgate.shared.servicedesk import acknowledgement as ack


def test_default_names_the_task():
    text = ack.render(None, ref="T7", title="Printer on fire", name="Jane", address="jane@x.example", desk="d@y")
    assert "T7" in text and "Printer on fire" in text and text.startswith("Hello Jane,")


def test_no_name_greets_the_address():
    assert ack.render("Hi $name", ref="T1", title="t", name="", address="jane@x.example", desk="d").startswith(
        "Hi jane@x.example")


def test_check_accepts_every_placeholder_and_dollars():
    text = "$ref ${title} $name $address $desk costs $$5\r\n"
    assert ack.check(text) == "$ref ${title} $name $address $desk costs $$5\n"
    assert ack.render(text, ref="T1", title="A", name="N", address="a@b", desk="d@e").startswith("T1 A N a@b d@e costs $5")


@pytest.mark.parametrize("text, says", [
    ("Hello $customer", "unknown placeholder $customer"),
    ("Costs $5", "lone '$'"),
    ("   \n", "empty"),
    ("x" * (ack.MAX_CHARS + 1), "over"),
])
def test_check_refuses_with_a_reason(text, says):
    with pytest.raises(ack.TemplateError) as err:
        ack.check(text)
    assert says in str(err.value)


def test_mail_content_cannot_expand_placeholders():
    """A subject that looks like a placeholder stays text: substitution is one pass over the template."""
    out = ack.render("[$title] $ref", ref="T1", title="$address ${desk}", name="", address="secret@x", desk="d")
    assert out == "[$address ${desk}] T1"
