"""mime.py keeps what it read from a part on the part: it must give what the
email package gives, and never a stale answer after the part changed."""

from __future__ import annotations

from mailgate.shared.message import load_message
from mailgate.shared.parsing import classify_robot, mime, parse_message

RAW = (
    b"From: Bob <bob@example.org>\r\nSubject: Re: printer\r\n"
    b"Content-Type: text/plain; charset=\"iso-8859-1\"; format=flowed\r\n\r\n"
    b"Caf\xe9 is open.\r\n\r\nOn Mon, 2 Nov 2026 at 10:00, Alice <alice@example.org> wrote:\r\n> hello\r\n"
)


NAMED = RAW.replace(b"format=flowed", b"format=flowed; name*=utf-8''r%C3%A9sum%C3%A9.txt")


def test_same_answers_as_the_email_package() -> None:
    for msg in (load_message(RAW), load_message(NAMED)):
        _same_answers(msg)


def _same_answers(msg) -> None:
    for _ in range(2):  # computed, then cached
        assert mime.content_type(msg) == msg.get_content_type()
        assert mime.content_charset(msg) == msg.get_content_charset()
        assert mime.filename(msg) == msg.get_filename()
        for name in ("charset", "format", "name", "missing"):
            assert mime.param(msg, name) == msg.get_param(name)
        assert mime.param(msg, "x", "fail", header="content-disposition") == "fail"


def test_guard_then_parse_on_one_object_equals_fresh_objects() -> None:
    msg = load_message(RAW)
    verdict = classify_robot(msg, "bob@example.org")
    assert parse_message(msg).to_json() == parse_message(load_message(RAW)).to_json()
    assert verdict == classify_robot(load_message(RAW), "bob@example.org")


def test_a_changed_part_is_read_again() -> None:
    msg = load_message(RAW)
    before = parse_message(msg)
    assert before.text == "Café is open."
    msg.set_param("charset", "utf-8")  # replaces the header: the bytes now decode differently
    assert mime.content_charset(msg) == "utf-8"
    assert parse_message(msg).text == parse_message(load_message(msg.as_bytes())).text
    msg.set_payload("New text\n")
    assert parse_message(msg).text == "New text"
    msg.replace_header("Content-Type", "text/html")
    assert mime.content_type(msg) == "text/html"
    assert parse_message(msg).body_type == "text/html"
    del msg["Content-Type"]
    msg.set_default_type("message/rfc822")
    assert mime.content_type(msg) == msg.get_content_type() == "message/rfc822"
