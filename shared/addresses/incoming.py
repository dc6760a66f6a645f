"""MAILGATE_INCOMING_ADDRESS: how Mailgate's addresses travel through a mailbox elsewhere (GitLab's strategies).

- unset: addresses are handed out as they are (the mailbox, if any, gets
  mail for Mailgate's own domains);
- a template with `%{key}` (`incoming+%{key}@gmail.com`): every address is
  handed out inside it, the key being the Mailgate address's local part
  (`T12+7+3f9c…` for a reply address, `bugs` for a create address); the
  IMAP poller reads the key back from the recipient headers;
- a template without `%{key}` (a dedicated mailbox): replies go to that one
  address; each notification names its reply address in References as
  `<reply-KEY@reply-domain>` (a reply carries References back), so only
  replies work. The key goes in References, not in the Message-ID, which
  must stay unique per message.
"""

from __future__ import annotations

from mailgate.shared.addresses.syntax import is_addr_spec

KEY = "%{key}"
SAMPLE_KEY = "t1+1+0123456789abcdef"  # the shape of a reply address's local part: a template must hold it


def problem(template: str) -> str | None:
    """What is wrong with a MAILGATE_INCOMING_ADDRESS value, or None."""
    if template.count(KEY) > 1:
        return "%{key} may appear once"
    if KEY in template and "@" in template and template.index(KEY) > template.rindex("@"):
        return "%{key} belongs in the local part, before the @"
    if not is_addr_spec(template.replace(KEY, SAMPLE_KEY)):
        return "not an address once %{key} is filled in (local-part%{key}@domain, e.g. incoming+%{key}@example.com)"
    return None


def issue(template: str, address: str) -> str:
    """The address to hand out for Mailgate address `address` (local@domain)."""
    if not template:
        return address
    if KEY not in template:
        return template  # a dedicated mailbox: every reply goes there; References names the key
    return template.replace(KEY, address.rsplit("@", 1)[0])


def key_in(template: str, address: str) -> str | None:
    """The `%{key}` part of `address` if it fits `template` (case-insensitive), else None."""
    prefix, _, suffix = template.lower().partition(KEY)
    addr = address.strip().lower()
    if len(addr) <= len(prefix) + len(suffix) or not (addr.startswith(prefix) and addr.endswith(suffix)):
        return None
    key = addr[len(prefix):len(addr) - len(suffix)]
    return key if "@" not in key and key.strip() == key else None


def reply_reference(template: str, reply_address: str) -> str | None:
    """The References id that carries `reply_address`'s key through a dedicated mailbox (else None)."""
    if not template or KEY in template:
        return None
    local, _, domain = reply_address.rpartition("@")
    return f"reply-{local.lower()}@{domain.lower()}"


def create_address_form(template: str, address: str, reply_domain: str) -> str | None:
    """How a create address is handed out under a %{key} template; None when it cannot be (no template with
    a key, or the address is not at the reply domain: a key reads back as KEY@reply-domain)."""
    if KEY not in (template or "") or address.rpartition("@")[2].lower() != reply_domain:
        return None
    return issue(template, address)
