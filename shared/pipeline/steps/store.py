"""Store: the raw bytes and the envelope, committed before anything else happens to them.

Runs first, in a transaction of its own, for the whole batch; made durable
with the rest of the unit of work before anyone is answered
(`durability.py`). It reads the header section only: the row's columns
are headers, and no body is decoded before its sender is authorised. A message over the size limit is stored with its header
part only and its outcome already decided (rejected/too_large).
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

from mailgate.shared import received, sender_auth
from mailgate.shared.addresses import is_ours
from mailgate.shared.config import Settings
from mailgate.shared.db import utcnow
from mailgate.shared.envelope import Envelope
from mailgate.shared.logs import MessageLog
from mailgate.shared.message import (
    MESSAGE_ID_CHARS, clean_header_value, dedupe_key, from_mailbox, header_addresses, header_text, read_head,
    message_id,
)
from mailgate.shared.outcomes import Reason, Status, TempFail
from mailgate.shared.pipeline.work import Timings, Work
from mailgate.shared.prepared import Conn
from mailgate.shared.queries import MAX_ID

log = logging.getLogger("mailgate.pipeline")

HEAD_KEEP_BYTES = 64 * 1024  # what is kept of an oversized message: enough for its headers
SEARCH_HEADERS = ("To", "Cc")  # recipients shown and searched for a message that came without an envelope


def arrival(settings: Settings, envelope: Envelope, raw: bytes, timings: Timings) -> Work:
    """The row to store, read from the envelope and the headers (no database)."""
    size = max(len(raw), envelope.size or 0)
    too_large = size > settings.max_message_bytes
    kept = _head(raw) if too_large else raw
    msg, body_at = read_head(kept)  # the body is read only once the sender is authorised (driver.read_all)
    recipients = [_clip(r, 320) for r in envelope.recipients]
    header_rcpts = [] if recipients else [a for h in SEARCH_HEADERS for a in header_addresses(msg, h)]
    mid = message_id(msg)
    values = dict(
        source=envelope.source,
        queue_id=_clip(envelope.queue_id, 64),
        mail_from=None if envelope.sender is None else _clip(envelope.sender, 320),
        rcpt_to=recipients,
        client_addr=_clip(envelope.client_addr, 64),
        client_name=_clip(envelope.client_name, 255),
        helo=_clip(envelope.helo, 255),
        auth_results=_clip(envelope.auth_results, 4000),
        message_id=mid[:MESSAGE_ID_CHARS],
        # Message-ID and route: a retry goes to the same Mailgate addresses, another object's message does not
        dedupe_key=dedupe_key(msg, raw, mid, [r for r in (recipients or header_rcpts) if is_ours(settings, r)]),
        subject=header_text(msg, "Subject")[:998],
        from_addr=_clip(from_mailbox(msg).address, 320),  # '' when unreadable: a forged name is never shown
        recipients_text=", ".join(recipients or header_rcpts)[:4000],
        size=min(size, MAX_ID),  # an INTEGER column: a message past 2 GiB (no Postfix limit) is "2 GiB"
        truncated=too_large,
        status=Status.RECEIVED,
        created_at=utcnow(),
        attempts=0,
        reason_text="", robot_reason="", error="", commands=[], unknown_commands=[], decisions=[],
        **sender_auth.columns(envelope.auth),  # verified before the message was handed over (sender_auth.prepare)
    )
    if too_large:
        values.update(status=Status.REJECTED, reason=Reason.TOO_LARGE, processed_at=utcnow(),
                      reason_text=(f"The message is {size:,} bytes; this server accepts at most "
                                   f"{settings.max_message_bytes:,}."))
    return Work(settings, envelope, timings, msg=msg, body_read=False, body_at=body_at, pending=(values, kept))


def run(conn: Conn, batch: Sequence[Work]) -> None:
    """Commit every message's row and raw bytes in one transaction; TempFail if that cannot be done."""
    t0 = time.perf_counter()
    try:
        with conn.write():
            for w in batch:
                w.row = received.insert(conn, w.pending[0])
            received.insert_raw(conn, [(w.row.id, w.pending[1]) for w in batch])
    except Exception as exc:
        raise TempFail(f"could not store the message: {exc.__class__.__name__}") from exc
    elapsed = time.perf_counter() - t0
    # DEBUG: the "processed" line follows at once (and the milter's own line per message
    # names qid, mid and rec too); at INFO it would be a second line per message.
    # A message whose processing never ends is still findable: the console lists it `received`.
    debug = log.isEnabledFor(logging.DEBUG)
    for w in batch:
        w.raw, w.pending = w.pending[1], None
        w.timings.store = elapsed
        if debug:
            MessageLog(log, qid=w.row.queue_id, mid=w.row.message_id, rec=w.row.id).debug(
                "stored", source=w.row.source, size=w.row.size, rcpt=",".join(w.row.rcpt_to or []))


def _clip(value: str | None, size: int) -> str:
    return clean_header_value(value or "")[:size]


def _head(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    cut = end if 0 <= end < HEAD_KEEP_BYTES else HEAD_KEEP_BYTES
    return raw[:cut] + b"\r\n\r\n[body not kept: message larger than the limit]\r\n"
