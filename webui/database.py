"""The request's transaction, and the bridge from Flask-SQLAlchemy to the shared `Database`.

One transaction per request, committed at its edge (after the view, before
the response leaves) and rolled back on any error: views never commit.
GET requests read in a read-only scope, so on SQLite a page view never
queues behind the milter for the write lock.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, render_template, request
from sqlalchemy.exc import OperationalError

from mailgate.shared import schema
from mailgate.shared.db import READ_ONLY, Database, configure_sqlite, is_unavailable

from mailgate.webui.extensions import db, login_manager

log = logging.getLogger("mailgate.webui")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# POSTs that read (and hash a password, or run the pipeline) before they write: they start
# read-only and call `release()` before writing, so they never hold SQLite's write lock while slow.
READ_FIRST = {"auth.login", "password.change"}


class DatabaseUnavailable(Exception):
    """The database cannot be reached, or its schema is not the one this code expects."""


def pipeline_db() -> Database:
    """A shared `Database` on the console's own engine, for `receive()` and `reprocess()`.

    The pipeline owns its transactions (store first, then act), so it gets
    its own sessions; sharing the engine keeps one pool and one set of pragmas.
    """
    found = current_app.extensions.get("mailgate.database")
    if found is None:
        found = current_app.extensions["mailgate.database"] = Database.from_engine(db.engine)
    return found


def release() -> None:
    """End the request's (read-only) transaction, so the pipeline or a fresh write can take the lock."""
    db.session.rollback()


def rollback() -> None:
    """Undo the request's changes after a refused action, so the edge commits nothing."""
    db.session.rollback()
    g.mailgate_rolled_back = True


def _check_schema(app: Flask) -> None:
    if app.extensions.get("mailgate.schema_ok"):
        return
    try:
        current = schema.current_revision(pipeline_db())
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot reach it"
        raise DatabaseUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
    problem = schema.mismatch(current)
    if problem:
        raise DatabaseUnavailable(problem)
    app.extensions["mailgate.schema_ok"] = True


def init_app(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)

    @app.before_request
    def _begin() -> None:
        if request.endpoint == "static":
            return
        _check_schema(app)
        if request.method in SAFE_METHODS or request.endpoint in READ_FIRST:
            db.session.connection(execution_options={READ_ONLY: True})

    @app.after_request
    def _commit(response):
        if request.method not in SAFE_METHODS and response.status_code < 400 \
                and not g.get("mailgate_rolled_back"):
            db.session.commit()
        else:
            db.session.rollback()
        return response

    @app.teardown_request
    def _rollback(exc) -> None:
        if exc is not None:
            db.session.rollback()

    def _page_503(detail: str):
        # Flask-Login's template context loads current_user eagerly, i.e. queries
        # the database that is down: this page is rendered for an anonymous user.
        g._login_user = login_manager.anonymous_user()
        return render_template("errors/503.html", detail=detail), 503

    @app.errorhandler(DatabaseUnavailable)
    def _unavailable(exc):
        log.error("database unavailable: %s", exc)
        return _page_503(str(exc))

    @app.errorhandler(OperationalError)
    def _operational(exc):
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 -- the connection is already gone; nothing to undo
            pass
        if is_unavailable(exc):
            app.extensions.pop("mailgate.schema_ok", None)
            log.error("database unavailable: %s", exc)
            return _page_503(exc.__class__.__name__)
        raise exc
