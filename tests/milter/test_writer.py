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
    errors: list[BaseException] = []
    held = threading.Thread(target=lambda: _catch(errors, writer.receive, *_reply(mail, addr, "Lost in flight.")))
    held.start()
    time.sleep(0.3)
    os.kill(old, signal.SIGKILL)
    held.join(10)
    assert not held.is_alive() and len(errors) == 1 and isinstance(errors[0], TempFail)  # 451: the sender retries
    out = writer.receive(*_reply(mail, addr, "After the restart."))
    assert out.status == Status.PROCESSED
    assert writer.pid != old and writer.restarts == 1


def test_stopped_writer_refuses_new_messages(writer, task_with_reply, mail):
    ref, addr = task_with_reply
    writer.stop()
    with pytest.raises(TempFail):
        writer.receive(*_reply(mail, addr, "Too late."))


def _catch(errors: list, func, *args) -> None:
    try:
        func(*args)
    except BaseException as exc:  # noqa: BLE001 -- the test looks at it
        errors.append(exc)
