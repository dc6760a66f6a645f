"""Two MX hosts on one PostgreSQL: the same reply reaching both at once is acted on exactly once."""

from __future__ import annotations

import threading

import pytest

from .harness import SmtpSender, reply, rows_by_message_id

pytestmark = [pytest.mark.postfix, pytest.mark.postgres, pytest.mark.slow]

ROUNDS = 20


def test_fleet_is_two_hosts_on_one_database(healthy):
    fleet = healthy
    assert len(fleet.hosts) == 2
    assert fleet.hosts[0].port != fleet.hosts[1].port
    assert fleet.hosts[0].milter_pid != fleet.hosts[1].milter_pid
    assert fleet.hosts[0].milter.env["MAILGATE_DATABASE_URL"] == fleet.hosts[1].milter.env["MAILGATE_DATABASE_URL"]
    assert fleet.hosts[0].milter.env["MAILGATE_DATABASE_URL"].startswith("postgresql")


def test_same_reply_to_both_hosts_at_once_is_one_comment(healthy):
    fleet = healthy
    senders = [SmtpSender([h.port for h in fleet.hosts]) for _ in fleet.hosts]
    msgids = []
    try:
        for k in range(ROUNDS):
            mail, name, addr, ref = fleet.targets[k % len(fleet.targets)]
            mid, raw = reply(f"twin-{k}", mail, name, addr, ref)
            msgids.append(mid)
            gate = threading.Barrier(2, timeout=60)
            answers = [None, None]

            def send(h: int) -> None:
                gate.wait()
                answers[h] = senders[h].send_once(h, mail, addr, raw)

            threads = [threading.Thread(target=send, args=(h,)) for h in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            # Both hosts accept (the duplicate is stored, recorded and its recipient deleted).
            assert [a.code for a in answers] == [250, 250], (answers, fleet.logs())
    finally:
        for s in senders:
            s.close()

    seen = rows_by_message_id(fleet.db, msgids)
    for mid in msgids:
        assert seen[mid] == {"rows": 2, "processed": 1, "duplicate": 1, "received": 0, "other": [], "comments": 1}, \
            (mid, seen[mid])

    # Both hosts did their share of the storing: each copy came through its own Postfix.
    from sqlalchemy import select

    from mailgate.shared.models import ReceivedMessage

    with fleet.db.read() as s:
        queue_ids = s.scalars(select(ReceivedMessage.queue_id).where(ReceivedMessage.message_id.in_(msgids))).all()
    assert len(set(queue_ids)) == 2 * ROUNDS
