"""Header decoding helpers in shared/message.py that the parser relies on."""

from __future__ import annotations

from mailgate.shared.message import decode_header_value, header_addresses, header_text, load_message


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
