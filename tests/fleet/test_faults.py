"""Faults on a two-host fleet: PostgreSQL stopped, a milter SIGKILLed mid-message.

What must hold each time: the client is answered 4xx (never 2xx for a message
that was not stored, never 5xx for our failure), the client's retry is
stored and acted on exactly once, and mail flows again without restarting
the milter once the database is back.
"""

from __future__ import annotations

import smtplib
import time

import pytest
from sqlalchemy import text

from .harness import SmtpSender, reply, rows_by_message_id

pytestmark = [pytest.mark.postfix, pytest.mark.postgres, pytest.mark.slow]


# One seeded target (reply address) per message tag, all different. Not hash(tag): str hashes change
# per process, and two tags on one address let the milter's RCPT cache (10 s) answer for the database.
# The message sent while the database is down gets an address of its own (_never_seen).
_TARGET = {"warm": 0, "db-stops-mid-session": 2, "killed-during-data": 3, "killed-after-store": 4}


def _one_each(fleet, tag: str):
    mail, name, addr, ref = fleet.targets[_TARGET[tag]]
    mid, raw = reply(tag, mail, name, addr, ref)
    return mid, mail, addr, raw


def _never_seen(fleet, tag: str):
    """A reply address no milter has been asked about: a user of its own, made now.

    fleet.targets are shared by the whole session: test_two_hosts and the soak send to all of them,
    so whenever one of those ran less than 10 s before (another order, --lf, -k), a seeded address
    would be in the milters' RCPT cache and pass RCPT without the database.
    """
    from mailgate.shared import directory, durability
    from mailgate.shared.addresses import issue_reply_address

    name = f"{tag}-{time.time_ns()}"
    mail = f"{name}@example.org"
    ref = fleet.targets[0][3]
    with fleet.db.transaction() as s:
        user_id = directory.add_user(s, name, [mail], name, settings=fleet.settings, actor="test").id
    with durability.transaction(fleet.db) as conn:
        addr, _ = issue_reply_address(conn, fleet.settings, ref, user_id)
    mid, raw = reply(tag, mail, name, addr, ref)
    return mid, mail, addr, raw


def test_database_down_is_4xx_and_back_without_restart(healthy):
    fleet = healthy
    pids = [h.milter_pid for h in fleet.hosts]
    sender = SmtpSender([h.port for h in fleet.hosts])
    warm = _one_each(fleet, "warm")
    for h in (0, 1):  # both milters have pooled connections that the stop will break
        assert sender.send_once(h, warm[1], warm[2], warm[3].replace(b"warm", f"warm{h}".encode())).code == 250
    mid, mail, addr, raw = _never_seen(fleet, "while-db-down")
    assert addr not in [t[2] for t in fleet.targets]  # a cached RCPT verdict would pass without the database
    fleet.pg.stop()
    try:
        for h in (0, 1):
            a = sender.send_once(h, mail, addr, raw)
            assert 400 <= a.code < 500, (a, fleet.logs())
            assert a.stage == "RCPT"  # the address check needs the database: refused before DATA
    finally:
        fleet.pg.start()
        sender.close()
    assert [h.milter_pid for h in fleet.hosts] == pids  # nobody restarted anything
    # Back: the very first message on each host goes through (pre-ping replaces the dead connections).
    for h in (0, 1):
        a = sender.send_once(h, mail, addr, raw)
        assert a.code == 250, (a, fleet.logs())
    sender.close()
    seen = rows_by_message_id(fleet.db, [mid])[mid]
    # Nothing was stored while the database was down; the retry on host 0 acted, the one on host 1 is the duplicate.
    assert seen == {"rows": 2, "processed": 1, "duplicate": 1, "received": 0, "other": [], "comments": 1}, seen
    assert [h.milter_pid for h in fleet.hosts] == pids


def test_database_stops_between_rcpt_and_data(healthy):
    """The recipient was accepted, then the database went away: 451 at the end of DATA, nothing stored."""
    fleet = healthy
    mid, mail, addr, raw = _one_each(fleet, "db-stops-mid-session")
    smtp = smtplib.SMTP("127.0.0.1", fleet.hosts[0].port, timeout=60)
    try:
        smtp.ehlo("sender.example.org")
        assert smtp.mail(mail)[0] == 250
        assert smtp.rcpt(addr)[0] == 250
        fleet.pg.stop()
        code, msg = smtp.data(raw)
        assert 400 <= code < 500, (code, msg)
    finally:
        smtp.close()
        fleet.pg.start()
    assert rows_by_message_id(fleet.db, [mid])[mid]["rows"] == 0
    sender = SmtpSender([h.port for h in fleet.hosts])
    try:
        assert sender.deliver(mid, 0, mail, addr, raw, max_attempts=1).accepted
    finally:
        sender.close()
    seen = rows_by_message_id(fleet.db, [mid])[mid]
    assert seen == {"rows": 1, "processed": 1, "duplicate": 0, "received": 0, "other": [], "comments": 1}, seen


def _data_started(smtp: smtplib.SMTP, mail: str, addr: str) -> None:
    smtp.ehlo("sender.example.org")
    assert smtp.mail(mail)[0] == 250
    assert smtp.rcpt(addr)[0] == 250
    smtp.putcmd("data")
    code, msg = smtp.getreply()
    assert code == 354, (code, msg)


def test_milter_killed_during_data_client_retries_one_copy(healthy):
    fleet = healthy
    host0 = fleet.hosts[0]
    mid, mail, addr, raw = _one_each(fleet, "killed-during-data")
    half = raw.index(b"\r\n\r\n") + 4 + 40
    smtp = smtplib.SMTP("127.0.0.1", host0.port, timeout=60)
    try:
        _data_started(smtp, mail, addr)
        smtp.send(raw[:half])
        host0.kill_milter()  # the milter holds this message's envelope; it dies with it
        smtp.send(raw[half:] + b"\r\n.\r\n")
        code, msg = smtp.getreply()
        assert 400 <= code < 500, (code, msg)
    finally:
        smtp.close()
    assert rows_by_message_id(fleet.db, [mid])[mid]["rows"] == 0

    sender = SmtpSender([h.port for h in fleet.hosts])
    try:
        # The same host while its milter is down: Postfix's default action, 4xx.
        a = sender.send_once(0, mail, addr, raw)
        assert 400 <= a.code < 500, a
        # The sending MTA tries the other MX: accepted there.
        assert sender.send_once(1, mail, addr, raw).code == 250
        # Host 0 back (a service manager's restart); a late retry there is a duplicate.
        host0.start_milter()
        assert sender.send_once(0, mail, addr, raw).code == 250
    finally:
        sender.close()
    seen = rows_by_message_id(fleet.db, [mid])[mid]
    assert seen == {"rows": 2, "processed": 1, "duplicate": 1, "received": 0, "other": [], "comments": 1}, seen


def _wait_blocked_on(fleet, table: str, timeout: float = 60.0) -> None:
    """Poll pg_locks until some session waits for a lock on `table`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with fleet.db.engine.connect() as c:
            n = c.execute(text("SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation "
                               "WHERE r.relname = :t AND NOT l.granted"), {"t": table}).scalar()
        if n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no session blocked on {table} within {timeout} s\n{fleet.logs()}")


def test_milter_killed_after_store_before_answer(healthy):
    """The worst moment: the message is committed but not yet acted on or answered.

    The client saw no 2xx, so it retries; the retry is acted on, and the copy
    the dead milter left `received` is finished by recover_stale as a duplicate.
    """
    from mailgate.shared.pipeline import recover_stale

    fleet = healthy
    host0 = fleet.hosts[0]
    mid, mail, addr, raw = _one_each(fleet, "killed-after-store")
    blocker = fleet.db.engine.connect()
    smtp = smtplib.SMTP("127.0.0.1", host0.port, timeout=60)
    try:
        # Hold the dedupe table: the milter stores (step 1 commits) and then waits at step 2.
        tx = blocker.begin()
        blocker.execute(text("LOCK TABLE message_claims IN ACCESS EXCLUSIVE MODE"))
        _data_started(smtp, mail, addr)
        smtp.send(raw + b"\r\n.\r\n")
        _wait_blocked_on(fleet, "message_claims")
        host0.kill_milter()
        code, msg = smtp.getreply()
        assert 400 <= code < 500, (code, msg)
        tx.rollback()
    finally:
        smtp.close()
        blocker.close()
    seen = rows_by_message_id(fleet.db, [mid])[mid]
    assert seen["rows"] == 1 and seen["received"] == 1 and seen["comments"] == 0, seen

    host0.start_milter()
    sender = SmtpSender([h.port for h in fleet.hosts])
    try:
        assert sender.deliver(mid, 0, mail, addr, raw, max_attempts=1).accepted
    finally:
        sender.close()
    seen = rows_by_message_id(fleet.db, [mid])[mid]
    assert seen["processed"] == 1 and seen["comments"] == 1 and seen["received"] == 1, seen

    recover_stale(fleet.db, fleet.settings, older_than_seconds=0)
    seen = rows_by_message_id(fleet.db, [mid])[mid]
    assert seen == {"rows": 2, "processed": 1, "duplicate": 1, "received": 0, "other": [], "comments": 1}, seen


def test_milter_starting_while_database_down_exits_75_to_be_restarted(healthy, tmp_path):
    """A host (re)starting during the outage must not stay down: 75 (EX_TEMPFAIL) is restarted by the unit, 78 is not."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    fleet = healthy
    exe = Path(sys.executable).with_name("mailgate")
    sock = tmp_path / "sock" / "milter.sock"
    cmd = [str(exe), "milter", "--socket", f"unix:{sock}", "--group", ""]
    env = {**os.environ, **fleet.env("host-late"), "PYTHONSAFEPATH": "1"}
    fleet.pg.stop()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd="/")
    finally:
        fleet.pg.start()
    assert out.returncode == 75, out.stderr
    assert out.stderr.count("\n") == 1 and "database unreachable" in out.stderr
    # The restart that follows (RestartSec later) finds the database and listens.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
    try:
        deadline = time.monotonic() + 60
        while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None and sock.exists(), proc.stderr.read().decode() if proc.poll() is not None else ""
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
