"""Structured, key=value log lines that always name the message and the queue id.

At 2 a.m. an admin greps the journal for a queue id from Postfix's log or a
Message-ID from a user's complaint; every line about a message carries both.
"""

from __future__ import annotations

import logging
import re
from typing import Any

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


def setup(level: str = "INFO") -> None:
    """Plain lines to stderr (journald adds time and unit).

    The line format uses none of the caller's file and line, thread or
    process: the logging HOWTO's "Optimization" switches turn their
    collection off (it walks the stack for every record, and the milter
    writes one record per message).
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(levelname)s %(name)s %(message)s")
