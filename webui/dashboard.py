"""The dashboard: what came in today and this week, what needs attention, and the services' pulse."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from sqlalchemy import func, select

from mailgate.shared import keys
from mailgate.shared.db import utcnow
from mailgate.shared.models import Heartbeat, OutboundMessage, ReceivedMessage
from mailgate.webui import chart
from mailgate.webui.extensions import db

bp = Blueprint("dashboard", __name__)


def _counts_since(since) -> dict[str, int]:
    rows = db.session.execute(
        select(ReceivedMessage.status, func.count()).where(ReceivedMessage.created_at >= since)
        .group_by(ReceivedMessage.status)
    ).all()
    return dict(rows)


@bp.route("/")
def index():
    s = db.session
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    failures = list(s.scalars(
        select(ReceivedMessage).where(ReceivedMessage.status == "failed")
        .order_by(ReceivedMessage.id.desc()).limit(10)
    ))
    failed_total = s.scalar(select(func.count()).select_from(ReceivedMessage)
                            .where(ReceivedMessage.status == "failed"))
    outbound = dict(s.execute(
        select(OutboundMessage.status, func.count()).where(OutboundMessage.status.in_(("queued", "failed")))
        .group_by(OutboundMessage.status)).all())
    try:
        key = keys.current_key(s)
    except keys.NoMailKey:
        key = None
    beats = list(s.scalars(select(Heartbeat).order_by(Heartbeat.service, Heartbeat.host)))
    milter = max((b.last_seen for b in beats if b.service == "milter"), default=None)
    return render_template(
        "dashboard/index.html",
        today=_counts_since(today), week=_counts_since(now - timedelta(days=7)),
        statuses=chart.STATUSES, failures=failures, failed_total=failed_total,
        outbound=outbound, key=key, fingerprint=keys.fingerprint(key) if key else None,
        milter_seen=milter, beats=beats, chart=chart.build(s, now),
    )
