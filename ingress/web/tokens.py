"""Signed webhook tokens already used (Mailgun): a replay is refused, on every host sharing the database."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from mailgate.shared.db import Database, utcnow
from mailgate.shared.models import WebhookToken

log = logging.getLogger("mailgate.ingress")
KEEP = timedelta(minutes=15)  # longer than a signature stays fresh (5 minutes either way)


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
