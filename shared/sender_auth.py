"""Pipeline step "sender_auth": what off / report / require make of the message's sender authentication.

Verification itself (`senderauth.authenticate`, DNS included) runs before
the message is handed to the writer: `prepare()` is called by the milter's
session thread and by receive() before its transaction, so no look-up ever
holds the database or another message's turn. The step only decides:

* off: nothing checked, nothing said.
* report: the result is recorded and shown; the message goes on as before.
* require: no DMARC pass -> rejected/unauthenticated_sender (550 5.7.1);
  a DNS timeout or SERVFAIL -> AuthDeferred (451 4.7.0, pipe exit 75), never
  a rejection. A personal create address (its secret names the user) passes.

A create address's own setting overrides MAILGATE_SENDER_AUTH.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable

from mailgate.shared.config import Settings
from mailgate.shared.envelope import SMTP_CLIENT_SOURCES, Envelope
from mailgate.shared.outcomes import AuthDeferred, Reason, Reject, AUTH_TEMPFAIL
from mailgate.shared.senderauth.result import AuthResult
from mailgate.shared.senderauth.policy import effective_mode, refusal_text
from mailgate.shared.senderauth.result import mismatch_sentence, summary

if TYPE_CHECKING:
    from mailgate.shared.pipeline import Context

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


def prepare(settings: Settings, envelope: Envelope, raw: bytes, address_modes: Iterable[str] = ()) -> None:
    """Verify now, outside any transaction, when the setting or one of the recipients asks for it."""
    if envelope.auth is not None:
        return
    if settings.sender_auth == "off" and all(m == "off" for m in address_modes):
        return
    try:
        envelope.auth = verify(settings, envelope, raw)
    except Exception:  # noqa: BLE001 -- a bug here must not lose the message: "could not check", not "forged"
        log.exception("sender authentication crashed: qid=%s", envelope.queue_id or "-")
        envelope.auth = AuthResult(verdict="temperror", dmarc="temperror",
                                   note="Sender authentication crashed on this message; see the log.")


def columns(auth: AuthResult | None) -> dict:
    """The received_messages columns that hold the result."""
    return {"auth": auth.to_json() if auth else None, "auth_verdict": auth.verdict if auth else None}


def step_sender_auth(ctx: "Context") -> None:
    rcpt = ctx.recipient
    assert rcpt is not None
    mode = effective_mode(ctx.settings.sender_auth, rcpt.create.sender_auth if rcpt.kind == "create" else None)
    if mode == "off":
        return
    auth = ctx.envelope.auth
    if auth is None:  # not prepared (an address switched on between RCPT and now): verify here, once
        auth = ctx.envelope.auth = verify(ctx.settings, ctx.envelope, ctx.raw or b"")
        for name, value in columns(auth).items():
            setattr(ctx.rec, name, value)
    ctx.note(f"Sender authentication ({mode}): {summary(auth)}." + (f" {auth.note}" if auth.note else ""))
    mismatch = mismatch_sentence(auth, ctx.rec.mail_from, ctx.rec.from_addr)
    if mismatch:
        ctx.note(mismatch)
    if mode != "require" or auth.verdict == "pass":
        return
    if rcpt.personal is not None:
        ctx.note(f"{rcpt.address} is {rcpt.personal.username}'s personal create address: its secret "
                 f"authenticates the sender.")
        return
    if auth.verdict == "temperror":
        ctx.note("Deferred: " + AUTH_TEMPFAIL.text)
        raise AuthDeferred(AUTH_TEMPFAIL.text)
    raise Reject(Reason.UNAUTHENTICATED_SENDER, refusal_text(auth))
