"""An API's HTTP answer to a send, as the queue's outcome (one rule for every API type).

| answer | outcome |
|---|---|
| 2xx | sent |
| 401, 403 | CredentialsRefused: the mailer is down (our keys), the next mailer is tried |
| 429 | RateLimited for the Retry-After it gave (seconds or an HTTP date; 60 s without one) |
| 408, 5xx, anything else unexpected | TemporaryFailure: next mailer, retry with backoff |
| other 4xx | PermanentFailure with the service's own error text: the message itself is refused |
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from mailgate.shared.outbound.failures import (CredentialsRefused, MailerFailure, PermanentFailure, RateLimited,
                                               TemporaryFailure)

MAX_TEXT = 500  # characters of a service's error text kept in last_error


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def short(text: str) -> str:
    """A service's error text on one line, bounded."""
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= MAX_TEXT else one_line[:MAX_TEXT - 1] + "…"


def failure_for(status: int, text: str, where: str, retry_after: str | None = None) -> MailerFailure | None:
    """The failure an HTTP status means (None for success); `text` is the service's own error text."""
    said = f"{where}: HTTP {status}" + (f": {short(text)}" if text.strip() else "")
    if 200 <= status < 300:
        return None
    if status in (401, 403):
        return CredentialsRefused(said)
    if status == 429:
        return RateLimited(said, retry_after_seconds(retry_after))
    if 400 <= status < 500 and status != 408:
        return PermanentFailure(said)
    return TemporaryFailure(said)
