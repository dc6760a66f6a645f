"""Console speed: server time of the Received list and detail pages over a big SQLite database.

    PYTHONSAFEPATH=1 .venv/bin/python bench/gen_received.py /tmp/mg-bench      # 1,000,000 rows
    PYTHONSAFEPATH=1 .venv/bin/python bench/console_speed.py /tmp/mg-bench [--runs 40]

Each page is requested through the real Flask app (login, CSRF-free GETs,
templates, the request's read-only transaction) with Flask's test client,
so the time is the server's: everything from the WSGI call to the last byte
of the body, without network. It prints p50/p95/max per page, the query plan
of each list query (which index answers it), and exits 1 when a page's p95
is over the 150 ms budget.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

BUDGET_MS = 150.0
PASSWORD = "bench-password-123"


def _setup(instance: Path):
    from sqlalchemy import select

    from mailgate.shared.config import from_env
    from mailgate.shared.db import Database
    from mailgate.shared.models import AdminUser
    from mailgate.webui import create_app
    from mailgate.webui.accounts import create_admin

    settings = from_env({"MAILGATE_INSTANCE": str(instance), "MAILGATE_REPLY_DOMAIN": "reply.example.com", "MAILGATE_SENDER_AUTH": "off",
                         "MAILGATE_SECRET_KEY": "bench"})
    db = Database.from_settings(settings)
    with db.transaction() as s:
        if not s.scalars(select(AdminUser).where(AdminUser.username == "bench")).first():
            create_admin(s, "bench", PASSWORD, actor="bench")
    app = create_app({"MAILGATE_SETTINGS": settings, "MAILGATE_LOGIN_DELAY": 0, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    r = client.post("/login", data={"username": "bench", "password": PASSWORD})
    assert r.status_code == 302, r.status_code
    return app, client, db


def _plans(app, db) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of the list query behind each page (the index that answers it)."""
    from mailgate.shared import queries

    captured: dict[str, list[str]] = {}
    cases = {
        "first page": queries.InboundFilter(),
        "status=failed": queries.InboundFilter(status="failed"),
        "reason=unknown_sender, source=pipe": queries.InboundFilter(reason="unknown_sender", source="pipe"),
        "search": queries.InboundFilter(search="kettle.printer42"),
        "two months": queries.InboundFilter(since=datetime(2026, 9, 1), until=datetime(2026, 11, 1)),
    }
    from sqlalchemy import event

    with db.read() as s:
        for name, f in cases.items():
            statements: list[str] = []

            def grab(conn, cursor, statement, parameters, context, executemany, _st=statements):
                if "received_messages" in statement and "EXPLAIN" not in statement:
                    _st.append((statement, parameters))

            event.listen(db.engine, "before_cursor_execute", grab)
            try:
                queries.inbound_page(s, f, limit=51)
            finally:
                event.remove(db.engine, "before_cursor_execute", grab)
            stmt, params = statements[-1]
            rows = s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params).all()
            captured[name] = [r[-1] for r in rows]
    return captured


def _time(client, url: str) -> float:
    t0 = time.perf_counter()
    r = client.get(url)
    body = r.get_data()
    elapsed = (time.perf_counter() - t0) * 1000
    assert r.status_code == 200, (url, r.status_code, body[:300])
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", type=Path)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    app, client, db = _setup(args.instance)
    with db.read() as s:
        top = s.connection().exec_driver_sql("SELECT max(id) FROM received_messages").scalar() or 1
        sender = s.connection().exec_driver_sql(
            "SELECT from_addr FROM received_messages WHERE id = ?", (top // 3,)).scalar()
        mid = s.connection().exec_driver_sql(
            "SELECT message_id FROM received_messages WHERE id = ?", (top // 2,)).scalar()
    rnd = random.Random(1)
    pages: list[tuple[str, object]] = [
        ("first page", "/received/"),
        ("filtered: status=failed", "/received/?status=failed"),
        ("filtered: reason=unknown_sender & source=pipe", "/received/?reason=unknown_sender&source=pipe"),
        ("filtered: application=tasks & status=rejected", "/received/?application=tasks&status=rejected"),
        ("filtered: one day (date range)", "/received/?since=2026-10-01&until=2026-10-01"),
        ("filtered: two months (date range)", "/received/?since=2026-09-01&until=2026-10-31"),
        ("filtered: two months & status=failed", "/received/?since=2026-09-01&until=2026-10-31&status=failed"),
        ("deep page (keyset, ~950,000 rows back)", f"/received/?before={top // 20}"),
        ("deep page, filtered (status=ignored, ~900,000 back)", f"/received/?status=ignored&before={top // 10}"),
        (f"search: sender ({sender})", f"/received/?q={sender}"),
        (f"search: address up to the @ ({sender.split('@')[0]}@)", f"/received/?q={sender.split('@')[0]}@"),
        (f"search: address cut mid-word ({sender[:len(sender) - 5]})", f"/received/?q={sender[:len(sender) - 5]}"),
        ("search: Message-ID", f"/received/?q=<{mid}>"),
        ("search: domain (customer.example)", "/received/?q=customer.example"),
        ("search: common word (printer)", "/received/?q=printer"),
        ("search: word beginning (migr*)", "/received/?q=migr*"),
        ("search: two words + status=failed", "/received/?q=printer+crash&status=failed"),
        ("detail page (random id)", lambda: f"/received/{rnd.randint(1, top)}"),
        ("dashboard (not in the budget)", "/"),
    ]
    print(f"{top:,} received messages; {args.runs} runs per page after 3 warm-ups; times in ms (server)")
    print(f"| page | p50 | p95 | max |\n|---|---:|---:|---:|")
    over = []
    for name, target in pages:
        for _ in range(3):
            _time(client, target() if callable(target) else target)
        times = [_time(client, target() if callable(target) else target) for _ in range(args.runs)]
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | {times[-1]:.1f} |", flush=True)
        if p95 > BUDGET_MS and "not in the budget" not in name:
            over.append(name)
    print("\nQuery plans:")
    for name, plan in _plans(app, db).items():
        print(f"- {name}: " + " / ".join(plan))
    if over:
        print(f"\nOVER BUDGET ({BUDGET_MS:.0f} ms p95): {', '.join(over)}")
        return 1
    print(f"\nall listed pages within {BUDGET_MS:.0f} ms p95")
    return 0


if __name__ == "__main__":
    sys.exit(main())
