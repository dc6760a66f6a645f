"""The console under the real `mailgate web` (waitress): failed logins do not stall it, and behind a
trusted proxy the client is the one the proxy names."""

from __future__ import annotations

import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from .conftest import ADMIN, PASSWORD
from .running import login_form, login_post, mailgate_web, raw_request

pytestmark = pytest.mark.slow


def _get_login_seconds(base: str) -> float:
    start = time.monotonic()
    with urllib.request.urlopen(f"{base}/login", timeout=120) as r:
        r.read()
        assert r.status == 200
    return time.monotonic() - start


def test_parallel_wrong_passwords_do_not_stall_the_console(env, db, admin):
    """50 wrong passwords at once used to hold all 8 worker threads asleep: GET /login took 11.6 s median."""
    with mailgate_web(env) as base:
        cookie, token = login_form(base)
        quiet = [_get_login_seconds(base) for _ in range(3)]
        answers: list[tuple[int, dict]] = []
        probes: list[float] = []
        flooding = threading.Event()

        def probe() -> None:
            # An admin opening the login page every 0.3 s while the guesses come in, each on its own
            # connection: how long does each wait?
            flooding.wait()
            threads = []
            for _ in range(10):
                threads.append(threading.Thread(target=lambda: probes.append(_get_login_seconds(base))))
                threads[-1].start()
                time.sleep(0.3)
            for t in threads:
                t.join()

        prober = threading.Thread(target=probe)
        prober.start()
        started = time.monotonic()
        with ThreadPoolExecutor(50) as pool:
            futures = [pool.submit(login_post, base, cookie, token, ADMIN, f"guess number {i}") for i in range(50)]
            flooding.set()
            answers = [f.result()[:2] for f in futures]
        flood = time.monotonic() - started
        prober.join()

        median, worst = statistics.median(probes), max(probes)
        print(f"GET /login during 50 parallel wrong passwords: median {median:.3f} s, max {worst:.3f} s; "
              f"flood answered in {flood:.1f} s")
        assert median < 1.5 and worst < 5.0, f"GET /login: quiet {quiet}, during the flood {probes}; flood {flood:.1f} s"
        refused = [h for status, h in answers if status == 429]
        assert len(refused) >= 45, sorted(status for status, _ in answers)
        assert all(h.get("retry-after", "").isdigit() for h in refused)

        # The account is not locked by a flood that got one password check: after the wait, the
        # right password logs in, promptly.
        time.sleep(max(int(h["retry-after"]) for h in refused) + 0.1)
        start = time.monotonic()
        status, headers, _ = login_post(base, cookie, token, ADMIN, PASSWORD)
        assert status == 302 and headers["location"] == "/", status
        assert time.monotonic() - start < 3.0


def _failed_login_actors(db) -> list[str]:
    from mailgate.shared.models import AuditEntry

    with db.read() as s:
        return list(s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "login.failed")
                              .order_by(AuditEntry.id)))


@pytest.mark.parametrize("proxies,seen", [(0, "127.0.0.1"), (1, "203.0.113.9"), (2, "198.51.100.4")])
def test_the_client_address_behind_trusted_proxies(env, db, admin, proxies, seen):
    """A raw request as a proxy sends it: with MAILGATE_TRUSTED_PROXIES=N the client is the N-th address from
    the right of X-Forwarded-For (each proxy appends its peer); with 0 the header is anyone's and ignored."""
    # Over https (as the proxy says) Flask-WTF also checks the Referer, which a browser sends.
    forwarded = ("X-Forwarded-For: 192.0.2.66, 198.51.100.4, 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
                 "Referer: https://console/login\r\n")
    with mailgate_web({**env, "MAILGATE_TRUSTED_PROXIES": str(proxies)}) as base:
        cookie, token = login_form(base, forwarded)
        status, _, body = login_post(base, cookie, token, "guess", "not the password", forwarded)
        assert status == 200 and "Wrong username or password" in body
        # The per-address limit is the client's, not the proxy's: another client behind the same
        # proxy is not held up by this one's failure.
        other = forwarded.replace("203.0.113.9", "203.0.113.10").replace("198.51.100.4", "198.51.100.5")
        status, _, _ = login_post(base, cookie, token, "another-guess", "not the password", other)
        assert status == (429 if proxies == 0 else 200)
    assert _failed_login_actors(db)[0] == f"web:{seen}"


def test_a_malformed_forwarded_header_from_the_trusted_side_is_refused(env, db, admin):
    with mailgate_web({**env, "MAILGATE_TRUSTED_PROXIES": "1"}) as base:
        status, _, _ = raw_request(base, b"GET /login HTTP/1.1\r\nHost: console\r\nX-Forwarded-Proto: gopher:x\r\n"
                                         b"Connection: close\r\n\r\n")
        assert status == 400
