"""Health: the same checks as `mailgate check` (mailgate.shared.health.run_checks)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from flask import Blueprint, render_template

from mailgate.webui import settings
from mailgate.webui.database import pipeline_db

bp = Blueprint("health", __name__, url_prefix="/health")


@dataclass
class _Missing:
    name: str
    ok: bool
    detail: str
    fix: str


def checks() -> list:
    """run_checks(settings, db) -> [Check(name, ok, detail, fix)], or one line saying it is missing."""
    try:
        module = importlib.import_module("mailgate.shared.health")
    except ImportError:
        return [_Missing("health checks", False, "mailgate.shared.health is not installed",
                         "upgrade Mailgate; `mailgate check` runs the same checks")]
    return list(module.run_checks(settings(), pipeline_db()))


@bp.route("/")
def index():
    results = checks()
    return render_template("health/index.html", checks=results, ok=all(c.ok for c in results))
