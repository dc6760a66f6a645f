"""`mailgate ingress` as deployed: waitress on a loopback port, real HTTP, the size limit before parsing."""

from __future__ import annotations

import base64
import json
import socket
import time
from contextlib import contextmanager

import pytest
from ingress_process import running_ingress

from ..conftest import REPLY_DOMAIN, make_mail
from .dovecot import free_port
from .providers import POSTMARK_IP, postmark_payload, sendgrid_form
from .test_webhooks import MAILERS, PM_AUTH, SG_AUTH, refused, rows

pytestmark = pytest.mark.slow


@contextmanager
def start_listener(env: dict, **more: str):
    full = {**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_MAX_MESSAGE_BYTES": "65536", **more}
    with running_ingress(full, free_port()) as listener:
        yield listener.port
    print(listener.output)


@pytest.fixture
def listener(env, db, seed):
    with start_listener(env) as port:
        yield port


def raw_request(port: int, head: str, body: bytes = b"", read_timeout: float = 10) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(head.encode() + body)
        answer = s.recv(65536).decode("latin-1")
    return int(answer.split(" ", 2)[1]), answer


def _multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "b0undary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), boundary


def test_post_over_http_is_stored_and_answered_200(listener, db):
    body, boundary = _multipart(sendgrid_form(make_mail(subject="over HTTP"), [f"bugs@{REPLY_DOMAIN}"]))
    auth = base64.b64encode(":".join(SG_AUTH).encode()).decode()
    status, answer = raw_request(listener, f"POST /mail/sendgrid/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                                 f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n", body)
    assert status == 200, answer
    assert rows(db)[-1].subject == "over HTTP" and rows(db)[-1].source == "sendgrid"


def test_oversized_bodies_are_refused_before_parsing(listener, db):
    """Over the app's limit: refused from Content-Length before the form is parsed (counted). Far over it:
    waitress answers from the headers alone, before the body is even sent."""
    auth = base64.b64encode(":".join(SG_AUTH).encode()).decode()
    head = (f"POST /mail/sendgrid/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
    over_app = 3 * 65536 + 1024 * 1024 + 1
    status, _ = raw_request(listener, head.format(length=over_app), b"x" * over_app)
    assert status == 413
    started = time.monotonic()
    status, _ = raw_request(listener, head.format(length=50 * 1024 * 1024))  # headers only
    assert status == 413 and time.monotonic() - started < 5
    assert rows(db) == []
    assert refused(db) == {("sendgrid", "too_large"): 1}  # the second never reached Mailgate: waitress's own


def test_the_console_is_not_on_this_listener(listener):
    for path in ("/", "/login", "/received/", "/static/mailgate.css"):
        status, _ = raw_request(listener, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 404


def _postmark_request(port: int, forwarded_for: str | None) -> int:
    body = json.dumps(postmark_payload(make_mail(), f"bugs@{REPLY_DOMAIN}")).encode()
    auth = base64.b64encode(":".join(PM_AUTH).encode()).decode()
    xff = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
    status, _ = raw_request(port, f"POST /mail/postmark/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n{xff}"
                            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n",
                            body)
    return status


def test_postmark_source_check_without_and_behind_a_trusted_proxy(env, db, seed):
    """Without MAILGATE_TRUSTED_PROXIES a forged X-Forwarded-For is dropped; with 1, the proxy's entry counts."""
    with start_listener(env) as port:
        assert _postmark_request(port, POSTMARK_IP) == 403  # the peer is 127.0.0.1, whatever the header says
    with start_listener(env, MAILGATE_TRUSTED_PROXIES="1") as port:
        assert _postmark_request(port, POSTMARK_IP) == 200
        assert _postmark_request(port, f"{POSTMARK_IP}, 127.0.0.9") == 403  # only the nearest proxy's entry
        assert _postmark_request(port, None) == 403
    assert [r.client_addr for r in rows(db)] == [POSTMARK_IP]
