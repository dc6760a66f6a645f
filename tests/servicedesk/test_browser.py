"""The service desk's console pages in headless Chromium: the address form and the task page."""

from __future__ import annotations

from sqlalchemy import select

from mailgate.shared.models import CreateAddress, OutboundMessage

from ..webui.conftest import admin, app, client  # noqa: F401 -- the console's fixtures
from ..webui.test_browser import expect, login, page, pytestmark, server  # noqa: F401 -- Chromium, waitress


def test_add_a_desk_address_and_set_its_acknowledgement(page, db, seed):
    login(page)
    page.get_by_role("link", name="Applications").click()
    page.get_by_label("New create address").fill("help@reply.example.com")
    page.get_by_label("Service desk: anyone may write, and is answered by mail").check()
    page.get_by_role("button", name="Add address").click()
    page.wait_for_url("**/applications/")
    row = page.locator("tr.service-desk")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("help@reply.example.com")
    expect(row.locator(".badge.desk")).to_have_text("service desk")
    expect(row).to_contain_text("Support (built-in)")

    row.get_by_role("link", name="Service desk…").click()
    page.wait_for_url("**/service-desk")
    page.get_by_label("Acknowledgement text (empty: the built-in text)").fill("Hi $nobody")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("small.error")).to_contain_text("unknown placeholder $nobody")  # refused, said on the form
    page.get_by_label("Acknowledgement text (empty: the built-in text)").fill("Thanks! Your request is $ref.")
    page.get_by_label("Addresses copied (Cc) on a new mail become participants too").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/applications/")
    expect(page.locator("tr.service-desk")).to_contain_text("Cc'd become participants")
    with db.read() as s:
        row = s.scalars(select(CreateAddress).where(CreateAddress.address == "help@reply.example.com")).one()
        assert row.desk_template == "Thanks! Your request is $ref.\n" and row.desk_cc
    assert page.dialogs == []


def test_task_page_participants_and_comments(page, db, desk_task):
    login(page)
    page.goto("/tasks/T1")
    participants = page.locator("ul.participants li")
    expect(participants).to_have_count(1)
    expect(participants.first).to_contain_text("Jane Doe")
    expect(participants.first).to_contain_text("jane@customer.example")

    page.get_by_label("As user").select_option("bob")
    page.get_by_label("Comment (!close, !assign bob lines act, as in a mail reply)").fill("Only for the team.")
    page.get_by_label("Internal: never mailed to external participants").check()
    page.get_by_role("button", name="Add comment").click()
    page.wait_for_url("**/tasks/T1?last=1")
    expect(page.locator("p.flash", has_text="(internal)")).to_have_count(1)
    expect(page.locator("section.comment").last).to_contain_text("internal")

    page.get_by_label("As user").select_option("bob")
    page.get_by_label("Comment (!close, !assign bob lines act, as in a mail reply)").fill("We replaced the fuser.")
    page.get_by_role("button", name="Add comment").click()
    page.wait_for_url("**/tasks/T1?last=1")
    expect(page.locator("p.flash", has_text="mailed to 1 external participant")).to_have_count(1)
    with db.read() as s:
        bodies = s.scalars(select(OutboundMessage.body_text)
                           .where(OutboundMessage.recipient == "jane@customer.example")).all()
    assert len(bodies) == 1 and "fuser" in bodies[0] and "Only for the team" not in bodies[0]
    assert page.dialogs == []
