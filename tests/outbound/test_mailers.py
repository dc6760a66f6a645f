"""Mailer order, the sendmail transport, and the continuous worker's graceful stop."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from mailgate.shared.config import MailerConfig
from mailgate.shared.models import Heartbeat, OutboundMessage
from mailgate.shared.outbound.mailers import (PermanentFailure, SendmailMailer, TemporaryFailure, TestMailer,
                                              build, ordered)

import pytest


def test_order_priority_groups_first_random_inside_then_unprioritised_in_order():
    configs = [MailerConfig("plain1", "test"), MailerConfig("low", "test", 1), MailerConfig("hiA", "test", 10),
               MailerConfig("plain2", "test"), MailerConfig("hiB", "test", 10)]
    mailers = build(configs)
    prio = {c.key: c.priority for c in configs}
    seen_first = set()
    for seed in range(40):
        keys = [m.key for m in ordered(mailers, prio, random.Random(seed))]
        assert set(keys[:2]) == {"hiA", "hiB"} and keys[2:] == ["low", "plain1", "plain2"]
        seen_first.add(keys[0])
    assert seen_first == {"hiA", "hiB"}  # both get a share of the load


def _fake_sendmail(tmp_path: Path, code: int) -> Path:
    script = tmp_path / f"sendmail-{code}"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\ncat > {tmp_path}/data\n"
                      + (f"echo 'no such user' >&2\n" if code else "") + f"exit {code}\n")
    script.chmod(0o755)
    return script


def test_sendmail_mailer_passes_envelope_and_maps_exit_codes(tmp_path):
    ok = SendmailMailer("local", {"binary": str(_fake_sendmail(tmp_path, 0))})
    assert ok.send("noreply@reply.example.com", ["bob@example.org"], b"Subject: x\r\n\r\nhi\r\n") == ""
    assert (tmp_path / "args").read_text().split() == ["-oi", "-f", "noreply@reply.example.com", "--", "bob@example.org"]
    assert (tmp_path / "data").read_bytes() == b"Subject: x\n\nhi\n"
    with pytest.raises(PermanentFailure, match="exit 67 .addressee unknown.: no such user"):
        SendmailMailer("local", {"binary": str(_fake_sendmail(tmp_path, 67))}).send("a@b.c", ["x@y.z"], b"x")
    with pytest.raises(TemporaryFailure, match="exit 75"):
        SendmailMailer("local", {"binary": str(_fake_sendmail(tmp_path, 75))}).send("a@b.c", ["x@y.z"], b"x")
    with pytest.raises(TemporaryFailure, match="not found"):
        SendmailMailer("local", {"binary": str(tmp_path / "missing")}).send("a@b.c", ["x@y.z"], b"x")


def test_continuous_worker_sends_and_stops_on_sigterm(db, settings, env, tmp_path):
    log = tmp_path / "sent.log"
    penv = {**os.environ, **env,
            "MAILGATE_MAILERS": json.dumps([{"key": "t", "type": "test", "options": {"log": str(log)}}])}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("mailgate")), "worker", "--poll", "0.1"],
                            env=penv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        with db.transaction() as s:
            s.add_all([OutboundMessage(status="queued", recipient=f"u{i}@example.org", sender="noreply@x.example",
                                       subject="s", body_text="x") for i in range(5)])
        deadline = time.time() + 20
        while time.time() < deadline:
            with db.read() as s:
                if s.scalar(select(func.count()).where(OutboundMessage.status == "sent")) == 5:
                    break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert b"sent 5" in out
    assert len(log.read_text().splitlines()) == 5
    with db.read() as s:
        assert s.scalars(select(Heartbeat).where(Heartbeat.service == "worker")).first() is not None


def test_health_checks_probe_mailers_and_queue(db, settings, sink, refusing_mailer, tmp_path):
    from mailgate.shared.outbound.health import check_mailers, check_queue
    from .conftest import with_mailers

    checks = check_mailers(with_mailers(settings, sink.mailer(), refusing_mailer,
                                        MailerConfig("sm", "sendmail", None, {"binary": str(tmp_path / "nope")}),
                                        MailerConfig("t", "test")))
    assert [c.ok for c in checks] == [True, False, False, True]
    assert sink.handler.messages == []  # probing sends nothing
    assert check_mailers(with_mailers(settings))[0].ok is False
    assert check_queue(db).ok is True
    with db.transaction() as s:
        s.add(OutboundMessage(status="queued", recipient="x@example.org", created_at=__import__("datetime").datetime(2020, 1, 1)))
    stale = check_queue(db)
    assert stale.ok is False and "mailgate worker" in stale.fix
