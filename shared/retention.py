"""Retention: remove old mail, never what is still needed.

By default (Settings: MAILGATE_PURGE_AFTER_DAYS, _PURGE_REJECTED_AFTER_DAYS)
processed mail and finished notifications go after 90 days, rejected and
ignored mail -- what anyone on the internet can make Mailgate keep -- after
14 (purge_by_policy, which the worker runs daily).

Kept whatever their age: messages still `received` (not finished: the
stale-message recovery needs them), `failed` ones awaiting a reprocess
(unless asked), and outbound mail still `queued`. Tasks and comments stay;
their link to the source message becomes empty. Deletes go in batches so
the milter never waits long behind a purge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from mailgate.shared import audit
from mailgate.shared.config import Settings
from mailgate.shared.db import Database, utcnow
from mailgate.shared.models import OutboundMessage, ReceivedMessage

BATCH = 500
# A purged message takes its dedupe claim with it, so a copy arriving later
# would be acted on again. Senders' MTAs give up after 5 days (Postfix's
# maximal_queue_lifetime), so a week is the shortest safe retention.
MIN_DAYS = 7
DONE_INBOUND = ("processed", "ignored", "rejected")
REFUSED_INBOUND = ("ignored", "rejected")
DONE_OUTBOUND = ("sent", "failed", "void")


@dataclass
class PurgeResult:
    received: int = 0
    outbound: int = 0
    kept_failed: int = 0

    def to_json(self) -> dict:
        return {"received": self.received, "outbound": self.outbound, "kept_failed": self.kept_failed}


def _inbound_statuses(include_failed: bool) -> tuple[str, ...]:
    return DONE_INBOUND + (("failed",) if include_failed else ())


def _delete_in_batches(db: Database, model, where: tuple) -> int:
    """Short transactions of BATCH rows, so writers (the milter) never wait long."""
    total = 0
    while True:
        with db.transaction() as s:
            ids = s.scalars(select(model.id).where(*where).limit(BATCH)).all()
            if ids:
                s.execute(delete(model).where(model.id.in_(ids)))
        total += len(ids)
        if len(ids) < BATCH:
            return total


def purge(db: Database, older_than_days: int, *, include_failed: bool = False, dry_run: bool = False,
          actor: str = "system", statuses: tuple[str, ...] | None = None, outbound: bool = True) -> PurgeResult:
    """Delete received (of `statuses`, default every finished one) and outbound messages older than the days given."""
    if older_than_days < MIN_DAYS:
        raise ValueError(f"older_than_days must be at least {MIN_DAYS}: a purged message's dedupe claim goes "
                         "with it, and senders retry for up to 5 days")
    cutoff = utcnow() - timedelta(days=older_than_days)
    statuses = statuses or _inbound_statuses(include_failed)
    inbound_where = (ReceivedMessage.created_at < cutoff, ReceivedMessage.status.in_(statuses))
    outbound_where = (OutboundMessage.created_at < cutoff, OutboundMessage.status.in_(DONE_OUTBOUND))
    result = PurgeResult()
    with db.read() as s:
        if "failed" not in statuses:
            result.kept_failed = s.scalar(select(func.count()).select_from(ReceivedMessage).where(
                ReceivedMessage.created_at < cutoff, ReceivedMessage.status == "failed")) or 0
        if dry_run:
            result.received = s.scalar(select(func.count()).select_from(ReceivedMessage).where(*inbound_where)) or 0
            if outbound:
                result.outbound = s.scalar(select(func.count()).select_from(OutboundMessage)
                                           .where(*outbound_where)) or 0
            return result
    if outbound:
        result.outbound = _delete_in_batches(db, OutboundMessage, outbound_where)
    # Raw bytes and dedupe claims go with a received row (ON DELETE CASCADE);
    # tasks, comments and outbound rows stay (ON DELETE SET NULL).
    result.received = _delete_in_batches(db, ReceivedMessage, inbound_where)
    with db.transaction() as s:
        audit.record(s, actor, "purge", f"older than {older_than_days} days", **result.to_json(),
                     include_failed=include_failed, statuses=list(statuses))
    return result


def describe(settings: Settings) -> str:
    """The retention in one sentence, as the console shows it."""
    def days(n: int) -> str:
        return f"{n} days" if n else "until purged by hand"
    return (f"Processed mail is kept {days(settings.purge_after_days)}; rejected and ignored mail "
            f"{days(settings.purge_rejected_after_days)}; failed and unfinished messages until dealt with "
            "(MAILGATE_PURGE_AFTER_DAYS, MAILGATE_PURGE_REJECTED_AFTER_DAYS).")


def purge_by_policy(db: Database, settings: Settings, *, actor: str = "system") -> dict[str, PurgeResult]:
    """The configured retention: rejected and ignored mail after its (shorter) days, then the rest."""
    done: dict[str, PurgeResult] = {}
    if settings.purge_rejected_after_days:
        done["rejected"] = purge(db, settings.purge_rejected_after_days, actor=actor, statuses=REFUSED_INBOUND,
                                 outbound=False)
    if settings.purge_after_days:
        done["processed"] = purge(db, settings.purge_after_days, actor=actor)
    return done
