"""Best text part, HTML conversion, charsets and attachments."""

from __future__ import annotations

from email.message import EmailMessage

from mailgate.shared.message import load_message
from mailgate.shared.parsing import parse_message
from mailgate.shared.parsing.body import unflow
from mailgate.shared.parsing.charsets import decode_bytes
from mailgate.shared.parsing.html import html_to_text


def parse_raw(raw: bytes | str):
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return parse_message(load_message(raw))


def test_plain_is_preferred_over_html() -> None:
    msg = EmailMessage()
    msg["Subject"] = "x"
    msg.set_content("plain words")
    msg.add_alternative("<p>html words</p>", subtype="html")
    parsed = parse_message(load_message(msg.as_bytes()))
    assert parsed.text == "plain words"
    assert parsed.body_type == "text/plain"
    assert parsed.attachments == []


def test_empty_plain_falls_back_to_html() -> None:
    msg = EmailMessage()
    msg.set_content("   \n")
    msg.add_alternative("<p>only here</p>", subtype="html")
    parsed = parse_message(load_message(msg.as_bytes()))
    assert parsed.text == "only here"
    assert parsed.body_type == "text/html"


def test_no_text_part_at_all() -> None:
    msg = EmailMessage()
    msg.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="shot.png")
    parsed = parse_message(load_message(msg.as_bytes()))
    assert parsed.body_type == "none"
    assert parsed.text == ""
    assert [(a.name, a.content_type, a.data) for a in parsed.attachments] == [("shot.png", "image/png", b"\x89PNG...")]


def test_attachments_are_kept_with_name_type_and_bytes() -> None:
    msg = EmailMessage()
    msg.set_content("see attached")
    msg.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf", filename="report.pdf")
    msg.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    parsed = parse_message(load_message(msg.as_bytes()))
    assert parsed.text == "see attached"
    assert [(a.name, a.content_type, a.size) for a in parsed.attachments] == [
        ("report.pdf", "application/pdf", 13), ("data.csv", "text/csv", 8)]


def test_encoded_and_path_file_names_are_cleaned() -> None:
    raw = (
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\n"
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename=\"=?utf-8?q?r=C3=A9sum=C3=A9.txt?=\"\n\nabc\n--b\n"
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename*=utf-8''..%2F..%2Fetc%2Fpasswd\n\nx\n--b--\n"
    )
    names = [a.name for a in parse_raw(raw).attachments]
    assert names == ["résumé.txt", "passwd"]


def test_forwarded_message_is_one_attachment_not_the_body() -> None:
    inner = EmailMessage()
    inner["Subject"] = "Old thread"
    inner.set_content("inner text")
    outer = EmailMessage()
    outer.set_content("FYI")
    outer.add_attachment(inner)
    parsed = parse_message(load_message(outer.as_bytes()))
    assert parsed.text == "FYI"
    assert [(a.name, a.content_type) for a in parsed.attachments] == [("Old thread.eml", "message/rfc822")]
    assert b"inner text" in parsed.attachments[0].data


def test_text_parts_around_an_inline_picture_are_joined() -> None:
    raw = ("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nBefore the picture.\n"
           "--b\nContent-Type: image/jpeg\nContent-Disposition: inline\n\n/9j/\n"
           "--b\nContent-Type: text/plain\n\nAfter the picture.\n--b--\n")
    parsed = parse_raw(raw)
    assert parsed.text == "Before the picture.\n\nAfter the picture."
    assert [a.content_type for a in parsed.attachments] == ["image/jpeg"]


def test_unknown_charset_falls_back_without_losing_text() -> None:
    raw = "Content-Type: text/plain; charset=x-unknown-thing\nContent-Transfer-Encoding: 8bit\n\n".encode() + "café".encode("utf-8")
    parsed = parse_raw(raw)
    assert parsed.text == "café"


def test_wrong_charset_label_falls_back_and_warns() -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\xe9 cr\xe8me"
    parsed = parse_raw(raw)
    assert parsed.text == "café crème"
    assert parsed.warnings and "cp1252" in parsed.warnings[0]


def test_decode_bytes_last_resort_never_fails() -> None:
    text, warning = decode_bytes(bytes(range(256)), "utf-8")
    assert len(text) == 256 and warning


def test_legacy_asian_charsets() -> None:
    raw = b"Content-Type: text/plain; charset=ks_c_5601-1987\nContent-Transfer-Encoding: 8bit\n\n" + "안녕하세요".encode("cp949")
    assert parse_raw(raw).text == "안녕하세요"
    raw = b"Content-Type: text/plain; charset=gb2312\nContent-Transfer-Encoding: 8bit\n\n" + "你好".encode("gb18030")
    assert parse_raw(raw).text == "你好"


def test_broken_multipart_keeps_its_text() -> None:
    raw = "Content-Type: multipart/mixed\n\nno boundary here, still words\n"
    assert parse_raw(raw).text == "no boundary here, still words"


def test_format_flowed_is_unwrapped() -> None:
    assert unflow("This is a long \nline.\n> quoted \n> more\n-- \nsig") == "This is a long line.\n> quoted more\n-- \nsig"
    assert unflow("Delsp sp \nlit", delsp=True) == "Delsp split"
    assert unflow(" >not a quote, stuffed") == ">not a quote, stuffed"


def test_html_gmail_quote_is_removed() -> None:
    html = ('<div dir="ltr">Merged, thanks.<br></div><br><div class="gmail_quote"><div class="gmail_attr">'
            'On Mon, 3 Feb 2025 at 10:12, Bob &lt;b@example.com&gt; wrote:<br></div>'
            '<blockquote class="gmail_quote">Please merge</blockquote></div>')
    text, cuts = html_to_text(html)
    assert text == "Merged, thanks."
    assert [c.rule for c in cuts] == ["html_quote:gmail_quote"]


def test_html_blockquote_is_removed_and_header_trimmed() -> None:
    raw = ("Content-Type: text/html; charset=utf-8\n\n<div>Yes, done.</div><div><br></div>"
           "<div>On 3 Feb 2025, at 10:12, Bob &lt;b@example.com&gt; wrote:</div>"
           "<blockquote type=\"cite\"><div>Is it done?</div></blockquote>")
    parsed = parse_raw(raw)
    assert parsed.text == "Yes, done."
    assert parsed.body_type == "text/html"
    assert "Is it done?" in parsed.quoted
    assert {c.rule for c in parsed.cuts} == {"html_quote:blockquote", "quote_header:en_on_wrote"}


def test_html_outlook_reply_block_and_everything_after() -> None:
    raw = ("Content-Type: text/html; charset=utf-8\n\n<div><p>Approved.</p></div>"
           "<hr style=\"display:inline-block;width:98%\"><div id=\"divRplyFwdMsg\"><b>From:</b> Bob<br>"
           "<b>Sent:</b> Monday</div><div><p>Old request</p></div>")
    parsed = parse_raw(raw)
    assert parsed.text == "Approved."
    assert "Old request" in parsed.quoted


def test_html_desktop_outlook_border_separator() -> None:
    html = ('<div class="WordSection1"><p>See below.</p><div><div style="border:none;border-top:solid #E1E1E1 1.0pt;'
            'padding:3.0pt 0cm 0cm 0cm"><p><b>From:</b> Bob</p></div></div><p>Old text</p></div>')
    text, cuts = html_to_text(html)
    assert text == "See below."
    assert cuts[0].rule == "html_quote:outlook_border"


def test_html_text_layout_scripts_and_links() -> None:
    html = ("<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Title</h1><p>One<br>two</p>"
            "<ul><li>a</li><li>b</li></ul><p>See <a href='https://example.org/x'>the page</a> and "
            "<a href='https://example.org/y'>https://example.org/y</a></p></body></html>")
    text, _ = html_to_text(html)
    assert text == "Title\n\nOne\ntwo\n\n- a\n- b\n\nSee the page <https://example.org/x> and https://example.org/y"


def test_html_signature_goes_to_signature() -> None:
    raw = ("Content-Type: text/html; charset=utf-8\n\n<div>Ok</div><div class=\"gmail_signature\">Bob<br>ACME</div>")
    parsed = parse_raw(raw)
    assert parsed.text == "Ok"
    assert "ACME" in parsed.signature


def test_malformed_html_never_raises() -> None:
    for html in ["<div", "</blockquote></blockquote><p>x", "<div id=divRplyFwdMsg>", "<<<>>>&&&;", "\x00<p>\x00"]:
        html_to_text(html)


def test_html_gmail_forward_with_nothing_above_keeps_the_forwarded_text() -> None:
    raw = ('Content-Type: text/html; charset=utf-8\n\n<div dir="ltr"><br><div class="gmail_quote">'
           '---------- Forwarded message ----------<br>From: <b>Bob</b> &lt;bob@example.com&gt;<br>'
           'Date: Fri, Feb 11, 2010 at 5:59 PM<br>Subject: Printer broken<br>To: Mary &lt;mary@example.com&gt;'
           '<br><br><br><div dir="ltr">The printer on floor 2 is broken.</div></div><br></div>')
    assert parse_raw(raw).text == "The printer on floor 2 is broken."


def test_html_reply_that_is_only_a_quote_is_empty() -> None:
    raw = ("Content-Type: text/html; charset=utf-8\n\n<div>On 3 Feb 2025, at 10:12, Bob &lt;b@example.com&gt; wrote:</div>"
           "<blockquote type=\"cite\"><div>Is it done?</div></blockquote>")
    assert parse_raw(raw).text == ""


def test_html_outlook_mac_and_outlook_web_prefixed_markers() -> None:
    assert html_to_text('<div>Reply</div><span id="OLK_SRC_BODY_SECTION"><b>From:</b> Bob</span><p>old</p>')[0] == "Reply"
    assert html_to_text('<div>Reply</div><div id="x_divRplyFwdMsg">From: Bob</div><div>old</div>')[0] == "Reply"
