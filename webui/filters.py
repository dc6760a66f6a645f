"""Jinja filters and globals shared by every template (dates in UTC, sizes, ages)."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from mailgate.shared.db import utcnow
from mailgate.webui.forms import ActionForm


def when(dt: datetime | str | None) -> str:
    """`2026-12-06 18:22:36 UTC`, from a datetime or the ISO text the JSON shapes carry (`…T18:22:36Z`)."""
    if isinstance(dt, str):
        try:
            dt = datetime.fromisoformat(dt.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            return dt
    return dt.strftime("%Y-%m-%d %H:%M:%S") + " UTC" if dt else "—"


def age(dt: datetime | None) -> str:
    if dt is None:
        return "never"
    seconds = int((utcnow() - dt).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return f"{seconds} second{'s' if seconds != 1 else ''} ago"


def size(n: int | None) -> str:
    n = n or 0
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def init_app(app: Flask) -> None:
    app.add_template_filter(when)
    app.add_template_filter(age)
    app.add_template_filter(size)
    # A fresh CSRF-carrying form for the small POST buttons (logout, reprocess, …).
    app.add_template_global(ActionForm, "ActionForm")
