"""The IMAP poller against mail and servers that try to stop it: one message never holds up the mailbox."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from dnszones import TestZones
from hostile_imap import HostileImap
from mailgate.ingress.imap import settings as imap_settings
from mailgate.ingress.imap.poller import Poller
from mailgate.shared import directory
from mailgate.shared.pipeline import recover_stale

from ..conftest import REPLY_DOMAIN, make_mail
from .test_imap_poller import rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zones(tmp_path_factory):
    return TestZones(tmp_path_factory.mktemp("dkim-keys"))


@pytest.fixture(scope="module")
def silent_dns(zones):
    """A name server whose slow.test never answers (the sender's DNS is down)."""
    server = zones.server().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def answering_dns(zones):
    """The same zones with slow.test answering: its DNS is back."""
    server = zones.server(silent=()).start()
    yield server
    server.stop()


def test_a_sender_whose_dns_does_not_answer_under_require_holds_up_no_other_mail(dovecot, settings, db, seed,
                                                                                   silent_dns, answering_dns):
    """Under require a DNS timeout defers the message: stored as received (the worker's recover_stale checks
    it again later, as for a milter sender that never retries), and the mail after it is still read."""
    settings = replace(settings, sender_auth="require", dns_servers=(silent_dns.address,), dns_timeout=0.5)
    with db.transaction() as s:
        directory.add_user(s, "pat", ["pat@nodmarc.test"], "Pat", settings=settings, actor="test")
    dovecot.append(make_mail(sender="someone@slow.test", to=f"bugs@{REPLY_DOMAIN}", subject="Deferred"))
    dovecot.append(make_mail(sender="pat@nodmarc.test", to=f"bugs@{REPLY_DOMAIN}", subject="After it"))
    poller = Poller(settings, db, imap_settings.from_env(dovecot.env()))
    stats = poller.run(once=True)
    assert [(r.subject, r.status, r.reason) for r in rows(db)] == [
        ("Deferred", "received", None),
        ("After it", "rejected", "unauthenticated_sender")]  # no DMARC at nodmarc.test: refused, recorded
    assert (stats.deferred, stats.stored) == (1, 1)
    assert dovecot.count() == 0

    # DNS is back: the worker's recovery checks it again and finishes it
    recovered = recover_stale(db, replace(settings, dns_servers=(answering_dns.address,)), older_than_seconds=0)
    assert [(o.status, o.reason) for o in recovered] == [("rejected", "unauthenticated_sender")]


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _poll(settings, db, server) -> Poller:
    return Poller(settings, db, imap_settings.from_env(server.env()), sleep=lambda seconds: time.sleep(0.01))


@pytest.mark.parametrize("trick", ["no-body", "bad-size"])
def test_a_server_that_answers_a_fetch_wrongly_loses_no_mail_and_stops_nothing(settings, db, seed, trick):
    """The wrong answer's message is skipped and left in the mailbox (never stored empty and deleted);
    the poller goes on with the next one."""
    server = HostileImap([_crlf(make_mail(to=f"bugs@{REPLY_DOMAIN}", subject="Odd answer")),
                          _crlf(make_mail(to=f"bugs@{REPLY_DOMAIN}", subject="Fine"))], trick).start()
    server.tricked = {100}
    try:
        stats = _poll(settings, db, server).run(once=True)
    finally:
        server.stop()
    assert (stats.stored, stats.skipped) == (1, 1)
    assert [r.subject for r in rows(db)] == ["Fine"]
    assert server.expunged == [101] and 100 in server.messages


def test_a_connection_lost_during_a_fetch_is_retried_not_skipped(settings, db, seed):
    server = HostileImap([_crlf(make_mail(to=f"bugs@{REPLY_DOMAIN}", subject="Interrupted"))], "drop-once").start()
    poller = _poll(settings, db, server)
    runner = threading.Thread(target=poller.run, daemon=True)
    try:
        runner.start()
        deadline = time.monotonic() + 20
        while not rows(db) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
        runner.join(10)
        server.stop()
    assert [r.subject for r in rows(db)] == ["Interrupted"] and server.expunged == [100]
    assert (poller.stats.reconnects, poller.stats.skipped) == (1, 0)
