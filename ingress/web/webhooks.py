"""The three inbound webhooks, one driver: size, authenticity, shape, then receive(), then the answer.

2xx only once receive() has stored the message durably (whatever the
pipeline then decided: a bad address is recorded rejected, never bounced);
4xx for a request refused before anything was stored (logged and counted);
503 when the database is unavailable, so the provider retries.
"""

from __future__ import annotations

import logging
from types import ModuleType

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from mailgate.ingress import refusals
from mailgate.ingress.web import mailgun, postmark, runtime, sendgrid
from mailgate.ingress.web.delivery import RequestContext
from mailgate.shared import sender_auth
from mailgate.shared.addresses import check_recipient, is_ours
from mailgate.shared.db import is_unavailable
from mailgate.shared.envelope import Envelope
from mailgate.shared.inbound_credentials import inbound_credentials
from mailgate.shared.logs import kv
from mailgate.shared.outcomes import (
    WEBHOOK_STORED, WEBHOOK_TEMPFAIL, IngressReason, Refused, Reject, TempFail, webhook_status,
)

log = logging.getLogger("mailgate.ingress")
PROVIDERS: dict[str, ModuleType] = {m.NAME: m for m in (postmark, mailgun, sendgrid)}
MAX_RECIPIENTS_CHECKED = 100

bp = Blueprint("webhooks", __name__)


@bp.post(f"/mail/<any({', '.join(PROVIDERS)}):provider>/")
def inbound(provider: str) -> Response:
    module = PROVIDERS[provider]
    ctx = RequestContext(client_addr=request.remote_addr or "", db=runtime.current().db)
    try:
        return _handle(provider, module, ctx)
    finally:
        finish = getattr(module, "finish", None)
        if finish is not None:
            finish(ctx)


def _handle(provider: str, module: ModuleType, ctx: RequestContext) -> Response:
    rt = runtime.current()
    try:
        _limit(rt.request_limit)
        entries = inbound_credentials(rt.settings, provider)
        if not entries:
            raise Refused(IngressReason.NOT_CONFIGURED, f"no {provider} entry with inbound in MAILGATE_MAILERS")
        key = module.authenticate(request, entries, ctx)
        delivery = module.delivery(request)
    except RequestEntityTooLarge:
        return _refuse(provider, ctx, Refused(IngressReason.TOO_LARGE, f"body over {rt.request_limit} bytes"))
    except Refused as refused:
        return _refuse(provider, ctx, refused)
    except Exception as exc:
        if is_unavailable(exc):  # the replay check reads the database: down is 503, never a refusal
            return _not_now(provider, ctx, exc)
        raise
    envelope = Envelope(source=provider, sender=delivery.sender, recipients=delivery.recipients,
                        client_addr=ctx.client_addr, queue_id=f"{provider}:{key}")
    try:  # DNS in this request's thread, never in the writer's turn that stores every provider's mail
        sender_auth.prepare(rt.settings, envelope, delivery.raw, _address_modes(rt, envelope.recipients))
        outcome = rt.receive(envelope, delivery.raw)
    except TempFail as exc:
        return _not_now(provider, ctx, exc)
    except Exception as exc:
        if is_unavailable(exc):
            return _not_now(provider, ctx, exc)
        raise
    after_store = getattr(module, "after_store", None)
    if after_store is not None:
        after_store(request, ctx)
    return jsonify(id=outcome.id, status=str(outcome.status)), WEBHOOK_STORED


def _address_modes(rt: runtime.Runtime, recipients: list[str]) -> set[str]:
    """The create addresses' own sender-authentication settings among the recipients, when the server's
    is off (otherwise every message is verified anyway); as the milter collects them at RCPT."""
    if rt.settings.sender_auth != "off":
        return set()
    modes = set()
    with rt.db.reading() as conn:
        for address in recipients[:MAX_RECIPIENTS_CHECKED]:
            try:
                rcpt = check_recipient(conn, rt.settings, address) if is_ours(rt.settings, address) else None
            except Reject:
                continue
            if rcpt is not None and rcpt.kind == "create" and rcpt.create.sender_auth:
                modes.add(rcpt.create.sender_auth)
    return modes


def _limit(limit: int) -> None:
    """Refuse an oversized body from its Content-Length, before reading a byte; cap what is read otherwise."""
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    request.max_content_length = limit
    request.max_form_memory_size = limit


def _not_now(provider: str, ctx: RequestContext, exc: BaseException) -> Response:
    log.warning("not stored, the provider retries: %s", kv(source=provider, client=ctx.client_addr,
                                                              error=f"{exc.__class__.__name__}: {exc}"[:200]))
    return Response("Temporarily unavailable\n", WEBHOOK_TEMPFAIL, {"Retry-After": "60"}, mimetype="text/plain")


def _refuse(provider: str, ctx: RequestContext, refused: Refused) -> Response:
    status = webhook_status(refused.reason, provider)
    log.warning("refused %s", kv(source=provider, reason=refused.reason, status=status, client=ctx.client_addr,
                                 detail=refused.detail))
    refusals.count(ctx.db, provider, refused.reason)
    headers = {"WWW-Authenticate": 'Basic realm="mailgate"'} if status == 401 and provider != "mailgun" else {}
    return Response(f"Refused: {refused.reason}\n", status, headers, mimetype="text/plain")
