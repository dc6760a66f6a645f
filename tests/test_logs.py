"""Log lines: key=value, one line per record whatever the mail put in a value (it is hostile input)."""

from __future__ import annotations

import logging

from mailgate.shared.logs import MessageLog, kv


def test_values_are_bare_when_safe_and_quoted_otherwise():
    assert kv(qid="4ABC12", rec=12, size=3862) == "qid=4ABC12 rec=12 size=3862"
    assert kv(mid="", reason=None) == 'mid="" reason=""'
    assert kv(subject='Re: "urgent" a=b') == 'subject="Re: \\"urgent\\" a=b"'
    assert kv(path="C:\\x y") == 'path="C:\\\\x y"'


def test_a_crlf_in_a_value_never_starts_a_new_line():
    line = kv(mid="x\r\nINFO mailgate.pipeline processed qid=FORGED", qid="A1")
    assert "\r" not in line and "\n" not in line
    assert line == 'mid="x  INFO mailgate.pipeline processed qid=FORGED" qid=A1'


def test_message_log_names_the_message_on_every_line(caplog):
    caplog.set_level(logging.INFO, logger="mailgate.test")
    MessageLog(logging.getLogger("mailgate.test"), qid="Q1", mid="m@x", rec=3).info("processed", status="ignored")
    assert caplog.records[-1].getMessage() == "processed qid=Q1 mid=m@x rec=3 status=ignored"


def test_every_line_is_timestamped_unless_the_journal_stamps_it(tmp_path, monkeypatch):
    import re

    from mailgate.shared.logs import LineFormatter, under_journald

    record = logging.LogRecord("mailgate.milter", logging.WARNING, __file__, 1, "tempfail why=x", None, None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING mailgate.milter tempfail why=x",
                        LineFormatter().format(record))
    assert LineFormatter(journald=True).format(record) == "<4>WARNING mailgate.milter tempfail why=x"
    # journald only when stderr *is* the stream systemd connected (JOURNAL_STREAM names its device:inode)
    with open(tmp_path / "log", "w") as fh:
        st = __import__("os").fstat(fh.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert under_journald(fh)
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
        assert not under_journald(fh)
    monkeypatch.delenv("JOURNAL_STREAM")
    assert not under_journald()


def test_the_worker_logs_startup_and_each_message(env, db, seed, receive, mail):
    """worker.log stayed empty: nothing was logged for a sent message, and no line said the worker started."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    out = receive(mail(subject="Printer on fire", body="It burns.\n\n!assign bob\n"))
    assert out.status == "processed"
    exe = Path(sys.executable).with_name("mailgate")
    run = subprocess.run([str(exe), "worker", "--once"], env={**os.environ, **env, "PYTHONSAFEPATH": "1"},
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert any(re.match(stamp + r" INFO mailgate.outbound worker started once=True mailers=test ", x) for x in lines), lines
    sent = [x for x in lines if " outbound id=" in x]
    assert sent and all(re.match(stamp + " INFO ", x) and "to=bob@example.org" in x and "mailer=test" in x for x in sent)
