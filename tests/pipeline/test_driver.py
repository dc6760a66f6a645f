"""The driver: reading before the transaction, the steps in order, and every kind of exception's answer."""

from sqlalchemy.exc import OperationalError

from mailgate.shared import received
from mailgate.shared.outcomes import Reason, Status, TempFail
from mailgate.shared.pipeline import driver
from mailgate.shared.pipeline.steps import STEPS, load


def test_the_steps_are_the_named_modules_in_order():
    steps = load()
    assert tuple(s.name for s in steps) == STEPS == ("dedupe", "guard", "route", "sender_auth", "authorise",
                                                     "parse", "act", "service_desk")
    assert [s.name for s in steps if s.read is not None] == ["guard", "authorise"]
    assert [s.name for s in steps if s.read_body is not None] == ["guard", "parse"]


def test_a_batch_is_decided_message_by_message(db, stored, mail):
    good, stranger = stored(mail(body="Fine.")), stored(mail(sender="stranger@example.com"))
    driver.read_all([good, stranger])
    with db.pipeline() as conn:
        answers = driver.decide_all(conn, [good, stranger])
    assert [(a.status, a.reason) for a in answers] == [(Status.PROCESSED, None),
                                                        (Status.REJECTED, Reason.UNKNOWN_SENDER)]
    assert good.timings.authorise > 0 and good.timings.act > 0


def test_a_failed_read_is_raised_at_its_steps_turn_and_recorded_failed(db, stored, mail, monkeypatch):
    from mailgate.shared.pipeline.steps import parse

    def broken(msg):
        raise ValueError("parser choked")

    monkeypatch.setattr(parse, "parse_message", broken)
    w = stored(mail())
    driver.read_all([w])
    assert w.stopped[0] == "parse"
    with db.pipeline() as conn:
        (answer,) = driver.decide_all(conn, [w])
        row = received.by_id(conn, w.row.id)
    assert (answer.status, answer.reason) == (Status.FAILED, Reason.INTERNAL_ERROR)
    assert "parser choked" in row.error and row.routed_to == "bugs@reply.example.com"  # route ran before parse


def test_an_unavailable_database_leaves_the_message_for_a_retry(db, stored, mail, monkeypatch):
    from mailgate.shared.pipeline.steps import act

    def locked(w):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(act, "run", locked)
    monkeypatch.setattr(driver, "STEPS", load())
    w = stored(mail())
    driver.read_all([w])
    with db.pipeline() as conn:
        (answer,) = driver.decide_all(conn, [w])
        row = received.by_id(conn, w.row.id)
    assert isinstance(answer, TempFail) and row.status == Status.RECEIVED and row.attempts == 0


def test_a_step_is_a_module_and_a_name(db, stored, mail, monkeypatch, tmp_path):
    """How a new step joins: its module in the steps package, its name in the list."""
    import sys
    import types

    from mailgate.shared.outcomes import Reject

    module = types.ModuleType("mailgate.shared.pipeline.steps.nosubject")

    def run(w):
        if not w.row.subject:
            raise Reject(Reason.EMPTY, "No subject.")

    module.run = run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(driver, "STEPS", load(("dedupe", "guard", "route", "nosubject", "authorise", "parse",
                                               "act")))
    w = stored(mail(subject=""))
    driver.read_all([w])
    with db.pipeline() as conn:
        (answer,) = driver.decide_all(conn, [w])
    assert (answer.reason, answer.text, answer.application) == (Reason.EMPTY, "No subject.", "tasks")
