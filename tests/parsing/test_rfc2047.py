"""RFC 2047 encoded words: what they decode to, in time linear in the header, decoded once per message."""

from __future__ import annotations

import time

import pytest

from mailgate.shared.message import decode_header_value, header_text, load_message

# The attack: 74,000 encoded words in one Subject line, 9.2 MB (under the 10 MB limit).
WORDS = 74_000


def _hostile_subject(words: int = WORDS) -> str:
    return " ".join(f"=?utf-8?q?caf=C3=A9_{'x' * 100}{i % 100}?=" for i in range(words))


def _hostile_message(words: int = WORDS) -> bytes:
    return (f"From: alice@example.org\r\nTo: bugs@reply.example.com\r\nSubject: {_hostile_subject(words)}\r\n"
            f"Message-ID: <rfc2047-flood@example.org>\r\n\r\nThe kettle is broken.\r\n").encode()


@pytest.mark.parametrize("value,text", [
    ("=?utf-8?q?caf=C3=A9?=", "café"),
    ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
    ("=?utf-8?b?Y2Fmw6k?=", "café"),  # padding missing
    ("Re: =?utf-8?q?caf=C3=A9?= au lait", "Re: café au lait"),
    # Whitespace between encoded words goes (RFC 2047 6.2), folding or not; around plain text it stays.
    ("=?utf-8?q?a?= =?utf-8?q?b?=\r\n =?utf-8?q?c?=", "abc"),
    ("=?utf-8?q?a_?= =?utf-8?q?b?=", "a b"),
    ("TEST\r\n =?utf-8?q?caf=C3=A9?=", "TEST café"),
    ("=?utf-8?q?caf=C3=A9?=\r\n <a@example.org>", "café <a@example.org>"),
    # A character split across two words of one charset is put back together before decoding.
    ("=?utf-8?b?Y2Fmww==?= =?utf-8?b?qQ==?=", "café"),
    ("=?iso-8859-1?q?caf=E9?= =?utf-8?q?_cr=C3=A8me?=", "café crème"),
    ("=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=  =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テストテスト"),
    ("=?utf-8*en?q?caf=C3=A9?=", "café"),  # RFC 2231 language
    ("=?x-nonsense?q?caf=C3=A9?=", "café"),  # unknown charset: read as UTF-8, else cp1252
    ("=?utf-8?q?is it?ok?=", "is it?ok"),  # sloppy encoders: spaces and '?' in the text, as the email package reads them
    ("caf=?utf-8?q?=C3=A9?=", "café"),  # inside a word
    # What does not decode stays as written, and the rest still decodes.
    ("=?utf-8?b?a?= =?utf-8?q?caf=C3=A9?=", "=?utf-8?b?a?= café"),
    ("=?utf-8?q?never ends =?utf-8?q?caf=C3=A9?=", "never ends =?utf-8?q?café"),  # one word, as the email package reads it
    ("=?utf-8?q?broken\r\n across?= =?utf-8?q?caf=C3=A9?=", "=?utf-8?q?broken across?= café"),
    ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),
    ("plain =? text ?= here", "plain =? text ?= here"),
    ("=?utf-8?q?a=0D=0AX-Evil:_1?=", "a X-Evil: 1"),
])
def test_decodes(value: str, text: str) -> None:
    assert decode_header_value(value) == text


def _seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def test_tens_of_thousands_of_words_decode_in_linear_time() -> None:
    """74,000 words in one header took 16 s (the email package's decode_header is quadratic)."""
    subject = _hostile_subject()
    assert _seconds(decode_header_value, subject) < 3.0
    assert decode_header_value(subject).startswith("café " + "x" * 100 + "0café ")


@pytest.mark.parametrize("shape", [
    # Word starts that never end on their line, and one end much later.
    lambda n: "=?utf-8?q?abc " * n + "\r\n x?=",
    # Starts whose only end is the very last one, each on its own line.
    lambda n: "\r\n ".join(["=?utf-8?q?abc"] * n) + "?=",
    # Words that are not base64, side by side.
    lambda n: " ".join(["=?utf-8?b?a?="] * n),
    # Nested starts inside one word's text.
    lambda n: "=?utf-8?b?" + "=?a?b?" * n + "?=",
])
def test_hostile_shapes_stay_linear(shape) -> None:
    small, large = shape(20_000), shape(160_000)
    decode_header_value(small)  # warm up
    assert _seconds(decode_header_value, large) < 3.0


def test_the_subject_is_decoded_once_per_message(receive, seed, monkeypatch) -> None:
    """The robot guard, the parser and the stored row all read the Subject; decoding it is paid once."""
    from mailgate.shared import rfc2047

    calls: list[int] = []
    real = rfc2047.decode

    def counting(text, to_text):
        calls.append(len(text))
        return real(text, to_text)

    monkeypatch.setattr(rfc2047, "decode", counting)
    raw = (b"From: alice@example.org\r\nTo: bugs@reply.example.com\r\n"
           b"Subject: =?utf-8?q?Caf=C3=A9_machine_leaks?=\r\nMessage-ID: <once@example.org>\r\n\r\nIt leaks.\r\n")
    out = receive(raw, sender="alice@example.org", to=["bugs@reply.example.com"])
    assert out.status == "processed", out
    assert len(calls) == 1
    msg = load_message(raw)
    assert header_text(msg, "Subject") == header_text(msg, "subject") == "Café machine leaks"
    msg.replace_header("Subject", "=?utf-8?q?Th=C3=A9?=")  # changed through the Message API: decoded afresh
    assert header_text(msg, "Subject") == "Thé"


@pytest.mark.slow
def test_a_flood_of_encoded_words_through_the_pipeline(receive, seed) -> None:
    """receive() of the 9.2 MB message took 32 s (the Subject decoded twice, quadratically each time)."""
    raw = _hostile_message()
    start = time.perf_counter()
    out = receive(raw, sender="alice@example.org", to=["bugs@reply.example.com"])
    elapsed = time.perf_counter() - start
    assert out.status == "processed", out
    assert elapsed < 10.0, f"{elapsed:.1f} s"
