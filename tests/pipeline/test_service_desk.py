"""The service_desk step: after a stranger's mail opened a desk task, the requester is recorded and acknowledged;
for any other message it does nothing. (The whole path: tests/servicedesk/test_mail_path.py.)"""

from sqlalchemy import select

from mailgate.shared import directory
from mailgate.shared.models import TaskParticipant
from mailgate.shared.pipeline.steps import act, authorise, parse, route, service_desk

DESK = "support@reply.example.com"


def _through_act(w):
    parse.read_body(w)
    route.run(w)
    authorise.read(w)
    authorise.run(w)
    parse.run(w)
    act.run(w)



def test_a_desk_task_records_its_requester_and_acknowledges(db, settings, stored, deciding, mail, seed):
    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", DESK, actor="test", service_desk=True)
    w = stored(mail(sender="Jane <jane@customer.example>", to=DESK, body="Help."), sender="jane@customer.example",
               to=[DESK])
    with deciding(w) as conn:
        _through_act(w)
        assert w.requester.address == "jane@customer.example" and w.author.username == "support"
        service_desk.run(w)
        rows = conn.all(_select_participants())
        assert rows == [("jane@customer.example", "Jane", "from")]
        assert any("Acknowledgement queued" in d for d in w.decisions)


def test_any_other_message_is_left_alone(db, stored, deciding, mail, seed):
    w = stored(mail(body="A plain task."))
    with deciding(w) as conn:
        _through_act(w)
        before = len(w.decisions)
        service_desk.run(w)
        assert w.requester is None and len(w.decisions) == before
        assert conn.all(_select_participants()) == []


def _select_participants():
    from mailgate.shared.prepared import Statement

    t = TaskParticipant.__table__
    return Statement(select(t.c.address, t.c.name, t.c.via).order_by(t.c.id))
