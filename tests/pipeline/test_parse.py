"""The parse step: read before the transaction (never for a robot), applied at its turn."""

import pytest

from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.pipeline.steps import authorise, guard, parse, route


def _ready(w):
    route.run(w)
    authorise.read(w)
    authorise.run(w)


def test_reading_parses_a_person_and_run_keeps_the_parse_and_plans_commands(stored, deciding, mail):
    w = stored(mail(body="Please look.\n\n!priority high\n"))
    guard.read(w)
    parse.read_body(w)
    assert w.parsed is not None and w.parse is None
    with deciding(w):
        _ready(w)
        parse.run(w)
    assert w.parse["text"] == "Please look." and [str(c) for c in w.plan.valid] == ["priority high"]


def test_a_robot_is_never_parsed(stored, mail):
    w = stored(mail(headers={"Auto-Submitted": "auto-replied"}, subject="Out of office"))
    guard.read(w)
    parse.read_body(w)
    assert w.robot_verdict is not None and w.parsed is None


def test_nothing_new_to_act_on_is_refused_as_empty(stored, deciding, mail, task_with_reply):
    _, bobs = task_with_reply
    w = stored(mail(sender="bob@example.org", to=bobs,
                    body="On Mon, 2 Nov 2026 at 10:00, Alice <alice@example.org> wrote:\n> It burns.\n"), to=[bobs])
    parse.read_body(w)
    with deciding(w):
        _ready(w)
        with pytest.raises(Reject) as refused:
            parse.run(w)
    assert refused.value.reason == Reason.EMPTY and w.parse is not None
