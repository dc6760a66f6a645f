"""The service desk in the console: the Applications page, the desk settings, the task page, the dashboard;
and the one-click unsubscribe on the public listener, never on the console."""

from __future__ import annotations

from sqlalchemy import select

from mailgate.shared.models import AuditEntry, Comment, CreateAddress, OutboundMessage, Task, TaskParticipant

from ..webui.conftest import admin, app, browser, client  # noqa: F401 -- the console's fixtures


def test_applications_page_marks_desk_addresses(browser, desk):
    html = browser.get("/applications/").get_data(as_text=True)
    row = html[html.index(desk):html.index("</tr>", html.index(desk))]
    assert "service desk" in row and "Support (built-in)" in row and "acknowledgement on" in row
    bugs = html[html.index("bugs@reply.example.com"):]
    assert "service desk</span>" not in bugs[:bugs.index("</tr>")]


def test_add_a_desk_address_from_the_form(browser, db):
    r = browser.post("/applications/tasks/addresses", page="/applications/", prefix="add-1-",
                     data={"add-1-address": "help@reply.example.com", "add-1-service_desk": "y"})
    assert r.status_code == 302, r.get_data(as_text=True)
    with db.read() as s:
        row = s.scalars(select(CreateAddress).where(CreateAddress.address == "help@reply.example.com")).one()
        assert row.service_desk and row.desk_acknowledge and not row.desk_cc


def test_desk_settings_page(browser, db, desk):
    page = "/applications/addresses/2/service-desk"
    html = browser.get(page).get_data(as_text=True)
    assert "$ref" in html and "external participant" in html
    bad = browser.post(page, data={"enabled": "y", "acknowledge": "y", "template": "Hi $who"})
    assert bad.status_code == 400 and "unknown placeholder $who" in bad.get_data(as_text=True)
    ok = browser.post(page, data={"enabled": "y", "cc_participants": "y", "template": "We have $ref."})
    assert ok.status_code == 302
    with db.read() as s:
        row = s.get(CreateAddress, 2)
        assert (row.service_desk, row.desk_acknowledge, row.desk_cc, row.desk_template) == (
            True, False, True, "We have $ref.\n")
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.target == desk)).all()[-1] == \
            "address.service_desk"


def test_task_page_lists_participants_and_comments_from_the_console(browser, db, desk_task):
    html = browser.get("/tasks/T1").get_data(as_text=True)
    assert "External participants" in html and "Jane Doe" in html and "jane@customer.example" in html
    r = browser.post("/tasks/T1/comments", page="/tasks/T1",
                     data={"author": "bob", "text": "Checking the <b>printer</b>.", "internal": ""})
    assert r.status_code == 302
    r = browser.post("/tasks/T1/comments", page="/tasks/T1",
                     data={"author": "bob", "text": "Between us: grumpy customer.", "internal": "y"})
    assert r.status_code == 302
    html = browser.get("/tasks/T1?last=1").get_data(as_text=True)
    assert "Checking the &lt;b&gt;printer&lt;/b&gt;." in html and ">internal</span>" in html
    with db.read() as s:
        assert s.scalars(select(Comment.internal).order_by(Comment.id)).all() == [False, True]
        to_jane = s.scalars(select(OutboundMessage.body_text).where(
            OutboundMessage.recipient == "jane@customer.example")).all()
    assert len(to_jane) == 1 and "printer" in to_jane[0] and "grumpy" not in to_jane[0]
    empty = browser.post("/tasks/T1/comments", page="/tasks/T1", data={"author": "bob", "text": "  "})
    assert empty.status_code == 400 and "nothing to add" in empty.get_data(as_text=True)


def test_comment_post_needs_csrf(client, desk_task):
    from ..webui.conftest import ADMIN, PASSWORD, csrf_of

    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(page)})
    r = client.post("/tasks/T1/comments", data={"author": "bob", "text": "forged"})
    assert r.status_code == 400


def test_dashboard_counts_desk_tasks_opened_today(browser, db, settings, receive, mail, desk_task):
    """Jane's T1 today counts; a team member's task, even at the desk, and yesterday's desk task do not."""
    from datetime import timedelta

    from mailgate.shared.db import utcnow

    assert receive(mail(subject="Team task"), to=["bugs@reply.example.com"]).status == "processed"
    assert receive(mail(sender="bob@example.org", to=desk_task.participant.desk, subject="Bob at the desk"),
                   to=[desk_task.participant.desk]).status == "processed"
    assert receive(mail(sender="Old <old@customer.example>", to=desk_task.participant.desk, subject="Old"),
                   to=[desk_task.participant.desk]).status == "processed"
    with db.transaction() as s:
        old = s.scalars(select(TaskParticipant).where(TaskParticipant.address == "old@customer.example")).one()
        old.created_at = s.get(Task, old.task_id).created_at = utcnow() - timedelta(days=1, hours=1)
    html = browser.get("/").get_data(as_text=True)
    card = html[html.index("Service desk today"):]
    assert '<p class="big">1</p>' in card[:200]


def test_one_click_unsubscribe_is_on_the_public_listener_only(app, browser, db, settings, desk_task):
    from mailgate.ingress.web.app import create_app

    token = desk_task.participant.unsubscribe_token
    assert browser.get(f"/unsubscribe/{token}").status_code == 404  # the console has no such route
    assert [r.rule for r in app.url_map.iter_rules() if "unsubscribe" in r.rule] == []  # for no method
    public = create_app(settings, db).test_client()
    page = public.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    with db.read() as s:  # a GET (a link scanner) changes nothing
        assert s.scalars(select(TaskParticipant.unsubscribed_at)).one() is None
    done = public.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "no longer receive mail about T1" in done.get_data(as_text=True)
    assert "Set-Cookie" not in done.headers
    with db.read() as s:
        assert s.scalars(select(TaskParticipant.unsubscribed_at)).one() is not None
    assert public.post(f"/unsubscribe/{token}").status_code == 200  # again: still unsubscribed, no error
    assert public.post("/unsubscribe/" + "0" * 32).status_code == 404
    assert public.post("/unsubscribe/nonsense").status_code == 404
    assert public.post(f"/unsubscribe/{token}", data="x" * 10_000,
                       content_type="application/x-www-form-urlencoded").status_code == 413
