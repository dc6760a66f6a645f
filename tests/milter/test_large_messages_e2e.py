"""Large messages at once through a real Postfix and `mailgate milter`: stored intact, memory bounded.

Each session used to hold its message about three times over (chunks, the
joined bytes, the pickle to the writer), and the writer a whole batch of
them; now a large body goes to a nameless file whose descriptor the writer
reads (milter/spool.py, docs/milter.md "Limits").
"""

from __future__ import annotations

import base64
import hashlib
import os
import smtplib
import threading
from pathlib import Path

import pytest

from mailgate.shared.models import ReceivedMessage
from mailgate.shared.models.mail import ReceivedRaw
from mailgate.shared.models.tracker import Attachment

pytestmark = [pytest.mark.postfix, pytest.mark.slow]

MB = 1024 * 1024
SESSIONS = 6
SIZE = 6 * MB


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _writer_pid(milter_pid: int) -> int:
    """The writer process: the milter's child that is not multiprocessing's resource tracker."""
    for pid in Path(f"/proc/{milter_pid}/task/{milter_pid}/children").read_text().split():
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError("the milter has no writer process")


def _message(i: int, addr: str, payload: bytes) -> bytes:
    lines = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    head = (f"From: bob@example.org\r\nTo: {addr}\r\nSubject: Re: Printer on fire ({i})\r\n"
            f"Message-ID: <large-{i}@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=PART\r\n\r\n"
            "--PART\r\nContent-Type: text/plain\r\n\r\nThe printer's logs, attached.\r\n\r\n"
            f"--PART\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=log{i}.bin"
            "\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    return head.encode() + lines + b"--PART--\r\n"


def _send(port: int, addr: str, raw: bytes, errors: list[str]) -> None:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as smtp:
            refused = smtp.sendmail("bob@example.org", [addr], raw)
            if refused:
                errors.append(str(refused))
    except Exception as exc:  # noqa: BLE001 -- reported by the test
        errors.append(f"{exc.__class__.__name__}: {exc}")


def test_large_messages_at_once_are_stored_intact_in_bounded_memory(postfix, milter_proc, db, env,
                                                                    task_with_reply):
    ref, addr = task_with_reply
    payloads = [os.urandom(SIZE * 57 // 78) for _ in range(SESSIONS)]
    messages = [_message(i, addr, p) for i, p in enumerate(payloads)]
    milter, writer = milter_proc.proc.pid, _writer_pid(milter_proc.proc.pid)
    before = {pid: _kb(pid, "VmHWM") for pid in (milter, writer)}
    errors: list[str] = []
    threads = [threading.Thread(target=_send, args=(postfix.port, addr, raw, errors)) for raw in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert errors == []
    grown = {pid: (_kb(pid, "VmHWM") - before[pid]) / 1024 for pid in (milter, writer)}
    with db.read() as s:
        rows = s.query(ReceivedMessage).filter(ReceivedMessage.message_id.like("large-%")).all()
        assert sorted(r.status for r in rows) == ["processed"] * SESSIONS
        for row in rows:
            i = int(row.message_id.split("-")[1].split("@")[0])
            assert s.get(ReceivedRaw, row.id).raw.endswith(messages[i].split(b"\r\n\r\n", 1)[1])  # byte for byte
        stored = {a.name: hashlib.sha256(a.data).hexdigest() for a in s.query(Attachment)}
    assert stored == {f"log{i}.bin": hashlib.sha256(p).hexdigest() for i, p in enumerate(payloads)}
    # 36 MB went through at once: the milter held a few chunks of each, the writer one message at a time.
    assert grown[milter] < 24, f"the milter grew by {grown[milter]:.0f} MB"
    assert grown[writer] < 100, f"the writer grew by {grown[writer]:.0f} MB"
    assert list((Path(env["MAILGATE_INSTANCE"]) / "spool").iterdir()) == []  # every spooled file is gone
