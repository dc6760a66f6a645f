"""Hostile shapes found by fuzzing receive(): bounded work, headers that survive, names and titles
that cannot spoof or steer a terminal. The time bounds are generous ceilings over what used to take
tens of seconds (quadratic parsers), not speed targets."""

from __future__ import annotations

import time

import pytest

from mailgate.shared.message import MESSAGE_ID_CHARS, TOO_DEEP, clean_header_value, load_message, message_id
from mailgate.shared.parsing import parse_message
from mailgate.shared.parsing.html import MAX_HTML_TAGS, _crude_text, html_to_text
from mailgate.shared.parsing.parse import MAX_TEXT_CHARS
from mailgate.shared.tracker import make_title


def _quickly(fn, *args, ceiling: float = 10.0):
    started = time.monotonic()
    result = fn(*args)
    assert time.monotonic() - started < ceiling, f"{fn.__name__} took {time.monotonic() - started:.1f} s"
    return result


def test_unclosed_tags_do_not_make_the_html_parser_quadratic():
    text, _ = _quickly(html_to_text, "<p>Hi</p>" + "<a " * 20000)  # 46 s with Python's html.parser
    assert text.startswith("Hi")


@pytest.mark.parametrize("html", ["<script " * 20000, "< a" * 100000, "<style>" + "<p>" * 50000])
def test_the_crude_stripper_is_linear(html):
    _quickly(_crude_text, html)  # 24-28 s with the old regexes


def test_the_crude_stripper_keeps_words_and_drops_what_is_never_shown():
    assert _crude_text("<style>x</style><p>a</p><script>y</script>b<br>c") == "a\nb\nc"
    assert _crude_text("before<script>never closed <p>gone") == "before"
    assert " ".join(_crude_text("1 < 2 and <b>bold</b>").split()) == "1 < 2 and bold"  # a stray "<" is text


def test_past_the_tag_budget_html_is_stripped_not_parsed_into_a_tree():
    quote = "<blockquote>old text</blockquote>"
    small, cuts = html_to_text("<p>new</p>" + quote)
    assert small == "new" and cuts  # the tree: the blockquote is cut
    big, cuts = html_to_text("<p>new</p>" + "<span>x</span>" * MAX_HTML_TAGS + quote)
    assert not cuts and "old text" in big  # crudely stripped: words kept, the text trimmer decides


def _html_parts(n: int, tags_each: int) -> bytes:
    parts = "".join(f"--b\r\nContent-Type: text/html\r\n\r\n<p>part {i}</p>{'<i>x</i>' * tags_each}"
                    f"<blockquote>quoted {i}</blockquote>\r\n" for i in range(n))
    return (f"From: a@example.org\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            f"{parts}--b--\r\n").encode()


def test_the_tag_budget_is_per_message_not_per_part():
    parsed = parse_message(load_message(_html_parts(6, MAX_HTML_TAGS // 8)))
    assert "part 5" in parsed.text
    assert "quoted 0" not in parsed.text  # the first parts got a tree (quotes cut) ...
    assert "quoted 5" in parsed.text  # ... the last ones, past the budget, were stripped


def test_thousands_of_tiny_html_parts_cost_a_bounded_number_of_trees(monkeypatch):
    """A tree costs a fixed price however small its HTML: 4,999 parts of `<p>..</p>` side by side cost
    (at most) a hundred trees, not 4,999; the rest are stripped, and every part's words are kept."""
    from mailgate.shared.parsing import html

    trees = []
    real = html._html_to_text

    def counted(text):
        trees.append(text)
        return real(text)

    monkeypatch.setattr(html, "_html_to_text", counted)
    parsed = parse_message(load_message(_html_parts(4_999, 0)))
    assert 0 < len(trees) <= 100
    assert "part 0" in parsed.text and "part 4998" in parsed.text and "quoted 4998" in parsed.text
    assert "quoted 0" not in parsed.text  # the first parts still got a tree (their quotes cut)


def _nested(levels: int, lines: int = 3, param: bytes = b"boundary", eol: bytes = b"\r\n") -> bytes:
    head = (b"From: alice@example.org\r\nTo: bugs@reply.example.com\r\nSubject: deep\r\n"
            b"Message-ID: <deep@example.org>\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
    body = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; %s=\"b%d\"\r\n\r\n" % (i, param, i + 1)
                    for i in range(levels))
    return (head + body + b"--b%d\r\nContent-Type: text/plain\r\n\r\n" % levels).replace(b"\r\n", eol) + \
        (b"x" + eol) * lines


@pytest.mark.parametrize("levels,lines,param,eol", [
    (150, 3, b"boundary", b"\r\n"), (2000, 3, b"boundary", b"\r\n"), (950, 330_000, b"boundary", b"\r\n"),
    (60, 70_000, b"boundary", b"\r\n"),
    (900, 450_000, b"boundary*0", b"\r\n"),  # RFC 2231 spelling: nested all the same (67 s)
    (99, 500_000, b"boundary", b"\r"),  # bare CR line ends (10 s)
])
def test_nesting_no_client_writes_keeps_the_headers_and_skips_the_body(levels, lines, param, eol):
    msg = _quickly(load_message, _nested(levels, lines, param, eol))  # 950 levels in 1 MB: 75 s; 2000: no headers
    assert (msg["Subject"], message_id(msg)) == ("deep", "deep@example.org")
    parsed = parse_message(msg)
    assert parsed.text == "" and TOO_DEEP in parsed.warnings


def test_many_parts_side_by_side_are_not_nesting():
    """101 attached mails (depth 2): read as usual, body, command and attachments."""
    parts = "".join(f"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x{i}@example.org\r\nSubject: m{i}\r\n"
                    f"Content-Type: multipart/alternative; boundary=i{i}\r\n\r\n--i{i}\r\nContent-Type: "
                    f"text/plain\r\n\r\nmail {i}\r\n--i{i}--\r\n" for i in range(101))
    raw = ("From: a@example.org\r\nSubject: here\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nHere they are.\r\n!close\r\n" + parts + "--b--\r\n").encode()
    parsed = parse_message(load_message(raw))
    assert parsed.text == "Here they are." and [c.name for c in parsed.commands] == ["close"]
    assert len(parsed.attachments) == 101 and not parsed.warnings


def test_ordinary_nesting_is_read_as_usual():
    msg = load_message(_nested(5))
    assert TOO_DEEP not in map(str, msg.defects) and parse_message(msg).text == "x\nx\nx"


def test_a_body_longer_than_any_reply_is_cut_before_trimming():
    raw = b"From: a@example.org\r\nSubject: long\r\n\r\n" + b"x\r\n" * (MAX_TEXT_CHARS // 2 + 1000)
    parsed = _quickly(parse_message, load_message(raw))
    assert len(parsed.text) <= MAX_TEXT_CHARS and any("text cut at" in w for w in parsed.warnings)


def test_a_raw_8bit_attachment_name_is_decoded():
    raw = ("From: a@example.org\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           "Content-Type: text/plain\r\n\r\nsee file\r\n--b\r\nContent-Type: application/pdf\r\n"
           'Content-Disposition: attachment; filename="Café.pdf"\r\n\r\n%PDF\r\n--b--\r\n').encode()
    assert [a.name for a in parse_message(load_message(raw)).attachments] == ["Café.pdf"]


def test_attachment_names_lose_invisible_and_reordering_characters():
    raw = ("From: a@example.org\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           "Content-Type: text/plain\r\n\r\nsee file\r\n--b\r\nContent-Type: application/octet-stream\r\n"
           "Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEgpj.exe\r\n\r\nMZ\r\n--b--\r\n")
    assert [a.name for a in parse_message(load_message(raw.encode())).attachments] == ["invoice gpj.exe"]


def test_a_title_from_the_body_carries_no_terminal_controls():
    assert make_title("", "\x1b]0;pwned\x07\x1b[31mRed \x08\x08title\n") == "]0;pwned [31mRed title"
    # a Subject is cleaned as it is read (header_text): C1 controls, separators, bidi overrides
    assert clean_header_value("Line\u2028break \x9b1m and \u202eevil") == "Line break 1m and evil"


def test_two_long_message_ids_alike_in_their_first_characters_are_two_messages(db, seed, receive, mail):
    first = receive(mail(subject="one", msgid="<" + "a" * 260 + ".1@example.org>"))
    second = receive(mail(subject="two", msgid="<" + "a" * 260 + ".2@example.org>"))
    again = receive(mail(subject="two again", msgid="<" + "a" * 260 + ".2@example.org>"))
    assert (first.status, second.status, again.reason) == ("processed", "processed", "duplicate")
    from mailgate.shared.queries import get_inbound

    with db.read() as s:
        assert len(get_inbound(s, second.id).message_id) == MESSAGE_ID_CHARS


def _side_by_side(n: int, multipart: bool) -> bytes:
    inner = ("Content-Type: multipart/mixed; boundary=u{i}\r\n\r\n--u{i}--\r\n" if multipart
             else "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f{i}\r\n\r\nx\r\n")
    parts = "".join("--b\r\n" + inner.format(i=i) for i in range(n))
    return ("From: a@example.org\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" + parts + "--b--\r\n").encode()


@pytest.mark.parametrize("multipart", [False, True])
def test_parts_beyond_the_part_budget_are_not_read(multipart):
    msg = _quickly(load_message, _side_by_side(150_000, multipart))  # 36 s with unique boundaries
    assert msg["Subject"] == "many" and TOO_DEEP in map(str, msg.defects)


def test_a_few_thousand_parts_are_read_as_usual():
    parsed = parse_message(load_message(_side_by_side(3_000, False)))  # flanker's enclosed-endless has 3,043
    assert parsed.text == "hello" and len(parsed.attachments) == 3_000


@pytest.mark.parametrize("text", [
    "A: 1\r\nB: 2\r\n\r\nbody\r\nmore", "A: 1\nB: 2\nnot a header\nbody\n\nmore", "A: 1\r\n\r\n", "A: 1",
    "\r\nbody", " cont\r\nA: 1\r\n\r\nb", "A: 1\r\n\rbody\r", "A: 1\rB: 2\r\rbody",
])
def test_the_headers_only_reading_splits_where_the_email_package_does(text):
    """Its body is what the robot guard reads of a message too deep to parse (a deep bounce)."""
    import email.parser
    import email.policy

    from mailgate.shared.message import _headers_only

    expected = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    got = _headers_only(text, TOO_DEEP)
    assert (got.items(), got.get_payload()) == (expected.items(), expected.get_payload())
