"""The API mailers against odd credentials and hostile answers: no secret in any text, no unbounded read."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from mailgate.shared.config import ConfigError
from mailgate.shared.mailer_config import parse_mailers
from mailgate.shared.outbound.api_mailers import PostmarkMailer, SendgridMailer
from mailgate.shared.outbound.failures import MailerFailure

from ..support.api_standins import STANDINS

MIME = b"From: a@reply.example.com\r\nTo: b@example.org\r\nSubject: s\r\nMessage-ID: <1@x>\r\n\r\nHello\r\n"


@pytest.mark.parametrize("value", ["pm-token\n", "pm token", "pm-t\u00f6ken", "pm\x00token"])
def test_a_credential_an_http_header_cannot_carry_is_refused_at_start_up_without_showing_it(value):
    entry = {"key": "pm", "type": "postmark", "options": {"access-token": value}}
    with pytest.raises(ConfigError) as refused:
        parse_mailers("MAILGATE_MAILERS", json.dumps([entry]))
    assert "options.access-token" in str(refused.value)
    assert value.strip() not in str(refused.value)


@pytest.mark.parametrize("cls,option", [(PostmarkMailer, "access-token"), (SendgridMailer, "api-key")])
def test_an_error_text_never_carries_the_credential(cls, option):
    """Defence in depth: a header the HTTP library refuses is named in its error, credential included."""
    standin = STANDINS[cls.type]().start()
    try:
        mailer = cls("k", {option: "S3CRET-VALUE\r\nX-Injected: 1", "endpoint": standin.url})
        with pytest.raises(MailerFailure) as failed:
            mailer.send("a@reply.example.com", ["b@example.org"], MIME)
        assert "S3CRET" not in str(failed.value)
        assert standin.requests == []  # nothing was sent, injected header or not
    finally:
        standin.stop()


class EndlessAnswer:
    """A server that answers `status` and then sends body bytes without end (until 20 s have passed)."""

    def __init__(self, status: int, pause: float = 0.0) -> None:
        self.status, self.pause = status, pause
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sent = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(65536)
            conn.sendall(f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n".encode())
            chunk = b"x" * 65536
            ends = time.monotonic() + 20
            try:
                while time.monotonic() < ends:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.sent += len(chunk)
                    time.sleep(self.pause)
            except OSError:
                pass  # the client stopped reading and closed: what it should do

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("status,pause", [(500, 0.0), (200, 0.0), (500, 0.5)])
def test_an_answer_without_end_is_read_only_so_far(status, pause):
    """A broken proxy or service that never ends its answer (fast, or a trickle that keeps every read
    within the timeout) costs at most a bounded read and the mailer's timeout, not the worker."""
    server = EndlessAnswer(status, pause)
    mailer = PostmarkMailer("pm", {"access-token": "pm-token", "endpoint": server.url, "timeout": 2})
    started = time.monotonic()
    try:
        if status == 200:
            mailer.send("a@reply.example.com", ["b@example.org"], MIME)
        else:
            with pytest.raises(MailerFailure) as failed:
                mailer.send("a@reply.example.com", ["b@example.org"], MIME)
            assert len(str(failed.value)) < 1000
    finally:
        took = time.monotonic() - started
        mailer.close()
        server.close()
    assert took < 4, took
    assert server.sent < 64 * 1024 * 1024
