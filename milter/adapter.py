"""The pymilter class: SMTP callbacks -> Envelope -> receive() -> the SMTP answer.

One `MailgateMilter` object per SMTP connection (libmilter runs each
connection in its own thread); one connection may carry several messages, so
per-message state is reset in `envfrom` and `abort`. Decisions come from
`mailgate.shared`: which recipients are ours (`is_ours`), whether a Mailgate
address is usable (`check_recipient`, the same rules the pipeline applies
later), what the stored outcome means on the wire (`outcomes`). This module
only translates.

Safety rules, each with a reason:

* Every callback that can answer runs under `_guarded`: any exception becomes
  `451 4.3.0`. An exception must never turn into an accept (pymilter's own
  fallback would be CONTINUE for some callbacks).
* Callbacks whose answer is always "continue" (connect, helo, MAIL, headers,
  DATA) are negotiated as no-reply: Postfix does not wait for them, which
  saves one round trip each. If one of them fails, the failure is remembered
  and the next callback that may answer (RCPT, body, end of message) says 451.
* The end-of-message answer is given only after `receive()` returned, i.e.
  after the message is committed. Mailgate's recipients are then deleted
  (`delrcpt`) and the message continues: other recipients are delivered
  normally, and a message left without recipients is dropped by qmgr. Never
  DISCARD: it stalls Postfix's flow control (POSTFIX-NOTES.md) and would drop
  the message for every other recipient too.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import Milter

from mailgate.milter.durability import GroupSync, NoSync, WriteQueue
from mailgate.shared.addresses import check_recipient, is_ours
from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.logs import MessageLog
from mailgate.shared.outcomes import (
    TEMPFAIL, Outcome, Reason, Reject, SmtpReply, Status, TempFail, message_reply, rcpt_reply,
)
from mailgate.shared.pipeline import Timings, receive

log = logging.getLogger("mailgate.milter")


@dataclass
class Runtime:
    """What every connection shares: built once per process by the server."""

    settings: Settings
    db: Database
    # Counters the heartbeat reports; updated under `lock`.
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: int = 0
    tempfails: int = 0
    rcpt_rejects: int = 0
    active: int = 0  # milter connections open (one per SMTP session, idle or not)
    in_flight: int = 0  # messages between MAIL FROM and their end (graceful shutdown waits for 0)
    stopping: threading.Event = field(default_factory=threading.Event)
    writes: WriteQueue = field(default_factory=WriteQueue)  # one writer at a time (no SQLite busy sleeps)
    syncer: GroupSync | NoSync = field(default_factory=NoSync)  # durable before the answer

    def count(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


def _angle(addr: str) -> str:
    addr = (addr or "").strip()
    return addr if addr.startswith("<") else f"<{addr}>"


def _bare(addr: str) -> str:
    return (addr or "").strip().strip("<>").strip()


def _guarded(func: Callable[..., int]) -> Callable[..., int]:
    """Run a callback that may answer; any exception answers 451 4.3.0."""

    @functools.wraps(func)
    def wrapper(self: "MailgateMilter", *args: Any) -> int:
        try:
            if self._failed is not None and func.__name__ != "envfrom":
                return self._tempfail(f"earlier failure: {self._failed}")
            return func(self, *args)
        except Exception as exc:  # noqa: BLE001 -- the point: nothing escapes as an accept
            self._mlog().error("callback failed", stage=func.__name__, error=f"{exc.__class__.__name__}: {exc}",
                               exc_info=not isinstance(exc, TempFail))
            return self._tempfail(f"{func.__name__}: {exc.__class__.__name__}")

    return wrapper


def _remembered(func: Callable[..., int]) -> Callable[..., int]:
    """For no-reply callbacks: an exception is remembered and answered at the next reply."""

    @functools.wraps(func)
    def wrapper(self: "MailgateMilter", *args: Any) -> int:
        try:
            func(self, *args)
        except Exception as exc:  # noqa: BLE001
            self._failed = f"{func.__name__}: {exc.__class__.__name__}"
            self._mlog().error("callback failed", stage=func.__name__, error=f"{exc.__class__.__name__}: {exc}",
                               exc_info=True)
        return Milter.CONTINUE

    return wrapper


@Milter.header_leading_space
class MailgateMilter(Milter.Base):
    """One SMTP connection as the milter protocol shows it."""

    runtime: Runtime  # set by server.make_factory() (class attribute of a subclass)

    def __init__(self) -> None:
        self._failed: str | None = None
        self.client_addr = ""
        self.client_name = ""
        self.helo = ""
        self._in_message = False
        self._closed = False
        self._reset()
        self.runtime.count(active=1)

    # --- state -----------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget the current message (a connection carries several)."""
        self.sender: str | None = None
        self.ours: list[str] = []  # RCPT arguments (as sent) of accepted Mailgate recipients
        self.others: list[str] = []  # accepted recipients Mailgate does not answer for
        self.chunks: list[bytes] = []
        self.size = 0
        self.too_large = False
        self.auth_results = ""
        self.started = 0.0
        self.rcpt_ms = 0.0
        self._failed = None

    def _begin_message(self) -> None:
        if not self._in_message:
            self._in_message = True
            self.runtime.count(in_flight=1)

    def _end_message(self) -> None:
        if self._in_message:
            self._in_message = False
            self.runtime.count(in_flight=-1)

    def _mlog(self, **more: Any) -> MessageLog:
        qid = ""
        try:
            qid = self.getsymval("i") or ""
        except Exception:  # noqa: BLE001 -- outside a callback there is no context
            pass
        return MessageLog(log, qid=qid, **more)

    def _tempfail(self, why: str) -> int:
        self.runtime.count(tempfails=1)
        try:
            self.setreply(str(TEMPFAIL.code), TEMPFAIL.xcode, TEMPFAIL.text)
        except Exception:  # noqa: BLE001 -- TEMPFAIL alone still gives the client a 4xx
            pass
        log.warning("tempfail %s", why)
        return Milter.TEMPFAIL

    def _reply(self, reply: SmtpReply) -> None:
        # libmilter drops a reply whose text has a lone '%'; double them.
        self.setreply(str(reply.code), reply.xcode, reply.text.replace("%", "%%"))

    # --- connection-level no-reply callbacks -------------------------------------------

    @Milter.noreply
    @_remembered
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        self.client_name = hostname or ""
        if isinstance(hostaddr, tuple) and hostaddr:
            self.client_addr = str(hostaddr[0])
        elif isinstance(hostaddr, str):
            self.client_addr = hostaddr
        return Milter.CONTINUE

    @Milter.noreply
    @_remembered
    def hello(self, hostname: str) -> int:
        self.helo = hostname or ""
        return Milter.CONTINUE

    @Milter.noreply
    @_remembered
    def envfrom(self, sender: str, *params: str) -> int:
        self._reset()
        self._begin_message()
        self.started = time.perf_counter()
        self.sender = _bare(sender)
        return Milter.CONTINUE

    # --- recipients ------------------------------------------------------------------

    @_guarded
    def envrcpt(self, to: str, *params: str) -> int:
        """Refuse unusable Mailgate addresses now: no message, no backscatter."""
        t0 = time.perf_counter()
        address = _bare(to)  # the argument keeps the client's case; {rcpt_addr} is lowercased
        rt = self.runtime
        if rt.stopping.is_set():
            return self._tempfail("shutting down")
        if not is_ours(rt.settings, address):
            self.others.append(to)
            return Milter.CONTINUE
        try:
            with rt.db.read() as session:
                check_recipient(session, rt.settings, address)
        except Reject as refusal:
            rt.count(rcpt_rejects=1)
            reply = rcpt_reply(refusal.reason, refusal.text)
            self._reply(reply)
            self._mlog().info("rcpt refused", rcpt=address, reason=refusal.reason,
                              ms=round((time.perf_counter() - t0) * 1000, 1))
            return Milter.REJECT
        self.ours.append(to)
        self.rcpt_ms += (time.perf_counter() - t0) * 1000
        return Milter.CONTINUE

    # --- content ---------------------------------------------------------------------

    @Milter.noreply
    @_remembered
    def data(self) -> int:
        return Milter.CONTINUE

    @Milter.noreply
    @_remembered
    @Milter.decode("bytes")
    def header(self, name: str, value: bytes) -> int:
        if not self.ours or self.too_large:
            return Milter.CONTINUE
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        # Postfix folds with bare LF inside a header value; the stored message uses CRLF.
        value = value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if value[:1] not in (b" ", b"\t"):
            value = b" " + value  # without P_HDR_LEADSPC the MTA strips the space after the colon
        line = name.encode("ascii", "replace") + b":" + value + b"\r\n"
        self.size += len(line)
        if self.size > self.runtime.settings.max_message_bytes:
            self.too_large = True
            return Milter.CONTINUE
        self.chunks.append(line)
        if name.lower() == "authentication-results" and not self.auth_results:
            self.auth_results = value.decode("utf-8", "replace").strip()
        return Milter.CONTINUE

    @Milter.noreply
    @_remembered
    def eoh(self) -> int:
        if self.ours and not self.too_large:
            self.chunks.append(b"\r\n")
            self.size += 2
        return Milter.CONTINUE

    @_guarded
    def body(self, chunk: bytes) -> int:
        if not self.ours:
            # Nothing for Mailgate: never buffer other people's mail; ask for no more body.
            return Milter.SKIP if self._protocol & Milter.P_SKIP else Milter.CONTINUE
        self.size += len(chunk)
        if self.too_large or self.size > self.runtime.settings.max_message_bytes:
            return self._refuse_too_large()
        self.chunks.append(chunk)
        return Milter.CONTINUE

    def _refuse_too_large(self) -> int:
        limit = self.runtime.settings.max_message_bytes
        refused = Outcome(id=None, status=Status.REJECTED, reason=Reason.TOO_LARGE,
                          text=f"Message too large: this server accepts at most {limit:,} bytes for Mailgate addresses.")
        self._reply(message_reply(refused, all_recipients_ours=not self.others))  # 552 5.3.4, from outcomes.py
        self._mlog().info("message refused", rcpt=",".join(_bare(r) for r in self.ours), status="rejected",
                          reason=Reason.TOO_LARGE, size=f">{limit}", ms=self._elapsed())
        self.chunks = []  # free the buffer at once; the rest of the body is not read into memory
        self.ours = []
        return Milter.REJECT

    # --- end of message --------------------------------------------------------------

    def _elapsed(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1) if self.started else 0.0

    @_guarded
    def eom(self) -> int:
        """Store and decide, then answer: delrcpt + continue, or 550 5.7.1 for a refusal."""
        try:
            return self._eom()
        finally:
            self._end_message()

    def _eom(self) -> int:
        if not self.ours:
            self._reset()
            return Milter.CONTINUE
        if self.too_large:
            return self._refuse_too_large()
        rt = self.runtime
        t0 = time.perf_counter()
        envelope = Envelope(
            source="milter",
            sender=self.sender,
            recipients=[_bare(r) for r in self.ours],
            client_addr=self.client_addr,
            client_name=self.client_name,
            helo=self.helo,
            queue_id=self.getsymval("i") or "",
            auth_results=self.auth_results,
        )
        raw = b"".join(self.chunks)
        timings = Timings()
        try:
            with rt.writes.turn():
                t_turn = time.perf_counter()
                outcome = receive(rt.db, rt.settings, envelope, raw, timings)
            t_stored = time.perf_counter()
            rt.syncer.sync()  # on disk before we answer; shared with concurrent sessions
            t_synced = time.perf_counter()
        except TempFail as exc:
            self._mlog().warning("message deferred", rcpt=",".join(envelope.recipients), status="tempfail",
                                 reason=str(exc) or "unavailable", ms=self._elapsed())
            return self._tempfail(str(exc))
        reply = message_reply(outcome, all_recipients_ours=not self.others)
        stages = {"wait_ms": (t_turn - t0) * 1000, "receive_ms": (t_stored - t_turn) * 1000,
                  "store_ms": timings.store * 1000, "route_ms": timings.authorise * 1000,
                  "parse_ms": timings.parse * 1000, "act_ms": timings.act * 1000,
                  "sync_ms": (t_synced - t_stored) * 1000}
        try:  # stored and decided: a logging problem must not turn into a 451 now
            self._log_outcome(envelope, outcome, reply, stages)
        except Exception:  # noqa: BLE001
            log.exception("could not log the outcome of message #%s", outcome.id)
        rt.count(messages=1)
        if not reply.is_ok:
            self._reply(reply)
            self._reset()
            return Milter.REJECT
        for rcpt in self.ours:
            self.delrcpt(rcpt)
        self._reset()
        return Milter.CONTINUE

    def _log_outcome(self, envelope: Envelope, outcome: Outcome, reply: SmtpReply, stages: dict[str, float]) -> None:
        """The one line per message: what, for whom, the verdict, and where the milliseconds went."""
        self._mlog(mid=self._message_id()).info(
            "message", rcpt=",".join(envelope.recipients), status=outcome.status,
            reason=outcome.reason or "", action=outcome.action or "", object=outcome.object or "",
            id=outcome.id, reply=reply.code, others=len(self.others), size=self.size,
            ms=self._elapsed(), rcpt_ms=round(self.rcpt_ms, 1), **{k: round(v, 1) for k, v in stages.items()},
        )

    def _message_id(self) -> str:
        for chunk in self.chunks:
            if chunk[:11].lower() == b"message-id:":
                return chunk[11:].strip().decode("utf-8", "replace").strip("<>")
            if chunk == b"\r\n":
                break
        return ""

    # --- ends ------------------------------------------------------------------------

    def abort(self) -> int:
        """The client gave up on this message (RSET, QUIT mid-way, timeout); forget it."""
        try:
            self._reset()
        except Exception as exc:  # noqa: BLE001 -- nothing to answer here; the next MAIL resets again
            self._failed = f"abort: {exc.__class__.__name__}"
        finally:
            self._end_message()
        return Milter.CONTINUE

    def close(self) -> int:
        self._end_message()
        if not self._closed:
            self._closed = True
            self.runtime.count(active=-1)
        return Milter.CONTINUE
