"""The record step: what each kind of outcome writes on the row."""

from mailgate.shared import received
from mailgate.shared.outcomes import Reason, Reject, Status
from mailgate.shared.pipeline.steps import act, authorise, parse, record, route


def _row(conn, w):
    return received.by_id(conn, w.row.id)


def test_processed_records_what_was_done(stored, deciding, mail):
    w = stored(mail(body="Hello.\n!frobnicate"))
    parse.read_body(w)
    with deciding(w) as conn:
        authorise.read(w)
        for step in (route, authorise, parse, act):
            step.run(w)
        out = record.run(w)
        row = _row(conn, w)
    assert (out.status, out.action, out.object, out.actor, out.unknown_commands) == (
        Status.PROCESSED, "create", "T1", "alice", ["frobnicate"])
    assert (row.status, row.task_id, row.attempts, row.parse["text"]) == ("processed", 1, 1, "Hello.")


def test_a_disposition_records_what_was_established_before_it(stored, deciding):
    w = stored()
    with deciding(w) as conn:
        route.run(w)
        out = record.run(w, Reject(Reason.EMPTY, "Nothing here."))
        row = _row(conn, w)
    assert (out.status, out.reason, out.text, out.application, out.actor) == (
        Status.REJECTED, Reason.EMPTY, "Nothing here.", "tasks", None)
    assert (row.routed_to, row.action, row.commands, row.parse) == ("bugs@reply.example.com", None, [], None)


def test_a_crash_records_the_traceback_and_where_the_message_was_routed(stored, deciding):
    w = stored()
    with deciding(w) as conn:
        route.run(w)
        try:
            raise RuntimeError("disk on fire")
        except RuntimeError as exc:
            out = record.run(w, exc)
        row = _row(conn, w)
    assert (out.status, out.reason) == (Status.FAILED, Reason.INTERNAL_ERROR)
    assert "RuntimeError: disk on fire" in row.error and row.application == "tasks" and row.actor is None
