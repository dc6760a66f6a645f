"""Re-signing a queued row's Reply-To after the mail key was rotated.

A Reply-To is signed when its row is queued. Rotating the key invalidates
the addresses handed out *before* the rotation; a notification that leaves
after it was not handed out yet, so it must carry an address that works.
Both the worker (at claim time, for every row it is about to send) and a
manual Resend go through `resign_reply_to`, so the two cannot disagree.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailgate.shared.addresses import (
    AddressError, parse_reply_local, participant_reply_address, reply_address, split_address,
)
from mailgate.shared.addresses import incoming
from mailgate.shared.config import Settings
from mailgate.shared.keys import NoMailKey, current_key
from mailgate.shared.models import OutboundMessage


def resign_reply_to(session: Session, settings: Settings | None, row: OutboundMessage) -> bool:
    """Re-sign a Reply-To issued under a key that is no longer current; True when it changed.

    The current key is read once per session (`keys.current_key` memoises
    it), so a batch of rows costs one key look-up. The row's `key_id` moves
    to the new key: that column is what counts the address as handed out
    under it (`keys.issued_counts`), so the key row itself is not written.
    """
    if settings is None or not row.reply_to:
        return False
    try:
        key = current_key(session)
    except NoMailKey:
        return False
    if row.key_id == key.id:
        return False
    signed = _signed_address(settings, row)
    if signed is None:
        return False
    try:
        local, _domain = split_address(signed)
    except AddressError:
        return False
    token = parse_reply_local(settings, local)
    if token is None:
        return False
    if token.is_participant:  # signed for the participant's address: the row's one recipient
        fresh = participant_reply_address(settings, key, token.obj, token.participant_id, row.recipient)
    else:
        fresh = reply_address(settings, key, token.obj, token.user_id)
    _hand_out(settings, row, signed, fresh)
    row.key_id = key.id
    return True


def _signed_address(settings: Settings, row: OutboundMessage) -> str | None:
    """The Mailgate address the row's Reply-To stands for (MAILGATE_INCOMING_ADDRESS may wrap it)."""
    template = settings.incoming_address
    if not template:
        return row.reply_to
    if incoming.KEY in template:
        key = incoming.key_in(template, row.reply_to)
        return f"{key}@{settings.reply_domain}" if key else row.reply_to
    for msgid in str((row.headers or {}).get("References", "")).split():  # a dedicated mailbox
        bare = msgid.strip("<>")
        if bare.lower().startswith("reply-"):
            return bare[len("reply-"):]
    return None


def _hand_out(settings: Settings, row: OutboundMessage, old: str, fresh: str) -> None:
    """Write the fresh address in the form the old one was handed out in."""
    template = settings.incoming_address
    if template and incoming.KEY not in template:
        old_ref, new_ref = incoming.reply_reference(template, old), incoming.reply_reference(template, fresh)
        headers = dict(row.headers or {})
        headers["References"] = " ".join(f"<{new_ref}>" if i.strip("<>").lower() == old_ref else i
                                         for i in str(headers.get("References", "")).split())
        row.headers = headers
        return
    row.reply_to = incoming.issue(template, fresh) if row.reply_to != old else fresh
