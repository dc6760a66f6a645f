"""A reply and the quote header on one line: where the reply ends and the header starts.

"Sounds good. On Tue, 4 Sep 2012 at 13:35, Bob <bob@x> wrote:" happens when
a client joins the reply's last paragraph and the attribution (HTML turned
into text without a break), or when the sender types on the header line.
The per-language header patterns accept any text before their verb, so the
whole line would be taken for the header and the reply lost with it. These
functions find the column where the header really starts; trim.py splits
the line there. Pure string work, no state.
"""

from __future__ import annotations

import re

from . import patterns as P

# How a quote header begins, in the clients we know: the word before the date
# ("On", "Le", "Am", …), a date or weekday, an address, or a name and an address.
_ANCHORED = re.compile(
    r"^(On|At|Le|El|Em|Il|In data|Am|Op|Den|W dniu|Dnia|Dne|Dňa|În|Pe|Quoting|Zitat von|Citando)\s"
    r"|^[\d<(\[]"
    r"|^\w{1,4}\.?,?\s+\d"
    r"|^[^\s.!?。！？]{1,30}(\s[^\s.!?。！？]{1,30}){0,3}\s*[<(\[]\S+@"
)
# The same words inside a line, followed by a date soon after: "… merci Le 5 mars 2024 à …".
_WORD_START = re.compile(
    r"(?<=[\s.!?,;:)。！？])(On|At|Le|El|Em|Il giorno|Il|Am|Op|Den|W dniu|Dne|Dňa)\s(?=.{0,25}\d)"
)
# The end of a sentence: the header may start right after it.
_SENTENCE_END = re.compile(r"[.!?。！？…]+\s*")
# A date abbreviation, not a sentence end: "5 мар.", "5. maalisk.", "2024 г."
_DATE_TAIL = re.compile(r"\d\.?\s+\S{1,12}$")
_WORD = re.compile(r"\w")


def anchored(content: str) -> bool:
    """Does this line begin the way quote headers begin (so nothing before it is prose)?"""
    return _ANCHORED.match(content) is not None


def header_split(content: str, tail: str) -> int | None:
    """The column where a quote header starts inside `content`, after a prose reply; None: no split.

    `tail` is the rest of the header on the following lines (joined), empty
    when it ends on this line. A word that opens headers ("On", "Le", "Am",
    … followed by a date) wins, the leftmost one; else the last sentence end
    after which the rest still reads as a header.
    """
    if anchored(content):
        return None
    for m in _WORD_START.finditer(content):
        if _is_header(content[m.start():], tail) and _WORD.search(content, 0, m.start()):
            return m.start()
    best = None
    for m in _SENTENCE_END.finditer(content):
        start, col = m.start(), m.end()
        if col >= len(content) or start == 0:
            continue
        before, after = content[start - 1], content[col]
        if content[start] == "." and (before.isdigit() or after.isdigit()):
            continue  # "10.12", "5. März"
        if after in ",;:" or _DATE_TAIL.search(content, 0, start):
            continue
        # "fine.On Tue" or "fine. On Tue", never "s.test.i@…" (inside an address or a link)
        if col == m.start() + 1 and content[start] in ".!?" and not after.isupper():
            continue
        if _is_header(content[col:], tail):
            best = col
    return best


def _is_header(candidate: str, tail: str) -> bool:
    text = f"{candidate} {tail}".strip() if tail else candidate
    return P.quote_header(text) is not None


_GLUED_KEY = re.compile(
    r"[.!?。！？]\s*(?=(" + "|".join(re.escape(k) for k in sorted(P.FROM_KEYS, key=len, reverse=True)) + r")\s*[:：])",
    re.IGNORECASE,
)


def glued_split(content: str) -> tuple[int, str] | None:
    """(column, kind) of a separator or header-block key glued to the end of a reply line.

    "Will check tomorrow.-------- Original message --------" (kind
    "separator"), "Approved.From: Bob <bob@x>" (kind "block": a header block
    only if the next lines are its other keys; the caller checks).
    """
    if "--" in content:
        for m in _SENTENCE_END.finditer(content):
            col = m.end()
            if 0 < m.start() and col < len(content) and P.is_separator(content[col:]):
                return col, "separator"
    colon = max(content.find(":"), content.find("："))
    # (a key is a few letters: a sentence end must come shortly before the colon)
    if colon > 0 and any(p in content[max(0, colon - 25):colon] for p in ".!?。！？"):
        m = _GLUED_KEY.search(content)
        if m and m.end() < len(content) and _WORD.search(content, 0, m.start()):
            return m.end(), "block"
    return None
