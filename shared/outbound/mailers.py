"""Transports, and the order to try them in (Phabricator's cluster.mailers rules).

Order: mailers with a priority first, highest group first, shuffled inside a
group (so equal relays share the load); then the unprioritised ones in the
order they are configured.

Failures (shared/outbound/failures.py) are temporary (try the next mailer,
retry later), permanent (the message itself is refused; the row fails with
the server's words) or "down" (the mailer is unusable for a while).

The API types (postmark, mailgun, sendgrid: api_mailers.py; ses:
ses_mailer.py) are imported only when configured, so a host without them
pays nothing for their HTTP client or SDK.

An SMTPMailer keeps ONE connection open for as many messages as the worker
gives it (reconnecting once if the server dropped an idle connection), which
is what makes hundreds of messages per second possible.
"""

from __future__ import annotations

import os
import random
import smtplib
import ssl
import subprocess
import threading
import time
from typing import Protocol, Sequence

from mailgate.shared.config import MailerConfig
from mailgate.shared.outbound.failures import (CredentialsRefused, MailerDown, MailerFailure,  # noqa: F401
                                               PermanentFailure, RateLimited, TemporaryFailure)


class Mailer(Protocol):
    key: str
    type: str
    keeps_message_id: bool  # False: the service sets its own Message-ID (render without ours, thread by References)

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        """Deliver or raise a MailerFailure; returns a short note (e.g. refused recipients) or ''."""

    def close(self) -> None: ...


def ordered(mailers: Sequence[Mailer], priorities: dict[str, int | None], rng: random.Random | None = None) -> list[Mailer]:
    """The try-order for one message: priority groups high→low (shuffled within), then the rest in order."""
    rng = rng or random
    groups: dict[int, list[Mailer]] = {}
    rest: list[Mailer] = []
    for m in mailers:
        p = priorities.get(m.key)
        if p is None:
            rest.append(m)
        else:
            groups.setdefault(p, []).append(m)
    result: list[Mailer] = []
    for p in sorted(groups, reverse=True):
        group = list(groups[p])
        rng.shuffle(group)
        result.extend(group)
    return result + rest


def _smtp_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


def _classify(code: int, message: bytes | str, where: str) -> MailerFailure:
    text = f"{where}: {_smtp_text(code, message)}"
    return PermanentFailure(text) if 500 <= code < 600 else TemporaryFailure(text)


class SMTPMailer:
    """SMTP relay with one reused connection. Options: host, port, user, password, starttls, ssl, timeout."""

    type = "smtp"
    keeps_message_id = True

    def __init__(self, key: str, options: dict):
        self.key = key
        self.host = str(options.get("host") or "localhost")
        self.ssl = bool(options.get("ssl") or options.get("tls") and not options.get("starttls"))
        self.starttls = bool(options.get("starttls"))
        self.port = int(options.get("port") or (465 if self.ssl else 25))
        self.user = options.get("user") or options.get("username") or ""
        self.password = options.get("password") or ""
        self.timeout = float(options.get("timeout") or 30)
        self.local_hostname = options.get("local_hostname") or None
        self.verify = options.get("verify", True)
        self._conn: smtplib.SMTP | None = None
        self.connections = 0  # how many times we connected (the benchmark and tests read it)

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                                      timeout=self.timeout, context=self._context())
            else:
                conn = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
            conn.ehlo_or_helo_if_needed()
            if self.starttls:
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.user:
                conn.login(self.user, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the message: another mailer may work.
            raise MailerDown(f"{self.host}:{self.port} login: {_smtp_text(exc.smtp_code, exc.smtp_error)}") from None
        except smtplib.SMTPResponseException as exc:
            raise MailerDown(f"{self.host}:{self.port} greeting: {_smtp_text(exc.smtp_code, exc.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailerDown(f"{self.host}:{self.port}: {exc.__class__.__name__}: {exc}") from None
        self.connections += 1
        return conn

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        try:
            return self._send_reusing(sender, recipients, data)
        except MailerFailure:
            raise
        except Exception as exc:
            # Not an SMTP answer (e.g. UnicodeEncodeError for a non-ASCII address, raised after MAIL FROM
            # went out): the session is mid-transaction, and the next message on it would be refused with
            # "503 nested MAIL command", a 5xx that would fail a healthy row for good. Drop the connection
            # so the next message starts clean; for this row it is a temporary failure.
            self._drop()
            raise TemporaryFailure(f"{self.host}:{self.port}: {exc.__class__.__name__}: {exc}") from None

    def _send_reusing(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        """Send over the kept connection, reconnecting once if the server dropped it while idle."""
        fresh = self._conn is None
        if fresh:
            self._conn = self._connect()
        try:
            return self._send(sender, recipients, data)
        except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
            self._drop()
            if fresh:
                raise TemporaryFailure(f"{self.host}:{self.port}: connection lost: {exc}") from None
            # A reused connection may simply have timed out while idle: one fresh try.
            self._conn = self._connect()
            try:
                return self._send(sender, recipients, data)
            except (smtplib.SMTPServerDisconnected, ConnectionError, OSError) as exc2:
                self._drop()
                raise MailerDown(f"{self.host}:{self.port}: connection lost: {exc2}") from None

    def _send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        assert self._conn is not None
        try:
            refused = self._conn.sendmail(sender, list(recipients), data)
        except smtplib.SMTPRecipientsRefused as exc:
            answers = list(exc.recipients.items())
            worst = min((code for _r, (code, _m) in answers), default=450)
            detail = "; ".join(f"{r}: {_smtp_text(c, m)}" for r, (c, m) in answers)
            # All refused: permanent only when every refusal was permanent.
            if all(500 <= c < 600 for _r, (c, _m) in answers) and worst >= 500:
                raise PermanentFailure(f"RCPT TO refused: {detail}") from None
            raise TemporaryFailure(f"RCPT TO refused: {detail}") from None
        except smtplib.SMTPSenderRefused as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, "MAIL FROM refused") from None
        except smtplib.SMTPDataError as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, "DATA refused") from None
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, "SMTP") from None
        except (OSError, smtplib.SMTPException) as exc:
            if isinstance(exc, ConnectionError):
                raise
            self._drop()
            raise TemporaryFailure(f"{self.host}:{self.port}: {exc.__class__.__name__}: {exc}") from None
        if refused:
            return "some recipients refused: " + "; ".join(f"{r}: {_smtp_text(c, m)}" for r, (c, m) in refused.items())
        return ""

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except Exception:
                try:
                    conn.close()
                except Exception:
                    pass


# sysexits.h: the exit codes sendmail-compatible binaries use.
_EX_PERMANENT = {64: "usage", 65: "data format error", 67: "addressee unknown", 68: "host name unknown",
                 77: "permission denied"}


class SendmailMailer:
    """The local MTA's sendmail binary. Options: binary (default /usr/sbin/sendmail), args, timeout."""

    type = "sendmail"
    keeps_message_id = True

    def __init__(self, key: str, options: dict):
        self.key = key
        self.binary = str(options.get("binary") or options.get("path") or "/usr/sbin/sendmail")
        self.args = [str(a) for a in options.get("args", [])]
        self.timeout = float(options.get("timeout") or 60)

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        # -oi: a lone "." line is text, not the end; -f: the envelope sender (bounces come to us).
        cmd = [self.binary, "-oi", *self.args, "-f", sender, "--", *recipients]
        data = data.replace(b"\r\n", b"\n")  # local submission speaks the host's line ending
        try:
            proc = subprocess.run(cmd, input=data, capture_output=True, timeout=self.timeout)
        except FileNotFoundError:
            raise MailerDown(f"{self.binary}: not found") from None
        except subprocess.TimeoutExpired:
            raise TemporaryFailure(f"{self.binary}: no answer in {self.timeout:g} s") from None
        except OSError as exc:
            raise TemporaryFailure(f"{self.binary}: {exc.strerror}") from None
        if proc.returncode == 0:
            return ""
        said = " ".join((proc.stderr or proc.stdout or b"").decode("utf-8", "replace").split())[:500]
        text = f"{self.binary} exit {proc.returncode}" + (f" ({_EX_PERMANENT[proc.returncode]})" if proc.returncode in _EX_PERMANENT else "") + (f": {said}" if said else "")
        if proc.returncode in _EX_PERMANENT:
            raise PermanentFailure(text)
        raise TemporaryFailure(text)

    def close(self) -> None:
        pass


class TestMailer:
    """Records, sends nothing. Options: log (file: one line per message), fail ("temporary"|"permanent"),
    delay (seconds per message, to stand in for a slow relay in drills and tests).

    Every instance appends to the class-wide `outbox` (in-process tests);
    `log` lets tests with several processes see who sent what.
    """

    type = "test"
    keeps_message_id = True
    outbox: list[tuple[str, str, list[str], bytes]] = []
    _lock = threading.Lock()

    __test__ = False  # not a pytest test class

    def __init__(self, key: str, options: dict):
        self.key = key
        self.log = options.get("log") or ""
        self.fail = options.get("fail") or ""
        self.delay = float(options.get("delay") or 0)

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        if self.fail == "temporary":
            raise TemporaryFailure(f"{self.key}: 451 4.3.0 test mailer told to fail temporarily")
        if self.fail == "permanent":
            raise PermanentFailure(f"{self.key}: 550 5.7.1 test mailer told to fail permanently")
        if self.delay:
            time.sleep(self.delay)
        with TestMailer._lock:
            TestMailer.outbox.append((self.key, sender, list(recipients), data))
        if self.log:
            mid = ""
            for line in data.split(b"\r\n" if b"\r\n" in data else b"\n"):
                if line.lower().startswith(b"message-id:"):
                    mid = line.split(b":", 1)[1].strip().decode("ascii", "replace")
                    break
                if not line:
                    break
            line = f"{os.getpid()} {self.key} {','.join(recipients)} {mid}\n".encode()
            fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return ""

    def close(self) -> None:
        pass


TYPES = {"smtp": SMTPMailer, "sendmail": SendmailMailer, "test": TestMailer}


def transport_class(mailer_type: str) -> type:
    """The class that sends for a type; the API types' modules are imported on first use."""
    if mailer_type in TYPES:
        return TYPES[mailer_type]
    if mailer_type == "ses":
        from mailgate.shared.outbound.ses_mailer import SesMailer

        return SesMailer
    from mailgate.shared.outbound import api_mailers

    return api_mailers.TYPES[mailer_type]


def build(configs: Sequence[MailerConfig]) -> list[Mailer]:
    """One transport object per configured mailer (they keep their connections between messages)."""
    result = []
    for c in configs:
        m = transport_class(c.type)(c.key, dict(c.options))
        m.keeps_message_id = c.message_id
        result.append(m)
    return result
