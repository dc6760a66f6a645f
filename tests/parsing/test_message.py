"""Header decoding helpers in shared/message.py that the parser relies on."""

from __future__ import annotations

import pytest

from mailgate.shared.message import decode_header_value, header_addresses, header_text, load_message

from ..corpus import bundled_files, external_files, needs_external


def test_rfc2047_and_raw_utf8_headers_decode() -> None:
    msg = load_message("Subject: Réponse automatique\nFrom: =?utf-8?q?Andr=C3=A9?= <a@example.com>\n\nx".encode())
    assert header_text(msg, "Subject") == "Réponse automatique"
    assert header_text(msg, "From") == "André <a@example.com>"


def test_raw_latin1_header_falls_back_to_cp1252() -> None:
    msg = load_message(b"Subject: caf\xe9 =?utf-8?q?cr=C3=A8me?=\n\nx")
    assert header_text(msg, "Subject") == "café crème"


def test_encoded_crlf_never_becomes_a_header_line() -> None:
    msg = load_message(b"Subject: =?utf-8?q?a=0D=0AX-Evil:_1?=\n\nx")
    value = header_text(msg, "Subject")
    assert "\n" not in value and "\r" not in value


def test_unknown_charset_in_encoded_word() -> None:
    assert decode_header_value("=?x-nonsense?q?caf=C3=A9?=") == "café"


def test_addresses() -> None:
    msg = load_message(b"To: Bob <bob@example.com>, carol@example.org, nonsense\n\nx")
    assert header_addresses(msg, "To") == ["bob@example.com", "carol@example.org"]


def _getaddresses(msg, name: str) -> list[str]:
    """What header_addresses() returned before its fast path: email.utils.getaddresses() on every value."""
    import email.utils

    from mailgate.shared.message import clean_header_value

    raw = [clean_header_value(str(v)) for v in msg.get_all(name) or []]
    return [a.strip() for _, a in email.utils.getaddresses(raw) if a and "@" in a]


SIMPLE_AND_NOT = ["a@b", "<a@b.c>", "Bob <a@b.c>, Carol <c@d.e>", "bob@example.org (Bob)",
                  "=?utf-8?q?J=C3=B6rg?= <j@x.de>", "Jörg Müller <j@x.de>", "  bob@x.org  ", "Bob<bob@x.org>",
                  "bob@x.org>", "<bob@x.org", "Bob Smith <bob.smith+tag@mail.example.co.uk>", "x <a..b@c.d>",
                  "x <.a@c.d>", "x <a@c..d>", "a@b.", "'quoted' <a@b.c>", "O'Brien <ob@x.ie>", "\"Doe, J\" <j@d.o>",
                  "Bob <a@b.c>\t", "Bob\t<a@b.c>", "undisclosed-recipients:;", "", "<>", "bob"]


def test_the_simple_address_fast_path_finds_what_getaddresses_finds() -> None:
    for value in SIMPLE_AND_NOT:
        msg = load_message(f"To: {value}\nFrom: x@y.z\n\nx".encode())
        assert header_addresses(msg, "To") == _getaddresses(msg, "To"), value


@pytest.mark.parametrize("files, at_least", [
    pytest.param(lambda: bundled_files(), 300, id="bundled"),
    pytest.param(lambda: external_files(pattern="*"), 1000, id="external", marks=needs_external),
])
def test_fast_path_agrees_with_getaddresses_on_every_corpus_header(files, at_least: int) -> None:
    checked = 0
    for path in files():
        if path.suffix not in (".eml", ".txt", ""):
            continue
        msg = load_message(path.read_bytes())
        for name in ("From", "To", "Cc", "Reply-To", "Sender", "Delivered-To"):
            if msg.get_all(name):
                assert header_addresses(msg, name) == _getaddresses(msg, name), (path, name)
                checked += 1
    assert checked > at_least
