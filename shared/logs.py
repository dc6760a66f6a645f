"""Structured, key=value log lines that always name the message and the queue id.

At 2 a.m. an admin greps the journal for a queue id from Postfix's log or a
Message-ID from a user's complaint; every line about a message carries both.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import IO, Any

_UNSAFE = re.compile(r"[\s\"=]")


def _fmt(value: Any) -> str:
    text = "" if value is None else str(value)
    if text and not _UNSAFE.search(text):  # the usual value: no space, quote, "=" (nor CR/LF: they are \s)
        return text
    text = text.replace("\r", " ").replace("\n", " ")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kv(**fields: Any) -> str:
    return " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())


class MessageLog(logging.LoggerAdapter):
    """A logger bound to one message: `log.info("stored", size=123)`."""

    def __init__(self, logger: logging.Logger, **context: Any):
        super().__init__(logger, {})
        self.context = {"qid": "", "mid": "", **context}

    def bind(self, **more: Any) -> "MessageLog":
        self.context.update(more)
        return self

    def log(self, level: int, msg: str, *args: Any, **fields: Any) -> None:  # type: ignore[override]
        exc_info = fields.pop("exc_info", None)
        if self.isEnabledFor(level):
            line = f"{msg} {kv(**self.context, **fields)}"
            self.logger.log(level, line, *args, exc_info=exc_info)

    def debug(self, msg: str, *args: Any, **fields: Any) -> None:  # type: ignore[override]
        self.log(logging.DEBUG, msg, *args, **fields)

    def info(self, msg: str, *args: Any, **fields: Any) -> None:  # type: ignore[override]
        self.log(logging.INFO, msg, *args, **fields)

    def warning(self, msg: str, *args: Any, **fields: Any) -> None:  # type: ignore[override]
        self.log(logging.WARNING, msg, *args, **fields)

    def error(self, msg: str, *args: Any, **fields: Any) -> None:  # type: ignore[override]
        self.log(logging.ERROR, msg, *args, **fields)


def under_journald(stream: IO | None = None) -> bool:
    """Whether `stream` (stderr) is connected to systemd's journal, which stamps each line itself.

    systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected;
    a process whose stderr was redirected since (a pid-file daemon started from
    a unit's shell, `mailgate ... 2>file`) gets timestamps of its own.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


# syslog priorities journald reads from a "<N>" line prefix (sd-daemon(3)), so `journalctl -p warning` works.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class LineFormatter(logging.Formatter):
    """`2026-12-06T17:40:01.123Z INFO mailgate.milter ...` in a file; `<6>INFO mailgate.milter ...` to journald."""

    converter = time.gmtime

    def __init__(self, journald: bool = False):
        self.journald = journald
        super().__init__("%(levelname)s %(name)s %(message)s" if journald else
                         "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self.journald:
            # A traceback's lines are continuation lines of one record: each gets the same priority.
            prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
            return "\n".join(prefix + line for line in text.splitlines())
        return text


def stamp() -> str:
    """A timestamp prefix for a line printed outside logging (an exit message), empty under journald."""
    if under_journald():
        return ""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z "


def setup(level: str = "INFO") -> None:
    """Timestamped lines to stderr; no timestamp when stderr is the journal (journald adds time and unit).

    The line format uses none of the caller's file and line, thread or
    process: the logging HOWTO's "Optimization" switches turn their
    collection off (it walks the stack for every record, and the milter
    writes one record per message).
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter(journald=under_journald()))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
