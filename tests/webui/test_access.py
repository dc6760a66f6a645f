"""Every route: anonymous -> login; POST without a CSRF token -> 400; security headers everywhere."""

from __future__ import annotations

import pytest

GET_ROUTES = [
    "/", "/received/", "/received/1", "/received/1/raw", "/outbound/", "/outbound/1", "/outbound/1/void",
    "/applications/", "/applications/addresses/1/remove", "/applications/addresses/1/default-author",
    "/mail-key/", "/mail-key/rotate", "/test-receiver/", "/users/", "/users/1", "/tasks/", "/tasks/T1",
    "/tasks/attachments/1", "/health/", "/audit/", "/account/password",
]
POST_ROUTES = [
    "/login", "/logout", "/received/1/reprocess", "/outbound/1/resend", "/outbound/1/void", "/applications/tasks/addresses",
    "/applications/addresses/1/remove", "/applications/addresses/1/default-author", "/mail-key/rotate",
    "/test-receiver/send", "/test-receiver/upload", "/users/", "/users/1/emails", "/users/1/enable",
    "/users/1/disable", "/account/password",
]


@pytest.fixture
def world(db, seed, receive, mail, settings):
    """One processed message (T1 with an attachment) and one outbound row, so every id above exists."""
    from mailgate.shared.models import OutboundMessage

    out = receive(mail(subject="Printer", body="It burns.", attachments=[("log.txt", "text/plain", b"x")]))
    assert out.status == "processed", out
    with db.transaction() as s:
        s.add(OutboundMessage(recipient="bob@example.org", subject="[T1] Printer", status="queued"))
    return out


@pytest.mark.parametrize("url", GET_ROUTES)
def test_anonymous_get_redirects_to_login(app, world, url):
    r = app.test_client().get(url)
    assert r.status_code == 302
    assert "/login" in r.location


@pytest.mark.parametrize("url", POST_ROUTES)
def test_anonymous_post_is_refused(app, world, url):
    c = app.test_client()
    assert c.post(url, data={}).status_code == 400  # no CSRF token
    html = c.get("/login").get_data(as_text=True)
    token = __import__("re").search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    r = c.post(url, data={"csrf_token": token, "confirm": "y"})
    if url in ("/login", "/logout"):
        assert r.status_code in (200, 302)  # the login form itself, or back to it
    else:
        assert r.status_code == 302 and "/login" in r.location


@pytest.mark.parametrize("url", POST_ROUTES)
def test_post_without_csrf_is_400(browser, world, url):
    r = browser.client.post(url, data={"confirm": "y", "reason": "x", "address": "x@reply.example.com"})
    assert r.status_code == 400


@pytest.mark.parametrize("url", GET_ROUTES)
def test_every_page_renders_for_an_admin(browser, world, url):
    r = browser.get(url)
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert "Content-Security-Policy" in r.headers
    assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_page_is_404(browser):
    assert browser.get("/no/such/page").status_code == 404


def test_login_page_labels_and_cookie_flags(app):
    c = app.test_client()
    html = c.get("/login").get_data(as_text=True)
    assert '<label for="username">Username</label>' in html
    assert '<label for="password">Password</label>' in html
    token = __import__("re").search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    r = c.post("/login", data={"username": "admin", "password": "correct horse battery", "csrf_token": token})
    assert r.status_code == 302
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("mailgate_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in tests; https base URLs turn it on


def test_secure_cookie_when_served_over_https(settings, db, seed, admin):
    from dataclasses import replace

    from mailgate.webui import create_app

    app = create_app({"MAILGATE_SETTINGS": replace(settings, console_url="https://mail.example.com"),
                      "TESTING": True})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_wrong_password_is_refused_logged_and_audited(app, db, caplog):
    from sqlalchemy import select

    from mailgate.shared.models import AuditEntry

    c = app.test_client()
    html = c.get("/login").get_data(as_text=True)
    token = __import__("re").search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    with caplog.at_level("WARNING", logger="mailgate.webui.auth"):
        r = c.post("/login", data={"username": "admin", "password": "wrong-password", "csrf_token": token})
    assert r.status_code == 200 and "Wrong username or password" in r.get_data(as_text=True)
    assert any("failed console login" in rec.message for rec in caplog.records)
    with db.read() as s:
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.action == "login.failed")).first()
    assert c.get("/").status_code == 302


def test_open_redirect_is_not_followed(app):
    c = app.test_client()
    html = c.get("/login").get_data(as_text=True)
    token = __import__("re").search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    r = c.post("/login?next=https://evil.example/", data={
        "username": "admin", "password": "correct horse battery", "csrf_token": token})
    assert r.location == "/"


def test_logout(browser):
    r = browser.post("/logout", page="/")
    assert r.status_code == 302
    assert browser.get("/").status_code == 302


def test_database_unavailable_is_503(settings, tmp_path):
    from dataclasses import replace

    from mailgate.webui import create_app

    missing = replace(settings, database_url=f"sqlite:///{tmp_path}/nowhere/absent/x.db")
    r = create_app({"MAILGATE_SETTINGS": missing, "TESTING": True}).test_client().get("/login")
    assert r.status_code == 503
    assert "database is unavailable" in r.get_data(as_text=True)


def test_uninitialised_database_is_503(settings, tmp_path):
    from dataclasses import replace

    from mailgate.webui import create_app

    empty = replace(settings, database_url=f"sqlite:///{tmp_path}/empty.db")
    r = create_app({"MAILGATE_SETTINGS": empty, "TESTING": True}).test_client().get("/login")
    assert r.status_code == 503
    assert "mailgate init" in r.get_data(as_text=True)


@pytest.mark.parametrize("url", [u for u in GET_ROUTES if "/raw" not in u and "attachments" not in u] + ["/login"])
def test_every_form_control_has_a_visible_label(app, browser, world, url):
    from html.parser import HTMLParser

    class Controls(HTMLParser):
        def __init__(self):
            super().__init__()
            self.controls, self.labels = [], set()

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "label" and a.get("for"):
                self.labels.add(a["for"])
            if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
                self.controls.append(a.get("id") or a.get("name"))

    client = app.test_client() if url == "/login" else browser.client
    page = Controls()
    page.feed(client.get(url).get_data(as_text=True))
    unlabeled = [c for c in page.controls if c not in page.labels]
    assert not unlabeled, f"{url}: controls without a <label for>: {unlabeled}"
