"""The dashboard's picture: received messages per hour over 7 days, stacked by status.

Rendered on the server as SVG geometry (no chart library, no CDN, no
script), so it works offline and under a CSP without inline script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.shared.models import ReceivedMessage

STATUSES = ("processed", "ignored", "rejected", "failed", "received")
HOURS = 7 * 24
BAR_W = 5
HEIGHT = 160


@dataclass
class Bar:
    x: int
    y: float
    h: float
    status: str
    title: str


@dataclass
class Chart:
    bars: list[Bar]
    width: int
    height: int
    peak: int
    days: list[tuple[int, str]]  # (x, label) at each midnight
    totals: dict[str, int]  # per status over the 7 days (168 whole hours)
    today: dict[str, int]  # per status since midnight UTC


def _hour_expr(session: Session):
    col = ReceivedMessage.created_at
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H", col)
    return func.to_char(func.date_trunc("hour", col), "YYYY-MM-DD HH24")


def hourly_counts(session: Session, now: datetime) -> tuple[datetime, dict[tuple[str, str], int]]:
    start = (now - timedelta(hours=HOURS - 1)).replace(minute=0, second=0, microsecond=0)
    hour = _hour_expr(session)
    rows = session.execute(
        select(hour, ReceivedMessage.status, func.count())
        .where(ReceivedMessage.created_at >= start).group_by(hour, ReceivedMessage.status)
    ).all()
    return start, {(h, s): n for h, s, n in rows}


def build(session: Session, now: datetime) -> Chart:
    """One grouped query (a covering-index range scan) feeds the picture and the day/week counts."""
    start, counts = hourly_counts(session, now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = {s: 0 for s in STATUSES}
    keys = [(start + timedelta(hours=i)) for i in range(HOURS)]
    per_hour = [{s: counts.get((k.strftime("%Y-%m-%d %H"), s), 0) for s in STATUSES} for k in keys]
    peak = max([sum(h.values()) for h in per_hour] + [1])
    bars: list[Bar] = []
    totals = {s: 0 for s in STATUSES}
    for i, (k, hour) in enumerate(zip(keys, per_hour)):
        y = float(HEIGHT)
        for status in STATUSES:
            n = hour[status]
            totals[status] += n
            if k >= midnight:
                today[status] += n
            if not n:
                continue
            h = HEIGHT * n / peak
            y -= h
            bars.append(Bar(i * BAR_W, round(y, 2), round(h, 2), status,
                            f"{k:%Y-%m-%d %H}:00 UTC — {n} {status}"))
    days = [(i * BAR_W, f"{k:%a %d}") for i, k in enumerate(keys) if k.hour == 0]
    return Chart(bars, HOURS * BAR_W, HEIGHT, peak, days, totals, today)
