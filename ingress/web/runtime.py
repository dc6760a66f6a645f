"""What the public listener's routes share: settings, the database, the request size limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import current_app

from mailgate.shared.config import Settings
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.outcomes import Outcome

Receive = Callable[[Envelope, bytes], Outcome]  # stores durably, then decides; raises only TempFail

FORM_OVERHEAD = 1024 * 1024


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    receive: Receive

    @property
    def request_limit(self) -> int:
        return request_limit(self.settings)


def request_limit(settings: Settings) -> int:
    """The largest request body read at all: the message three times over (form or JSON encoding, and
    Postmark sends the parsed parts beside RawEmail) and a margin. A message under this but over
    MAILGATE_MAX_MESSAGE_BYTES is stored as rejected/too_large, as the milter does."""
    return 3 * settings.max_message_bytes + FORM_OVERHEAD


def current() -> Runtime:
    return current_app.extensions["mailgate.ingress"]
