"""The one address syntax Mailgate itself puts in an envelope: a plain ASCII addr-spec.

SMTP commands are ASCII unless the relay offers SMTPUTF8, and Mailgate's
own addresses (the From, a send-test recipient) have no reason to be
anything else. Checking them where they enter (configuration, the CLI)
turns what would be an encoding error in the middle of an SMTP session
into a one-line message about the value.
"""

from __future__ import annotations

import re

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def is_addr_spec(value: str) -> bool:
    """True for `local@domain` in dot-atom form, ASCII only, within SMTP's length limits.

    No display name, no angle brackets, no quoted local part, no comments:
    what goes in MAIL FROM / RCPT TO as it is.
    """
    if not isinstance(value, str) or len(value) > 254 or not value.isascii():
        return False
    if not _ADDR_SPEC.fullmatch(value):  # not match with "$": that also matches before a last "\n"
        return False
    return len(value.rpartition("@")[0]) <= 64
