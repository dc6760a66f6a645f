"""A session cookie stops working when its admin logs out, changes password or is disabled, copies included;
authenticated pages are never stored by a browser or a proxy."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from .conftest import ADMIN, PASSWORD, Browser, csrf_of
from .test_access import GET_ROUTES, world  # noqa: F401  (world: the fixture that makes every id exist)


def _logged_in(app) -> Browser:
    c = app.test_client()
    token = csrf_of(c.get("/login").get_data(as_text=True))
    assert c.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return Browser(c)


def _copy(app, browser: Browser):
    """Another client carrying the same session cookie, as an attacker who copied it would."""
    thief = app.test_client()
    cookie = browser.client.get_cookie("mailgate_session")
    thief.set_cookie("mailgate_session", cookie.value)
    return thief


def test_a_copied_cookie_stops_working_after_logout(app):
    owner = _logged_in(app)
    thief = _copy(app, owner)
    assert thief.get("/").status_code == 200  # the copy works while the session lives ...
    assert owner.post("/logout", page="/").status_code == 302
    r = thief.get("/")  # ... and not after its owner logged out
    assert r.status_code == 302 and "/login" in r.location
    # Nor can it act: a POST with the copied session's own CSRF token is refused too.
    r = thief.post("/users/", data={"csrf_token": "x"})
    assert r.status_code in (302, 400)


def test_a_password_change_ends_other_sessions_but_not_the_one_that_changed_it(app):
    first, second = _logged_in(app), _logged_in(app)
    r = first.post("/account/password", {"current": PASSWORD, "new": "a brand new secret",
                                         "confirm": "a brand new secret"})
    assert r.status_code == 302, r.get_data(as_text=True)
    page = first.get("/")
    assert page.status_code == 200 and "Password changed. Your other sessions are logged out." in page.get_data(as_text=True)
    assert second.get("/").status_code == 302
    fresh = app.test_client()
    token = csrf_of(fresh.get("/login").get_data(as_text=True))
    assert fresh.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf_token": token}).status_code == 200
    assert fresh.post("/login", data={"username": ADMIN, "password": "a brand new secret",
                                      "csrf_token": token}).status_code == 302


@pytest.mark.parametrize("command", [["admin", "disable", ADMIN], ["admin", "passwd", ADMIN, "--password-stdin"]])
def test_the_cli_ends_open_sessions(app, env, command):
    from mailgate.webui.cli import main

    owner = _logged_in(app)
    assert owner.get("/").status_code == 200
    out = CliRunner().invoke(main, command, input="reset by the operator\n", env=env)
    assert out.exit_code == 0, out.output
    assert owner.get("/").status_code == 302


def test_an_old_style_session_id_is_not_accepted(app):
    """Cookies signed before generations existed carried the bare admin id: they log in again."""
    c = app.test_client()
    with c.session_transaction() as session:
        session["_user_id"] = "1"
        session["_fresh"] = True
    assert c.get("/").status_code == 302


def test_the_new_password_is_checked(app):
    b = _logged_in(app)
    r = b.post("/account/password", {"current": PASSWORD, "new": "short", "confirm": "short"})
    assert r.status_code == 200 and "at least 10 characters" in r.get_data(as_text=True)
    r = b.post("/account/password", {"current": PASSWORD, "new": "one long secret", "confirm": "another one"})
    assert r.status_code == 200 and "The two new passwords differ." in r.get_data(as_text=True)
    assert b.get("/").status_code == 200  # nothing changed: the session goes on


def test_the_password_page_needs_login_and_csrf(app):
    c = app.test_client()
    r = c.get("/account/password")
    assert r.status_code == 302 and "/login" in r.location
    b = _logged_in(app)
    r = b.client.post("/account/password", data={"current": PASSWORD, "new": "a brand new secret",
                                                 "confirm": "a brand new secret"})
    assert r.status_code == 400


def test_pages_are_not_stored(app, world):
    b = _logged_in(app)
    for url in GET_ROUTES + ["/login"]:
        r = b.get(url) if url != "/login" else app.test_client().get(url)
        assert r.headers["Cache-Control"] == "no-store", url
    assert "no-store" not in app.test_client().get("/static/mailgate.css").headers.get("Cache-Control", "")
