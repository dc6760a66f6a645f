"""Fixtures for testing one step at a time: a stored message as the steps see it, inside a transaction."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest

from mailgate.shared.envelope import Envelope
from mailgate.shared.logs import MessageLog
from mailgate.shared.pipeline import Timings, Work, store


@pytest.fixture
def stored(db, settings, seed, mail):
    """stored(raw=None, sender=..., to=[...]) -> the Work of a freshly stored message (not yet in a transaction)."""

    def make(raw: bytes | None = None, *, sender: str | None = "alice@example.org",
             to: list[str] | None = None) -> Work:
        envelope = Envelope(sender=sender, recipients=[seed.create_address] if to is None else to)
        row, msg = store(db, settings, envelope, raw if raw is not None else mail())
        return Work(settings, envelope, Timings(), row=row, msg=msg,
                    log=MessageLog(logging.getLogger("test"), rec=row.id))

    return make


@pytest.fixture
def deciding(db):
    """`with deciding(w):` -- w.conn in an open write transaction and savepoint, rolled back afterwards."""

    @contextmanager
    def scope(*works: Work):
        with db.pipeline() as conn:
            conn.begin_write()
            conn.savepoint()
            for w in works:
                w.conn = conn
            try:
                yield conn
            finally:
                conn.rollback_quietly()

    return scope
