"""POST /mail/postmark/: Postmark's inbound webhook (JSON, with the full message in RawEmail).

Authentic only from the configured address ranges (`inbound-addresses` of a
postmark entry, Postmark's published ranges by default) and, when the entry
sets `inbound-user`, with those HTTP Basic credentials. The message is
RawEmail (the server setting "Include raw email content in JSON payload");
the envelope recipient is OriginalRecipient.
"""

from __future__ import annotations

from flask import Request

from mailgate.ingress.web.delivery import (
    Delivery, RequestContext, basic_auth_matches, need_text, parse_json, raw_bytes,
)
from mailgate.shared.inbound_credentials import PostmarkInbound
from mailgate.shared.outcomes import IngressReason, Refused

NAME = "postmark"


def authenticate(request: Request, entries: list[PostmarkInbound], ctx: RequestContext) -> str:
    """The key of the entry the request proves it comes from; Refused otherwise."""
    client_addr = ctx.client_addr
    from_range = [e for e in entries if e.allows_address(client_addr)]
    if not from_range:
        raise Refused(IngressReason.FORBIDDEN_SOURCE, f"{client_addr} is in no postmark entry's inbound-addresses")
    for entry in from_range:
        if entry.basic_auth is None or basic_auth_matches(request.authorization, entry.basic_auth.user,
                                                          entry.basic_auth.password):
            return entry.key
    raise Refused(IngressReason.UNAUTHENTICATED, "wrong or missing HTTP Basic credentials (inbound-user)")


def delivery(request: Request) -> Delivery:
    """RawEmail and OriginalRecipient from the JSON body."""
    data = parse_json(request.get_data(cache=False), "body")
    if not isinstance(data, dict):
        raise Refused(IngressReason.MALFORMED, "body is not a JSON object")
    raw = data.get("RawEmail")
    if not isinstance(raw, str) or not raw:
        raise Refused(IngressReason.MALFORMED, "no RawEmail: turn on 'Include raw email content in JSON payload' "
                      "in the Postmark server's inbound settings")
    recipient = need_text(data.get("OriginalRecipient"), "OriginalRecipient")
    return Delivery(raw=raw_bytes(raw), recipients=[recipient])
