"""Failed logins: answered at once with 429 and Retry-After (nothing sleeps), per address, per account,
a lock after repeated failures that `mailgate admin unlock` lifts, and no telling which names exist."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from .conftest import ADMIN, PASSWORD, _app, csrf_of


def _limited(settings, delay: float):
    """The console with short limits: `delay` s after a failure, doubling once; locked after 3 failures for 60 s.
    A test that checks for a 429 right after a failure uses a delay far longer than a request can take on a
    busy machine; one that waits the delay out, a short one."""
    return _app(settings, MAILGATE_LOGIN_DELAY=delay, MAILGATE_LOGIN_DELAY_MAX=2 * delay,
                MAILGATE_LOGIN_LOCK_AFTER=3, MAILGATE_LOGIN_LOCK_SECONDS=60.0)


@pytest.fixture
def limited(settings, db, seed, admin):
    return _limited(settings, 2.0)


@pytest.fixture
def patient(settings, db, seed, admin):
    return _limited(settings, 30.0)


@pytest.fixture
def lock_only(settings, db, seed, admin):
    """No waits between failures (MAILGATE_LOGIN_DELAY=0): only the lock after 3 in a row."""
    return _limited(settings, 0.0)


def _client(app, addr="192.0.2.1"):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = addr
    c.token = csrf_of(c.get("/login").get_data(as_text=True))
    return c


def _login(c, username=ADMIN, password="wrong password!"):
    return c.post("/login", data={"username": username, "password": password, "csrf_token": c.token})


def _wait_out(r) -> None:
    time.sleep(int(r.headers["Retry-After"]) + 0.05)


def test_a_failure_is_answered_at_once_and_the_next_try_gets_429_with_retry_after(limited):
    c = _client(limited)
    start = time.monotonic()
    r = _login(c)
    assert r.status_code == 200 and "Wrong username or password" in r.get_data(as_text=True)
    assert time.monotonic() - start < 0.9  # no sleeping in the worker thread
    r = _login(c, password=PASSWORD)  # even the right password waits its turn: nothing is checked
    assert r.status_code == 429 and r.headers["Retry-After"] in ("1", "2")
    seconds = r.headers["Retry-After"]
    assert f"Too many failed logins. Try again in {seconds} second{'s' if seconds == '2' else ''}." in r.get_data(
        as_text=True)
    assert time.monotonic() - start < 1.9
    _wait_out(r)
    assert _login(c, password=PASSWORD).status_code == 302


def test_the_wait_doubles_per_address_and_other_addresses_are_not_held_up(limited):
    c = _client(limited)
    assert _login(c, username="nobody-1").status_code == 200
    r = _login(c, username="nobody-2")  # another name from the same address: the address limit holds
    assert r.status_code == 429
    _wait_out(r)
    assert _login(c, username="nobody-3").status_code == 200
    r = _login(c, username="nobody-4")
    assert r.status_code == 429 and r.headers["Retry-After"] in ("3", "4")
    other = _client(limited, "192.0.2.2")
    assert _login(other, username="nobody-5").status_code == 200


def _failures_from_many_addresses(app, username, count):
    for i in range(count):
        assert _login(_client(app, f"198.51.100.{i + 1}"), username=username).status_code == 200


def test_an_account_is_held_up_from_every_address(patient):
    assert _login(_client(patient, "198.51.100.1")).status_code == 200
    r = _login(_client(patient, "198.51.100.2"), password=PASSWORD)
    assert r.status_code == 429 and 25 <= int(r.headers["Retry-After"]) <= 30


def test_an_account_locks_after_repeated_failures_and_the_cli_unlocks_it(lock_only, env, db):
    from mailgate.shared.models import AdminUser, AuditEntry
    from mailgate.webui.cli import main

    for i in range(3):
        assert _login(_client(lock_only, f"198.51.100.{i + 1}")).status_code == 200
    r = _login(_client(lock_only, "198.51.100.9"), password=PASSWORD)
    assert r.status_code == 429 and 55 <= int(r.headers["Retry-After"]) <= 60
    with db.read() as s:
        row = s.scalars(select(AdminUser).where(AdminUser.username == ADMIN)).one()
        assert row.failed_logins == 3 and row.locked_until is not None
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.action == "admin.locked")).first()

    listed = CliRunner().invoke(main, ["admin", "list", "--json"], env=env)
    assert listed.exit_code == 0 and '"locked": true' in listed.output and '"failed_logins": 3' in listed.output
    out = CliRunner().invoke(main, ["admin", "unlock", ADMIN], env=env)
    assert out.exit_code == 0 and "unlocked" in out.output
    # The running console sees it at once: the lock lives in the database, not in the process.
    assert _login(_client(lock_only, "198.51.100.10"), password=PASSWORD).status_code == 302
    with db.read() as s:
        assert s.scalars(select(AdminUser.failed_logins).where(AdminUser.username == ADMIN)).one() == 0


def test_a_name_that_is_no_account_is_refused_the_same_way(patient, lock_only):
    """The answers for a missing name match an account's: 200, then 429 from another address, the lock."""
    assert _login(_client(patient, "203.0.113.1"), username="ghost").status_code == 200
    r = _login(_client(patient, "203.0.113.2"), username="ghost")
    assert r.status_code == 429 and 25 <= int(r.headers["Retry-After"]) <= 30
    for i in range(3):
        assert _login(_client(lock_only, f"203.0.113.{i + 1}"), username="ghost").status_code == 200, i
    r = _login(_client(lock_only, "203.0.113.9"), username="ghost")
    assert r.status_code == 429 and 55 <= int(r.headers["Retry-After"]) <= 60


def test_one_more_failure_after_a_lock_locks_the_account_again(db, admin):
    """The count starts again only after 15 quiet minutes *after the lock*: not a fresh 10 guesses per lock."""
    from datetime import timedelta

    from mailgate.shared.db import utcnow
    from mailgate.shared.models import AdminUser
    from mailgate.webui.login_limits import Limits, record_account_failure

    limits, t0 = Limits(), utcnow()
    with db.transaction() as s:
        admin_id = s.scalars(select(AdminUser.id).where(AdminUser.username == admin)).one()
        for i in range(10):
            until = record_account_failure(s, admin_id, limits, t0 + timedelta(seconds=i))
        assert until == t0 + timedelta(seconds=9 + 900)
        after_the_lock = until + timedelta(seconds=5)
        assert record_account_failure(s, admin_id, limits, after_the_lock) == after_the_lock + timedelta(seconds=900)
        much_later = after_the_lock + timedelta(seconds=900 + 900 + 1)
        assert record_account_failure(s, admin_id, limits, much_later) is None  # forgotten: counted from 1
        assert s.scalars(select(AdminUser.failed_logins).where(AdminUser.id == admin_id)).one() == 1


def test_one_more_failure_after_a_lock_locks_a_missing_name_again():
    from mailgate.webui.login_limits import Limits, Throttle

    t = Throttle(Limits(base=0.0))  # the lock alone, without the waits between failures
    for i in range(10):
        assert t.attempt({"name:ghost": True}, now=1000.0 + i) == 0.0
    assert t.attempt({"name:ghost": True}, now=1010.0) == pytest.approx(899.0)
    assert t.attempt({"name:ghost": True}, now=1009.0 + 905) == 0.0  # the lock is over: one more try ...
    assert t.attempt({"name:ghost": True}, now=1009.0 + 906) == pytest.approx(899.0)  # ... and locked again


def test_parallel_guesses_from_one_address_get_one_password_check(patient, monkeypatch):
    """An attempt counts when it starts: 20 requests at once from one address, one password check."""
    from concurrent.futures import ThreadPoolExecutor

    from mailgate.webui import accounts, auth

    checks = []
    real = accounts.password_matches

    def counted(row, password):
        checks.append(password)
        time.sleep(0.2)  # a slow hash, so that the others arrive while it runs
        return real(row, password)

    monkeypatch.setattr(auth, "password_matches", counted)
    clients = [_client(patient, "192.0.2.77") for _ in range(20)]
    with ThreadPoolExecutor(20) as pool:
        codes = sorted(pool.map(lambda c: _login(c).status_code, clients))
    assert codes == [200] + [429] * 19 and len(checks) == 1


def test_a_wrong_current_password_on_the_password_page_counts_as_a_failed_login(patient):
    from .conftest import Browser

    c = _client(patient)
    assert _login(c, password=PASSWORD).status_code == 302
    b = Browser(c)
    r = b.post("/account/password", {"current": "not it at all", "new": "a brand new secret", "confirm":
                                     "a brand new secret"})
    assert r.status_code == 200 and "This is not your current password." in r.get_data(as_text=True)
    r = b.post("/account/password", {"current": PASSWORD, "new": "a brand new secret", "confirm": "a brand new secret"})
    assert r.status_code == 429 and r.headers["Retry-After"]


def test_the_throttle_forgets_and_stays_bounded():
    from mailgate.webui.login_limits import Limits, Throttle

    t = Throttle(Limits(base=1.0, ceiling=4.0, window=900.0, lock_after=3, lock_for=60.0), max_keys=100)
    assert t.attempt({"addr:x": False}) == 0.0
    assert 0.9 < t.attempt({"addr:x": False}) <= 1.0
    t.succeeded("addr:x")
    assert t.attempt({"addr:x": False}) == 0.0
    for i in range(1000):
        t.attempt({f"name:{i}": True})
    assert len(t._seen) <= 100
