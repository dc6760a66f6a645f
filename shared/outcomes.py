"""The status/reason vocabulary, dispositions as exceptions, and their SMTP answers.

This is the one place where a reason becomes a status, a sentence and an
SMTP reply: the pipeline raises, the adapters (milter, pipe, CLI, console)
read the answer from here and never invent their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    REJECTED = "rejected"
    FAILED = "failed"


class Reason(StrEnum):
    DUPLICATE = "duplicate"
    AUTO_GENERATED = "auto_generated"
    BOUNCE = "bounce"
    OWN_MAIL = "own_mail"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    INVALID_HASH = "invalid_hash"
    OBJECT_NOT_FOUND = "object_not_found"
    UNKNOWN_SENDER = "unknown_sender"
    SENDER_MISMATCH = "sender_mismatch"
    UNREADABLE_FROM = "unreadable_from"
    COMMAND_NOT_ALLOWED = "command_not_allowed"
    TOO_LARGE = "too_large"
    EMPTY = "empty"
    UNAUTHENTICATED_SENDER = "unauthenticated_sender"
    INTERNAL_ERROR = "internal_error"


STATUS_OF_REASON: dict[Reason, Status] = {
    Reason.DUPLICATE: Status.IGNORED,
    Reason.AUTO_GENERATED: Status.IGNORED,
    Reason.BOUNCE: Status.IGNORED,
    Reason.OWN_MAIL: Status.IGNORED,
    Reason.UNKNOWN_RECIPIENT: Status.REJECTED,
    Reason.INVALID_HASH: Status.REJECTED,
    Reason.OBJECT_NOT_FOUND: Status.REJECTED,
    Reason.UNKNOWN_SENDER: Status.REJECTED,
    Reason.SENDER_MISMATCH: Status.REJECTED,
    Reason.UNREADABLE_FROM: Status.REJECTED,
    Reason.COMMAND_NOT_ALLOWED: Status.REJECTED,
    Reason.TOO_LARGE: Status.REJECTED,
    Reason.EMPTY: Status.REJECTED,
    Reason.UNAUTHENTICATED_SENDER: Status.REJECTED,
    Reason.INTERNAL_ERROR: Status.FAILED,
}

# Sentences a human reads in a bounce or the console. Specific messages from
# the pipeline (naming the address or command) take precedence.
DEFAULT_TEXT: dict[Reason, str] = {
    Reason.DUPLICATE: "This message was already received.",
    Reason.AUTO_GENERATED: "Automatic replies are not accepted.",
    Reason.BOUNCE: "Delivery reports are not accepted.",
    Reason.OWN_MAIL: "This is Mailgate's own notification coming back.",
    Reason.UNKNOWN_RECIPIENT: "No such address here.",
    Reason.INVALID_HASH: (
        "This reply address is not valid: it was mistyped, or it has expired because the "
        "mail key was rotated. Reply to a newer notification."
    ),
    Reason.OBJECT_NOT_FOUND: "The task this reply address belongs to no longer exists.",
    Reason.UNKNOWN_SENDER: "Your address is not known here, so you cannot open tasks by mail.",
    Reason.SENDER_MISMATCH: "This reply address was issued to someone else; reply from your own address.",
    Reason.UNREADABLE_FROM: "The From header does not name one sender unambiguously; send from an ordinary mail client.",
    Reason.COMMAND_NOT_ALLOWED: "A command in your message cannot be applied.",
    Reason.TOO_LARGE: "The message is larger than this server accepts.",
    Reason.EMPTY: "The message has no text to act on.",
    Reason.UNAUTHENTICATED_SENDER: (
        "This address only takes mail whose sender is authenticated (DMARC), and this message's is not."
    ),
    Reason.INTERNAL_ERROR: "Mailgate failed to process the message; an administrator can retry it.",
}


class Disposition(Exception):
    """A deliberate outcome other than 'processed', raised from any pipeline step."""

    def __init__(self, reason: Reason, text: str | None = None, **detail: Any):
        self.reason = Reason(reason)
        self.status = STATUS_OF_REASON[self.reason]
        self.text = text or DEFAULT_TEXT[self.reason]
        self.detail = detail
        super().__init__(f"{self.status}/{self.reason}: {self.text}")


class Ignore(Disposition):
    pass


class Reject(Disposition):
    pass


class TempFail(Exception):
    """Not our final word: the database or a dependency is unavailable. Answer 4xx."""

    reason = "unavailable"


class AuthDeferred(TempFail):
    """Sender authentication is required and DNS did not answer: the sender retries (451 4.7.0, pipe 75)."""

    reason = "sender_auth_temperror"


@dataclass
class Outcome:
    """What happened to one received message; the JSON shape of the CLI contract."""

    id: int | None
    status: Status
    reason: Reason | None = None
    text: str = ""
    action: str | None = None
    object: str | None = None
    actor: str | None = None
    application: str | None = None
    commands: list[str] = field(default_factory=list)
    unknown_commands: list[str] = field(default_factory=list)
    robot: str | None = None
    duplicate_of: int | None = None
    auth: dict[str, Any] | None = None  # senderauth.AuthResult.to_json(); None: not checked

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": str(self.status),
            "reason": str(self.reason) if self.reason else None,
            "reason_text": self.text or None,
            "action": self.action,
            "object": self.object,
            "actor": self.actor,
            "application": self.application,
            "commands": list(self.commands),
            "unknown_commands": list(self.unknown_commands),
            "robot": self.robot,
            "duplicate_of": self.duplicate_of,
            "auth": self.auth,
        }


@dataclass(frozen=True)
class SmtpReply:
    code: int
    xcode: str
    text: str

    @property
    def is_ok(self) -> bool:
        return self.code < 400


ACCEPT = SmtpReply(250, "2.0.0", "OK")
RATE_LIMITED = "rate_limited"  # the reason code of a rate-limit deferral (logs, refusal counts)
TEMPFAIL = SmtpReply(451, "4.3.0", "Mailgate is temporarily unable to take this message; please try again later.")

AUTH_TEMPFAIL = SmtpReply(451, "4.7.0", "The sender's domain could not be checked just now (DNS did not "
                          "answer in time); please try again later.")


def tempfail_reply(exc: TempFail) -> SmtpReply:
    """The 4xx for a message that could not be taken now."""
    return AUTH_TEMPFAIL if isinstance(exc, AuthDeferred) else TEMPFAIL


# Reasons refused at RCPT time: known from the address alone (no backscatter).
RCPT_REASONS = {Reason.UNKNOWN_RECIPIENT, Reason.INVALID_HASH, Reason.OBJECT_NOT_FOUND}


def rcpt_reply(reason: Reason, text: str | None = None) -> SmtpReply:
    """The answer to a RCPT of a Mailgate address that cannot be used."""
    return SmtpReply(550, "5.1.1", text or DEFAULT_TEXT[reason])


def rate_limited_reply(who: str) -> SmtpReply:
    """The RCPT answer when a client or sender is over its rate: a 4xx, so the sending MTA retries later."""
    return SmtpReply(451, "4.7.1", f"Too much mail from {who} just now; please try again later.")


def message_reply(outcome: Outcome, all_recipients_ours: bool) -> SmtpReply:
    """The end-of-message answer for a stored message.

    Stored means the sender's job is done (2xx) -- except when a refusal the
    sender could fix applies to a message that is wholly ours: then 550 tells
    them why, without us ever sending a bounce to a possibly forged address.
    Robots are never answered with a refusal. Too large is the same rule
    with its own code: with other recipients, their copy goes on (ours is
    recorded rejected, truncated).
    """
    if outcome.status == Status.REJECTED and outcome.reason == Reason.TOO_LARGE and all_recipients_ours:
        return SmtpReply(552, "5.3.4", outcome.text or DEFAULT_TEXT[Reason.TOO_LARGE])
    if outcome.status == Status.REJECTED and all_recipients_ours:
        return SmtpReply(550, "5.7.1", outcome.text or DEFAULT_TEXT[outcome.reason or Reason.EMPTY])
    return ACCEPT


# sysexits(3) for the pipe ingress (`mailgate receive`), as Postfix's pipe(8) reads them.
EX_OK = 0
EX_NOUSER = 67
EX_TEMPFAIL = 75


def pipe_exit_code(outcome: Outcome) -> int:
    """0, 67 or 75 only (the README's `mailgate receive`).

    Once Postfix has accepted the mail, any other failure code makes it send
    a bounce to a sender who may be forged; a content refusal is therefore
    recorded (status rejected) and exits 0. An unknown address is 67, which
    the contract asks for.
    """
    if outcome.status == Status.REJECTED and outcome.reason in RCPT_REASONS:
        return EX_NOUSER
    return EX_OK


# --- webhook answers (`mailgate ingress`) ------------------------------------------------

class IngressReason(StrEnum):
    """Why a webhook request was refused before anything was stored (counted per hour, never kept)."""

    NOT_CONFIGURED = "not_configured"  # no MAILGATE_MAILERS entry of that type serves inbound mail
    UNAUTHENTICATED = "unauthenticated"  # HTTP Basic credentials missing or wrong
    FORBIDDEN_SOURCE = "forbidden_source"  # not from the provider's configured address ranges
    BAD_SIGNATURE = "bad_signature"
    STALE_SIGNATURE = "stale_signature"  # signed more than five minutes away from now
    REPLAYED = "replayed"  # a signature token seen before
    MALFORMED = "malformed"  # not the provider's documented shape
    TOO_LARGE = "too_large"  # the request body is over the limit (read no further)


class Refused(Exception):
    """A webhook request refused with a reason; `detail` is for the log, never the answer body."""

    def __init__(self, reason: IngressReason, detail: str = "") -> None:
        self.reason = IngressReason(reason)
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}" if detail else str(self.reason))


WEBHOOK_STATUS: dict[IngressReason, int] = {
    IngressReason.NOT_CONFIGURED: 404,
    IngressReason.UNAUTHENTICATED: 401,
    IngressReason.FORBIDDEN_SOURCE: 403,
    IngressReason.BAD_SIGNATURE: 401,
    IngressReason.STALE_SIGNATURE: 401,
    IngressReason.REPLAYED: 409,
    IngressReason.MALFORMED: 400,
    IngressReason.TOO_LARGE: 413,
}
# Refusals a retry cannot change, answered with the status that stops that provider's retries
# (Mailgun: 406; Postmark: 403), so a malformed or oversized post is not sent again for hours.
# SendGrid retries only 5xx. Other refusals keep the status above: the provider retries.
WEBHOOK_FINAL_REASONS = frozenset({IngressReason.MALFORMED, IngressReason.TOO_LARGE, IngressReason.REPLAYED})
WEBHOOK_GIVE_UP_STATUS = {"mailgun": 406, "postmark": 403}
WEBHOOK_STORED = 200  # stored durably, whatever the outcome (a bad address is recorded rejected, never bounced)
WEBHOOK_TEMPFAIL = 503  # the database is unavailable: the provider retries


def webhook_status(reason: IngressReason, provider: str) -> int:
    """The HTTP status of a refused webhook request."""
    if reason in WEBHOOK_FINAL_REASONS and provider in WEBHOOK_GIVE_UP_STATUS:
        return WEBHOOK_GIVE_UP_STATUS[provider]
    return WEBHOOK_STATUS[reason]
