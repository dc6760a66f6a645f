"""Registers one blueprint per resource, the template helpers, and the error pages."""

from __future__ import annotations

from flask import Flask, render_template

from mailgate.webui import filters


def register(app: Flask) -> None:
    from mailgate.webui import (
        applications, audit, auth, dashboard, health, inbound, mailkey, outbound, password, tasks, testreceiver,
        users,
    )

    for module in (auth, password, dashboard, inbound, outbound, applications, mailkey, testreceiver, users, tasks,
                   health, audit):
        app.register_blueprint(module.bp)
    filters.init_app(app)

    @app.errorhandler(404)
    def _not_found(_exc):
        return render_template("errors/404.html"), 404

    @app.errorhandler(400)
    def _bad_request(exc):
        return render_template("errors/400.html", detail=getattr(exc, "description", "")), 400
