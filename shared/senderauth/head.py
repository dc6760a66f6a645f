"""What verification needs of a message before its body: the header section, and whether DKIM signs it.

Plain bytes work, no library: the milter asks it of a large message kept in
a file, to read the file whole only when a DKIM signature covers the body.
"""

from __future__ import annotations

HEADER_BYTES = 256 * 1024  # the header section read for From and Authentication-Results


def signed(raw: bytes) -> bool:
    """Whether the message's header section (the first bytes of `raw` are enough) has a DKIM-Signature."""
    head = raw[:header_end(raw)].lower()
    return head.startswith(b"dkim-signature:") or b"\ndkim-signature:" in head


def header_end(raw: bytes) -> int:
    """Where the header section ends: at its empty line, CRLF (as SMTP and the milter's spool have it) or
    bare LF; the whole of `raw` when it has none."""
    ends = [i for i in (raw.find(b"\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)
