"""RCPT-time refusals: counted per reason and hour, one row each however many refusals, listed and shown."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from mailgate.shared import refusals
from mailgate.shared.db import utcnow
from mailgate.shared.models import RefusalCount
from mailgate.webui.cli import main


def rows(db) -> list[tuple[datetime, str, int]]:
    with db.read() as s:
        return [tuple(r) for r in s.execute(select(RefusalCount.hour, RefusalCount.reason, RefusalCount.count)
                                            .order_by(RefusalCount.hour, RefusalCount.reason))]


def test_a_flood_is_one_row_per_reason_and_hour(db):
    counter = refusals.RefusalCounter()
    now = datetime(2026, 12, 6, 14, 37, 12)
    for i in range(5000):
        counter.add("unknown_recipient", now + timedelta(seconds=i % 600))
    counter.add("invalid_hash", now)
    assert counter.flush(db) == 5001
    hour = datetime(2026, 12, 6, 14)
    assert rows(db) == [(hour, "invalid_hash", 1), (hour, "unknown_recipient", 5000)]
    # the next flush adds to the same rows (an upsert), it never adds rows
    counter.add("unknown_recipient", now)
    counter.add("unknown_recipient", now + timedelta(hours=1))
    assert counter.flush(db) == 2
    assert rows(db) == [(hour, "invalid_hash", 1), (hour, "unknown_recipient", 5001),
                        (hour + timedelta(hours=1), "unknown_recipient", 1)]
    assert counter.flush(db) == 0


def test_two_processes_add_to_the_same_row(db):
    a, b = refusals.RefusalCounter(), refusals.RefusalCounter()
    now = utcnow()
    a.add("object_not_found", now)
    b.add("object_not_found", now)
    b.add("object_not_found", now)
    a.flush(db)
    b.flush(db)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(RefusalCount)) == 1
        assert s.scalar(select(RefusalCount.count)) == 3


def test_counts_survive_a_failed_flush(db, settings, tmp_path):
    from mailgate.shared.db import Database

    counter = refusals.RefusalCounter()
    counter.add("invalid_hash")
    broken = Database(f"sqlite:///{tmp_path}/missing/dir/x.db")
    assert counter.flush(broken) == 0  # database away: logged, kept
    assert counter.flush(db) == 1
    assert [r[1:] for r in rows(db)] == [("invalid_hash", 1)]


def test_list_refusals_json_and_table(env, db):
    now = utcnow()
    refusals.add_counts(db, {(refusals.hour_of(now), "unknown_recipient"): 4,
                             (refusals.hour_of(now), "invalid_hash"): 2,
                             (refusals.hour_of(now - timedelta(hours=30)), "unknown_recipient"): 9})
    out = CliRunner().invoke(main, ["list-refusals", "--json"], env=env)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    hour = refusals.hour_of(now).strftime("%Y-%m-%dT%H:00:00Z")
    assert data == [{"hour": hour, "source": "milter", "reason": "invalid_hash", "count": 2},
                    {"hour": hour, "source": "milter", "reason": "unknown_recipient", "count": 4}]
    longer = json.loads(CliRunner().invoke(main, ["list-refusals", "--hours", "48", "--json"], env=env).output)
    assert sum(r["count"] for r in longer) == 15
    text = CliRunner().invoke(main, ["list-refusals"], env=env).output
    assert "unknown_recipient" in text and "HOUR (UTC)" in text


def test_list_refusals_shows_the_webhooks_refusals_beside_the_milters(env, db):
    from mailgate.ingress import refusals as ingress_refusals

    now = utcnow()
    refusals.add_counts(db, {(refusals.hour_of(now), "unknown_recipient"): 3})
    ingress_refusals.count(db, "mailgun", "bad_signature")
    ingress_refusals.count(db, "mailgun", "bad_signature")
    data = json.loads(CliRunner().invoke(main, ["list-refusals", "--json"], env=env).output)
    hour = refusals.hour_of(now).strftime("%Y-%m-%dT%H:00:00Z")
    assert data == [{"hour": hour, "source": "milter", "reason": "unknown_recipient", "count": 3},
                    {"hour": hour, "source": "mailgun", "reason": "bad_signature", "count": 2}]
    text = CliRunner().invoke(main, ["list-refusals"], env=env).output
    assert "SOURCE" in text and "bad_signature" in text
