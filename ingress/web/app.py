"""The public listener's WSGI app: only the routes that must face the internet, never the console.

Routes are blueprints. To add one (the service desk's RFC 8058 one-click
unsubscribe, say), write it as a blueprint in its own module and add it to
`public_blueprints()`; it reaches the settings and the database through
`runtime.current()`. Nothing here has sessions, logins or cookies.
"""

from __future__ import annotations

import functools
from typing import Iterable

from flask import Blueprint, Flask, Response

from mailgate.ingress.web.runtime import Receive, Runtime
from mailgate.shared import pipeline
from mailgate.shared.config import Settings
from mailgate.shared.db import Database


def public_blueprints() -> list[Blueprint]:
    """Every route of the public listener."""
    from mailgate.ingress.web import unsubscribe, webhooks

    return [webhooks.bp, unsubscribe.bp]


def create_app(settings: Settings, db: Database, blueprints: Iterable[Blueprint] | None = None,
               receive: Receive | None = None) -> Flask:
    """`receive`: how a route hands a message to the pipeline (the server passes a Batcher's, so that
    concurrent requests share commits and one fsync; default: pipeline.receive per request)."""
    app = Flask(__name__)
    if receive is None:
        receive = functools.partial(pipeline.receive, db, settings)
    rt = Runtime(settings, db, receive)
    app.config.update(MAX_CONTENT_LENGTH=rt.request_limit, MAX_FORM_MEMORY_SIZE=rt.request_limit)
    app.extensions["mailgate.ingress"] = rt
    for bp in public_blueprints() if blueprints is None else blueprints:
        app.register_blueprint(bp)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def _plain(error) -> Response:
        return Response(f"{error.name}\n", error.code, mimetype="text/plain")

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
