"""Health: the same checks as `mailgate check` (`all_checks`, which both call)."""

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


def all_checks(cfg, db, *, postfix_config_dir: str | None = None) -> list:
    """Every check, for `mailgate check` and this page alike: the shared ones, then the IMAP poller's."""
    from mailgate.shared.health import run_checks

    return list(run_checks(cfg, db, postfix_config_dir=postfix_config_dir)) + ingress_checks(cfg)


def ingress_checks(cfg) -> list:
    """The webhooks' checks (a line per provider with an inbound entry), then the IMAP poller's, when a
    mailbox is configured (MAILGATE_IMAP_HOST)."""
    from mailgate.ingress.imap import settings as imap_settings
    from mailgate.ingress.web.health import run_checks as webhook_checks
    from mailgate.shared.config import ConfigError
    from mailgate.shared.health import Check

    webhooks = webhook_checks(cfg)
    if not imap_settings.configured(cfg.environ):  # the layered view these settings were read from
        return webhooks
    from mailgate.ingress.imap.health import run_checks as imap_checks

    try:
        imap = imap_settings.from_env(cfg.environ)
    except ConfigError as exc:
        return webhooks + [Check("imap settings", False, str(exc), f"Fix {exc.variable}.")]
    return webhooks + imap_checks(cfg, imap)


def checks() -> list:
    """all_checks(settings, db) -> [Check(name, ok, detail, fix)], or one line saying it is missing."""
    try:
        importlib.import_module("mailgate.shared.health")
    except ImportError:
        return [_Missing("health checks", False, "mailgate.shared.health is not installed",
                         "upgrade Mailgate; `mailgate check` runs the same checks")]
    return all_checks(settings(), pipeline_db())


@bp.route("/")
def index():
    results = checks()
    return render_template("health/index.html", checks=results, ok=all(c.ok for c in results))
