"""A database server that takes the connection and never answers: the webhook answers 503 in bounded time.

Without a connect timeout libpq waits for ever and the provider's request hangs
until it gives up (no retry scheduled by a clean 503, a worker thread lost).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Callable

import pytest
from sqlalchemy.exc import OperationalError

from mailgate.shared import db as dbmod
from mailgate.shared.config import from_env
from mailgate.shared.db import Database

from ..conftest import REPLY_DOMAIN, make_mail
from .providers import POSTMARK_IP, postmark_payload
from .test_webhooks import MAILERS, PM_AUTH


def _silent_server() -> socket.socket:
    """Listens, lets the kernel complete each handshake, and never reads or writes a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def test_unanswering_database_gives_503_within_the_connect_timeout(tmp_path, monkeypatch):
    from mailgate.ingress.web.app import create_app

    monkeypatch.setattr(dbmod, "PG_CONNECT_TIMEOUT", 1)
    silent = _silent_server()
    url = f"postgresql+psycopg://mailgate:x@127.0.0.1:{silent.getsockname()[1]}/mailgate"
    settings = from_env({"MAILGATE_INSTANCE": str(tmp_path / "instance"), "MAILGATE_DATABASE_URL": url,
                         "MAILGATE_REPLY_DOMAIN": REPLY_DOMAIN, "MAILGATE_SECRET_KEY": "k",
                         "MAILGATE_MAILERS": json.dumps(MAILERS)})
    db = Database.from_settings(settings)
    client = create_app(settings, db).test_client()
    payload = postmark_payload(make_mail(subject="Database not answering"), f"bugs@{REPLY_DOMAIN}")
    answer: dict = {}

    def post() -> None:
        started = time.monotonic()
        answer["response"] = client.post("/mail/postmark/", json=payload, auth=PM_AUTH,
                                         environ_base={"REMOTE_ADDR": POSTMARK_IP})
        answer["seconds"] = time.monotonic() - started

    try:
        worker = threading.Thread(target=post, daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "the webhook still waits on a database that never answers"
        assert answer["response"].status_code == 503
        assert answer["response"].headers["Retry-After"] == "60"
        assert answer["seconds"] < 10
    finally:
        db.dispose()
        silent.close()


def _gives_up_soon(connect: Callable[[], object]) -> None:
    """`connect` fails with OperationalError within 10 s (it runs in a thread given 30, so a hang fails too)."""
    outcome: dict = {}

    def run() -> None:
        started = time.monotonic()
        try:
            connect()
        except OperationalError as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "still waiting on a database that never answers"
    assert "error" in outcome and outcome["seconds"] < 10


def _engine_test(monkeypatch, default: int, query: str = "", **kwargs) -> None:
    monkeypatch.setattr(dbmod, "PG_CONNECT_TIMEOUT", default)
    silent = _silent_server()
    engine = dbmod.make_engine(f"postgresql+psycopg://u:p@127.0.0.1:{silent.getsockname()[1]}/db{query}", **kwargs)
    try:
        _gives_up_soon(engine.connect)
    finally:
        engine.dispose()
        silent.close()


def test_a_urls_own_connect_timeout_wins(monkeypatch):
    _engine_test(monkeypatch, 60, "?connect_timeout=1")


def test_a_callers_connect_args_keep_the_timeout(monkeypatch):
    _engine_test(monkeypatch, 1, connect_args={"application_name": "mailgate-test"})


def test_the_console_waits_no_longer_than_the_listener(tmp_path, monkeypatch):
    from mailgate.webui import create_app
    from mailgate.webui.extensions import db as console_db

    monkeypatch.setattr(dbmod, "PG_CONNECT_TIMEOUT", 1)
    silent = _silent_server()
    url = f"postgresql+psycopg://mailgate:x@127.0.0.1:{silent.getsockname()[1]}/mailgate"
    app = create_app({"MAILGATE_ENV": {"MAILGATE_INSTANCE": str(tmp_path / "instance"),
                                       "MAILGATE_DATABASE_URL": url, "MAILGATE_REPLY_DOMAIN": REPLY_DOMAIN,
                                       "MAILGATE_SECRET_KEY": "k"}})

    def connect() -> None:
        with app.app_context():
            console_db.engine.connect()

    try:
        _gives_up_soon(connect)
    finally:
        silent.close()
