"""The dashboard: what came in today and this week, what needs attention, and the services' pulse."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from sqlalchemy import func, select

from mailgate.shared import keys, queries, refusals
from mailgate.shared.db import utcnow
from mailgate.shared.models import Heartbeat, OutboundMessage, ReceivedMessage
from mailgate.webui import chart
from mailgate.webui.extensions import db

bp = Blueprint("dashboard", __name__)


@bp.route("/")
def index():
    s = db.session
    now = utcnow()
    picture = chart.build(s, now)
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
    auth = queries.auth_verdict_counts(s, now - timedelta(days=7))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)  # UTC, as "Received today"
    return render_template(
        "dashboard/index.html",
        today=picture.today, week=picture.totals,
        statuses=chart.STATUSES, failures=failures, failed_total=failed_total,
        outbound=outbound, key=key, fingerprint=keys.fingerprint(key) if key else None,
        key_issued=keys.issued_count(s, key) if key else 0,
        milter_seen=milter, beats=beats, chart=picture, auth=auth,
        auth_verdicts=("pass", "fail", "none", "temperror", "unchecked"),
        refused_today=refusals.totals_by_reason(s, midnight),
        refused_week=refusals.totals_by_reason(s, now - timedelta(days=7)),
        desk_today=queries.service_desk_tasks_since(s, midnight),
    )
