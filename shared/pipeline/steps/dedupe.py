"""Dedupe: a message whose dedupe key another message already claimed is that message's duplicate.

Only a message that is acted on claims its key (the act step); so a
rejected message sent again after a fix is processed, not called a
duplicate. The claim itself is the race-proof check: see `act`.
"""

from __future__ import annotations

from mailgate.shared import received
from mailgate.shared.outcomes import Ignore, Reason
from mailgate.shared.pipeline.work import AlreadySettled, Work


def run(w: Work) -> None:
    holder = received.claim_holder(w.conn, w.row.dedupe_key)
    if holder == w.row.id:  # another worker finished this very message since it was read
        raise AlreadySettled()
    if holder is not None:
        raise duplicate(w, holder)


def duplicate(w: Work, first_id: int) -> Ignore:
    """The disposition of a duplicate of message #first_id (also raised by `act` when it loses the claim)."""
    key = w.row.dedupe_key
    what = f"Message-ID <{w.row.message_id}>" if key.startswith("mid:") else "identical content"
    w.note(f"Same {what} as message #{first_id}, which was already acted on.")
    return Ignore(Reason.DUPLICATE, f"Duplicate of message #{first_id}.", duplicate_of=first_id)
