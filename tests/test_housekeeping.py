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
