"""RFC 2047 encoded words in header text, decoded in one linear pass.

`email.header.decode_header` pops from the front of a list per word, deletes
whitespace words one by one and concatenates bytes in a loop: its cost grows
with the square of the number of encoded words, and a header of tens of
thousands of them (well under the size limit) held the pipeline for seconds.
This decoder scans the text once, collects each run of adjacent encoded words
of one charset as a list of byte strings, and joins it once.

It is as lenient as the email package where real mail needs it (an encoded
word inside a word, spaces inside the encoded text, missing base64 padding,
an unknown charset read as UTF-8 or cp1252), and stricter where that package
lost text: a word that does not decode is kept as written instead of making
the whole header undecoded, and the whitespace between an encoded word and
plain text is kept (RFC 2047 section 6.2 drops it only between two encoded
words).
"""

from __future__ import annotations

import binascii
import re
from typing import Callable

# "=?charset?q|b?" on one line; the charset may carry an RFC 2231 language ("utf-8*en").
_WORD_START = re.compile(r"=\?([^?\r\n]*)\?([qQbB])\?")
_LINE_BREAK = re.compile(r"[\r\n]")
_BLANK = re.compile(r"[ \t\r\n]*")

Decoder = Callable[[bytes, "str | None"], str]


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The octets of one encoded word's text, or None when they cannot be read."""
    data = text.encode("utf-8", "surrogateescape")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    data = data.rstrip(b"=")
    data += b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return None


def decode(text: str, to_text: Decoder) -> str:
    """`text` with every readable encoded word replaced by its text; `to_text(octets, charset)` decodes.

    Whitespace between two encoded words is dropped, everything else is kept
    as it stands (the caller unfolds and cleans). Linear in len(text).
    """
    out: list[str] = []
    run: list[bytes] = []  # octets of adjacent encoded words in run_charset
    run_charset: str | None = None
    pos = 0  # text before pos is in out or run
    search_from = 0
    next_end = -1  # the first "?=" at or after the last place looked: one scan of the text in all

    def flush() -> None:
        nonlocal run, run_charset
        if run:
            out.append(to_text(b"".join(run), run_charset))
            run, run_charset = [], None

    while True:
        start = _WORD_START.search(text, search_from)
        if start is None:
            break
        if next_end < start.end():
            next_end = text.find("?=", start.end())
            if next_end < 0:
                break
        end = next_end
        brk = _LINE_BREAK.search(text, start.end(), end)
        if brk is not None:
            # No end on this line, so no word that starts on it can end either: go on at the next line.
            search_from = brk.end()
            continue
        octets = _word_bytes(start.group(2), text[start.end():end])
        if octets is None:
            search_from = end + 2  # kept as written
            continue
        charset = start.group(1).split("*", 1)[0].strip().lower() or None
        gap = text[pos:start.start()]
        if not (run and _BLANK.fullmatch(gap)):
            flush()
            out.append(gap)
        elif charset != run_charset:
            flush()
        run.append(octets)
        run_charset = charset
        pos = search_from = end + 2
    flush()
    out.append(text[pos:])
    return "".join(out)
