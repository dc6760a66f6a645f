"""A create address left on a domain Mailgate no longer serves is flagged by check and the Applications page."""

from __future__ import annotations

from dataclasses import replace

from mailgate.shared import health
from mailgate.webui.health import all_checks


def test_check_flags_a_create_address_on_an_unserved_domain(settings, db, seed):
    assert health.check_create_addresses(settings, db).ok  # bugs@reply.example.com: served
    moved = replace(settings, reply_domain="reply.example.net", domains=("reply.example.net",))
    c = health.check_create_addresses(moved, db)
    assert not c.ok and "bugs@reply.example.com (tasks)" in c.detail and "mailgate address remove" in c.fix
    assert "create addresses" in {x.name for x in all_checks(moved, db) if not x.ok}


def test_the_applications_page_flags_it(settings, db, seed, admin):
    from mailgate.webui import create_app

    from .conftest import ADMIN, PASSWORD, csrf_of

    moved = replace(settings, reply_domain="reply.example.net", domains=("reply.example.net",))
    for cfg, flagged in ((settings, False), (moved, True)):
        client = create_app({"MAILGATE_SETTINGS": cfg, "TESTING": True, "MAILGATE_LOGIN_DELAY": 0}).test_client()
        page = client.get("/login").get_data(as_text=True)
        client.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(page)})
        html = client.get("/applications/").get_data(as_text=True)
        assert ("domain not served" in html) is flagged
        assert ("1 create address on a domain Mailgate no longer serves" in html) is flagged
