"""POST /mail/mailgun/: a Mailgun route's forward() to a URL ending in "mime" (the raw message in body-mime).

Verified as Mailgun documents ("Securing Webhooks"): the hex HMAC-SHA256 of
timestamp + token under the webhook signing key (`signing-key`, else
`api-key`), compared in constant time; a timestamp more than five minutes
from now is stale, and a token seen before is a replay. The envelope is
`recipient` (RCPT TO, comma-separated when several) and `sender` (MAIL FROM).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import Request

from mailgate.ingress.web import tokens
from mailgate.ingress.web.delivery import Delivery, RequestContext, form_text, need_text, raw_bytes
from mailgate.shared.inbound_credentials import MailgunInbound
from mailgate.shared.outcomes import IngressReason, Refused

NAME = "mailgun"
FRESH_SECONDS = 300


def signature_of(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def authenticate(request: Request, entries: list[MailgunInbound], ctx: RequestContext) -> str:
    """The key of the entry whose signing key signed this request; Refused otherwise."""
    form = request.form
    timestamp, token = form.get("timestamp", ""), form.get("token", "")
    signature = form.get("signature", "").strip().lower()
    if not (timestamp and token and signature):
        raise Refused(IngressReason.BAD_SIGNATURE, "timestamp, token or signature missing")
    matched = [e for e in entries if hmac.compare_digest(signature_of(e.signing_key, timestamp, token).encode(),
                                                         signature.encode())]
    if not matched:
        raise Refused(IngressReason.BAD_SIGNATURE, "no mailgun entry's signing key made this signature")
    try:
        age = time.time() - int(timestamp)
    except ValueError:
        raise Refused(IngressReason.MALFORMED, "timestamp is not a number") from None
    if abs(age) > FRESH_SECONDS:
        raise Refused(IngressReason.STALE_SIGNATURE, f"signed {int(age)} s ago (at most {FRESH_SECONDS})")
    if not tokens.claim(ctx.db, token):
        raise Refused(IngressReason.REPLAYED, "this token was used before (or is in use now)")
    ctx.claimed = token
    return matched[0].key


def delivery(request: Request) -> Delivery:
    form = request.form
    raw = form_text(request, "body-mime", "the route must forward to a URL ending in 'mime'")
    recipients = [r.strip() for r in need_text(form.get("recipient"), "recipient").split(",") if r.strip()]
    return Delivery(raw=raw_bytes(raw), recipients=recipients, sender=form.get("sender"))


def after_store(request: Request, ctx: RequestContext) -> None:
    """Remember the token once the message is stored (a retry after a 5xx must still pass)."""
    tokens.remember(ctx.db, request.form.get("token", ""))


def finish(ctx: RequestContext) -> None:
    """The request is answered, whatever the answer: its token is no longer in flight."""
    if ctx.claimed is not None:
        tokens.release(ctx.claimed)
