"""A database that is unwritable for half a second is not an outage that outlives it (issue 20 item 1).

Found by the attack run: with the SQLite file, its -wal and -shm made
immutable (`chattr +i`) for 0.5 s, the writer's pooled connections were
reopened read-only and kept, every later message got 451 for as long as the
milter ran, and `mailgate check` said all was well. Here: the same fault
against a real Postfix and milter, then mail must flow again within 5 s of
the fault's end, and health must have seen the failed stores.
"""

from __future__ import annotations

import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from privatepostfix import MilterProcess

from .conftest import require

pytestmark = [pytest.mark.postfix, pytest.mark.slow]


def _files(env: dict) -> list[Path]:
    db = Path(env["MAILGATE_DATABASE_URL"].removeprefix("sqlite:///"))
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


def _immutable(paths: list[Path], on: bool) -> None:
    subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], check=True)


def _send(port: int, mail, address: str, n: int) -> int:
    """One message on a fresh connection; the SMTP code of its end (or of its RCPT when refused there)."""
    raw = mail(sender="alice@example.org", to=address, subject=f"during the fault {n}", body=f"Message {n}.\n")
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("alice@example.org", [address], raw)
        return 250
    except smtplib.SMTPRecipientsRefused as exc:
        return next(iter(exc.recipients.values()))[0]
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code


def test_mail_flows_again_within_5_s_of_a_read_only_half_second(postfix, env, db, seed, mail, tmp_path):
    require("chattr", "e2fsprogs")
    if not env["MAILGATE_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the fault is SQLite's files made immutable")
    milter = MilterProcess(env=env, socket_path=postfix.milter_socket, log_path=tmp_path / "milter.log").start()
    try:
        assert _send(postfix.port, mail, seed.create_address, 0) == 250
        files = _files(env)
        codes = []
        _immutable(files, True)
        try:
            end = time.monotonic() + 0.5
            n = 1
            while time.monotonic() < end:  # the writer tries (and fails) to store during the fault
                codes.append(_send(postfix.port, mail, seed.create_address, n))
                n += 1
        finally:
            _immutable(files, False)
        fault_over = time.monotonic()
        assert codes and all(c in (250, 451) for c in codes), codes
        recovered = None
        while time.monotonic() - fault_over < 15:
            if _send(postfix.port, mail, seed.create_address, n) == 250:
                recovered = time.monotonic() - fault_over
                break
            n += 1
            time.sleep(0.1)
        assert recovered is not None and recovered < 5.0, (recovered, codes, milter.log())
        # ... and it stays up: the next messages are taken too.
        assert [_send(postfix.port, mail, seed.create_address, n + k) for k in range(1, 4)] == [250, 250, 250]
    finally:
        milter.stop()
