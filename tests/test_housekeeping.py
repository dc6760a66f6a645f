"""The worker's chores: stale recovery on a schedule, daily purge only when configured."""

from datetime import timedelta

from sqlalchemy import func, select, update

from mailgate.shared.config import from_env
from mailgate.shared.db import utcnow
from mailgate.shared.envelope import Envelope
from mailgate.shared.housekeeping import RECOVER_EVERY, Housekeeper
from mailgate.shared.models import ReceivedMessage
from mailgate.shared.pipeline import store


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_old(db, days=0, minutes=0):
    with db.transaction() as s:
        s.execute(update(ReceivedMessage).values(created_at=utcnow() - timedelta(days=days, minutes=minutes)))


def statuses(db):
    with db.read() as s:
        return [r for r in s.scalars(select(ReceivedMessage.status).order_by(ReceivedMessage.id))]


def test_recovers_stale_messages_on_schedule(db, settings, seed, mail):
    clock = Clock()
    hk = Housekeeper(db, settings, clock)
    store(db, settings, Envelope(recipients=[seed.create_address]), mail(subject="stuck"))
    hk.tick()
    assert statuses(db) == ["received"]  # too young to be called stale
    make_old(db, minutes=11)
    clock.now += 1
    hk.tick()
    assert statuses(db) == ["received"]  # not due again yet
    clock.now += RECOVER_EVERY
    hk.tick()
    assert statuses(db) == ["processed"]


def test_purges_daily_only_when_configured(db, env, seed, receive, mail):
    receive(mail())
    make_old(db, days=40)
    Housekeeper(db, from_env(env), Clock()).tick()
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(ReceivedMessage)) == 1
    Housekeeper(db, from_env({**env, "MAILGATE_PURGE_AFTER_DAYS": "30"}), Clock()).tick()
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(ReceivedMessage)) == 0


def _count(db, status=None):
    with db.read() as s:
        q = select(func.count()).select_from(ReceivedMessage)
        if status:
            q = q.where(ReceivedMessage.status == status)
        return s.scalar(q)


def _age(db, status, days):
    with db.transaction() as s:
        s.execute(update(ReceivedMessage).where(ReceivedMessage.status == status)
                  .values(created_at=utcnow() - timedelta(days=days)))


def test_retention_is_on_by_default_shorter_for_refused_mail(db, env, seed, receive, mail):
    """Issue 20 item 4: out of the box, rejected and ignored mail goes after 14 days, the rest after 90."""
    settings = from_env(env)
    assert (settings.purge_after_days, settings.purge_rejected_after_days) == (90, 14)
    assert receive(mail(subject="kept")).status == "processed"
    assert receive(mail(sender="stranger@example.com")).status == "rejected"
    assert receive(mail(headers={"Auto-Submitted": "auto-replied"})).status == "ignored"
    for status in ("processed", "rejected", "ignored"):
        _age(db, status, 15)
    Housekeeper(db, settings, Clock()).tick()
    assert (_count(db, "processed"), _count(db, "rejected"), _count(db, "ignored")) == (1, 0, 0)
    _age(db, "processed", 91)
    hk = Housekeeper(db, settings, Clock())
    hk.tick()
    assert _count(db) == 0


def test_each_retention_can_be_switched_off(db, env, seed, receive, mail):
    settings = from_env({**env, "MAILGATE_PURGE_AFTER_DAYS": "0", "MAILGATE_PURGE_REJECTED_AFTER_DAYS": "0"})
    receive(mail())
    receive(mail(sender="stranger@example.com"))
    make_old(db, days=400)
    Housekeeper(db, settings, Clock()).tick()
    assert _count(db) == 2


def test_a_refused_mail_retention_under_a_week_is_a_configuration_error(env):
    import pytest

    from mailgate.shared.config import ConfigError

    with pytest.raises(ConfigError, match="MAILGATE_PURGE_REJECTED_AFTER_DAYS"):
        from_env({**env, "MAILGATE_PURGE_REJECTED_AFTER_DAYS": "3"})
