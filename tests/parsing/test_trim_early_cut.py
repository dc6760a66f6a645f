"""The "--" shortcut of trim_reply gives exactly what classifying every line gives.

trim_reply classifies only the lines up to a "--" signature line (and a
look-ahead) when that line is the first delimiter; these tests hold it to
the full classification on every body of the corpus, on each of them with a
"--" line put at many places, and on cases made to sit at its edges.
"""

from __future__ import annotations

import pytest

from mailgate.shared.message import load_message
from mailgate.shared.parsing import trim
from mailgate.shared.parsing.body import extract_body

from ..corpus import bundled_files, external_files, needs_external
from ..reply_cases import all_cases


def _full(text: str) -> trim.TrimResult:
    """trim_reply with every line classified (the shortcut turned off)."""
    saved = trim._lines_up_to_signature
    trim._lines_up_to_signature = lambda text: None
    try:
        return trim.trim_reply(text)
    finally:
        trim._lines_up_to_signature = saved


def _same(text: str) -> None:
    fast, full = trim.trim_reply(text), _full(text)
    assert (fast.text, fast.quoted, fast.signature, fast.cuts) == (full.text, full.quoted, full.signature, full.cuts)


def _reply_fixtures() -> list[bytes]:
    return [case.raw for case in all_cases()]


def _bodies(files) -> list[str]:
    bodies = []
    for path in files:
        text = extract_body(load_message(path if isinstance(path, bytes) else path.read_bytes())).text
        if text.strip():
            bodies.append(text)
    assert bodies
    return bodies


SETS = [
    pytest.param(bundled_files, 20, id="bundled"),
    pytest.param(_reply_fixtures, 50, id="reply-fixtures"),
    pytest.param(external_files, 100, id="external", marks=needs_external),
]
QUOTE = "\n".join(f"> line {i} of what was said before, quoted back by the client." for i in range(30))

EDGES = [
    # the typical top-posted reply: text, signature, then the history
    "Thanks, that works.\n\n--\nBob\nOps\n\nOn Mon, 2 Nov 2026 at 10:01, Alice <a@example.org> wrote:\n" + QUOTE,
    "Thanks.\r\n-- \r\nBob\r\n\r\nOn Mon, 2 Nov 2026, Alice <a@example.org> wrote:\r\n" + QUOTE.replace("\n", "\r\n"),
    "--\nfirst line is the dashes\n" + "text\n" * 30,  # never the first line: not a delimiter
    "Hi\n```\n--\n```\nafter the fence\n" + "more\n" * 30,  # inside code: not a delimiter
    "Hi\n-----\nfooter\n--\nsig\n" + "line\n" * 30,  # a rule line first: counts to the end
    "Hi\n_____\n" + "long text\n" * 20 + "--\nsig\n" + "x\n" * 30,  # rule kept as a section break, then --
    # ... unless history follows it, below the look-ahead: then the rule is the first delimiter
    "Hi\n_____\n" + "long text\n" * 20 + "--\nsig\n" + "x\n" * 30 + "On Mon, 2 Nov 2026, Bob <b@x.org> wrote:\n" + QUOTE,
    "Hi\nSent from my iPhone\n--\nsig\n" + QUOTE,  # client signature above the dashes
    "Hi\nFrom: Bob <b@example.org>\n--\nSent: Monday\nTo: Alice\nSubject: x\n" + QUOTE,  # -- inside a header block
    "Hi\nOn Mon, 2 Nov 2026, Bob\n--\n<b@example.org> wrote:\n" + QUOTE,  # a header window over the dashes
    "Hi\n> --\n> quoted sig\n" + "text\n" * 30,  # dashes inside a quote
    "Hi\n--\nshort tail\n",  # the text ends within the look-ahead
    "Hi\n--\n" + "\n" * 40,
    "Hi\n-- \u00a0\nsig\n" + QUOTE,  # a no-break space: _split strips it, the search does not see it
    "\n\n   \n--\n" + QUOTE,  # nothing before the dashes but blank lines
    "Hi\n" + "--\n" * 40,
    "> quoted first\nanswer\n--\nsig\n" + QUOTE,
    "Hi\n--\n" + "x" * 5000 + "\n" * 20,
    # found in review: "--" is also a rule line, the one above a header block after any number of
    # empty lines (two keys suffice after a rule)
    "Hi\n--\n\n\n\n\n\nFrom: b\nTo: a",
    "Hi\n--\n\n\n\n\n\n\n\n\n\nFrom: b\nTo: a\n" + QUOTE,
    "Hi\n--\n\n\nFrom: b\nTo: a\n" + QUOTE,
    # ... and lines of only invisible characters below the look-ahead are empty lines (Gmail's "ᐧ")
    "x\n--\n\n\n\n\n\n\n\u200b",
    "Thanks\n-- \nBob Smith\nAcme Inc.\n1 Main St\nSpringfield\n+1 555 0100\nwww.acme.example\n\u1427\n",
    "Hi\n--\nsig\n" + "line\n" * 8 + "  \t\n\ufeff\u200b \n\u2060\n" + QUOTE,
]


@pytest.mark.parametrize("text", EDGES)
def test_edges(text: str) -> None:
    _same(text)


@pytest.mark.parametrize("files, _", SETS)
def test_every_corpus_body(files, _) -> None:
    for text in _bodies(files()):
        _same(text)


@pytest.mark.parametrize("files, at_least", SETS)
def test_every_corpus_body_with_dashes_put_in(files, at_least: int) -> None:
    BODIES = _bodies(files())
    taken = 0
    forms = ["--", "-- ", "  --\t"]
    for text in BODIES:
        lines = text.split("\n")
        step = max(1, len(lines) // 6)
        for n, at in enumerate(range(0, len(lines) + 1, step)):
            extra = ["", "\u1427", "From: x", "To: y"] if n % 4 == 3 else []  # what review found
            variant = "\n".join(lines[:at] + [forms[n % 3]] + extra + lines[at:])
            taken += trim._lines_up_to_signature(variant.replace("\r\n", "\n").replace("\r", "\n")) is not None
            _same(variant)
    assert taken > at_least  # the shortcut is really exercised, not always declined


def test_the_shortcut_is_taken_for_a_signed_reply() -> None:
    text = EDGES[0]
    lines = trim._lines_up_to_signature(text)
    assert lines is not None and len(lines) < len(text.split("\n"))
    result = trim.trim_reply(text)
    assert result.text == "Thanks, that works."
    assert result.signature.startswith("--\nBob\nOps") and result.signature.endswith("line 29 of what was said before, quoted back by the client.")


@pytest.mark.parametrize("files, _", SETS)
def test_the_dash_dash_line_is_found_as_the_regex_finds_it(files, _) -> None:
    import re

    BODIES = _bodies(files())
    regex = re.compile(r"^[ \t]*--[ \t]*$", re.M)
    texts = [t.replace("\r\n", "\n").replace("\r", "\n") for t in BODIES + EDGES] + [
        "--", " -- ", "a--\n--", "---\n--x\n -- \n", "x\n\t--\t", "----\n--", "a -- b\n--\n", "\n--\n", "-\n-", ""]
    for text in texts:
        found = regex.search(text)
        assert trim._first_dash_dash_line(text) == ((found.start(), found.end()) if found else None), repr(text[:80])
