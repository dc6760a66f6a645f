"""The milter's writer process: answers after the batch is durable; a dead writer means 451, then a new one."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from mailgate.milter.writer import WriterProcess
from mailgate.shared.envelope import Envelope
from mailgate.shared.outcomes import Status, TempFail
from mailgate.shared.pipeline import Timings


@pytest.fixture
def writer(settings, db):
    w = WriterProcess(settings, "WARNING")
    w.start()
    yield w
    w.stop()


def _reply(mail, addr: str, text: str) -> tuple[Envelope, bytes]:
    return Envelope(source="milter", sender="bob@example.org", recipients=[addr]), \
        mail(sender="bob@example.org", to=addr, body=text + "\n")


def test_writer_answers_like_receive(writer, task_with_reply, mail, db):
    ref, addr = task_with_reply
    timings = Timings()
    out = writer.receive(*_reply(mail, addr, "Through the writer."), timings)
    assert out.status == Status.PROCESSED and out.action == "comment" and out.object == ref
    assert timings.batch == 1 and timings.store > 0
    from mailgate.shared.queries import get_task, task_json

    with db.read() as s:
        assert "Through the writer." in [c["text"] for c in task_json(s, get_task(s, ref))["comments"]]


def test_a_killed_writer_fails_what_it_held_and_is_replaced(writer, task_with_reply, mail):
    ref, addr = task_with_reply
    old = writer.pid
    os.kill(old, signal.SIGSTOP)  # it will never answer this one
    pool = _watch_pool(writer)
    errors: list[BaseException] = []
    held = threading.Thread(target=lambda: _catch(errors, writer.receive, *_reply(mail, addr, "Lost in flight.")))
    held.start()
    _wait_until(lambda: pool.takers == 1)  # past the liveness check: the kill is its writer's death, not a restart
    os.kill(old, signal.SIGKILL)
    held.join(10)
    assert not held.is_alive() and len(errors) == 1 and isinstance(errors[0], TempFail)  # 451: the sender retries
    out = writer.receive(*_reply(mail, addr, "After the restart."))
    assert out.status == Status.PROCESSED
    assert writer.pid != old and writer.restarts == 1


def test_sessions_waiting_for_a_pipe_are_woken_when_the_writer_dies(settings, db, task_with_reply, mail, monkeypatch):
    """More sessions at end of message than pipes: those waiting for a pipe answer 451 too, none hangs."""
    monkeypatch.setattr("mailgate.milter.writer.PIPES", 1)
    ref, addr = task_with_reply
    writer = WriterProcess(settings, "WARNING")
    writer.start()
    try:
        old = writer.pid
        os.kill(old, signal.SIGSTOP)
        errors: list[BaseException] = []
        sessions = [threading.Thread(target=lambda i=i: _catch(errors, writer.receive,
                                                                *_reply(mail, addr, f"Waiting {i}.")))
                    for i in range(3)]  # one holds the only pipe, two wait for it
        pool = _watch_pool(writer)
        for t in sessions:
            t.start()
        _wait_until(lambda: pool.takers == 3)  # one holds the pipe, two wait for it: none can start a new writer
        os.kill(old, signal.SIGKILL)
        for t in sessions:
            t.join(10)
        assert not any(t.is_alive() for t in sessions)
        assert len(errors) == 3 and all(isinstance(e, TempFail) for e in errors)
        assert writer.receive(*_reply(mail, addr, "After the restart.")).status == Status.PROCESSED
        assert writer.pid != old
    finally:
        writer.stop()


def test_stopped_writer_refuses_new_messages(writer, task_with_reply, mail):
    ref, addr = task_with_reply
    writer.stop()
    with pytest.raises(TempFail):
        writer.receive(*_reply(mail, addr, "Too late."))


class _WatchedPool:
    """The writer's pipe pool, counting the sessions that reached it (they are past the liveness check)."""

    def __init__(self, pool) -> None:
        self.pool, self.takers, self._lock = pool, 0, threading.Lock()

    def get(self):
        with self._lock:
            self.takers += 1
        return self.pool.get()

    def put(self, item) -> None:
        self.pool.put(item)

    def empty(self) -> bool:
        return self.pool.empty()


def _watch_pool(writer: WriterProcess) -> _WatchedPool:
    writer._pipes = _WatchedPool(writer._pipes)
    return writer._pipes


def _wait_until(condition, timeout: float = 30.0) -> None:
    """Instead of a fixed sleep: a session thread can start late on a busy machine."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the session threads did not reach the writer's pipes"
        time.sleep(0.01)
    time.sleep(0.05)  # from get() to send(): a few bytecodes; a kill in between is a 451 just the same


def _catch(errors: list, func, *args) -> None:
    try:
        func(*args)
    except BaseException as exc:  # noqa: BLE001 -- the test looks at it
        errors.append(exc)
