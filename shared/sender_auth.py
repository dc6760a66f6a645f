"""Sender authentication for the mail path: verified before the message is handed over, decided by a step.

Verification itself (`senderauth.authenticate`, DNS included) runs before
the message is handed to the writer: `prepare()` is called by the milter's
session thread and by receive() before its transaction, so no look-up ever
holds the database or another message's turn. The pipeline step
(`pipeline/steps/sender_auth.py`) only decides:

* off: nothing checked, nothing said.
* report: the result is recorded and shown; the message goes on as before.
* require: no DMARC pass -> rejected/unauthenticated_sender (550 5.7.1);
  a DNS timeout or SERVFAIL -> AuthDeferred (451 4.7.0, pipe exit 75), never
  a rejection. A personal create address (its secret names the user) passes.

A create address's own setting overrides MAILGATE_SENDER_AUTH.
"""

from __future__ import annotations

import logging
from typing import Iterable

from mailgate.shared.config import Settings
from mailgate.shared.envelope import SMTP_CLIENT_SOURCES, Envelope
from mailgate.shared.senderauth.head import HEADER_BYTES, signed
from mailgate.shared.senderauth.result import AuthResult

NAME = "sender_auth"
log = logging.getLogger("mailgate.senderauth")


def verify(settings: Settings, envelope: Envelope, raw: bytes) -> AuthResult:
    from mailgate.shared.senderauth.verify import AuthConfig, Transport, authenticate  # on first use: see senderauth

    config = AuthConfig(settings.sender_auth, settings.authserv_id, settings.dns_servers, settings.dns_timeout)
    smtp_client = envelope.source in SMTP_CLIENT_SOURCES  # else SPF would check the webhook provider's address
    return authenticate(config, raw, Transport(
        source=envelope.source, client_addr=envelope.client_addr if smtp_client else "", helo=envelope.helo,
        mail_from=envelope.sender, queue_id=envelope.queue_id))


def warm_up(settings: Settings) -> None:
    """Load the verification libraries, the Public Suffix List and the resolver (a long-running process)."""
    from mailgate.shared.senderauth.dmarc import organisational_domain
    from mailgate.shared.senderauth.resolver import shared_resolver

    organisational_domain("mail.example.com")
    shared_resolver(settings.dns_servers, settings.dns_timeout)


def wanted(settings: Settings, envelope: Envelope, address_modes: Iterable[str] = ()) -> bool:
    """Whether prepare() would verify: not done yet, and the setting or one of the recipients asks for it."""
    return envelope.auth is None and not (settings.sender_auth == "off" and all(m == "off" for m in address_modes))


def prepare(settings: Settings, envelope: Envelope, raw: bytes, address_modes: Iterable[str] = ()) -> None:
    """Verify now, outside any transaction, when the setting or one of the recipients asks for it.

    `raw` may be the message's first HEADER_BYTES only when it is not DKIM-signed (`signed()`): nothing
    else of the body is read then.
    """
    if not wanted(settings, envelope, address_modes):
        return
    if max(len(raw), envelope.size or 0) > settings.max_message_bytes:
        return  # stored rejected/too_large whoever sent it: DKIM's body hashes over it would only cost CPU
    try:
        envelope.auth = verify(settings, envelope, raw)
    except Exception:  # noqa: BLE001 -- a bug here must not lose the message: "could not check", not "forged"
        log.exception("sender authentication crashed: qid=%s", envelope.queue_id or "-")
        envelope.auth = AuthResult(verdict="temperror", dmarc="temperror",
                                   note="Sender authentication crashed on this message; see the log.")


def columns(auth: AuthResult | None) -> dict:
    """The received_messages columns that hold the result."""
    return {"auth": auth.to_json() if auth else None, "auth_verdict": auth.verdict if auth else None}
