"""The sending loop: claim due rows, render, try mailers in order, record the outcome.

One Worker owns one transport object per configured mailer for its whole
run, so an SMTP relay sees one connection carrying every message rather
than a connection per message. `run_once` drains what is due (CLI
`--once`, cron, tests); `run_forever` polls until asked to stop (SIGTERM in
the CLI sets the stop event; the message in hand is finished, the batch's
results are recorded and its unsent rows handed back, so nothing is left
leased for the next worker to wait out).

A mailer that cannot even connect is skipped for DOWN_SECONDS instead of
costing a connect timeout per message, and a batch never runs past half its
lease (the rest goes back to the queue), so a slow relay cannot make a
second worker send the same rows.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, Sequence

from sqlalchemy import select

from mailgate.shared.addresses import is_addr_spec
from mailgate.shared.config import MailerConfig, Settings
from mailgate.shared.db import Database, utcnow
from mailgate.shared.logs import kv
from mailgate.shared.models import Heartbeat, OutboundMessage
from mailgate.shared.outbound import mailers as mailers_mod
from mailgate.shared.outbound import queue
from mailgate.shared.outbound.compose import marker_headers, new_message_id, html_from_text
from mailgate.shared.outbound.failures import DOWN_SECONDS, MailerDown, PermanentFailure, TemporaryFailure
from mailgate.shared.outbound.mailers import Mailer
from mailgate.shared.outbound.render import Outgoing, render_bytes

log = logging.getLogger("mailgate.outbound")

NO_MAILER = "no mailer configured to send (MAILGATE_MAILERS has no entry that sends email): nothing can be sent"
HEARTBEAT_SERVICE = "worker"


@dataclass
class Stats:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    void: int = 0
    lost_lease: int = 0
    by_mailer: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return self.sent + self.retry + self.failed + self.void

    def add(self, r: queue.Result) -> None:
        """Count one result as its row is recorded (a give-up after the last attempt is `failed`)."""
        setattr(self, r.final, getattr(self, r.final) + 1)
        if r.outcome == "sent" and r.mailer:
            self.by_mailer[r.mailer] = self.by_mailer.get(r.mailer, 0) + 1

    def as_dict(self) -> dict:
        return {"sent": self.sent, "retry": self.retry, "failed": self.failed, "void": self.void,
                "lost_lease": self.lost_lease, "by_mailer": dict(self.by_mailer)}


def _keeps_id(mailer: Mailer) -> bool:
    return getattr(mailer, "keeps_message_id", True)


def deliver(out: Outgoing, order: Sequence[Mailer], down: dict[str, MailerDown | str] | None = None) -> queue.Result:
    """Try the mailers in order for one message; the Result says what to record.

    `down` maps mailer keys to why they are unusable right now (the
    MailerDown, or its text); those are skipped, and a mailer that turns out
    to be down is added to it. A 429's Retry-After carries into the retry.
    """
    down = {} if down is None else down
    base = dict(id=out.id, lease=out.lease, attempts=out.attempts)
    if not order:
        return queue.Result(outcome="void", note=NO_MAILER, **base)
    recipients = out.envelope_recipients()
    if not recipients:
        return queue.Result(outcome="failed", error="no valid recipient address", note="no valid recipient address", **base)
    try:
        # One rendering per Message-ID policy among the mailers (services that replace it get none).
        wire = {keep: render_bytes(out, keep) for keep in {_keeps_id(m) for m in order}}
    except Exception as exc:
        # The stored row itself is unsendable (e.g. a non-ASCII sender written before the configuration
        # refused one): retrying cannot help, and letting it escape would lose the whole batch's results,
        # so the rows already sent would go out again after every lease.
        log.error("outbound #%s cannot be rendered: %s: %s", out.id, exc.__class__.__name__, exc)
        text = f"cannot render: {exc.__class__.__name__}: {exc}"
        return queue.Result(outcome="failed", error=text, note=text, **base)
    errors: list[str] = []
    wait = 0.0
    for m in order:
        if m.key in down:
            errors.append(f"{m.key}: skipped, down ({down[m.key]})")
            wait = max(wait, getattr(down[m.key], "retry_after", 0.0))
            continue
        try:
            note = m.send(out.sender, recipients, wire[_keeps_id(m)])
        except MailerDown as exc:
            down[m.key] = exc
            errors.append(f"{m.key}: {exc}")
            wait = max(wait, getattr(exc, "retry_after", 0.0))
            continue
        except PermanentFailure as exc:
            text = f"{m.key}: {exc}"
            return queue.Result(outcome="failed", mailer=m.key, error="; ".join(errors + [text]), note=str(exc), **base)
        except TemporaryFailure as exc:
            errors.append(f"{m.key}: {exc}")
            continue
        except Exception as exc:  # a bug or an unexpected library error: treat as temporary, keep the text
            log.exception("mailer %s crashed on outbound #%s", m.key, out.id)
            errors.append(f"{m.key}: {exc.__class__.__name__}: {exc}")
            continue
        return queue.Result(outcome="sent", mailer=m.key, error="; ".join(errors), note=note, **base)
    return queue.Result(outcome="retry", error="; ".join(errors), retry_after=wait, **base)


def log_result(out: Outgoing, r: queue.Result) -> None:
    """One line per delivery attempt, with the outbound id and Message-ID an admin greps for."""
    level = logging.INFO if r.final in ("sent", "retry") else logging.WARNING
    if log.isEnabledFor(level):
        log.log(level, "outbound %s", kv(id=out.id, mid=out.message_id, to=out.recipient, mailer=r.mailer or "",
                                          attempt=out.attempts + 1, note=r.note or r.error or ""))


class Worker:
    """Drains the outbound queue through the configured mailers."""

    def __init__(self, db: Database, settings: Settings, *, batch_size: int = 100,
                 lease: timedelta = queue.DEFAULT_LEASE, poll_seconds: float = 2.0,
                 mailer_configs: Sequence[MailerConfig] | None = None, rng: random.Random | None = None):
        self.db = db
        self.settings = settings
        self.batch_size = batch_size
        self.lease = lease
        self.poll_seconds = poll_seconds
        configs = settings.mailers if mailer_configs is None else mailer_configs
        self.configs = tuple(c for c in configs if c.sends_email)  # "outbound": false entries serve inbound only
        self.mailers = mailers_mod.build(self.configs)
        self.priorities = {c.key: c.priority for c in self.configs}
        self.rng = rng or random.Random()
        self.stop = threading.Event()
        self.stats = Stats()
        self._down: dict[str, tuple[float, MailerDown | str]] = {}  # key -> (monotonic time it may be retried, why)

    def order(self) -> list[Mailer]:
        return mailers_mod.ordered(self.mailers, self.priorities, self.rng)

    def run_batch(self) -> int:
        """Claim, send and record one batch; returns how many rows it claimed."""
        batch = queue.claim(self.db, self.batch_size, self.lease, settings=self.settings)
        if not batch:
            return 0
        started = time.monotonic()
        # Stop well inside the lease: past it another worker may take these rows and send them again.
        deadline = started + self.lease.total_seconds() / 2
        now = time.monotonic()
        down = {k: why for k, (until, why) in self._down.items() if until > now}
        results = []
        for i, out in enumerate(batch):
            if time.monotonic() > deadline or self.stop.is_set():
                released = queue.release(self.db, batch[i:])
                log.warning("%s; %d unsent rows handed back to the queue",
                            "stopping" if self.stop.is_set() else "batch ran past half its lease", released)
                break
            r = deliver(out, self.order(), down)
            results.append(r)
            self.stats.add(r)
            log_result(out, r)
        self._mark_down(down, now)
        matched = queue.record(self.db, results)
        self.stats.lost_lease += max(len(results) - matched, 0)
        if matched < len(results):
            log.warning("%d of %d results not recorded: their lease had passed to another worker or an "
                        "admin changed them", len(results) - matched, len(results))
        return len(batch)

    def _mark_down(self, down: dict[str, MailerDown | str], now: float) -> None:
        """Remember the mailers found down in a batch, each for as long as its failure asks."""
        newly = False
        for key, why in down.items():
            if key not in self._down or self._down[key][0] <= now:
                seconds = getattr(why, "down_for", DOWN_SECONDS)
                self._down[key] = (time.monotonic() + seconds, why)
                newly = newly or getattr(why, "kind", "") == "credentials"
                log.warning("mailer down %s", kv(mailer=key, kind=getattr(why, "kind", "unreachable"),
                                                 skipped_s=int(seconds), why=str(why)))
        if newly:
            self._beat()  # refused credentials show on the Health page now, not at the next heartbeat

    def down_report(self) -> dict[str, dict]:
        """The mailers this worker is skipping now, for its heartbeat (the Health page and `check` read it)."""
        now = time.monotonic()
        wall = utcnow()
        return {key: {"kind": getattr(why, "kind", "unreachable"), "why": str(why)[:300],
                      "until": (wall + timedelta(seconds=until - now)).isoformat(timespec="seconds")}
                for key, (until, why) in self._down.items() if until > now}

    def run_once(self) -> Stats:
        """Send everything due now, then stop (rows that fail temporarily wait for their next attempt)."""
        try:
            while not self.stop.is_set() and self.run_batch():
                pass
        finally:
            self.close()
        return self.stats

    def run_forever(self, idle_close_seconds: float = 30.0, housekeeping: Callable[[], None] | None = None) -> Stats:
        """Poll until `stop` is set; idle SMTP connections are closed rather than left to time out.

        `housekeeping` (shared.housekeeping.Housekeeper.tick) runs between batches.
        """
        idle_since: float | None = None
        self._beat()
        last_beat = time.monotonic()
        try:
            while not self.stop.is_set():
                if housekeeping is not None:
                    housekeeping()
                try:
                    n = self.run_batch()
                except Exception as exc:  # database away: wait and try again, never die
                    log.error("worker batch failed: %s: %s", exc.__class__.__name__, exc)
                    n = 0
                now = time.monotonic()
                if now - last_beat > 30:
                    self._beat()
                    last_beat = now
                if n:
                    idle_since = None
                    continue
                if idle_since is None:
                    idle_since = now
                elif now - idle_since > idle_close_seconds:
                    self.close()
                self.stop.wait(self.poll_seconds)
        finally:
            self.close()
        return self.stats

    def _beat(self) -> None:
        """A heartbeat row, so the dashboard and health page see the worker alive."""
        try:
            host = socket.gethostname()
            with self.db.transaction() as s:
                beat = s.get(Heartbeat, (HEARTBEAT_SERVICE, host))
                if beat is None:
                    beat = Heartbeat(service=HEARTBEAT_SERVICE, host=host, started_at=utcnow())
                    s.add(beat)
                beat.pid = os.getpid()
                beat.last_seen = utcnow()
                beat.detail = {**self.stats.as_dict(), "mailers_down": self.down_report()}
        except Exception as exc:
            log.warning("worker heartbeat failed: %s", exc)

    def close(self) -> None:
        for m in self.mailers:
            try:
                m.close()
            except Exception:
                pass


def send_test(db: Database, settings: Settings, to: str, mailer_key: str | None = None,
              actor: str = "cli") -> tuple[OutboundMessage, queue.Result]:
    """Queue a test message to `to` and send it at once (through one mailer, or the usual order).

    The row stays in the outbound log like any other, so the operator sees
    the test where they look for everything else. `to` must be a plain
    ASCII addr-spec: anything else cannot go in RCPT TO, and would only leave
    a row that retries for two days (ValueError, before any row is written).
    """
    if not is_addr_spec(to):
        raise ValueError(f"--to {to!r} is not a plain ASCII address (local@domain, no name or brackets)")
    configs = settings.mailers
    if mailer_key is not None:
        configs = tuple(c for c in settings.mailers if c.key == mailer_key)
        if not configs:
            known = ", ".join(c.key for c in settings.mailers) or "none"
            raise ValueError(f"no mailer {mailer_key!r} (configured: {known})")
        if not configs[0].sends_email:
            raise ValueError(f"mailer {mailer_key!r} does not send email (\"outbound\": false, or \"email\" "
                             "not in its media)")
    # Built before the row is written: a mailer that cannot even be constructed must not leave a
    # leased test row behind for the next worker run to deliver unasked.
    worker = Worker(db, settings, mailer_configs=configs)
    text = (f"This is a test message from Mailgate, sent by {actor}"
            + (f" through mailer {mailer_key!r}" if mailer_key else "") + ".\n\n"
            "If you can read it, outgoing mail works. Replies to it go nowhere.\n")
    with db.transaction() as s:
        row = OutboundMessage(status="queued", event="test", sender=settings.from_address, recipient=to,
                              subject="Mailgate test message", body_text=text, body_html=html_from_text(text),
                              message_id=new_message_id(settings.reply_domain, "test"),
                              headers=marker_headers("test", ""))
        row.headers.pop("X-Mailgate-Task", None)
        s.add(row)
        s.flush()
        out = queue.claim_one(s, row.id)
    try:
        result = deliver(out, worker.order())
    finally:
        worker.close()
    queue.record(db, [result])
    with db.read() as s:
        row = s.scalars(select(OutboundMessage).where(OutboundMessage.id == out.id)).one()
        s.expunge(row)  # keep its loaded values usable after the read scope rolls back
    return row, result
