"""Which recipients are Mailgate's, and whether one can be used: the checks that need no message.

`check_recipient` makes them -- syntax, hash under the current key, object
existence; or a create address -- so the milter refuses at RCPT time and the
pipeline's route step applies the very same rules later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailgate.shared.addresses.personal import PersonalToken, parse_personal_local, verify_personal
from mailgate.shared.addresses.reply import UNSUBSCRIBE_LOCAL, ReplyToken, parse_reply_local, verify
from mailgate.shared.addresses.syntax import AddressError, normalise, split_address
from mailgate.shared.keys import signing_key
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.prepared import Conn
from mailgate.shared.rows import (
    CreateTarget, TaskRow, UserRef, create_target, task_by_id, user_by_email, user_with_serial,
)
from mailgate.shared.servicedesk import participants
from mailgate.shared.servicedesk.participants import ParticipantRow

if TYPE_CHECKING:
    from mailgate.shared.config import Settings

RESERVED_LOCAL_PARTS = frozenset({
    "postmaster", "abuse", "noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon",
    "hostmaster", "webmaster", "root", "admin", "administrator", "security", "support-noreply",
    "bounce", "bounces", "nobody", "daemon", "www-data", "ssl-admin", "info-noreply", "listmaster",
})
# Reserved names Postfix delivers to a person (postfix/mailgate_virtual.sh aliases them to the local
# postmaster; RFC 5321 4.5.1, RFC 2142): exactly these local parts, no "+" forms.
DELIVERED_BY_POSTFIX = frozenset({"postmaster", "abuse"})


def is_reserved(local: str) -> bool:
    base = local.lower().split("+", 1)[0]
    return base in RESERVED_LOCAL_PARTS


def refused_reserved(settings: Settings, address: str) -> bool:
    """A reserved name at one of Mailgate's domains that nobody reads: refused at RCPT, never accepted.

    Every other address at those domains is either Mailgate's (stored) or delivered by Postfix
    (postmaster@, abuse@); what is left would reach the domain's safety-net transport after a 250.
    The notification sender is the caller's exception (the milter takes it: its bounces are stored).
    """
    try:
        local, domain = split_address(address)
    except AddressError:
        return False  # is_ours() already claims a malformed address at our domain: refused there
    return settings.serves_domain(domain) and is_reserved(local) and local not in DELIVERED_BY_POSTFIX


@dataclass
class Recipient:
    """A recipient Mailgate answers for, after the message-free checks."""

    address: str  # normalised
    kind: str  # "reply" | "create" | "unsubscribe"
    application: str
    token: ReplyToken | None = None
    task: TaskRow | None = None
    create: CreateTarget | None = None
    personal: UserRef | None = None  # a personal create address: its secret names the sender
    participant: ParticipantRow | None = None  # a participant's reply or unsubscribe address

    def describe(self) -> str:
        if self.kind == "unsubscribe":
            return f"{self.address}: unsubscribe address of participant #{self.participant.id} of T{self.task.id}"
        if self.kind == "reply":
            if self.participant is not None:
                who = f"external participant #{self.participant.id} ({self.participant.address})"
            else:
                who = "anyone known (public)" if self.token.is_public else f"user #{self.token.user}"
            return f"{self.address}: reply address for {self.token.obj}, issued to {who}"
        if self.create is not None and self.create.service_desk:
            return f"{self.address}: service desk address of application '{self.application}'"
        if self.personal is not None:
            return (f"{self.address}: {self.personal.username}'s personal create address of application "
                    f"'{self.application}'")
        return f"{self.address}: create address of application '{self.application}'"


def is_ours(settings: Settings, address: str) -> bool:
    """Mailgate answers for this address's domain and it is not a reserved name."""
    try:
        local, domain = split_address(address)
    except AddressError:
        # A malformed address at a domain of ours is still ours to refuse.
        tail = (address or "").strip().strip("<>").rsplit("@", 1)
        return len(tail) == 2 and settings.serves_domain(tail[1])
    return settings.serves_domain(domain) and not is_reserved(local)


def check_recipient(conn: Conn, settings: Settings, address: str) -> Recipient:
    """Syntax, reply hash under the current key, object exists; or a create address.

    Raises Reject(unknown_recipient | invalid_hash | object_not_found).
    Call only for addresses where is_ours() is true. Two indexed reads at
    most (key and task, or the create address): the milter runs this for
    every RCPT.
    """
    try:
        local, domain = split_address(address)
    except AddressError as exc:
        raise Reject(Reason.UNKNOWN_RECIPIENT, f"{exc}.") from None
    normalised = f"{local}@{domain}"
    token = parse_reply_local(settings, local)
    if token is not None:
        if domain != settings.reply_domain:
            raise Reject(Reason.UNKNOWN_RECIPIENT, f"Reply addresses live at {settings.reply_domain} only.")
        if token.is_participant:
            return _participant_recipient(conn, normalised, token)
        if not verify(signing_key(conn), token):
            raise Reject(Reason.INVALID_HASH)
        if token.is_public and not settings.public_replies:
            raise Reject(Reason.INVALID_HASH, "Public reply addresses are turned off on this server.")
        task = task_by_id(conn, token.object_id)
        if task is None:
            raise Reject(Reason.OBJECT_NOT_FOUND, f"Task {token.obj} does not exist (any more).")
        return Recipient(normalised, "reply", task.application or "tasks", token=token, task=task)
    unsubscribe = UNSUBSCRIBE_LOCAL.fullmatch(local)
    if unsubscribe is not None and domain == settings.reply_domain:
        return _unsubscribe_recipient(conn, normalised, unsubscribe.group(1))
    create = create_target(conn, normalised)
    if create is not None:
        return Recipient(normalised, "create", create.application, create=create)
    personal = parse_personal_local(local)
    if personal is not None:
        return _personal_recipient(conn, normalised, personal, domain)
    raise Reject(Reason.UNKNOWN_RECIPIENT, f"There is no address {normalised} here.")


def _participant_recipient(conn: Conn, normalised: str, token: ReplyToken) -> Recipient:
    """`T12+p3+hash`: signed for participant #3 of T12 and their address.

    A participant who is not there (or the task gone with them) is a bad
    hash, not "no such task": without a valid signature nobody learns
    which tasks exist.
    """
    found = participants.by_id(conn, token.participant_id)
    if found is None or found.task_id != token.object_id or not verify(signing_key(conn), token, found.address):
        raise Reject(Reason.INVALID_HASH)
    task = task_by_id(conn, token.object_id)
    if task is None:  # pragma: no cover - participants go with their task (ON DELETE CASCADE)
        raise Reject(Reason.OBJECT_NOT_FOUND, f"Task {token.obj} does not exist (any more).")
    return Recipient(normalised, "reply", task.application or "tasks", token=token, task=task, participant=found)


def _unsubscribe_recipient(conn: Conn, normalised: str, token: str) -> Recipient:
    found = participants.by_token(conn, token)
    task = task_by_id(conn, found.task_id) if found is not None else None
    if task is None:
        raise Reject(Reason.UNKNOWN_RECIPIENT, "This unsubscribe address is not valid (any more).")
    return Recipient(normalised, "unsubscribe", task.application or "tasks", task=task, participant=found)


def _personal_recipient(conn: Conn, normalised: str, token: PersonalToken, domain: str) -> Recipient:
    """`base+u7-secret@domain`: a create address, and the user its secret was made for."""
    create = create_target(conn, f"{token.base}@{domain}")
    if create is None:
        raise Reject(Reason.UNKNOWN_RECIPIENT, f"There is no address {normalised} here.")
    found = user_with_serial(conn, token.user_id)
    if found is None or not verify_personal(signing_key(conn), token, found[1]):
        raise Reject(Reason.INVALID_HASH, "This personal address is not valid: it was mistyped, or it was "
                     "replaced (rotated). Ask for your current personal create address.")
    return Recipient(normalised, "create", create.application, create=create, personal=found[0])


def find_user_by_email(conn: Conn, address: str) -> UserRef | None:
    try:
        addr = normalise(address)
    except AddressError:
        return None
    return user_by_email(conn, addr)
