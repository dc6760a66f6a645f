"""Signed reply addresses: `[prefix+]<object>+<user id>+<hmac16>@<reply domain>`, or `<object>+public+<hmac16>`.

`<object>+p<participant id>+<hmac16>` is an external participant's of a
service-desk task, whose HMAC also covers their e-mail address. The HMAC
binds object and user to the current mail key, so rotating the key kills
every address handed out before, on every host at once (the key lives in
the database). The prefix is not signed: it only routes, so setting,
changing or dropping MAILGATE_REPLY_PREFIX keeps old addresses working.
`unsubscribe-<token>@<reply domain>` is a participant's mailto unsubscribe
address (docs/service-desk.md).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailgate.shared.keys import SigningKey, count_issued, signing_key
from mailgate.shared.models import MailKey
from mailgate.shared.prepared import Conn
from mailgate.shared.servicedesk import participants

if TYPE_CHECKING:
    from mailgate.shared.config import Settings

HASH_LEN = 16
OBJECT_KINDS = {"t": "task"}
REPLY_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")  # a MAILGATE_REPLY_PREFIX (fullmatch)
_OBJECT = re.compile(r"([a-z])(\d{1,12})", re.ASCII)
_USER = re.compile(r"\d{1,12}|public|p\d{1,12}", re.ASCII)
_HASH = re.compile(r"[0-9a-f]{%d}" % HASH_LEN)
UNSUBSCRIBE_LOCAL = re.compile(r"unsubscribe-([0-9a-f]{%d})" % (2 * participants.TOKEN_BYTES), re.ASCII)


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


def parse_reply_local(settings: "Settings", local: str) -> ReplyToken | None:
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
    m = _OBJECT.fullmatch(obj)
    if not m or m.group(1) not in OBJECT_KINDS or not _USER.fullmatch(user) or not _HASH.fullmatch(digest):
        return None
    return ReplyToken(obj=obj.upper(), kind=OBJECT_KINDS[m.group(1)], object_id=int(m.group(2)), user=user,
                      digest=digest)


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


def reply_address(settings: "Settings", key: MailKey | SigningKey, obj: str, user_id: int | None) -> str:
    """The signed address for object `obj` (e.g. "T12") and user id, or public when user_id is None."""
    user = "public" if user_id is None else str(int(user_id))
    local = f"{obj.upper()}+{user}+{_digest(key.secret, obj, user)}"
    if settings.reply_prefix:
        local = f"{settings.reply_prefix}+{local}"
    return f"{local}@{settings.reply_domain}"


def participant_reply_address(settings: "Settings", key: MailKey | SigningKey, obj: str, participant_id: int,
                              address: str) -> str:
    """The signed address of an external participant: valid for mail from `address` (normalised) only."""
    user = f"p{int(participant_id)}"
    local = f"{obj.upper()}+{user}+{_digest(key.secret, obj, user, address.lower())}"
    if settings.reply_prefix:
        local = f"{settings.reply_prefix}+{local}"
    return f"{local}@{settings.reply_domain}"


def unsubscribe_address(settings: "Settings", token: str) -> str:
    """A participant's mailto unsubscribe address (their random token, not the mail key: a rotation keeps it)."""
    return f"unsubscribe-{token}@{settings.reply_domain}"


def verify(key: MailKey | SigningKey, token: ReplyToken, bound: str = "") -> bool:
    """`bound`: the participant's address, for a participant's token."""
    return hmac.compare_digest(_digest(key.secret, token.obj, token.user, bound), token.digest)


def issue_reply_address(conn: Conn, settings: "Settings", obj: str, user_id: int | None) -> tuple[str, SigningKey]:
    """Sign with the current key and count the address as handed out under it (the caller's transaction)."""
    key = signing_key(conn)
    count_issued(conn, key)
    return reply_address(settings, key, obj, user_id), key
