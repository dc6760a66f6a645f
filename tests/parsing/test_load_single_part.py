"""load_message's single-part shortcut reads every message exactly as the email package does.

The shortcut parses only the header section and sets the rest as the
payload; these tests compare its Message, attribute by attribute, with
email.message_from_bytes on every message of the corpus, on each of them
with other line endings, and on header sections built to end oddly.
"""

from __future__ import annotations

import email
import email.policy

import pytest

from mailgate.shared import message as M

from ..corpus import bundled_files, external_files, needs_external


def _state(msg) -> object:
    """Everything a compat32 Message holds, its parts' included, in comparable form."""
    if isinstance(msg, list):
        return [_state(m) for m in msg]
    if not isinstance(msg, email.message.Message):
        return msg
    state = {k: v for k, v in vars(msg).items() if k not in ("policy", "defects", "_payload")}
    state["defects"] = [(type(d).__name__, str(d)) for d in msg.defects]
    state["_payload"] = _state(msg._payload)
    return state


def _same(raw: bytes) -> bool:
    """Compare with the email package; True if the shortcut was taken."""
    full = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert _state(M.load_message(raw)) == _state(full)
    return M._single_part(raw.decode("ascii", "surrogateescape")) is not None


SETS = [
    pytest.param(lambda: bundled_files(), id="bundled"),
    pytest.param(lambda: external_files(), id="external", marks=needs_external),
]

ODD = [
    b"Subject: hi\n\nbody\n",
    b"Subject: hi\r\n\r\nbody\r\nmore\r\n",
    b"Subject: hi\r\rbody\r\n\r\nmore",  # a bare-CR empty line ends the headers first
    b"Subject: hi\nnot a header line\nX: y\n\nbody\n",  # a stray line ends the headers
    b"\nno headers at all\n\nbody\n",
    b"Subject: only headers\n",
    b"Subject: only headers\n\n",
    b"From someone@example.org Mon Nov  2 10:00:00 2026\nSubject: mbox\n\nbody\n",
    b" continued first\nSubject: x\n\nbody\n",
    b"Subject: a\n b folded\nX-8bit: \xc3\xa9t\xe9\n\nbody \xff\x00 bytes\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\npart\n--b--\n",
    b"Content-Type: message/rfc822\n\nSubject: inner\n\ninner body\n",
    b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b\n",
    b"Content-Type: Multipart/Alternative; boundary=q\n\n--q\n\nx\n--q--\n",
    b"Content-Type: text/html\n\n<p>hi</p>\n",
    b"Subject: x\n\n",
    b"Subject: x\n\n\n\nbody after blank lines\n",
    b"Subject: x\x0c\x1c\n\nform feed in a header\x0b\n",
    b"",
]


@pytest.mark.parametrize("raw", ODD)
def test_odd_header_sections(raw: bytes) -> None:
    _same(raw)


@pytest.mark.parametrize("files", SETS)
def test_every_corpus_message_and_other_line_endings(files) -> None:
    MESSAGES = [p.read_bytes() for p in files()]
    assert MESSAGES
    taken = 0
    for raw in MESSAGES:
        lf = raw.replace(b"\r\n", b"\n")
        for variant in (raw, lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r")):
            taken += _same(variant)
    assert taken > len(MESSAGES)  # the shortcut is really exercised


def test_a_plain_reply_takes_the_shortcut() -> None:
    raw = b"From: a@example.org\r\nSubject: Re: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks.\r\n"
    assert _same(raw)
    assert M.load_message(raw).get_payload() == "Thanks.\r\n"


def _same_from_head(raw: bytes) -> None:
    """The head read first (read_head), then the rest (load_rest): the very message load_message reads,
    and the header section reused exactly when load_message takes its single-part shortcut."""
    head, body_at = M.read_head(raw)
    assert head.get_payload() == ""
    assert _state(M.load_head(raw)) == _state(head)
    assert (body_at is not None) == (M._single_part(raw.decode("ascii", "surrogateescape")) is not None)
    whole = M.load_rest(head, raw, body_at)
    assert (whole is head) == (body_at is not None)
    assert _state(whole) == _state(M.load_message(raw))


@pytest.mark.parametrize("raw", ODD)
def test_head_then_rest_on_odd_header_sections(raw: bytes) -> None:
    _same_from_head(raw)


@pytest.mark.parametrize("files", SETS)
def test_head_then_rest_on_every_corpus_message(files) -> None:
    for raw in (p.read_bytes() for p in files()):
        lf = raw.replace(b"\r\n", b"\n")
        for variant in (raw, lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r")):
            _same_from_head(variant)


def test_head_then_rest_keeps_the_decoded_headers() -> None:
    raw = b"From: a@example.org\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\nThanks.\r\n"
    head, body_at = M.read_head(raw)
    assert M.header_text(head, "Subject") == "caf\u00e9"
    whole = M.load_rest(head, raw, body_at)
    assert whole.get_payload() == "Thanks.\r\n" and M.header_text(whole, "Subject") == "caf\u00e9"
