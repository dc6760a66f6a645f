"""Every per-message log line carries the Message-ID, the refused and deferred ones too (audit finding 6).

The deferred messages are the ones an admin most needs to trace; the 552 is
logged when the body (or the headers alone) crossed the size limit, after the
buffer is gone, so the Message-ID is remembered as its header goes by.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import Milter
import pytest

from mailgate.milter.adapter import Runtime
from mailgate.shared.outcomes import TempFail

from .test_adapter import Conn


class _Down:
    """A writer whose database is away: every message is deferred."""

    def receive(self, *args, **kwargs):
        raise TempFail("database unavailable while processing: OperationalError")


def _line(caplog, start: str) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "mailgate.milter" and r.getMessage().startswith(start)]
    assert lines, [r.getMessage() for r in caplog.records]
    return lines[-1]


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.INFO, logger="mailgate.milter")
    return caplog


def test_deferred_line_has_the_message_id(logged, settings, db, seed, mail):
    runtime = Runtime(settings=settings, db=db, batcher=_Down())
    raw = mail(sender="alice@example.org", to=seed.create_address, msgid="<abc-123@example.org>", body="hi\n")
    res = Conn(runtime).send(raw, "alice@example.org", seed.create_address, qid="QID77")
    assert res["eom"] == Milter.TEMPFAIL
    line = _line(logged, "message deferred")
    assert "qid=QID77" in line and "mid=abc-123@example.org" in line


@pytest.mark.parametrize("where", ["body", "headers"])
def test_too_large_line_has_the_message_id(logged, settings, db, seed, mail, where):
    small = replace(settings, max_message_bytes=2000)
    runtime = Runtime(settings=small, db=db)
    # "headers": the limit is crossed by a header before Message-ID, so the header is never buffered.
    padding = b"X-Padding: " + b"p" * 3000 + b"\n" if where == "headers" else b""
    raw = (b"From: alice@example.org\nTo: " + seed.create_address.encode() + b"\nSubject: big\n" + padding
           + b"Message-ID: <big-1@example.org>\n\n" + b"y" * 5000 + b"\n")
    res = Conn(runtime).send(raw, "alice@example.org", seed.create_address, qid="QID78")
    assert res["reply"][:2] == ("552", "5.3.4")
    line = _line(logged, "message refused")
    assert "mid=big-1@example.org" in line  # (TestCtx has no macros at the body stage: no qid here)
