"""Refusals at RCPT through a real (private) Postfix reach `mailgate list-refusals` and the dashboard."""

from __future__ import annotations

import json
import re
import smtplib
import time

import pytest
from click.testing import CliRunner

from mailgate.webui.cli import main

from ..conftest import REPLY_DOMAIN

pytestmark = [pytest.mark.postfix, pytest.mark.slow]


def _forge(addr: str) -> str:
    local, domain = addr.split("@")
    return local[:-4] + ("0000" if not local.endswith("0000") else "1111") + "@" + domain


def _counts(env) -> dict[str, int]:
    out = CliRunner().invoke(main, ["list-refusals", "--json"], env=env)
    assert out.exit_code == 0, out.output
    totals: dict[str, int] = {}
    for row in json.loads(out.output):
        totals[row["reason"]] = totals.get(row["reason"], 0) + row["count"]
    return totals


def test_bad_addresses_are_counted_per_reason(postfix, milter_proc, env, db, settings, task_with_reply, mail):
    ref, addr = task_with_reply
    bad = [f"nobody{i}@{REPLY_DOMAIN}" for i in range(3)] + [_forge(addr), f"T999+2+0123456789abcdef@{REPLY_DOMAIN}"]
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.ehlo("client.example.net")
        for rcpt in bad:
            smtp.mail("bob@example.org")
            code, _ = smtp.rcpt(rcpt)
            assert code == 550, rcpt
            smtp.rset()
    want = {"unknown_recipient": 3, "invalid_hash": 2}
    deadline = time.monotonic() + 30  # the milter writes its counts every few seconds, never per refusal
    while _counts(env) != want and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _counts(env) == want

    from mailgate.webui import create_app
    from mailgate.webui.accounts import create_admin

    with db.transaction() as s:
        create_admin(s, "admin", "correct horse battery", actor="test")
    app = create_app({"MAILGATE_SETTINGS": settings, "TESTING": True, "MAILGATE_LOGIN_DELAY": 0,
                      "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert client.post("/login", data={"username": "admin", "password": "correct horse battery"}).status_code == 302
    page = client.get("/").get_data(as_text=True)
    card = page[page.index("Refused at RCPT today"):]
    card = card[:card.index("</section>")]
    assert re.search(r'<p class="big">5</p>', card), card
    assert "<code>unknown_recipient</code> 3" in card and "<code>invalid_hash</code> 2" in card

    # The milter's log says the same, and every line of it carries a timestamp.
    milter_proc.stop()
    lines = [line for line in milter_proc.log().splitlines() if line.strip()]
    assert sum("rcpt refused" in line for line in lines) == 5
    stamped = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
    assert all(stamped.match(line) for line in lines if not line.startswith((" ", "Traceback"))), lines


def test_every_thread_but_the_main_one_blocks_the_stop_signals(postfix, milter_proc):
    """A thread that takes SIGTERM before the main thread installed its handler kills the milter
    mid-message (the refusal flusher once did): the kernel hands a process signal to any thread
    that does not block it."""
    import signal
    from pathlib import Path

    pid = milter_proc.proc.pid
    time.sleep(0.5)
    bit = 1 << (signal.SIGTERM - 1)
    unblocked, seen = [], 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if int(task.name) == pid:
            continue  # the main thread takes the stop signals
        if "sigtimedwait" in (task / "wchan").read_text():
            continue  # libmilter's signal thread: sigwait() lifts the block while it waits (never chosen over main)
        seen += 1
        status = (task / "status").read_text()
        blocked = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
        if not blocked & bit:
            unblocked.append(task.name)
    assert seen >= 3 and not unblocked, (seen, unblocked)  # libmilter's, the heartbeat, the refusal flusher, ...
