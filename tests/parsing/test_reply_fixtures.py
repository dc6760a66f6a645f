"""Reply trimming on fixtures the rules were not written on (tests/fixtures/replies, see its README).

Every case is a test; the few known misses are xfail with their reason, so
a change that fixes one shows up, and one that breaks a passing case fails.
The halves are scored apart: the held-out half must stay at or above the
targets of issue 21 (90 % exact), and no reply of either half may lose all
its words.
"""

from __future__ import annotations

import pytest

from mailgate.shared.message import header_text, load_message
from mailgate.shared.parsing import classify_robot, parse_message
from mailgate.shared.tracker import make_title

from ..reply_cases import Case, all_cases, normalise

CASES = all_cases()

# Known misses, with why (none is a reply whose words are lost).
KNOWN = {
    "written/forward_create/outlook-en-02": "the note and the forward are joined by one empty line, not the three sent",
    "written/wrapped_links/two-fragments-en-10": "two wrapped link lines in a row inside a quote are not recognised",
    "gitlab/html_table_and_blockquote": "convention: an HTML blockquote is a quotation (GitLab keeps it); table cells "
                                        "are joined by two spaces, not a tab",
    "gitlab/html_empty_link": "the fixture starts with an empty line, so the email package reads no header at all",
    "gitlab/spec_shift_jis_multipart": "a part without a charset in Shift_JIS: no charset guessing beyond UTF-8/cp1252",
}


def run(case: Case) -> tuple[str, str | None]:
    msg = load_message(case.raw)
    parsed = parse_message(msg, for_create=case.mode == "create")
    title = make_title(header_text(msg, "Subject"), parsed.text, parsed.forwarded_subject) if case.title else None
    return parsed.text, title


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(reason=KNOWN[case.id], strict=True)] if case.id in KNOWN else []
        yield pytest.param(case, id=f"{case.half}:{case.id}", marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_reply(case: Case) -> None:
    text, title = run(case)
    assert normalise(text) == normalise(case.expected)
    if case.title:
        assert title == case.title.strip()


def test_there_are_thirty_written_replies_per_failure_shape() -> None:
    shapes: dict[str, int] = {}
    for case in CASES:
        if case.source.startswith("written/"):
            shapes[case.source] = shapes.get(case.source, 0) + 1
    assert len(shapes) == 7 and min(shapes.values()) >= 30, shapes


@pytest.mark.parametrize("half", ["tune", "held"])
def test_no_reply_loses_all_its_words(half: str) -> None:
    lost = [c.id for c in CASES if c.half == half and normalise(c.expected) and not run(c)[0].strip()]
    assert lost == []


def test_held_out_half_meets_the_target() -> None:
    held = [c for c in CASES if c.half == "held"]
    exact = sum(normalise(run(c)[0]) == normalise(c.expected) and
                (not c.title or run(c)[1] == c.title.strip()) for c in held)
    assert exact / len(held) >= 0.90, f"{exact}/{len(held)}"


def test_no_human_reply_is_a_robot() -> None:
    robots = [(c.id, v.reason) for c in CASES if (v := classify_robot(load_message(c.raw), None)).kind]
    assert robots == []
