"""Signed webhook tokens already used (Mailgun): a replay is refused, on every host sharing the database."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from mailgate.shared.db import Database, utcnow
from mailgate.shared.models import WebhookToken

log = logging.getLogger("mailgate.ingress")
KEEP = timedelta(minutes=15)  # longer than a signature stays fresh (5 minutes either way)


_in_flight: set[str] = set()  # tokens of requests this process is handling now (remembered only once stored)
_in_flight_lock = threading.Lock()


def claim(db: Database, token: str) -> bool:
    """True for the first use of `token`; False when it was used before or is being used right now.

    A post is remembered only once its message is stored (a retry after a 503 must pass), so copies
    of one signed post arriving together would all pass `seen()`: the one in flight holds it here.
    Call `release()` when the request is done, whatever its answer."""
    with _in_flight_lock:
        if token in _in_flight:
            return False
        _in_flight.add(token)
    try:
        if seen(db, token):
            release(token)
            return False
    except BaseException:
        release(token)
        raise
    return True


def release(token: str) -> None:
    with _in_flight_lock:
        _in_flight.discard(token)


def seen(db: Database, token: str) -> bool:
    with db.read() as s:
        return s.scalar(select(WebhookToken.token).where(WebhookToken.token == token[:128])) is not None


def remember(db: Database, token: str) -> None:
    """Record a used token and drop the expired ones; a failure here costs only replay protection."""
    try:
        with db.transaction() as s:
            s.execute(delete(WebhookToken).where(WebhookToken.seen_at < utcnow() - KEEP))
            s.add(WebhookToken(token=token[:128], seen_at=utcnow()))
    except IntegrityError:
        pass  # a concurrent copy of the same request recorded it: dedupe absorbed the message
    except Exception as exc:  # noqa: BLE001 -- the message is stored; the answer must stay 200
        log.warning("webhook token not recorded: %s", exc.__class__.__name__)
