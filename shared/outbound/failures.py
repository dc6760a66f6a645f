"""What a mailer raises instead of succeeding, and what each outcome asks of the worker.

- TemporaryFailure: this mailer cannot take the message now (timeouts, 4xx
  to SMTP, 5xx from an API): try the next mailer, and retry the message
  later with backoff if none took it.
- PermanentFailure: the message itself is refused (5xx to SMTP, a 4xx
  from an API naming the message); another mailer would get the same
  answer, so the row fails with the service's own words.
- MailerDown: the mailer is unusable right now, whatever the message (no
  connection, login refused, binary missing): the worker skips it for
  `down_for` seconds instead of paying a timeout on every message.
  CredentialsRefused (an API's 401/403) and RateLimited (429) are kinds of
  it, held for longer or for as long as the service asked.
"""

from __future__ import annotations

DOWN_SECONDS = 30.0  # how long a mailer that could not connect is skipped before trying it again
CREDENTIALS_DOWN_SECONDS = 600.0  # refused credentials do not heal by themselves: retry them rarely
RATE_LIMIT_DEFAULT_SECONDS = 60.0  # a 429 without a usable Retry-After
RATE_LIMIT_MAX_SECONDS = 3600.0  # a Retry-After longer than this is capped


class MailerFailure(Exception):
    """Base of the outcomes a mailer may report instead of success."""


class TemporaryFailure(MailerFailure):
    pass


class PermanentFailure(MailerFailure):
    pass


class MailerDown(TemporaryFailure):
    """The mailer itself is unusable right now; says nothing about the message."""

    kind = "unreachable"

    @property
    def down_for(self) -> float:
        return DOWN_SECONDS


class CredentialsRefused(MailerDown):
    """The service refused our credentials (HTTP 401/403): our configuration, not the message."""

    kind = "credentials"

    @property
    def down_for(self) -> float:
        return CREDENTIALS_DOWN_SECONDS


class RateLimited(MailerDown):
    """The service asked us to slow down (HTTP 429): skip it for as long as its Retry-After says."""

    kind = "rate_limited"

    def __init__(self, text: str, retry_after: float | None = None):
        super().__init__(text)
        wait = RATE_LIMIT_DEFAULT_SECONDS if retry_after is None else retry_after
        self.retry_after = min(max(wait, 1.0), RATE_LIMIT_MAX_SECONDS)

    @property
    def down_for(self) -> float:
        return self.retry_after
