"""Console fixtures: an app over the test database, an admin, logged-in clients with and without CSRF."""

from __future__ import annotations

import functools
import re

import pytest

ADMIN, PASSWORD = "admin", "correct horse battery"


@functools.lru_cache(maxsize=1)
def _admin_password_hash() -> str:
    """PASSWORD's scrypt hash, made once: it costs ~0.1 s of CPU, and some 230 tests start with this admin.
    (A function, not a fixture: other folders import `admin` by name.)"""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD)


@pytest.fixture
def admin(db, monkeypatch):
    """The console's admin, made by create_admin (the hash of PASSWORD is the session's, not a new one)."""
    from mailgate.webui import accounts

    with monkeypatch.context() as m:
        m.setattr(accounts, "generate_password_hash", lambda password: _admin_password_hash())
        with db.transaction() as s:
            accounts.create_admin(s, ADMIN, PASSWORD, actor="test")
    return ADMIN


def _app(settings, **extra):
    from mailgate.webui import create_app

    return create_app({"MAILGATE_SETTINGS": settings, "TESTING": True, "MAILGATE_LOGIN_DELAY": 0, **extra})


@pytest.fixture
def app(settings, db, seed, admin):
    """CSRF on, as in production."""
    return _app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_of(html: str) -> str:
    found = re.search(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'id="(?:[\w-]+-)?csrf_token" name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Browser:
    """A logged-in test client that fetches a page's CSRF token before each POST, like a browser."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def token(self, page: str) -> str:
        return csrf_of(self.client.get(page).get_data(as_text=True))

    def post(self, url, data=None, page=None, prefix="", **kw):
        data = dict(data or {})
        data[f"{prefix}csrf_token"] = self.token(page or url)
        return self.client.post(url, data=data, **kw)


@pytest.fixture
def browser(client) -> Browser:
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login", data={"username": ADMIN, "password": PASSWORD, "csrf_token": csrf_of(page)})
    assert r.status_code == 302, r.get_data(as_text=True)
    return Browser(client)
