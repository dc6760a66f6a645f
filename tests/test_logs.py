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
