"""Which Mailgate addresses a message read from a mailbox was sent to: the envelope IMAP does not have.

A mailbox has no SMTP envelope, so the recipients are read back from the
headers the delivering servers left, by the address strategy in use:

- no MAILGATE_INCOMING_ADDRESS: the mailbox receives mail for Mailgate's own
  domains (a catch-all); every address in those domains found in
  Delivered-To, To, Cc, Envelope-To, X-Envelope-To or X-Original-To;
- a template with `%{key}` (`incoming+%{key}@gmail.com`): every address that
  fits the template gives its key back, and the key is the Mailgate
  address's local part;
- a template without `%{key}` (a dedicated mailbox): only replies work; the
  key travels in the notification's References as `<reply-KEY@reply-domain>`.

An empty answer means the message is not ours (a shared mailbox): the
poller leaves it alone.
"""

from __future__ import annotations

import re
from email.message import Message

from mailgate.shared.addresses import incoming, is_ours, parse_reply_local
from mailgate.shared.config import Settings
from mailgate.shared.message import header_addresses, header_text

KEY_PLACEHOLDER = incoming.KEY
HEADERS = ("Delivered-To", "To", "Cc", "Envelope-To", "X-Envelope-To", "X-Original-To")
_MSGID = re.compile(r"<([^<>\s]+)>")


def recipients(msg: Message, settings: Settings, incoming_address: str | None = None) -> list[str]:
    """The Mailgate addresses this message was for, in header order; [] when none.

    `incoming_address`: the template to read (default: MAILGATE_INCOMING_ADDRESS)."""
    template = (settings.incoming_address if incoming_address is None else incoming_address).strip()
    if not template:
        found = [a for name in HEADERS for a in header_addresses(msg, name) if is_ours(settings, a)]
    elif KEY_PLACEHOLDER in template:
        found = [f"{key}@{settings.reply_domain}" for name in HEADERS for a in header_addresses(msg, name)
                 if (key := incoming.key_in(template, a))]
    else:
        found = reply_keys_in_references(msg, settings)
    unique: list[str] = []
    for address in found:
        if address.lower() not in (u.lower() for u in unique):
            unique.append(address)
    return unique


def reply_keys_in_references(msg: Message, settings: Settings) -> list[str]:
    """Dedicated mailbox: reply addresses named by `<reply-KEY@reply-domain>` ids in In-Reply-To/References."""
    found = []
    for name in ("In-Reply-To", "References"):
        for msgid in _MSGID.findall(header_text(msg, name)):
            local, _, domain = msgid.lower().rpartition("@")
            if domain == settings.reply_domain and local.startswith("reply-"):
                key = local[len("reply-"):]
                if parse_reply_local(settings, key) is not None:
                    found.append(f"{key}@{settings.reply_domain}")
    return found


def envelope_sender(msg: Message) -> str | None:
    """MAIL FROM as the delivering server wrote it in Return-Path; None when it left none."""
    if msg.get("Return-Path") is None:
        return None
    value = header_text(msg, "Return-Path").strip()
    if value in ("<>", ""):
        return ""
    found = header_addresses(msg, "Return-Path")
    return found[0] if found else None
