"""The service desk's one-click unsubscribe (RFC 8058) on the public listener, never the console.

`POST /unsubscribe/<token>` (what a mail provider sends, body
`List-Unsubscribe=One-Click`, no cookies, no login: the random token is the
authority) stops the participant's mail about that one task. `GET` only
shows a page with a button that makes that POST: link scanners and
prefetchers follow GETs, and must never unsubscribe anyone.
"""

from __future__ import annotations

import html
import logging

from flask import Blueprint, Response, request

from mailgate.ingress.web import runtime
from mailgate.shared.db import is_unavailable
from mailgate.shared.logs import kv
from mailgate.shared.servicedesk import unsubscribe

log = logging.getLogger("mailgate.ingress")
bp = Blueprint("unsubscribe", __name__)
FORM_LIMIT = 4096  # the one-click body is 26 bytes; the view never reads it, and a larger one is refused

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto;">
<h1>{title}</h1><p>{text}</p>{form}</body></html>
"""


def _page(title: str, text: str, form: str = "", status: int = 200) -> Response:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    return Response(body, status, mimetype="text/html",
                    headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                        "form-action 'self'", "X-Frame-Options": "DENY"})


def _gone() -> Response:
    return Response("No such unsubscribe link.\n", 404, mimetype="text/plain")


@bp.get(f"{unsubscribe.PATH}<token>")
def confirm(token: str) -> Response:
    rt = runtime.current()
    try:
        with rt.db.reading() as conn:
            participant = unsubscribe.by_token(conn, token)
    except Exception as exc:
        return _unavailable(exc)
    if participant is None:
        return _gone()
    ref = f"T{participant.task_id}"
    if participant.unsubscribed:
        return _page("Unsubscribed", f"You no longer receive mail about {ref}.")
    form = (f'<form method="post" action="{html.escape(request.path, quote=True)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            f'<button type="submit">Stop mail about {html.escape(ref)}</button></form>')
    return _page(f"Stop mail about {ref}?", f"You will no longer receive mail about {ref}. Other requests you "
                 "made are not affected.", form)


@bp.post(f"{unsubscribe.PATH}<token>")
def one_click(token: str) -> Response:
    if request.content_length is not None and request.content_length > FORM_LIMIT:
        return Response("Request too large.\n", 413, mimetype="text/plain")
    rt = runtime.current()
    try:
        with rt.db.pipeline() as conn:
            with conn.write():
                participant = unsubscribe.by_token(conn, token)
                changed = participant is not None and unsubscribe.unsubscribe(conn, participant)
        rt.db.make_durable()  # answered only once it is on disk
    except Exception as exc:
        return _unavailable(exc)
    if participant is None:
        return _gone()
    if changed:
        log.info("unsubscribed %s", kv(task=f"T{participant.task_id}", participant=participant.id, via="one-click"))
    return _page("Unsubscribed", f"You will no longer receive mail about T{participant.task_id}.")


def _unavailable(exc: BaseException) -> Response:
    if not is_unavailable(exc):
        raise exc
    log.warning("unsubscribe not done now: %s", kv(error=f"{exc.__class__.__name__}: {exc}"[:200]))
    return Response("Temporarily unavailable, try again.\n", 503, {"Retry-After": "60"}, mimetype="text/plain")
