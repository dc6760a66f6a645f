"""The IMAP poller against mail and servers that try to stop it: one message never holds up the mailbox."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dnszones import TestZones
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
