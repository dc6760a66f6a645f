"""Re-signing a queued row's Reply-To after the mail key was rotated.

A Reply-To is signed when its row is queued. Rotating the key invalidates
the addresses handed out *before* the rotation; a notification that leaves
after it was not handed out yet, so it must carry an address that works.
Both the worker (at claim time, for every row it is about to send) and a
manual Resend go through `resign_reply_to`, so the two cannot disagree.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailgate.shared.addresses import AddressError, parse_reply_local, reply_address, split_address
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
    try:
        local, _domain = split_address(row.reply_to)
    except AddressError:
        return False
    token = parse_reply_local(settings, local)
    if token is None:
        return False
    row.reply_to, row.key_id = reply_address(settings, key, token.obj, token.user_id), key.id
    return True
