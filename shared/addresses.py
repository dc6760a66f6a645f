"""Signed reply addresses, create-address look-up, and the checks that need no message.

A reply address is `[prefix+]<object>+<user id>+<hmac16>@<domain>` (or
`<object>+public+<hmac16>`, or `<object>+p<participant id>+<hmac16>` for an
external participant of a service-desk task, whose HMAC also covers their
e-mail address). The HMAC binds object and user to the current mail key, so
rotating the key kills every address handed out before, on every host at
once (the key lives in the database). `unsubscribe-<token>@<domain>` is a
participant's mailto unsubscribe address (docs/service-desk.md).

`check_recipient` makes the checks that need no message -- syntax, hash,
object existence -- so the milter can refuse at RCPT time and the pipeline
applies the very same rules later.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mailgate.shared.config import REPLY_PREFIX, Settings
from mailgate.shared.keys import SigningKey, current_key, signing_key
from mailgate.shared.models import MailKey
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.personal_address import parse_personal_local, verify_personal
from mailgate.shared.prepared import Conn, as_conn
from mailgate.shared.rows import (
    CreateTarget, TaskRow, UserRef, create_target, task_by_id, user_by_email, user_with_serial,
)
from mailgate.shared.servicedesk import participants
from mailgate.shared.servicedesk.participants import ParticipantRow

HASH_LEN = 16
RESERVED_LOCAL_PARTS = frozenset({
    "postmaster", "abuse", "noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon",
    "hostmaster", "webmaster", "root", "admin", "administrator", "security", "support-noreply",
    "bounce", "bounces", "nobody", "daemon", "www-data", "ssl-admin", "info-noreply", "listmaster",
})

_OBJECT = re.compile(r"^([a-z])(\d{1,12})$", re.ASCII)
_USER = re.compile(r"^(\d{1,12}|public|p\d{1,12})$", re.ASCII)
_HASH = re.compile(r"^[0-9a-f]{%d}$" % HASH_LEN)
# fullmatch, not match with "$": "$" also matches before a trailing newline.
_LOCAL_OK = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_DOMAIN_OK = re.compile(r"[a-z0-9.-]+")
UNSUBSCRIBE_LOCAL = re.compile(r"unsubscribe-([0-9a-f]{%d})" % (2 * participants.TOKEN_BYTES), re.ASCII)

OBJECT_KINDS = {"t": "task"}


class AddressError(ValueError):
    """An address is not syntactically usable; the message says why."""


def split_address(address: str) -> tuple[str, str]:
    """(local, domain), lowercased; raises AddressError on bad syntax."""
    addr = (address or "").strip().strip("<>").strip()
    if addr.count("@") != 1:
        raise AddressError(f"{address!r} is not an email address")
    local, domain = addr.rsplit("@", 1)
    local, domain = local.lower(), domain.lower().rstrip(".")
    if not local or not domain or "." not in domain and domain != "localhost":
        raise AddressError(f"{address!r} is not an email address")
    if not _LOCAL_OK.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        raise AddressError(f"{address!r} has characters not allowed in an address")
    if not _DOMAIN_OK.fullmatch(domain):  # letters, digits, dots, hyphens: no space or newline can pass
        raise AddressError(f"{address!r} has an invalid domain")
    return local, domain


def normalise(address: str) -> str:
    local, domain = split_address(address)
    return f"{local}@{domain}"


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


# --- signing ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)  # the current key and a few retired ones
def _keyed(secret: str) -> "hmac.HMAC":
    """An HMAC with the key already set up: copied per address instead of keyed again (a reply to a
    task with ten subscribers signs ten addresses)."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def _digest(secret: str, obj: str, user: str, bound: str = "") -> str:
    """`bound`: a participant's address, so the signature holds for that address only."""
    mac = _keyed(secret).copy()
    mac.update(f"{obj.upper()}+{user}".encode() + (f"+{bound}".encode() if bound else b""))
    return mac.hexdigest()[:HASH_LEN]


def reply_address(settings: Settings, key: MailKey | SigningKey, obj: str, user_id: int | None) -> str:
    """The signed address for object `obj` (e.g. "T12") and user id, or public when user_id is None."""
    user = "public" if user_id is None else str(int(user_id))
    local = f"{obj.upper()}+{user}+{_digest(key.secret, obj, user)}"
    if settings.reply_prefix:
        local = f"{settings.reply_prefix}+{local}"
    return f"{local}@{settings.reply_domain}"


def participant_reply_address(settings: Settings, key: MailKey | SigningKey, obj: str, participant_id: int,
                              address: str) -> str:
    """The signed address of an external participant: valid for mail from `address` (normalised) only."""
    user = f"p{int(participant_id)}"
    local = f"{obj.upper()}+{user}+{_digest(key.secret, obj, user, address.lower())}"
    if settings.reply_prefix:
        local = f"{settings.reply_prefix}+{local}"
    return f"{local}@{settings.reply_domain}"


def unsubscribe_address(settings: Settings, token: str) -> str:
    """A participant's mailto unsubscribe address (their random token, not the mail key: a rotation keeps it)."""
    return f"unsubscribe-{token}@{settings.reply_domain}"


def issue_reply_address(session: Session, settings: Settings, obj: str, user_id: int | None) -> tuple[str, MailKey]:
    """Sign with the current key and count the address as handed out under it."""
    key = current_key(session)
    key.issued = (key.issued or 0) + 1
    return reply_address(settings, key, obj, user_id), key


@dataclass(frozen=True)
class ReplyToken:
    obj: str  # canonical, e.g. "T12"
    kind: str  # "task"
    object_id: int
    user: str  # "7" or "public"
    digest: str

    @property
    def user_id(self) -> int | None:
        return None if self.user == "public" or self.is_participant else int(self.user)

    @property
    def is_public(self) -> bool:
        return self.user == "public"

    @property
    def is_participant(self) -> bool:
        return self.user.startswith("p") and self.user != "public"

    @property
    def participant_id(self) -> int | None:
        return int(self.user[1:]) if self.is_participant else None


def parse_reply_local(settings: Settings, local: str) -> ReplyToken | None:
    """Recognise the reply-address shape; None when the local part is not one."""
    parts = local.lower().split("+")
    if len(parts) == 4 and REPLY_PREFIX.fullmatch(parts[0]):
        # Any prefix, the current one, an older one or none (like Phabricator's single-reply-handler
        # prefix): the HMAC does not cover it, it only routes. Setting, changing or dropping
        # MAILGATE_REPLY_PREFIX must not kill the addresses handed out before -- only a rotation does.
        parts = parts[1:]
    if len(parts) != 3:
        return None
    obj, user, digest = parts
    m = _OBJECT.match(obj)
    if not m or m.group(1) not in OBJECT_KINDS or not _USER.match(user) or not _HASH.match(digest):
        return None
    return ReplyToken(obj=obj.upper(), kind=OBJECT_KINDS[m.group(1)], object_id=int(m.group(2)), user=user, digest=digest)


def verify(key: MailKey | SigningKey, token: ReplyToken, bound: str = "") -> bool:
    """`bound`: the participant's address, for a participant's token."""
    return hmac.compare_digest(_digest(key.secret, token.obj, token.user, bound), token.digest)


# --- recipient checks ------------------------------------------------------------------

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


def check_recipient(source: Conn | Session | Connection, settings: Settings, address: str) -> Recipient:
    """Syntax, reply hash under the current key, object exists; or a create address.

    Raises Reject(unknown_recipient | invalid_hash | object_not_found).
    Call only for addresses where is_ours() is true. Two indexed reads at
    most (key and task, or the create address): the milter runs this for
    every RCPT.
    """
    conn = as_conn(source)
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


def _personal_recipient(conn: Conn, normalised: str, token, domain: str) -> Recipient:
    """`base+u7-secret@domain`: a create address, and the user its secret was made for."""
    create = create_target(conn, f"{token.base}@{domain}")
    if create is None:
        raise Reject(Reason.UNKNOWN_RECIPIENT, f"There is no address {normalised} here.")
    found = user_with_serial(conn, token.user_id)
    if found is None or not verify_personal(signing_key(conn), token, found[1]):
        raise Reject(Reason.INVALID_HASH, "This personal address is not valid: it was mistyped, or it was "
                     "replaced (rotated). Ask for your current personal create address.")
    return Recipient(normalised, "create", create.application, create=create, personal=found[0])


def find_user_by_email(source: Conn | Session | Connection, address: str) -> UserRef | None:
    try:
        addr = normalise(address)
    except AddressError:
        return None
    return user_by_email(as_conn(source), addr)
