"""POST /mail/sendgrid/: SendGrid Inbound Parse with "POST the raw, full MIME message".

The raw message is the `email` field; `envelope` is JSON with `to` (a list)
and `from`. Authentic only with the entry's `inbound-user`/`inbound-password`
as HTTP Basic credentials (in the Inbound Parse URL).
"""

from __future__ import annotations

from flask import Request

from mailgate.ingress.web.delivery import (
    Delivery, RequestContext, basic_auth_matches, form_text, need_text, parse_json, raw_bytes,
)
from mailgate.shared.inbound_credentials import SendgridInbound
from mailgate.shared.outcomes import IngressReason, Refused

NAME = "sendgrid"


def authenticate(request: Request, entries: list[SendgridInbound], ctx: RequestContext) -> str:
    with_auth = [e for e in entries if e.basic_auth is not None]
    if not with_auth:
        raise Refused(IngressReason.UNAUTHENTICATED, "no sendgrid entry sets inbound-user and inbound-password")
    for entry in with_auth:
        if basic_auth_matches(request.authorization, entry.basic_auth.user, entry.basic_auth.password):
            return entry.key
    raise Refused(IngressReason.UNAUTHENTICATED, "wrong or missing HTTP Basic credentials")


def delivery(request: Request) -> Delivery:
    form = request.form
    raw = form_text(request, "email", "turn on 'POST the raw, full MIME message'")
    envelope = parse_json(need_text(form.get("envelope"), "envelope"), "envelope")
    to = envelope.get("to") if isinstance(envelope, dict) else None
    if not isinstance(to, list) or not to or not all(isinstance(a, str) for a in to):
        raise Refused(IngressReason.MALFORMED, "envelope.to is not a list of addresses")
    sender = envelope.get("from")
    return Delivery(raw=raw_bytes(raw), recipients=to,
                    sender=sender if isinstance(sender, str) else None)
