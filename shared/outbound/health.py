"""Outbound checks for `mailgate check` and the console's Health page.

Returns shared.health.Check objects (name, ok, detail, fix) so the health
module can append them to its list unchanged. Probing a mailer opens a
connection and says EHLO (and logs in when configured) but sends nothing.
"""

from __future__ import annotations

import os
import shutil
import smtplib
from datetime import datetime, timedelta

from sqlalchemy import func, select

from mailgate.shared.config import MailerConfig, Settings
from mailgate.shared.mailer_config import API_TYPES
from mailgate.shared.db import Database, utcnow
from mailgate.shared.health import Check
from mailgate.shared.models import Heartbeat, OutboundMessage
from mailgate.shared.outbound.failures import CredentialsRefused, MailerFailure
from mailgate.shared.outbound.mailers import SendmailMailer, SMTPMailer, transport_class
from mailgate.shared.outbound.worker import HEARTBEAT_SERVICE

STALE_QUEUE = timedelta(minutes=15)  # a due message older than this means no worker is sending
WORKER_STALE = timedelta(minutes=2)


def check_mailer(config: MailerConfig, timeout: float = 5.0) -> Check:
    name = f"mailer {config.key} ({config.type})"
    if not config.sends_email:
        return Check(name, True, "inbound only (\"outbound\": false or no \"email\" in media): not used to send")
    if config.type == "test":
        return Check(name, True, "test mailer: records messages, sends nothing")
    if config.type == "sendmail":
        m = SendmailMailer(config.key, dict(config.options))
        path = m.binary if os.path.isabs(m.binary) else shutil.which(m.binary)
        if not path or not os.access(path, os.X_OK):
            return Check(name, False, f"{m.binary} is missing or not executable",
                         "Install the local MTA (Postfix provides /usr/sbin/sendmail) or set options.binary.")
        return Check(name, True, f"{path} is executable")
    if config.type in API_TYPES:
        return check_api_mailer(config, timeout)
    m = SMTPMailer(config.key, {**dict(config.options), "timeout": min(timeout, float(config.options.get("timeout") or timeout))})
    try:
        conn = m._connect()
    except MailerFailure as exc:
        return Check(name, False, str(exc), "Check host, port, TLS and credentials in MAILGATE_MAILERS.")
    try:
        code, _ = conn.noop()
    except (OSError, smtplib.SMTPException) as exc:
        return Check(name, False, f"{m.host}:{m.port}: NOOP failed: {exc}", "Check the relay.")
    finally:
        m._conn = conn
        m.close()
    tls = "implicit TLS" if m.ssl else ("STARTTLS" if m.starttls else "no TLS")
    return Check(name, code == 250, f"{m.host}:{m.port} answers ({tls}{', logged in' if m.user else ''})")


def _secrets(config: MailerConfig) -> str:
    shown = config.secret_fingerprints()
    return ("; " + ", ".join(f"{name} {fp}" for name, fp in sorted(shown.items()))) if shown else ""


def check_api_mailer(config: MailerConfig, timeout: float = 5.0) -> Check:
    """A harmless authenticated call (it reads, sends nothing) proves the endpoint and the credentials."""
    name = f"mailer {config.key} ({config.type})"
    options = {**dict(config.options), "timeout": min(timeout, float(config.options.get("timeout") or timeout))}
    try:
        m = transport_class(config.type)(config.key, options)
    except Exception as exc:  # e.g. the SDK missing from this installation
        return Check(name, False, f"cannot set up: {exc.__class__.__name__}: {exc}"[:400], "Reinstall Mailgate.")
    try:
        said = m.probe()
    except CredentialsRefused as exc:
        return Check(name, False, f"{exc}{_secrets(config)}",
                     "The service refused the credentials: check the key in MAILGATE_MAILERS (its fingerprint is "
                     "shown) and its permissions at the service; the worker skips this mailer meanwhile.")
    except MailerFailure as exc:
        return Check(name, False, f"{exc}{_secrets(config)}",
                     "Check options.endpoint and that this host can reach the service.")
    finally:
        m.close()
    return Check(name, True, f"{m.where}: {said}{_secrets(config)}")


def reported_down(db: Database) -> dict[str, str]:
    """Mailers a live worker is skipping for refused credentials: key -> what its heartbeat says."""
    now = utcnow()
    result: dict[str, str] = {}
    with db.read() as s:
        beats = s.execute(select(Heartbeat.host, Heartbeat.last_seen, Heartbeat.detail)
                          .where(Heartbeat.service == HEARTBEAT_SERVICE)).all()
    for host, last_seen, detail in beats:
        if last_seen is None or now - last_seen > WORKER_STALE:
            continue
        for key, down in ((detail or {}).get("mailers_down") or {}).items():
            if not isinstance(down, dict) or down.get("kind") != "credentials":
                continue
            try:
                until = datetime.fromisoformat(str(down.get("until")))
            except ValueError:
                until = now
            if until >= now:  # past it, the worker is trying the mailer again
                result.setdefault(key, f"worker on {host} skips it until {down.get('until')}: {down.get('why')}")
    return result


def with_worker_view(checks: list[Check], configs: list[MailerConfig], down: dict[str, str]) -> list[Check]:
    """A mailer the worker found refusing our credentials is a failed check, whatever the probe saw."""
    result = []
    for check, config in zip(checks, configs):
        if config.key in down:
            check = Check(check.name, False, f"{down[config.key]}; probe: {check.detail}"[:600],
                          "The service refused the credentials while sending: fix the key in MAILGATE_MAILERS and "
                          "restart the worker.")
        result.append(check)
    return result


def check_mailers(settings: Settings, timeout: float = 5.0, db: Database | None = None) -> list[Check]:
    configs = list(settings.mailers)
    checks = [check_mailer(c, timeout) for c in configs]
    if db is not None:
        try:
            checks = with_worker_view(checks, configs, reported_down(db))
        except Exception:  # noqa: BLE001 -- the database has its own check; the probes still stand
            pass
    if not any(c.sends_email for c in configs):
        return [Check("mailers", False, "no mailer configured to send: notifications are voided, nothing is sent",
                      "Set MAILGATE_MAILERS, e.g. [{\"key\": \"local\", \"type\": \"sendmail\"}].")] + checks
    return checks


def check_queue(db: Database) -> Check:
    """Is the queue moving? Due messages waiting long, failures, and the worker's last heartbeat."""
    now = utcnow()
    with db.read() as s:
        counts = dict(s.execute(select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)).all())
        oldest_due = s.scalar(select(func.min(OutboundMessage.created_at)).where(
            OutboundMessage.status == "queued",
            (OutboundMessage.next_attempt_at.is_(None)) | (OutboundMessage.next_attempt_at <= now)))
        last_beat = s.scalar(select(func.max(Heartbeat.last_seen)).where(Heartbeat.service == HEARTBEAT_SERVICE))
    parts = [f"{counts.get(k, 0)} {k}" for k in ("queued", "sent", "failed", "void")]
    detail = ", ".join(parts)
    if last_beat is not None:
        detail += f"; worker last seen {int((now - last_beat).total_seconds())} s ago"
    if oldest_due is not None and now - oldest_due > STALE_QUEUE:
        stale_worker = last_beat is None or now - last_beat > WORKER_STALE
        return Check("outbound queue", False,
                     detail + f"; oldest due message waiting {int((now - oldest_due).total_seconds() / 60)} min",
                     "Start the worker: `mailgate worker`." if stale_worker
                     else "The worker runs but cannot send: see `mailgate list-outbound --status queued`.")
    return Check("outbound queue", True, detail)
