"""The IMAP poller: wait with IDLE, hand each new message of ours to receive(), then remove it.

A message leaves the mailbox only after receive() returned, which is after
the pipeline made it durable: a crash, a lost connection or a database
outage before that leaves it in the mailbox to be read again. A crash after
the store but before the removal reads it again too; dedupe records the
second copy as ignored/duplicate, so it never makes a second comment.

Mail that is not ours (a shared mailbox) is read with BODY.PEEK (its \\Seen
flag untouched), left where it is, counted once per run and not read again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientError

from mailgate.ingress import refusals
from mailgate.ingress.imap import routing
from mailgate.ingress.imap.connection import (
    NETWORK_ERRORS, ConnectionLost, LoginRefused, close_quietly, describe, open_session,
)
from mailgate.ingress.imap.settings import ImapSettings
from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.logs import MessageLog, kv
from mailgate.shared.message import load_message, message_id
from mailgate.shared.outcomes import AuthDeferred, Outcome, TempFail
from mailgate.shared.pipeline import receive

log = logging.getLogger("mailgate.imap")

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
IDLE_POLL = 1.0  # seconds per idle_check: how soon a stop request is noticed while idling
EOF_EMPTY_ANSWERS = 20  # empty idle_check answers in a row, each at once: the socket is at EOF
HEADER = b"BODY[HEADER]"
BODY = b"BODY[]"
SIZE = b"RFC822.SIZE"
NOT_OURS = "not_ours"  # the count of mail left alone in a shared mailbox (ingress_refusals, source imap)


class BogusAnswer(Exception):
    """The server's answer to a FETCH lacks what was asked for, or gives it wrongly: that message is skipped."""


@dataclass
class Stats:
    """What this run did (the log has every message; these are the totals `--once` prints)."""

    stored: int = 0
    left_alone: int = 0
    skipped: int = 0  # the server refused to hand over or remove a message: left in the mailbox, logged
    deferred: int = 0  # stored, but its sender could not be checked now (DNS): the worker's recovery finishes it
    removed: int = 0
    reconnects: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Poller:
    """One mailbox, one connection at a time; `run()` until stop() (or one pass with once=True)."""

    def __init__(self, settings: Settings, db: Database, imap: ImapSettings, *,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.settings, self.db, self.imap = settings, db, imap
        self.stats = Stats()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._uidvalidity: int | None = None
        self._left_alone: set[int] = set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop ------------------------------------------------------------------------

    def run(self, once: bool = False) -> Stats:
        """Connect, drain, wait; reconnect with backoff. A refused login on the first try is raised."""
        backoff, connected_before = BACKOFF_FIRST, False
        while not self.stopping:
            try:
                client, selected = open_session(self.imap)
            except LoginRefused as exc:
                if once or not connected_before:
                    raise
                log.error("%s", exc)
            except ConnectionLost as exc:
                if once:
                    raise
                log.warning("%s; retrying in %.0f s", exc, backoff)
            else:
                connected_before = True
                try:
                    self._session(client, selected, once)
                    if once:
                        return self.stats
                    backoff = BACKOFF_FIRST
                    continue
                except (ConnectionLost, TempFail) as exc:
                    if once:
                        raise
                    log.warning("%s; reconnecting in %.0f s", exc, backoff)
                finally:
                    close_quietly(client)
            self.stats.reconnects += 1
            self._sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_MAX)
        return self.stats

    def _session(self, client: IMAPClient, selected: dict, once: bool) -> None:
        uidvalidity = selected.get(b"UIDVALIDITY")
        if uidvalidity != self._uidvalidity:  # a new mailbox generation: UIDs seen before mean nothing
            self._uidvalidity, self._left_alone = uidvalidity, set()
        idle = client.has_capability("IDLE")
        log.info("connected %s", kv(server=self.imap.address, user=self.imap.user, mailbox=self.imap.mailbox,
                                    idle="yes" if idle else "no", messages=selected.get(b"EXISTS", 0)))
        while not self.stopping:
            try:
                self.drain(client)
                if once:
                    return
                self._wait(client, idle)
            except NETWORK_ERRORS as exc:
                raise ConnectionLost(f"IMAP connection to {self.imap.address} lost: {describe(exc)}") from None
            except IMAPClientError as exc:
                raise ConnectionLost(f"IMAP server {self.imap.address} refused a command: {describe(exc)}") from None

    def _wait(self, client: IMAPClient, idle: bool) -> None:
        """Until the mailbox changes, the IDLE timeout ends, or stop(); IDLE is re-issued by the caller's loop."""
        deadline = time.monotonic() + self.imap.idle_timeout
        if not idle:
            self._sleep(self.imap.idle_timeout)
            client.noop()
            return
        client.idle()
        quick_empty = 0
        try:
            while not self.stopping and time.monotonic() < deadline:
                wait = min(IDLE_POLL, max(0.0, deadline - time.monotonic()))
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if any(r[0] == b"BYE" or (len(r) > 1 and r[1] == b"BYE") for r in responses):
                    raise ConnectionLost(f"IMAP server {self.imap.address} said BYE")
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
                # imapclient answers [] both for "nothing yet" and for a socket at EOF (readable, no line):
                # a server that went away without BYE shows as empty answers that come back at once.
                quick_empty = quick_empty + 1 if not responses and time.monotonic() - started < wait / 2 else 0
                if quick_empty > EOF_EMPTY_ANSWERS:
                    raise ConnectionLost(f"IMAP server {self.imap.address} closed the connection")
        finally:
            if quick_empty <= EOF_EMPTY_ANSWERS:  # a dead socket cannot end IDLE
                client.idle_done()

    # --- one pass over the mailbox ---------------------------------------------------------

    def drain(self, client: IMAPClient) -> int:
        """Every message not handled yet, oldest first; returns how many were stored."""
        criteria = ["UNSEEN", "UNDELETED"] if self.imap.keeps_messages else ["UNDELETED"]
        uids = sorted(u for u in client.search(criteria) if u not in self._left_alone)
        stored = 0
        for uid in uids:
            if self.stopping:
                break
            try:
                stored += self.handle(client, uid)
            except NETWORK_ERRORS:
                raise  # the connection, not this message (imaplib's abort is an IMAPClientError too): reconnect
            except (IMAPClientError, BogusAnswer) as exc:  # about this message only: never loop on it
                self._skip(uid, "the server refused a command on this message or answered it wrongly", exc)
            except TempFail:
                raise  # the database: left in the mailbox, the caller backs off
            except Exception as exc:  # noqa: BLE001 -- one message must not stop the mailbox (nor crash-loop it)
                log.exception("could not handle imap:%s:%s", self._uidvalidity, uid)
                self._skip(uid, "this message could not be handled", exc)
        if stored and self.imap.expunge_deleted and self.imap.delete_after_delivery and not self.imap.move_to \
                and not client.has_capability("UIDPLUS"):
            client.expunge()  # no UID EXPUNGE: one plain EXPUNGE after the pass
        return stored

    def _skip(self, uid: int, why: str, exc: BaseException) -> None:
        """Left in the mailbox, logged, and not tried again in this run (or until UIDVALIDITY changes)."""
        self._left_alone.add(uid)
        self.stats.skipped += 1
        log.error("skipped: %s %s", why, kv(qid=f"imap:{self._uidvalidity}:{uid}", error=describe(exc)))

    def handle(self, client: IMAPClient, uid: int) -> int:
        """Route, store and remove one message; 1 when it was stored, 0 when it is not ours (or gone)."""
        head = client.fetch([uid], [SIZE, "BODY.PEEK[HEADER]"]).get(uid)
        if head is None:  # expunged by someone else meanwhile
            return 0
        size, header = _number(head.get(SIZE)), head.get(HEADER) or b""
        msg = load_message(header)
        rcpts = routing.recipients(msg, self.settings)
        mlog = MessageLog(log, qid=f"imap:{self._uidvalidity}:{uid}", mid=message_id(msg)[:250])
        if not rcpts:
            self._left_alone.add(uid)
            self.stats.left_alone += 1
            refusals.count(self.db, "imap", NOT_OURS)  # `mailgate list-refusals`; once per message and run
            mlog.info("left alone: not for Mailgate", size=size)
            return 0
        raw = header if size > self.settings.max_message_bytes else self._body(client, uid)
        envelope = Envelope(source="imap", sender=routing.envelope_sender(msg), recipients=rcpts,
                            queue_id=f"imap:{self._uidvalidity}:{uid}", size=size, client_name=self.imap.host)
        try:
            outcome = receive(self.db, self.settings, envelope, raw)  # TempFail: left in the mailbox, retried
        except AuthDeferred as exc:  # stored as received: nobody retries a mailbox, recover_stale finishes it
            self.stats.deferred += 1
            mlog.warning("stored, sender authentication deferred", reason=str(exc), size=size)
        else:
            self._count(outcome)
            mlog.info("received", rec=outcome.id, status=outcome.status, reason=outcome.reason, size=size)
        self.dispose(client, uid)
        return 1

    def _body(self, client: IMAPClient, uid: int) -> bytes:
        body = (client.fetch([uid], ["BODY.PEEK[]"]).get(uid) or {}).get(BODY)
        if not isinstance(body, bytes):  # never store an empty message, and then delete the real one
            raise BogusAnswer("the FETCH answer carried no BODY[]")
        return body

    def _count(self, outcome: Outcome) -> None:
        self.stats.stored += 1
        key = f"{outcome.status}/{outcome.reason}" if outcome.reason else str(outcome.status)
        self.stats.outcomes[key] = self.stats.outcomes.get(key, 0) + 1

    def dispose(self, client: IMAPClient, uid: int) -> None:
        """What happens to a stored message: moved, deleted (and expunged), or only flagged \\Seen."""
        if self.imap.move_to:
            if client.has_capability("MOVE"):
                client.move([uid], self.imap.move_to)
            else:
                client.copy([uid], self.imap.move_to)
                client.add_flags([uid], [DELETED])
                self._expunge(client, uid)
        elif self.imap.delete_after_delivery:
            client.add_flags([uid], [DELETED])
            if self.imap.expunge_deleted:
                self._expunge(client, uid)
        else:
            client.add_flags([uid], [SEEN])
        self.stats.removed += 0 if self.imap.keeps_messages else 1

    @staticmethod
    def _expunge(client: IMAPClient, uid: int) -> None:
        if client.has_capability("UIDPLUS"):
            client.uid_expunge([uid])  # only ours: never another client's \Deleted messages


def _number(value: object) -> int:
    """RFC822.SIZE as a number (0 when the server left it out)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    raise BogusAnswer(f"RFC822.SIZE {value!r} is not a number")
