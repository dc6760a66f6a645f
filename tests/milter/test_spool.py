"""A large message is spooled to a nameless file, not held on the heap, and goes to the writer as a descriptor."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc

import Milter
import pytest

from mailgate.milter.adapter import Runtime
from mailgate.milter.spool import MEMORY_BYTES, Spool
from mailgate.milter.writer import WriterProcess
from mailgate.shared.envelope import Envelope
from mailgate.shared.models import ReceivedMessage
from mailgate.shared.models.mail import ReceivedRaw
from mailgate.shared.outcomes import Status

from .test_adapter import Conn, runtime  # noqa: F401 -- the fixture

MB = 1024 * 1024


def _big_reply(mail, addr: str, size: int) -> bytes:
    """A reply whose body is `size` bytes of distinct lines (a corruption anywhere would show)."""
    lines = b"".join(b"line %08d of the log the customer asked for, kept verbatim\n" % i for i in range(size // 58))
    head = mail(sender="bob@example.org", to=addr, subject="Re: the logs", body="See below.\n")
    return head + lines


def _stored_raw(db, message_id: int | None = None) -> bytes:
    with db.read() as s:
        if message_id is None:
            message_id = s.query(ReceivedMessage.id).order_by(ReceivedMessage.id.desc()).limit(1).scalar()
        return s.get(ReceivedRaw, message_id).raw


def _fd_target(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_small_messages_stay_in_memory(tmp_path):
    spool = Spool(str(tmp_path))
    spool.write(b"x" * MEMORY_BYTES)
    assert spool.in_memory and spool.read() == b"x" * MEMORY_BYTES
    with pytest.raises(ValueError):
        spool.fileno()


def test_a_large_message_goes_to_a_file_without_a_name(tmp_path):
    spool = Spool(str(tmp_path), memory_bytes=1024)
    data = os.urandom(3 * MB)
    for i in range(0, len(data), 65536):
        spool.write(data[i:i + 65536])
    assert not spool.in_memory and spool.size == len(data)
    fd = spool.fileno()
    assert list(tmp_path.iterdir()) == []  # nothing anyone could list, open or leave behind
    assert _fd_target(fd).endswith("(deleted)")
    assert os.fstat(fd).st_mode & 0o777 == 0o600
    assert spool.read() == data and spool.read(100) == data[:100]
    spool.truncate(10)  # the headers of a message that crossed the limit
    spool.write(b"tail")
    assert spool.read() == data[:10] + b"tail"
    spool.close()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: the file is gone


def test_a_killed_process_leaves_no_spooled_file_behind(tmp_path):
    """kill -9 in the middle of a large message: the spool folder is empty, no clean-up needed at start."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from mailgate.milter.spool import Spool
        spool = Spool({str(tmp_path)!r}, memory_bytes=1024)
        for _ in range(64):
            spool.write(b"y" * 65536)
        print(os.readlink(f"/proc/self/fd/{{spool.fileno()}}"), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert str(tmp_path) in done.stdout  # it was spooled there ...
    assert list(tmp_path.iterdir()) == []  # ... and nothing is left


def _drive_until_end(conn: Conn, head: bytes, body: memoryview, sender: str, rcpt: str) -> None:
    """The callbacks up to the end of the body, as libmilter calls them: each chunk a new bytes object."""
    ctx = conn.ctx
    ctx._setsymval("i", "QBIG1")
    assert ctx._envfrom(f"<{sender}>") in (Milter.CONTINUE, Milter.NOREPLY)
    assert ctx._envrcpt(f"<{rcpt}>") == Milter.CONTINUE
    assert ctx._data() in (Milter.CONTINUE, Milter.NOREPLY)
    for line in head.decode().split("\n"):
        name, value = line.split(":", 1)
        ctx._header(name, value.strip())
    ctx._eoh()
    for i in range(0, len(body), 65535):
        assert ctx._priv.body(bytes(body[i:i + 65535])) == Milter.CONTINUE


def test_the_milter_does_not_hold_a_large_body_on_its_heap(runtime, db, task_with_reply, mail):
    """A 4 MB body passes through a session with well under 1 MB of Python memory held at any time."""
    ref, addr = task_with_reply
    raw = _big_reply(mail, addr, 4 * MB)
    head, body = raw.split(b"\n\n", 1)
    conn = Conn(runtime)
    tracemalloc.start()
    try:
        _drive_until_end(conn, head, memoryview(body), "bob@example.org", addr)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MB, f"{peak:,} bytes held for a {len(raw):,}-byte message"
    assert conn.ctx._eom() == Milter.CONTINUE
    assert _stored_raw(db).endswith(b"\r\n\r\n" + body)  # stored intact (the headers as the milter saw them)


def test_the_writer_gets_a_large_message_as_a_file_descriptor(settings, db, task_with_reply, mail, tmp_path):
    """Not pickled through the pipe: the session sends a few bytes and the descriptor; stored intact."""
    ref, addr = task_with_reply
    raw = _big_reply(mail, addr, 4 * MB)
    writer = WriterProcess(settings, "WARNING")
    writer.start()
    try:
        spool = Spool(str(tmp_path))
        for i in range(0, len(raw), 65536):
            spool.write(raw[i:i + 65536])
        assert not spool.in_memory
        envelope = Envelope(source="milter", sender="bob@example.org", recipients=[addr])
        tracemalloc.start()
        try:
            outcome = writer.receive(envelope, spool)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        spool.close()
    finally:
        writer.stop()
    assert outcome.status == Status.PROCESSED and outcome.object == ref
    assert peak < 256 * 1024, f"{peak:,} bytes allocated to hand over a {len(raw):,}-byte message"
    assert _stored_raw(db) == raw


def _open_inodes() -> set[int]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            inodes.add(os.stat(f"/proc/self/fd/{fd}").st_ino)
        except OSError:
            continue
    return inodes


def test_a_deferred_large_message_lets_go_of_its_file(settings, db, task_with_reply, mail, caplog):
    """451 at the end of the message (here: the writer is stopping): the spooled file is closed at once."""
    ref, addr = task_with_reply
    writer = WriterProcess(settings, "WARNING")
    writer.start()
    writer.stop()  # what a milter shutting down looks like to a session still at its end of message
    conn = Conn(Runtime(settings=settings, db=db, batcher=writer))
    raw = _big_reply(mail, addr, MB)
    head, body = raw.split(b"\n\n", 1)
    _drive_until_end(conn, head, memoryview(body), "bob@example.org", addr)
    inode = os.fstat(conn.milter.spool.fileno()).st_ino
    assert inode in _open_inodes()
    assert conn.ctx._eom() == Milter.TEMPFAIL
    assert inode not in _open_inodes()


def test_a_descriptor_that_does_not_come_is_a_451_for_that_message_only():
    """At its open-file limit the writer receives the request but not the file: that session is answered
    451 (the sender retries) and the writer goes on, instead of dying with every message of the round."""
    import socket
    import threading
    from multiprocessing import Pipe

    from mailgate.milter import writer
    from mailgate.shared.outcomes import TempFail

    class Answers:  # the writer's answering thread, reduced to what it was asked to say
        def __init__(self):
            self.said = []

        def put(self, answers):
            self.said.extend(answers)

    control, control_child = Pipe()
    session, session_child = Pipe()
    answers = Answers()
    serving = threading.Thread(target=writer._serve, args=(control_child, [session_child], None, None, answers))
    serving.start()
    session.send((Envelope(recipients=["bugs@reply.example.com"]), writer.Spooled(10)))
    with socket.fromfd(session.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.sendmsg([b"\x01"])  # the handle's message, without the descriptor
    control.send(writer._STOP)
    serving.join(10)
    assert not serving.is_alive()
    assert len(answers.said) == 1
    (pipe, _timings), answer = answers.said[0]
    assert pipe is session_child and isinstance(answer, TempFail) and "file" in str(answer)
