"""The durability promise: answers only once on disk, and a batch that fails fails as a whole."""

from __future__ import annotations

import threading

import pytest

from mailgate.shared import durability
from mailgate.shared.outcomes import Outcome, Status, TempFail


class _Disk:
    def __init__(self, broken: bool = False) -> None:
        self.broken, self.syncs = broken, 0

    def make_durable(self) -> None:
        self.syncs += 1
        if self.broken:
            raise OSError(5, "Input/output error")


def _answered(disk, pairs):
    got, done = [], threading.Event()

    def deliver(caller, answer, seconds):
        got.append((caller, answer))
        if len(got) == len(pairs):
            done.set()

    answers = durability.DurableAnswers(disk, deliver, name="test-sync")
    answers.start()
    answers.put(pairs)
    assert done.wait(10)
    answers.stop()
    return got


def test_answers_go_out_after_the_fsync():
    disk, ok, alone = _Disk(), Outcome(id=1, status=Status.PROCESSED), TempFail("this message alone")
    assert _answered(disk, [("a", ok), ("b", alone)]) == [("a", ok), ("b", alone)]
    assert disk.syncs == 1


def test_a_failed_fsync_acknowledges_nothing():
    disk = _Disk(broken=True)
    got = _answered(disk, [("a", Outcome(id=1, status=Status.PROCESSED)), ("b", TempFail("own reason"))])
    assert [type(a) for _, a in got] == [TempFail, TempFail]
    assert "could not make the message durable" in str(got[0][1]) and str(got[1][1]) == "own reason"


def test_a_batch_that_failed_as_a_whole_is_answered_without_waiting_for_the_disk():
    disk = _Disk()
    failed = TempFail("could not store")
    assert _answered(disk, [("a", failed), ("b", failed)]) == [("a", failed), ("b", failed)]
    assert disk.syncs == 0


def test_a_batch_that_raised_is_tempfail_for_every_message():
    assert [str(a) for a in durability.answers_or_tempfail(lambda: [1, 2], 2, "q1,q2")] == ["1", "2"]
    down = durability.answers_or_tempfail(lambda: (_ for _ in ()).throw(TempFail("down")), 2, "q1,q2")
    assert [str(a) for a in down] == ["down", "down"]
    crashed = durability.answers_or_tempfail(lambda: {}["missing"], 3, "q1,q2,q3")
    assert len(crashed) == 3 and all(isinstance(a, TempFail) and "KeyError" in str(a) for a in crashed)


def test_a_unit_of_work_is_durable_when_it_ends_and_tempfail_when_it_fails(db, monkeypatch):
    synced = []
    monkeypatch.setattr(db, "make_durable", lambda: synced.append(True))
    with durability.unit(db, "could not store the message") as unit:
        assert unit.conn is not None and not synced
    assert synced == [True]
    with pytest.raises(TempFail, match="could not store the message: ZeroDivisionError"):
        with durability.unit(db, "could not store the message"):
            1 / 0
    assert synced == [True]  # nothing to make durable: nobody is answered 2xx
    with durability.unit(db, "deferred", sync=False):
        pass
    assert synced == [True]


def test_a_console_transaction_commits_on_disk_or_leaves_nothing(db, seed, monkeypatch):
    """How the console and the CLI act through the mail path's functions: a Conn of their own."""
    from sqlalchemy import func, select

    from mailgate.shared.keys import count_issued, signing_key
    from mailgate.shared.models import MailKey

    def issued():
        with db.read() as s:
            return s.scalar(select(func.coalesce(func.sum(MailKey.issued), 0)))

    synced = []
    real = db.make_durable
    monkeypatch.setattr(db, "make_durable", lambda: synced.append(True) or real())
    before = issued()
    with durability.transaction(db) as conn:
        count_issued(conn, signing_key(conn))
    assert issued() == before + 1 and synced == [True]
    with pytest.raises(ZeroDivisionError):
        with durability.transaction(db) as conn:
            count_issued(conn, signing_key(conn))
            1 / 0
    assert issued() == before + 1 and synced == [True]  # rolled back, nothing to make durable
