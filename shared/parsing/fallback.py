"""No reply is reduced to nothing: when trimming leaves no text, keep the sender's own words.

Trimming rules are guesses about what is history. When they leave nothing
of a reply whose own part had words (above the first line that opens
history for sure: a separator, a header block, a reply marker, a quote
header that starts the way headers start), the guess was wrong somewhere:
the untrimmed text is kept, minus only a trailing quote (`>` lines, and the
header line that opens them), which is history for sure. A message with no
words of its own (only a quote under a header, only a signature) stays
empty, and the pipeline rejects it as `empty`.
"""

from __future__ import annotations

import re

from . import patterns as P
from . import shared_line
from .models import Cut
from .trim import Line, _classify, _split

_WORD = re.compile(r"\w")
# Rules after which a line is history for sure (its words are not the sender's).
_SURE_HISTORY = ("separator", "header_block", "marker")


def keep_own_words(text: str, cuts: list[Cut]) -> tuple[str, str, str] | None:
    """(text to keep, rule whose cut removed the words, trailing quote left out), or None: no own words."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _split(text)
    _classify(lines)
    own = _own_word_lines(lines)
    if not own:
        return None
    end = _trailing_quote_start(lines)
    kept = "\n".join(ln.raw for ln in lines[:end]).strip("\n").rstrip()
    if not _WORD.search(kept):
        return None
    quote = "\n".join(ln.raw for ln in lines[end:]).strip("\n")
    first = own[0].raw.strip()
    rule = next((c.rule for c in cuts if first and first in c.text), cuts[0].rule if cuts else "trim")
    return kept, rule, quote


def _own_word_lines(lines: list[Line]) -> list[Line]:
    """The sender's lines with words: above sure history, not quoted, not a client or dash signature."""
    own = []
    for ln in lines:
        if ln.kind in ("b", "h") and (ln.rule.startswith(_SURE_HISTORY) or shared_line.anchored(ln.content)):
            break
        if ln.kind == "d":
            break  # a signature separator: what follows is the signature
        if ln.depth or ln.kind in ("e", "s", "q") or P.device_line(ln.content):
            continue
        if _WORD.search(ln.content):
            own.append(ln)
    return own


def _trailing_quote_start(lines: list[Line]) -> int:
    """Index where the trailing block of quoted lines starts (with the header line opening it)."""
    end = len(lines)
    while end > 0 and (lines[end - 1].depth or lines[end - 1].kind == "e"):
        end -= 1
    if end == len(lines) or not any(ln.depth for ln in lines[end:]):
        return len(lines)
    if end > 0 and lines[end - 1].kind == "b" and shared_line.anchored(lines[end - 1].content):
        end -= 1
    return end
