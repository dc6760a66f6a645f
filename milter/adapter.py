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
* Callbacks whose answer is always "continue" (MAIL, headers) are negotiated
  as no-reply: Postfix does not wait for them, which saves one round trip
  each. If one of them fails, the failure is remembered and the next callback
  that may answer (RCPT, body, end of message) says 451.
* Steps Mailgate has no use for are negotiated away, so Postfix never sends
  them: DATA, end of headers, unknown commands, and -- when the MTA lets the
  milter choose its macros (SMFIF_SETSYMLIST; Postfix does) -- connect too:
  the client's address and name come as macros with MAIL FROM (`MACROS`).
  An MTA without that still gets the connect callback. HELO stays a
  (no-reply) callback: Postfix has no macro for the HELO name.
* RCPT verdicts are cached per process for a few seconds
  (`RecipientCache`): usable for `RCPT_CACHE_SECONDS`, unusable for
  `RCPT_CACHE_REFUSED_SECONDS`. So for that long after a key rotation (or a
  task deletion) an old address can still pass RCPT; the pipeline checks
  every recipient again at end of message and refuses it there (550 when all
  recipients are Mailgate's, stored as rejected otherwise).
* The end-of-message answer is given only after `receive()` returned, i.e.
  after the message is committed. Mailgate's recipients are then deleted
  (`delrcpt`) and the message continues: other recipients are delivered
  normally, and a message left without recipients is dropped by qmgr. Never
  DISCARD: it stalls Postfix's flow control (docs/milter.md) and would drop
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

from mailgate.milter.spool import Spool
from mailgate.milter.writer import WriterProcess
from mailgate.shared import guard
from mailgate.shared.addresses import check_recipient, is_ours, refused_reserved
from mailgate.shared.batching import Batcher
from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.health import STORE_FAILURES_ALERT
from mailgate.shared.logs import MessageLog, kv
from mailgate.shared.message import load_head
from mailgate.shared import sender_auth
from mailgate.shared.outcomes import (
    RATE_LIMITED, TEMPFAIL, AuthDeferred, Outcome, Reason, Reject, SmtpReply, Status, TempFail, message_reply, rate_limited_reply,
    rcpt_reply, tempfail_reply,
)
from mailgate.shared.pipeline import Timings
from mailgate.shared.ratelimit import MessageLimits
from mailgate.shared.refusals import RefusalCounter

log = logging.getLogger("mailgate.milter")


RCPT_CACHE_SECONDS = 10.0  # how long a usable Mailgate address is not looked up again at RCPT
RCPT_CACHE_REFUSED_SECONDS = 2.0  # ... and an unusable one (a create address may be added meanwhile)

# Macros Mailgate reads, asked for at negotiation (SMFIF_SETSYMLIST) instead of
# Postfix's longer default lists: the client at MAIL FROM (in place of the
# connect callback), the queue id at RCPT (log lines) and at the end.
MACROS = {Milter.M_ENVFROM: "{client_addr} {client_name}", Milter.M_ENVRCPT: "i", Milter.M_EOM: "i"}
ACTIONS = Milter.DELRCPT | Milter.SETSYMLIST  # the only change Mailgate ever makes: delete its recipients


_negotiation_failed: list[bool] = []
# Large signed messages read whole for their DKIM check at the same time, at most.
_WHOLE_FOR_DKIM = threading.BoundedSemaphore(2)

# A reserved name at a Mailgate domain that nobody reads (security@, noreply+x@, ...): refused, so that
# nothing is accepted and then dropped (docs/milter.md).
RESERVED_REFUSAL = Reject(Reason.UNKNOWN_RECIPIENT, "This is a reserved name that nobody reads at this server; "
                                                    "nothing sent to it would be delivered.")


# A person writing to the notification sender: refused at the end of the message, its body never kept.
NOTIFICATION_SENDER_REFUSAL = Reject(
    Reason.UNKNOWN_RECIPIENT, "This address only sends notifications; it reads delivery reports and automatic "
                              "replies, nothing else. Reply to the address of the notification you received.")


def takes_bounces(settings: Settings, address: str) -> bool:
    """Whether `address` is the notification sender (MAILGATE_FROM_ADDRESS) at one of Mailgate's domains.

    Bounces of Mailgate's notifications come back to it. It is a reserved name,
    so is_ours() says no, and Postfix's whole-domain safety net would refuse
    them unseen. Taken as Mailgate's, a delivery report or an automatic reply
    is stored and the pipeline's robot guard records it ignored, where the
    admin sees it. Anything else -- a person writing to it, with a sender
    that is not a robot's and no robot evidence in the headers -- is refused
    at the end of the message from its headers alone, and nothing of it is
    stored (`_head_verdict`; docs/security.md). The envelope alone cannot
    tell: an out-of-office reply may come from a person's own address. A
    sender address at someone else's domain is not Mailgate's to take.
    """
    sender = settings.from_address.lower()
    return bool(sender) and address.lower() == sender and settings.serves_domain(sender.rsplit("@", 1)[-1])


class RecipientCache:
    """RCPT verdicts for a few seconds, per process (see the module docstring).

    An entry is True (usable) or the Reject to answer with. Plain dict
    operations, atomic under the GIL; emptied when it grows past `size`.
    """

    def __init__(self, seconds: float = RCPT_CACHE_SECONDS, refused_seconds: float = RCPT_CACHE_REFUSED_SECONDS,
                 size: int = 20000) -> None:
        self.seconds, self.refused_seconds, self.size = seconds, refused_seconds, size
        self._entries: dict[str, tuple[float, Any]] = {}
        self.hits = 0

    def get(self, address: str, now: float) -> Any:
        entry = self._entries.get(address)
        if entry is None or entry[0] < now:
            return None
        self.hits += 1
        return entry[1]

    def put(self, address: str, verdict: Any, now: float) -> None:
        ttl = self.refused_seconds if isinstance(verdict, Reject) else self.seconds
        if ttl <= 0:
            return
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[address] = (now + ttl, verdict)


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
    rate_limited: int = 0  # RCPTs deferred because a client or sender was over its rate
    # The writer's last real write outcome: stores failed in a row (0 after a success) and the last error.
    # The heartbeat carries them, and `mailgate check` fails at STORE_FAILURES_ALERT (docs/milter.md).
    stores_failed: int = 0
    store_error: str = ""
    health_changed: threading.Event = field(default_factory=threading.Event)  # write the heartbeat now
    active: int = 0  # milter connections open (one per SMTP session, idle or not)
    in_flight: int = 0  # messages between MAIL FROM and their end (graceful shutdown waits for 0)
    stopping: threading.Event = field(default_factory=threading.Event)
    rcpt_cache: RecipientCache = field(default_factory=RecipientCache)
    spool_dir: str | None = None  # where a large message's nameless file goes (None: the system's temporary folder)
    large_messages: threading.Event = field(default_factory=threading.Event)  # set: trim memory (heartbeat)
    refusals: RefusalCounter = field(default_factory=RefusalCounter)  # per reason and hour, flushed by the server
    # Where the sessions' messages are stored and processed, in batches: the writer process
    # (writer.WriterProcess) when serving; in-process (batching.Batcher) otherwise, as in unit tests.
    batcher: Batcher | WriterProcess | None = None
    limits: MessageLimits | None = None  # from the settings when not given

    def __post_init__(self) -> None:
        if self.batcher is None:
            self.batcher = Batcher(self.db, self.settings)
        if self.limits is None:
            self.limits = MessageLimits(self.settings.rate_per_client, self.settings.rate_per_sender)

    def count(self, name: str, delta: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + delta)

    def stored(self) -> None:
        """A message reached the database: a run of failures, if any, is over."""
        if self.stores_failed:  # (read without the lock: the common case is 0 and stays 0)
            with self.lock:
                alarmed, self.stores_failed = self.stores_failed >= STORE_FAILURES_ALERT, 0
            if alarmed:
                self.health_changed.set()

    def store_failed(self, why: str) -> None:
        with self.lock:
            self.stores_failed += 1
            self.store_error = why[:300]
            alarm = self.stores_failed == STORE_FAILURES_ALERT
        if alarm:
            self.health_changed.set()


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
        self._client_macros = False  # negotiated: the client comes as macros at MAIL FROM
        self._in_message = False
        self._closed = False
        self._reset()
        self.runtime.count("active")

    def negotiate(self, opts: list[int]) -> int:
        """Pymilter's negotiation, plus: only the actions we use, no connect callback when macros can replace it."""
        try:
            offered_actions, offered, _, _ = opts
            self._actions = offered_actions & ACTIONS
            protocol = offered & ~self.protocol_mask()
            if offered_actions & Milter.SETSYMLIST and offered & Milter.P_NOCONNECT:
                for stage, macros in MACROS.items():
                    self._ctx.setsymlist(stage, macros)  # (pymilter 1.0.5's Base.setsymlist passes bytes: TypeError)
                protocol |= Milter.P_NOCONNECT
                self._client_macros = True
            opts[0], opts[1], opts[2], opts[3] = self._actions, protocol, 0, 0
            self._protocol = protocol
        except Exception:  # noqa: BLE001 -- as pymilter: change nothing (every step, every macro)
            if not _negotiation_failed:  # correct but slower: say so once per process
                _negotiation_failed.append(True)
                log.warning("protocol negotiation failed, taking every callback and macro", exc_info=True)
            self._client_macros = False
            return Milter.ALL_OPTS
        return Milter.CONTINUE

    # --- state -----------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget the current message (a connection carries several)."""
        self.sender: str | None = None
        self.ours: list[str] = []  # RCPT arguments (as sent) of accepted Mailgate recipients
        self.notification_sender: list[str] = []  # ... of them, the notification sender (takes_bounces)
        self.head_refusal: Reject | None = None  # refused on its headers: the body is not read (_head_verdict)
        self.others: list[str] = []  # accepted recipients Mailgate does not answer for
        spool = getattr(self, "spool", None)
        if spool is not None:
            spool.close()  # a file, if the last message needed one, disappears now
        self.spool = Spool(self.runtime.spool_dir)  # the message's bytes: in memory while small, then in a file
        self.size = 0
        self.too_large = False
        self.in_body = False  # the blank line after the headers is in the spool
        self.head_size = 0  # how many of the spool's bytes are the headers (and the blank line)
        self.auth_results = ""
        self.auth_modes: set[str] = set()  # create addresses' own sender authentication among the recipients
        self.message_id = ""  # kept as the header goes by: also known when the headers alone crossed the limit
        self.started = 0.0
        self.rcpt_ms = 0.0
        self.rate_counted = False  # this message counted against its client's and sender's rates
        self._failed = None

    def _begin_message(self) -> None:
        if not self._in_message:
            self._in_message = True
            self.runtime.count("in_flight")

    def _end_message(self) -> None:
        if self._in_message:
            self._in_message = False
            self.runtime.count("in_flight", -1)

    def _qid(self) -> str:
        try:
            return self._ctx.getsymval("i") or ""
        except Exception:  # noqa: BLE001 -- outside a callback there is no context
            return ""

    def _mlog(self, **more: Any) -> MessageLog:
        # The Message-ID once its header went by (empty at RCPT): on every line, the refusals and deferrals too.
        return MessageLog(log, qid=self._qid(), mid=getattr(self, "message_id", ""), **more)

    def _tempfail(self, why: str, reply: SmtpReply = TEMPFAIL) -> int:
        self.runtime.count("tempfails")
        try:
            self.setreply(str(reply.code), reply.xcode, reply.text)
        except Exception:  # noqa: BLE001 -- TEMPFAIL alone still gives the client a 4xx
            pass
        log.warning("tempfail %s", why)
        return Milter.TEMPFAIL

    def _reply(self, reply: SmtpReply) -> None:
        # libmilter drops a reply whose text has a lone '%'; double them.
        self.setreply(str(reply.code), reply.xcode, reply.text.replace("%", "%%"))

    # --- connection-level no-reply callbacks (connect only when the MTA cannot send macros instead) ---

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
        if self._client_macros:  # asked for at negotiation; the same for every message of the connection
            getsymval = self._ctx.getsymval
            self.client_addr = getsymval("{client_addr}") or ""
            self.client_name = getsymval("{client_name}") or ""
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
            if takes_bounces(rt.settings, address):
                if not self._within_rate(address, t0):
                    return Milter.TEMPFAIL
                self.ours.append(to)  # robots only: decided on the headers (_head_verdict), then the robot guard
                self.notification_sender.append(to)
                return Milter.CONTINUE
            if refused_reserved(rt.settings, address):
                return self._refuse_rcpt(address, RESERVED_REFUSAL, t0)
            self.others.append(to)
            return Milter.CONTINUE
        if not self._within_rate(address, t0):
            return Milter.TEMPFAIL
        verdict = rt.rcpt_cache.get(address, t0)
        if verdict is None:
            try:
                with rt.db.reading() as conn:
                    rcpt = check_recipient(conn, rt.settings, address)
                # usable: True, or the create address's own sender authentication (verified for it at the end)
                verdict = (rcpt.create.sender_auth if rcpt.kind == "create" and rcpt.create.sender_auth
                           else True)
            except Reject as refusal:
                verdict = refusal
            rt.rcpt_cache.put(address, verdict, t0)
        if isinstance(verdict, str):
            self.auth_modes.add(verdict)
        elif verdict is not True:
            return self._refuse_rcpt(address, verdict, t0)
        self.ours.append(to)
        self.rcpt_ms += (time.perf_counter() - t0) * 1000
        return Milter.CONTINUE

    def _within_rate(self, address: str, t0: float) -> bool:
        """Count this message (once) against its client's and sender's rates; False: answered 451 4.7.1."""
        if self.rate_counted:
            return True
        over = self.runtime.limits.over(self.client_addr, self.sender)
        if over is None:
            self.rate_counted = True
            return True
        self.runtime.count("rate_limited")
        self.runtime.refusals.add(RATE_LIMITED)
        self._reply(rate_limited_reply(over))
        self._mlog().info("rcpt deferred", rcpt=address, reason=RATE_LIMITED, who=over,
                          ms=round((time.perf_counter() - t0) * 1000, 1))
        return False

    def _refuse_rcpt(self, address: str, refusal: Reject, t0: float) -> int:
        self.runtime.count("rcpt_rejects")
        self.runtime.refusals.add(refusal.reason)
        self._reply(rcpt_reply(refusal.reason, refusal.text))
        self._mlog().info("rcpt refused", rcpt=address, reason=refusal.reason,
                          ms=round((time.perf_counter() - t0) * 1000, 1))
        return Milter.REJECT

    # --- content ---------------------------------------------------------------------

    def header_bytes(self, name: str, value: bytes) -> int:
        """One header field (no-reply): kept, as bytes, only while the message has Mailgate recipients."""
        if self.ours:
            try:
                self._header(name, value)
            except Exception as exc:  # noqa: BLE001 -- as @_remembered: answered 451 at the next reply
                self._failed = f"header: {exc.__class__.__name__}"
                self._mlog().error("callback failed", stage="header", error=f"{exc.__class__.__name__}: {exc}",
                                   exc_info=True)
        return Milter.NOREPLY if self._protocol & Milter.P_NR_HDR else Milter.CONTINUE

    header = header_bytes  # pymilter's name, for its protocol mask (no-reply) and test harness
    header_bytes.milter_protocol = Milter.P_NR_HDR  # type: ignore[attr-defined]

    def _header(self, name: str, value: bytes) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        if b"\n" in value:  # Postfix folds with bare LF inside a header value; the stored message uses CRLF.
            value = value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if value[:1] not in (b" ", b"\t"):
            value = b" " + value  # without P_HDR_LEADSPC the MTA strips the space after the colon
        if not self.message_id and len(name) == 10 and name.lower() == "message-id":
            self.message_id = value.decode("utf-8", "replace").strip().strip("<>")
        line = b"%s:%s\r\n" % (name.encode("ascii", "replace"), value)
        self.size += len(line)  # counted on past the limit: an oversized copy is recorded with its size
        if self.too_large:
            return  # only the Message-ID is wanted now (for the log line); nothing more is buffered
        if self.size > self.runtime.settings.max_message_bytes:
            self.too_large = True
            return
        self.spool.write(line)
        if not self.auth_results and len(name) == 22 and name.lower() == "authentication-results":
            self.auth_results = value.decode("utf-8", "replace").strip()

    def _end_headers(self) -> None:
        """The blank line between headers and body (end of headers is not a callback we take)."""
        self.in_body = True
        self.size += 2
        if not self.too_large:
            self.spool.write(b"\r\n")
        self.head_size = self.spool.size
        if self.notification_sender and len(self.notification_sender) == len(self.ours):
            self._head_verdict()

    def _head_verdict(self) -> None:
        """Mail only for the notification sender: a robot's goes on (stored, the guard records it ignored);
        anyone else's is refused at its end, its body neither buffered nor stored."""
        head = load_head(self.spool.read(self.head_size))
        if guard.takes_robot(head, self.sender):
            return
        self.head_refusal = NOTIFICATION_SENDER_REFUSAL
        self.spool.close()
        self.head_size = 0

    @_guarded
    def body(self, chunk: bytes) -> int:
        if not self.ours:
            # Nothing for Mailgate: never buffer other people's mail; ask for no more body.
            return Milter.SKIP if self._protocol & Milter.P_SKIP else Milter.CONTINUE
        if not self.in_body:
            self._end_headers()
        if self.head_refusal is not None:  # decided on the headers: the body is not wanted
            return Milter.SKIP if self._protocol & Milter.P_SKIP else Milter.CONTINUE
        self.size += len(chunk)
        if self.too_large or self.size > self.runtime.settings.max_message_bytes:
            if not self.others:
                return self._refuse_too_large()
            # Others' copy must not be refused for Mailgate's limit: keep the headers only, count the
            # rest (the record gets the true size), and record Mailgate's copy at end of message.
            if not self.too_large:
                self.too_large = True
                self.spool.truncate(self.head_size)
            return Milter.CONTINUE
        self.spool.write(chunk)
        return Milter.CONTINUE

    def _refuse_too_large(self) -> int:
        limit = self.runtime.settings.max_message_bytes
        refused = Outcome(id=None, status=Status.REJECTED, reason=Reason.TOO_LARGE,
                          text=f"Message too large: this server accepts at most {limit:,} bytes for Mailgate addresses.")
        self._reply(message_reply(refused, all_recipients_ours=not self.others))  # 552 5.3.4, from outcomes.py
        self._mlog().info("message refused", rcpt=",".join(_bare(r) for r in self.ours),
                          status="rejected", reason=Reason.TOO_LARGE, size=f">{limit}", ms=self._elapsed())
        self.spool.close()  # free the buffer at once; the rest of the body is not read into memory
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
            self.spool.close()  # answered (or deferred, or failed): a spooled file goes now, not at the next MAIL
            self._end_message()

    def _eom(self) -> int:
        if not self.ours:
            self._reset()
            return Milter.CONTINUE
        if not self.in_body:  # an empty body: no body callback came
            self._end_headers()
        if self.head_refusal is not None:
            return self._refuse_unstored(self.head_refusal)
        if self.too_large and not self.others:
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
            queue_id=self._qid(),
            auth_results=self.auth_results,
            size=self.size if self.too_large else None,
            other_recipients=len(self.others),
        )
        timings = Timings()
        try:
            raw = self._payload()
            if not self.too_large:  # DNS here, in this session's thread: never in the writer's turn
                self._prepare_auth(envelope, raw)
            # Stored, read, processed and fsynced with the concurrent sessions' messages (the writer process).
            # Durable when it returns: only then do we answer.
            outcome = rt.batcher.receive(envelope, raw, timings)
        except TempFail as exc:
            if not isinstance(exc, AuthDeferred) and not rt.stopping.is_set():
                rt.store_failed(str(exc) or "unavailable")  # a deferral by sender authentication is no failure
            self._mlog().warning("message deferred", rcpt=",".join(envelope.recipients),
                                 status="tempfail",
                                 reason=str(exc) or "unavailable", ms=self._elapsed())
            return self._tempfail(str(exc), tempfail_reply(exc))
        rt.stored()
        reply = message_reply(outcome, all_recipients_ours=not self.others)
        try:  # stored and decided: a logging problem must not turn into a 451 now
            self._log_outcome(envelope, outcome, reply, t0, timings)
        except Exception:  # noqa: BLE001
            log.exception("could not log the outcome of message #%s", outcome.id)
        rt.count("messages")
        if not reply.is_ok:
            self._reply(reply)
            self._reset()
            return Milter.REJECT
        for rcpt in self.ours:
            self._ctx.delrcpt(rcpt)  # DELRCPT is negotiated (ACTIONS)
        self._reset()
        return Milter.CONTINUE

    def _refuse_unstored(self, refusal: Reject) -> int:
        """Refused before anything was stored: 550 when every recipient is Mailgate's, else Mailgate's
        recipients are removed (the others get it; no bounce). Counted with the RCPT refusals."""
        self.runtime.refusals.add(refusal.reason)
        refused = Outcome(id=None, status=Status.REJECTED, reason=refusal.reason, text=refusal.text)
        reply = message_reply(refused, all_recipients_ours=not self.others)
        self._mlog().info("message refused", rcpt=",".join(_bare(r) for r in self.ours), status="rejected",
                          reason=refusal.reason, stored="no", others=len(self.others), ms=self._elapsed())
        if not reply.is_ok:
            self._reply(reply)
            self._reset()
            return Milter.REJECT
        for rcpt in self.ours:
            self._ctx.delrcpt(rcpt)
        self._reset()
        return Milter.CONTINUE

    def _payload(self) -> bytes | Spool:
        """What the writer gets: the bytes, or -- a large message, to a writer that takes one -- the spool
        itself, whose file goes over as a descriptor (milter/spool.py)."""
        if self.too_large:
            return self._oversized()
        if self.spool.in_memory or not getattr(self.runtime.batcher, "takes_spool", False):
            return self.spool.read()
        self.runtime.large_messages.set()  # the heartbeat gives the memory back once it is over (memory.trim)
        return self.spool

    def _prepare_auth(self, envelope: Envelope, raw: bytes | Spool) -> None:
        """Sender authentication (DNS) in this session's thread. A message in a file is read for it only
        as far as needed: the headers, or all of it when a DKIM signature covers the body (then a few
        sessions at a time, so that many large signed messages never sit in memory at once)."""
        rt = self.runtime
        if not sender_auth.wanted(rt.settings, envelope, self.auth_modes):
            return
        if isinstance(raw, bytes):
            sender_auth.prepare(rt.settings, envelope, raw, self.auth_modes)
            return
        head = raw.read(sender_auth.HEADER_BYTES)
        if not sender_auth.signed(head):
            sender_auth.prepare(rt.settings, envelope, head, self.auth_modes)
            return
        with _WHOLE_FOR_DKIM:
            sender_auth.prepare(rt.settings, envelope, raw.read(), self.auth_modes)

    def _oversized(self) -> bytes:
        """The headers kept of a message over the limit; the envelope carries its real size, and the
        pipeline records it rejected/too_large, truncated."""
        head = self.spool.read(self.head_size)
        if not head.endswith(b"\r\n\r\n"):
            head += b"\r\n"  # the limit was crossed inside the headers: end what was kept
        return head

    def _log_outcome(self, envelope: Envelope, outcome: Outcome, reply: SmtpReply, t0: float,
                     timings: Timings) -> None:
        """The one line per message: what, for whom, the verdict, and where the milliseconds went."""
        if not log.isEnabledFor(logging.INFO):
            return
        text = kv(qid=envelope.queue_id, mid=self.message_id, rcpt=",".join(envelope.recipients),
                  status=outcome.status, reason=outcome.reason or "", action=outcome.action or "",
                  object=outcome.object or "", id=outcome.id,
                  auth=envelope.auth.verdict if envelope.auth is not None else "-")
        # Numbers need no quoting: formatted directly.
        log.info(f"message {text} reply={reply.code} others={len(self.others)} size={self.size} "
                 f"ms={self._elapsed()} rcpt_ms={self.rcpt_ms:.1f} wait_ms={timings.wait * 1000:.1f} "
                 f"receive_ms={(time.perf_counter() - t0) * 1000:.1f} store_ms={timings.store * 1000:.1f} "
                 f"route_ms={timings.authorise * 1000:.1f} parse_ms={timings.parse * 1000:.1f} "
                 f"act_ms={timings.act * 1000:.1f} sync_ms={timings.durable * 1000:.1f} batch={timings.batch}")

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
        self.spool.close()  # a connection lost in the middle of a large message: its file goes now
        if not self._closed:
            self._closed = True
            self.runtime.count("active", -1)
        return Milter.CONTINUE
