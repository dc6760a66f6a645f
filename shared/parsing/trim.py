"""Reply trimming: keep what the sender wrote now, cut what they quoted.

The text is cut into lines and each line gets a kind:

    e  empty                      t  text (the default)
    q  quoted (`>`, `Name>`)      b  quote header ("On … wrote:", "Le … a écrit :",
    h  header-block line              an Outlook "From:/Sent:/To:" block's first
    d  delimiter (`-- `, `____`)      line, "-----Original Message-----")
    s  client signature ("Sent from my iPhone", "Get Outlook for iOS")

Then a few rules run on the sequence of kinds, in this order (each removal is
recorded as a Cut with the rule of the line that caused it):

1. Everything from the first delimiter on is a signature or footer
   (`-- ` is the standard signature separator; underscore and dash rules
   introduce mailing-list footers and Outlook history — but a rule followed
   by more than 12 text lines and no history is a section break, kept).
2. Everything from the first client signature on: the device line closes the
   new text, what follows it is the quoted history some clients append
   without any marker.
3. No text at all: a quote under a header is history (empty result); a bare
   quote with no header is kept (someone forwarding a quote on purpose).
4. Bottom-posting: a header at the very top followed only by quotes, and new
   text after them → keep the text after.
5. A header after the new text whose history is not quoted (Gmail without
   `>`, Outlook blocks), or is quoted and followed by at most a few stray
   lines → cut from the header.
6. Quotes after the last text line are history → cut.
7. Remaining headers sit between quotes the sender answers inline: the
   header line goes, the quoted lines answered and the answers stay.

The ideas are the ones every trimmer converges on (discourse's
email_reply_trimmer, talon, github's email_reply_parser); this is an
independent implementation with its own vocabulary (patterns.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import markers as M
from . import patterns as P
from . import shared_line
from .models import Cut

# A quote marker: ">" possibly preceded by a short attribution ("Richard>",
# Supercite's "C>"), repeated for nesting.
_QUOTE_PREFIX = re.compile(r"^[ \t]*((?:>|[A-Za-z]{1,10}>(?=[ \t>]|$))[ \t]?)+")
_RULE_LINE = re.compile(r"^[ \t]*([-_=*~+])\1+[ \t]*$")
_SIG_DASHES = re.compile(r"^[ \t]*--[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
# Invisible characters some clients leave on their own line: Gmail's "ᐧ"
# tracking marker, zero-width spaces, BOM.
_INVISIBLE = re.compile(r"^[\s\u1427\u200b\u200c\u200d\u2060\ufeff]*$")
_INVISIBLE_CHARS = "\u1427\u200b\u200c\u200d\u2060\ufeff"

# How many stray text lines after a quoted history still count as "part of
# the history" (a footer, a quoted sig that lost its ">"), rather than an
# inline answer to it. Seven, as in discourse's trimmer: fewer than that is
# almost never a real answer below a full quote.
_INLINE_ANSWER_MIN_LINES = 7
_MAX_HEADER_LINES = 6
# Hostile or huge bodies: quote headers are looked for in the first lines
# only (a real reply's header is never this far down), so the work per
# message stays bounded.
_MAX_SCAN_LINES = 5000


@dataclass(slots=True)
class Line:
    raw: str
    depth: int
    content: str
    kind: str = "t"
    rule: str = ""
    in_code: bool = False
    # Set by _split, read by _header_at's cheap filter: can this line end a
    # quote header, and the index of the next line (this one or later) that can.
    header_end: bool = False
    next_header_end: int = 0


@dataclass
class TrimResult:
    text: str
    quoted: str
    signature: str
    cuts: list[Cut]
    forwarded_subject: str | None = None  # for_create: the Subject line of the forward kept


def _split(text: str) -> list[Line]:
    """The text's lines; its line ends are "\n" already (trim_reply makes them so)."""
    out: list[Line] = []
    append = out.append
    in_code = False
    # Cheap filters before the regexes, each a condition the regex needs: a
    # fence needs its backticks or tildes, a quote marker a ">", and an
    # invisible line has no character other than whitespace and the few
    # invisible ones.
    fences = "```" in text or "~~~" in text
    for raw in text.split("\n"):
        raw = raw.rstrip()
        if fences and _FENCE.match(raw):
            in_code = not in_code
            append(Line(raw, 0, raw.strip(), "t", "", True))
            continue
        lead = raw.lstrip()
        if not lead or (lead[0] in _INVISIBLE_CHARS and _INVISIBLE.match(raw)):
            append(Line("", 0, "", "e", "", in_code))
            continue
        match = _QUOTE_PREFIX.match(raw) if not in_code and ">" in raw else None
        if match:
            end = match.end()
            depth = raw.count(">", 0, end)
            content = raw[end:].strip()
        else:
            depth, content = 0, lead
        # (header_end: the test _header_at's filter makes, only where the
        # last character allows it)
        append(Line(raw, depth, content, "q" if depth else "t", "", in_code,
                    content[-1:] in _HEADER_LAST and content.rstrip(_HEADER_TAIL).endswith(_HEADER_ENDINGS)))
    _link_header_ends(out)
    return out


def _link_header_ends(lines: list[Line]) -> None:
    """Set each line's next_header_end: the index of the next line (itself or later) that can end a header."""
    following = len(lines)
    for x in range(len(lines) - 1, -1, -1):
        if lines[x].header_end:
            following = x
        lines[x].next_header_end = following


def _ends_header(content: str) -> bool:
    return content[-1:] in _HEADER_LAST and content.rstrip(_HEADER_TAIL).endswith(_HEADER_ENDINGS)


def _joined(lines: list[Line], start: int, end: int) -> str:
    """Lines start..end-1 as one header candidate (quote markers removed)."""
    depth = lines[start].depth
    parts = []
    for ln in lines[start:end]:
        if depth == 0 and ln.depth and ln is not lines[start]:
            # "> wrote:" continuation of a mangled wrap: keep the raw text
            parts.append(ln.raw.strip())
        else:
            parts.append(ln.content)
    return _SPACES.sub(" ", " ".join(p for p in parts if p)).strip()


_SPACES = re.compile(r"\s+")


_HEADER_ENDINGS = (":", "：", "wrote", "writes", "said", ">")
_HEADER_TAIL = " \t*-=~_"
_HEADER_LAST = frozenset(_HEADER_TAIL + ":：esd>")  # last characters of _HEADER_ENDINGS, or stripped
_ISO_START = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}\b")


def _header_at(lines: list[Line], i: int) -> tuple[int, str] | None:
    """(number of lines, rule) if a quote header starts at line i."""
    first = lines[i]
    if first.kind == "e" or first.in_code or not first.content:
        return None
    iso_start = first.content[0].isdecimal() and _ISO_START.match(first.content) is not None
    if not iso_start and first.next_header_end >= i + _MAX_HEADER_LINES:
        return None  # no line of the window passes the filter below
    nonempty = 0
    n = len(lines)
    gap = False  # an empty line between line i and line j
    for k in range(1, _MAX_HEADER_LINES + 1):
        j = i + k - 1
        if j >= n:
            break
        ln = lines[j]
        if ln.in_code:
            break
        if ln.kind == "e" or not ln.content:
            if ln.kind == "e":
                gap = True
            if first.depth == 0 and ln.depth == 0 and ln.kind == "e":
                continue  # allowed inside wrapped "On … wrote:" only (checked below)
            if ln.depth != first.depth:
                break
            continue
        if ln.depth != first.depth and not (first.depth == 0 and k > 1):
            break
        nonempty += 1
        if nonempty > 4:
            break
        # Cheap filter before the regexes: a header ends with a colon, a verb
        # ("… wrote"), an address ("<bob@x>"), or starts with an ISO date.
        if not (ln.header_end or iso_start):
            continue
        candidate = _joined(lines, i, j + 1)
        if gap and not P.may_start_on_wrote(candidate):
            # Across an empty line only "On … wrote:" counts, and every
            # longer candidate of this window starts as this one does.
            return None
        rule = P.quote_header(candidate)
        if rule:
            if gap and not rule.endswith("en_on_wrote"):
                return None
            return k, rule
    return None


def _classify(lines: list[Line]) -> bool:
    """Give every line its kind; True if a rule line's verdict counted the lines to the end."""
    _mark_quote_headers(lines)
    _mark_header_blocks(lines)
    _nested_headers_are_quote(lines)
    end, counted = _mark_delimiters(lines)
    # Lines before the first delimiter only look at their neighbours, and the
    # delimiter itself is never a quote: the lines after it need no look.
    _quote_continuations(lines, end)
    return counted


def _mark_quote_headers(lines: list[Line]) -> None:
    """Quote headers (possibly wrapped over several lines) and separators."""
    i = 0
    prev_depth = 0
    scan = min(len(lines), _MAX_SCAN_LINES)
    while i < scan:
        ln = lines[i]
        if ln.kind == "e" or ln.in_code:
            i += 1
            continue
        # Inside a quote block only its first line can be the header that
        # opens it; nested history is quote either way (and skipping it
        # keeps long quotes cheap).
        if ln.depth and prev_depth:
            i += 1
            continue
        prev_depth = ln.depth
        if P.is_separator(ln.content):
            ln.kind, ln.rule = "b", "separator:" + _slug(P.strip_decoration(ln.content))
            i += 1
            continue
        if not ln.depth and ("--" in ln.content or ":" in ln.content or "：" in ln.content) \
                and _split_glued(lines, i):
            i += 1  # the reply stays on line i; the separator or block starts the next line
            scan = min(len(lines), _MAX_SCAN_LINES)
            continue
        found = _header_at(lines, i)
        if not found and P.named_wrote_separator(ln.content):
            ln.kind, ln.rule = "b", "separator:name_wrote"
        if found:
            k, rule = found
            # Prefer a header starting on a later line if it ends inside this
            # window: the first line was prose just before it.
            if k > 1 and _header_starts_later(lines, i, k):
                i += 1
                continue
            # A header starting inside this line, after the reply: the reply stays
            # on line i, the header is looked at again on the next line.
            if not ln.depth and _split_shared_line(lines, i, k):
                i += 1
                scan = min(len(lines), _MAX_SCAN_LINES)
                continue
            i += _mark_header(lines, i, k, rule)
            continue
        i += 1


def _mark_header(lines: list[Line], i: int, k: int, rule: str) -> int:
    """Mark the quote header matched on lines i..i+k-1, and its wrapped continuation; its length in lines."""
    # A header matched on its first line may still continue on the
    # next one ("… GMT+02:00 Foo bar <" / "info@foo.bar>:").
    depth = lines[i].depth
    while i + k < len(lines) and lines[i + k].depth == depth and lines[i + k].kind != "e" \
            and _continuation(lines[i + k].content) and len(lines[i + k].content) <= 100 \
            and P.quote_header(_joined(lines, i, i + k + 1)):
        k += 1
    for x in range(i, i + k):
        lines[x].kind, lines[x].rule = "b", rule
    return k


def _nested_headers_are_quote(lines: list[Line]) -> None:
    """A quoted header inside a quote block is part of that quote (nested history).

    Only the header that opens a quote block is a header. (Each line's
    verdict depends on the nearest non-empty line above it only.)
    """
    for x, ln in enumerate(lines):
        if ln.kind == "b" and ln.depth > 0:
            above = _previous_nonempty(lines, x)
            if above is not None and lines[above].depth > 0:
                ln.kind = "q"


def _mark_delimiters(lines: list[Line]) -> tuple[int, bool]:
    """Delimiters and client signatures: (the first delimiter's line or len(lines), whether lines were counted).

    At top level only, and never the first line (a message cannot start
    with its own signature).
    """
    n = len(lines)
    # For each line: how many text lines follow it, and does history follow?
    # (Computed when a rule line first needs it: only the entries after that
    # line are read, and the loop below has not changed those yet.)
    text_after: list[int] = []
    history_after: list[bool] = []
    counted = False
    seen_text = False
    end = n  # the first delimiter: trim_reply cuts everything from it on
    for x, ln in enumerate(lines):
        if ln.kind == "t" and not ln.in_code and ln.depth == 0 and seen_text:
            if _SIG_DASHES.match(ln.raw):
                ln.kind, ln.rule = "d", "signature:dash_dash"
            elif _RULE_LINE.match(ln.raw):
                if not text_after:
                    text_after, history_after = _suffix_counts(lines)
                    counted = True
                if history_after[x] or text_after[x] <= _MAX_FOOTER_LINES:
                    ln.kind, ln.rule = "d", "delimiter:" + _rule_name(ln.raw)
            if ln.kind == "d":
                end = x
                break  # what follows is cut with it: its kinds do not matter
            if P.mobile_signature(ln.content):
                ln.kind, ln.rule = "s", "signature:client"
        if ln.kind in ("t", "q", "b"):
            seen_text = True
    return end, counted


def _split_line(lines: list[Line], i: int, col: int) -> None:
    """Make line i two lines at column `col` of its content (the reply, then what follows it)."""
    ln = lines[i]
    left, right = ln.content[:col].rstrip(), ln.content[col:].strip()
    indent = ln.raw[: len(ln.raw) - len(ln.raw.lstrip())]
    lines[i] = Line(indent + left, 0, left, "t", "", ln.in_code, _ends_header(left))
    lines.insert(i + 1, Line(right, 0, right, "t", "", ln.in_code, _ends_header(right)))
    _link_header_ends(lines)


def _split_shared_line(lines: list[Line], i: int, k: int) -> bool:
    """A header found at line i that starts after a reply on the same line: split it off (True)."""
    ln = lines[i]
    tail = _joined(lines, i + 1, i + k) if k > 1 else ""
    col = shared_line.header_split(ln.content, tail)
    if col is None:
        return False
    _split_line(lines, i, col)
    return True


def _split_glued(lines: list[Line], i: int) -> bool:
    """A separator or a header block's From glued to the end of a reply line: split it off (True)."""
    ln = lines[i]
    if ln.kind != "t" or len(ln.content) < 4:
        return False
    found = shared_line.glued_split(ln.content)
    if found is None:
        return False
    col, kind = found
    if kind == "block":
        following = next((x for x in range(i + 1, min(i + 3, len(lines))) if lines[x].kind != "e"), None)
        if following is None or lines[following].depth or not P.is_header_line(lines[following].content):
            return False
    _split_line(lines, i, col)
    return True


def _suffix_counts(lines: list[Line]) -> tuple[list[int], list[bool]]:
    """For each line: how many text lines follow it, and whether a header does."""
    n = len(lines)
    text_after = [0] * (n + 1)
    history_after = [False] * (n + 1)
    for x in range(n - 1, -1, -1):
        text_after[x] = text_after[x + 1] + (lines[x + 1].kind == "t" if x + 1 < n else 0)
        history_after[x] = history_after[x + 1] or (x + 1 < n and lines[x + 1].kind in ("b", "h"))
    return text_after, history_after


def _header_starts_later(lines: list[Line], i: int, k: int) -> bool:
    """Within the window i..i+k-1, does a header start on a later line?

    Then line i is prose just above the header, not its first line — unless
    that later line is only the wrapped tail of the header ("<bob@x> wrote:").
    """
    for j in range(i + 1, i + k):
        if lines[j].kind == "e" or _continuation(lines[j].content):
            continue
        later = _header_at(lines, j)
        if later and j + later[0] <= i + k:
            return True
    return False


_ADDRESS_START = re.compile(r"^[\w.+'-]+@")


def _continuation(content: str) -> bool:
    """Does this line look like the wrapped end of a header, not its start?

    "info@foo.bar> wrote:", "<bob@x.org>", "a écrit :", "(bob@x.org) escreveu:".
    """
    return bool(content) and (content[0] in "<([>\"" or content[0].islower() or bool(_ADDRESS_START.match(content)))


# A rule line ("-----", "_____", "=====") introduces a footer (mailing-list
# boilerplate, a signature, a disclaimer) when little follows it; a rule with
# a long text after it is the sender's own section break (Markdown "---"),
# and cutting there would drop what they wrote.
_MAX_FOOTER_LINES = 12


def _rule_name(raw: str) -> str:
    char = raw.strip()[:1]
    return {"-": "dashes", "_": "underscores", "=": "equals", "*": "stars", "~": "tildes", "+": "pluses"}.get(char, "rule")


def _slug(text: str) -> str:
    return re.sub(r"\W+", "_", text.lower()).strip("_")[:40] or "separator"


def _mark_header_blocks(lines: list[Line]) -> None:
    """Find Outlook-style "From:/Sent:/To:/Subject:" blocks.

    A block is at least three "Key: value" lines (two after a separator
    line), one of them a From-equivalent within the first two; one wrapped
    continuation line is allowed between keys (a long From value). The rule
    line or separator just above it belongs to it.
    """
    # A block starts on a "Key:" line: only lines with a colon are tried.
    starts = [x for x, ln in enumerate(lines) if ":" in ln.content or "：" in ln.content]
    resume = 0  # the line after the last block found
    for i in starts:
        if i < resume:
            continue
        ln = lines[i]
        if ln.kind not in ("t", "q") or not P.is_header_line(ln.content):
            continue
        depth = ln.depth
        members, keys = _block_members(lines, i)
        # The From-equivalent opens most blocks; GMX, mutt and Thunderbird put
        # Sent/Date/Subject first, so in a block of three keys or more it may be
        # any of the first four.
        from_near_top = any(P.is_from_header_line(lines[m].content) for m in members[:2 if keys < 3 else 4])
        above = _previous_nonempty(lines, i)
        after_separator = above is not None and (
            lines[above].kind == "b" and lines[above].rule.startswith("separator")
            or _RULE_LINE.match(lines[above].raw) is not None
        )
        if from_near_top and (keys >= 3 or (keys >= 2 and after_separator)):
            start = i
            if above is not None and lines[above].kind == "t" and _RULE_LINE.match(lines[above].raw) and lines[above].depth == depth:
                start = above
            elif above is not None and lines[above].kind == "b" and lines[above].rule.startswith("separator"):
                start = above
            separator = lines[start].rule if lines[start].rule.startswith("separator") else ""
            for x in range(start, members[-1] + 1):
                if lines[x].kind == "e":
                    continue
                lines[x].kind = "h"
                lines[x].rule = "header_block:from_sent_to"
            lines[start].kind = "b"
            lines[start].rule = separator or "header_block:from_sent_to"  # the separator keeps its name
            resume = members[-1] + 1


def _block_members(lines: list[Line], i: int) -> tuple[list[int], int]:
    """The lines of the "Key: value" block starting on line i, and how many of them are keys."""
    n = len(lines)
    depth = lines[i].depth
    members = [i]
    keys = 1
    j = i + 1
    while j < n:
        cur = lines[j]
        if cur.depth != depth or cur.kind == "e" or cur.in_code:
            break
        if P.is_header_line(cur.content):
            members.append(j)
            keys += 1
            j += 1
            continue
        # one continuation line, only if a header line follows
        if j + 1 < n and lines[j + 1].depth == depth and P.is_header_line(lines[j + 1].content):
            members.append(j)
            j += 1
            continue
        break
    return members, keys


def _previous_nonempty(lines: list[Line], i: int) -> int | None:
    j = i - 1
    while j >= 0 and lines[j].kind == "e":
        j -= 1
    return j if j >= 0 else None


_LINK_START = re.compile(r"^[(<\[]?https?://", re.I)
_LINK_END = re.compile(r"https?://\S+$", re.I)


def _quote_continuations(lines: list[Line], end: int) -> None:
    """A text line wedged between two quoted lines is usually a quoted line
    that the sender's client re-wrapped without adding ">" (it starts in
    lowercase, or the quoted line above stops mid-sentence). Lines from `end`
    on are not looked at."""
    for x in range(1, min(len(lines) - 1, end)):
        ln = lines[x]
        if ln.kind != "t" or ln.in_code:
            continue
        above, below = lines[x - 1], lines[x + 1]
        if above.kind != "q" or below.kind != "q":
            continue
        link_tail = bool(_LINK_START.match(ln.content))
        # Only a long quoted line gets re-wrapped; a short answer between
        # short questions ("> Fixed?" / "yes" / "> And the other?") is an
        # inline reply and must stay.
        if len(above.raw) < 60 and not link_tail:
            continue
        mid_sentence = not above.raw.rstrip().endswith((".", "?", "!", ":"))
        if mid_sentence and _LINK_END.search(above.raw) and " " in ln.content and not ln.content[:1].islower():
            mid_sentence = False  # a link is cut without spaces: a sentence below it is an answer
        if ln.content[:1].islower() or mid_sentence or link_tail:
            ln.kind, ln.rule = "q", "quote:rewrapped_line"


class _Cutter:
    """Removes line ranges and records why."""

    def __init__(self, lines: list[Line]):
        self.lines = lines
        self.cuts: list[Cut] = []
        self.quoted: list[str] = []
        self.signature: list[str] = []

    def kinds(self) -> str:
        return "".join(ln.kind for ln in self.lines)

    def cut(self, start: int, end: int, rule: str, kind: str = "quote") -> None:
        removed = self.lines[start:end]
        if not removed:
            return
        text = "\n".join(ln.raw for ln in removed).strip("\n")
        del self.lines[start:end]
        if not text.strip():
            return
        self.cuts.append(Cut(rule, text))
        (self.signature if kind == "signature" else self.quoted).append(text)


def _first_dash_dash_line(text: str) -> tuple[int, int] | None:
    """Start and end of the first line that is "--" between spaces or tabs (the signature separator).

    What re.search(r"^[ \t]*--[ \t]*$", text, re.M) finds, at the cost of a
    str.find per "--" in the text instead of a regex step per character.
    """
    start = 0
    while True:
        i = text.find("--", start)
        if i < 0:
            return None
        begin = text.rfind("\n", 0, i) + 1
        end = text.find("\n", i)
        if end < 0:
            end = len(text)
        if text[begin:end].strip(" \t") == "--":
            return begin, end
        start = end


# How far below the "--" line the kinds of the lines down to it can depend
# on other lines: a quote-header window holding it ends within
# _MAX_HEADER_LINES - 1 lines (and _header_starts_later only counts headers
# ending in that window); a header block holding it as its one continuation
# line needs the "Key:" lines right below. One line more, to spare.
_LOOKAHEAD = _MAX_HEADER_LINES


def _lines_up_to_signature(text: str) -> list[Line] | None:
    """The classified lines when the first delimiter is a "--" line; None: classify the whole text.

    Why: rule 1 cuts everything from the first delimiter on, and a typical
    reply puts its signature above the quoted history, so most of its lines
    would be split and classified only to be cut. The kinds of the lines
    down to the "--" line depend on at most _LOOKAHEAD lines below it, with
    two exceptions: the counts to the end that a rule line ("-----") needs,
    and a header block that the "--" line (a rule line too) would open below
    empty lines. So the lines down to it and _LOOKAHEAD more are classified,
    and the result is kept only when the "--" line became the first
    delimiter without those counts, and any block below it is in view. The
    rest of the text then goes into one line of its own: it is only ever
    cut, with the delimiter, as the signature (its lines kept as _split
    keeps them).
    """
    found = _first_dash_dash_line(text)
    if found is None:
        return None
    at = text.count("\n", 0, found[0])  # the "--" line's index
    stop = found[1]
    for _ in range(_LOOKAHEAD):
        stop = text.find("\n", stop + 1)
        if stop < 0:
            return None  # the text ends within the look-ahead: nothing to save
    lines = _split(text[:stop])
    # "--" is also a rule line: the one above a header block that starts at the next non-empty line,
    # however many empty lines down (_mark_header_blocks; after a rule two keys make a block, so the
    # block's first three lines must be in view).
    below = next((x for x in range(at + 1, len(lines)) if lines[x].kind != "e"), len(lines))
    if below + 2 >= len(lines):
        return None
    if _classify(lines) or next((x for x, ln in enumerate(lines) if ln.kind == "d"), None) != at:
        return None
    rest = "\n".join(_kept_raw(line.rstrip()) for line in text[stop + 1:].split("\n"))
    lines.append(Line(rest, 0, "", "t"))
    return lines


def _kept_raw(raw: str) -> str:
    """What _split keeps of an (rstripped) line: nothing of a line of only spaces and invisible characters.

    (The same test _split makes inline, on its hot path; test_trim_early_cut holds the two together.)
    """
    lead = raw.lstrip()
    return "" if not lead or (lead[0] in _INVISIBLE_CHARS and _INVISIBLE.match(raw)) else raw


# The rules below, as patterns over the string of line kinds.
_TOP_HEADER = re.compile(r"^e*b[bqhe]*?(?=t)")
_ONLY_TEXT = re.compile(r"[te]*")
_HEADER_AFTER_TEXT = re.compile(r"te*(b)")
_HISTORY_THEN_TEXT = re.compile(r"[eqbh]*([te]*)")
_HISTORY = re.compile(r"[qbh]")
_ONLY_QUOTE = re.compile(r"e*q[qe]*")


def trim_reply(text: str, *, for_create: bool = False) -> TrimResult:
    """Split `text` into the new text and what was quoted or signed.

    `for_create`: the mail went to a create address, where a forwarded
    message below the sender's note is the content (kept with its headers),
    and so is a quote that no header introduces.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # (a forward may sit below the sender's signature: mail to a create address is classified whole)
    lines = None if for_create else _lines_up_to_signature(text)
    if lines is None:
        lines = _split(text)
        _classify(lines)
    if for_create:
        start = _forward_start(lines)
        if start is not None:
            return _keep_forward(lines, start)
    c = _Cutter(lines)
    _cut_at_marker(c, text)
    # 1-2. delimiters and client signatures: everything after them goes.
    for kind in ("d", "s"):
        idx = c.kinds().find(kind)
        if idx >= 0:
            rule = c.lines[idx].rule
            c.cut(idx, len(c.lines), rule, "signature" if rule.startswith("signature") else "quote")
    if "t" not in c.kinds():
        _no_text(c)
    else:
        _bottom_posting(c)
        _header_after_text(c)
        _trailing_history(c, keep_bare_quotes=for_create)
        _inline_headers(c)
    return _result(c)


def _marker_line(lines: list[Line], end: int) -> int | None:
    """The first marker line above `end`.

    A framed `##- … -##` line counts anywhere (HTML turned into text may glue
    it to the line above). Another tracker's phrase is the first line of the
    quoted message, so for those only lines that can start one are looked
    at: the first of a paragraph or of a quote block, and the lines right
    after a header.
    """
    prev = None
    for x in range(min(end, _MAX_SCAN_LINES)):
        ln = lines[x]
        if ln.kind == "e" or not ln.content:
            prev = ln
            continue
        starts = ln.content[:2] == "##" or prev is None or prev.kind in ("e", "b", "h") \
            or prev.depth != ln.depth or not prev.content or M.is_decoration(prev.content)
        if starts and len(ln.content) <= 160 and M.reply_marker(ln.content):
            return x
        prev = ln
    return None


def _cut_at_marker(c: _Cutter, text: str) -> None:
    """0. A reply-above-this-line marker: the notification starts there (markers.py).

    Not when the marker is quoted and the sender answered below the quote
    (inline or bottom-posted): then the usual rules decide.
    """
    lines = c.lines
    # (from the first delimiter on, everything is cut as the signature anyway)
    end = next((x for x, ln in enumerate(lines) if ln.kind == "d"), len(lines))
    at = _marker_line(lines, end)
    if at is None:
        return
    if lines[at].depth and any(ln.depth == 0 and ln.kind == "t" for ln in lines[at + 1:end]):
        c.cut(at, at + 1, M.reply_marker(lines[at].content) or "marker:reply_above")  # only the marker line
        return
    start = at
    while start > 0 and (lines[start - 1].kind == "e" or M.is_decoration(lines[start - 1].content)):
        start -= 1
        if lines[start].kind != "e":
            break  # one rule line right above the marker belongs to it
    c.cut(start, len(lines), M.reply_marker(lines[at].content) or "marker:reply_above")
    # The quoted message starts at the marker, so the lines right above it are the
    # client's attribution ("Le 5 mars, Bob <b@x> a écrit :"), known to the patterns or not.
    top = start
    while top > 0 and lines[top - 1].kind != "e" and start - top < 8:
        top -= 1
    if top < start and (top == 0 or lines[top - 1].kind == "e") and any(ln.kind in "tq" for ln in lines[:top]) \
            and _attribution(lines[top:start]):
        c.cut(top, start, "marker:attribution")


def _attribution(para: list[Line]) -> bool:
    """Lines right above a marker that are the client's attribution: a header block, or a short dated line."""
    contents = [ln.content for ln in para]
    if all(P.is_header_line(t) or P.is_separator(t) for t in contents):
        return any(P.is_from_header_line(t) for t in contents)
    return len(para) <= 3 and M.is_attribution(" ".join(contents))


def _no_text(c: _Cutter) -> None:
    """3. No text at all: a quote under a header is history (empty); a bare quote stays.

    A forward with nothing written above it is the content, even quoted
    (Apple Mail quotes what it forwards): its headers go, its text stays.
    """
    if _forwarded_text_only(c):
        return
    # a header anywhere, even nested inside the quote, makes it history
    header = next((ln.rule for ln in c.lines if ln.kind in ("b", "h")
                   or ln.rule.startswith(("quote_header", "header_block", "separator"))), None)
    if header is None:  # nested headers were not classified (see _classify)
        header = next((rule for ln in c.lines[:500] if ln.kind == "q"
                       for rule in [P.quote_header(ln.content)] if rule), None)
    if header:
        c.cut(0, len(c.lines), header)


def _forwarded_text_only(c: _Cutter) -> bool:
    """The message is only a forward: cut its separator and headers, keep its text (True)."""
    lines = c.lines
    first = next((x for x, ln in enumerate(lines) if ln.kind != "e"), None)
    if first is None or lines[first].kind != "b" or not lines[first].rule.startswith("separator") \
            or not any(w in lines[first].content.lower() for w in P.FORWARD_WORDS):
        return False
    end = first + 1
    while end < len(lines) and (lines[end].kind in ("b", "h") or not lines[end].content):
        end += 1
    if end >= len(lines):
        return False
    c.cut(0, end, lines[first].rule)
    return True


def _bottom_posting(c: _Cutter) -> None:
    """4. Bottom-posting under a header at the very top: the text below is the reply."""
    kinds = c.kinds()
    match = _TOP_HEADER.match(kinds)
    if match and _ONLY_TEXT.fullmatch(kinds, match.end()):
        c.cut(0, match.end(), c.lines[kinds.find("b")].rule)


def _header_after_text(c: _Cutter) -> None:
    """5. A header after the new text, with unquoted history or a full quote below it."""
    kinds = c.kinds()
    for m in _HEADER_AFTER_TEXT.finditer(kinds):
        i = m.start(1)
        after = kinds[i + 1:]
        if "q" not in after:
            c.cut(i, len(c.lines), c.lines[i].rule)
            return
        tail = _HISTORY_THEN_TEXT.fullmatch(after)
        if tail and tail.group(1).count("t") < _INLINE_ANSWER_MIN_LINES:
            c.cut(i, len(c.lines), c.lines[i].rule)
            return


def _trailing_history(c: _Cutter, keep_bare_quotes: bool) -> None:
    """6. Quoted history after the last text line (with `keep_bare_quotes`, only history a header opens)."""
    kinds = c.kinds()
    last_t = kinds.rfind("t")
    if last_t < 0 or not _HISTORY.search(kinds, last_t + 1):
        return
    if keep_bare_quotes and not any(k in "bh" for k in kinds[last_t + 1:]):
        return
    rule = next((ln.rule for ln in c.lines[last_t + 1:] if ln.kind == "b"), "quote:trailing")
    start = last_t + 1
    # A header without a date ("On Mon, Alice wrote:") right above the quote
    # it introduces belongs to that quote.
    undated = P.undated_quote_header(c.lines[last_t].content) if _ONLY_QUOTE.fullmatch(kinds, start) else None
    if undated and last_t > 0:
        start, rule = last_t, undated
    c.cut(start, len(c.lines), rule)


def _inline_headers(c: _Cutter) -> None:
    """7. Headers left between inline answers go; the answered quotes stay."""
    x = 0
    while x < len(c.lines):
        if c.lines[x].kind == "b":
            end = x + 1
            while end < len(c.lines) and c.lines[end].kind in ("b", "h") and c.lines[end].rule == c.lines[x].rule:
                end += 1
            c.cut(x, end, c.lines[x].rule)
            continue
        x += 1


def _forward_start(lines: list[Line]) -> int | None:
    """Where a forwarded message starts: a separator or a header block (not an "On … wrote:" quote)."""
    for x, ln in enumerate(lines):
        if ln.kind == "b" and (ln.rule.startswith("header_block") or
                               (ln.rule.startswith("separator") and ln.rule != "separator:name_wrote")):
            return x
    return None


_SUBJECT_LINE = re.compile(
    r"^\s*\*{0,2}\s*(subject|betreff|objet|sujet|asunto|assunto|oggetto|onderwerp|ämne|emne|temat|тема|předmět|"
    r"tárgy|konu|aihe|θέμα|件名|主题|主旨|제목|subiect)\s*\*{0,2}\s*[:：]\s*(?P<value>\S.*)$",
    re.IGNORECASE,
)


def _keep_forward(lines: list[Line], start: int) -> TrimResult:
    """Mail to a create address: the sender's note, trimmed as a reply, then the forward as it came."""
    note = trim_reply("\n".join(ln.raw for ln in lines[:start]))
    if note.text and all(P.device_line(line) for line in note.text.splitlines() if line.strip()):
        # only "Sent from my iPhone" above the forward (a first line is never taken for a signature)
        note.cuts.append(Cut("signature:client", note.text))
        note.signature, note.text = "\n\n".join(t for t in (note.signature, note.text) if t), ""
    block = "\n".join(ln.raw for ln in lines[start:]).strip("\n").rstrip()
    subject = next((m.group("value").strip() for ln in lines[start:start + 40]
                    for m in [_SUBJECT_LINE.match(ln.content)] if m), None)
    text = f"{note.text}\n\n{block}" if note.text else block
    return TrimResult(text=text, quoted=note.quoted, signature=note.signature, cuts=note.cuts,
                      forwarded_subject=subject)


def _result(c: _Cutter) -> TrimResult:
    # Leading/trailing blank lines go; the first line keeps its indentation
    # (an indented code block may start the reply).
    text = "\n".join(ln.raw for ln in c.lines).strip("\n").rstrip()
    if not text.strip():
        text = ""
    elif text.strip() == "--":  # a signature separator with nothing of its own above it
        c.cuts.append(Cut("signature:dash_dash", text.strip()))
        text = ""
    elif len(text) <= 200 and all(P.device_line(line) for line in text.splitlines() if line.strip()):
        # only "Sent from my iPhone" (never taken for a signature on the first line, since
        # a message cannot start with its own signature): nothing of the sender's own
        c.cuts.append(Cut("signature:client", text.strip()))
        c.signature.append(text.strip())
        text = ""
    return TrimResult(text=text, quoted="\n\n".join(c.quoted),
                      signature="\n\n".join(c.signature), cuts=c.cuts)
