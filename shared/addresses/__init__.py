"""Email addresses, all in one place: their syntax, Mailgate's own kinds, and which recipients are Mailgate's.

- `syntax.py`: the RFC 5322 / RFC 6531 rules, how an address mail came
  with is read (`split_address`), and what Mailgate writes itself
  (`is_addr_spec`);
- `reply.py`: signed reply addresses (`T12+7+<hmac>@reply-domain`, a
  service-desk participant's `T12+p3+<hmac>`), unsubscribe addresses;
- `personal.py`: personal create addresses (`bugs+u7-<secret>@domain`);
- `incoming.py`: `%{key}` incoming-address templates (MAILGATE_INCOMING_ADDRESS);
- `recipients.py`: reserved names, `is_ours`, `check_recipient` (the RCPT checks).
"""

from mailgate.shared.addresses.personal import PersonalToken, parse_personal_local, personal_address, verify_personal
from mailgate.shared.addresses.recipients import (
    DELIVERED_BY_POSTFIX, RESERVED_LOCAL_PARTS, Recipient, check_recipient, find_user_by_email, is_ours, is_reserved,
    refused_reserved,
)
from mailgate.shared.addresses.reply import (
    HASH_LEN, OBJECT_KINDS, REPLY_PREFIX, UNSUBSCRIBE_LOCAL, ReplyToken, issue_reply_address, parse_reply_local,
    participant_reply_address, reply_address, unsubscribe_address, verify,
)
from mailgate.shared.addresses.syntax import AddressError, is_addr_spec, normalise, split_address

__all__ = [
    "DELIVERED_BY_POSTFIX", "HASH_LEN", "OBJECT_KINDS", "REPLY_PREFIX", "RESERVED_LOCAL_PARTS", "AddressError",
    "PersonalToken", "Recipient", "ReplyToken", "check_recipient", "find_user_by_email", "is_addr_spec", "is_ours",
    "is_reserved", "issue_reply_address", "normalise", "parse_personal_local", "parse_reply_local",
    "participant_reply_address", "personal_address", "refused_reserved", "reply_address", "split_address",
    "unsubscribe_address", "UNSUBSCRIBE_LOCAL", "verify", "verify_personal",
]
