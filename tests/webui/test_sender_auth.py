"""The console's sender authentication: the detail card, the mismatch said plainly, the list filter, the
dashboard's counts, and the per-address policy on the Applications page (a CSRF-protected POST)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from mailgate.shared.envelope import Envelope
from mailgate.shared.models import CreateAddress
from mailgate.shared.pipeline import receive

from dnszones import TestZones


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    zones = TestZones(tmp_path_factory.mktemp("keys"))
    server = zones.server().start()
    yield zones, server
    server.stop()


@pytest.fixture
def received(db, settings, seed, dns, mail):
    """A forgery (report: processed, flagged) and a signed message, through the real pipeline."""
    zones, server = dns
    checked = dataclasses.replace(settings, sender_auth="report", dns_servers=(server.address,), dns_timeout=1.0)
    env = dict(source="milter", recipients=[seed.create_address], client_addr="127.0.0.1", helo="client.test")
    forged = receive(db, checked, Envelope(sender="mallory@evil.test", **env),
                     mail(sender="alice@pass.test", subject="Forged <b>boss</b>"))
    signed = receive(db, checked, Envelope(sender="alice@pass.test", **env),
                     zones.signers["pass.test"].sign(mail(sender="alice@pass.test", subject="Signed")))
    return forged.id, signed.id


def test_detail_shows_the_verdict_and_says_the_mismatch_plainly(browser, received):
    forged, signed = received
    page = browser.get(f"/received/{forged}").get_data(as_text=True)
    assert "Sender authentication" in page and 'auth-fail">fail' in page
    assert "Envelope and From disagree." in page and "mallory@evil.test" in page and "may be forged" in page
    assert "Forged &lt;b&gt;boss&lt;/b&gt;" in page  # mail content escaped
    page = browser.get(f"/received/{signed}").get_data(as_text=True)
    assert 'auth-pass">pass' in page and "pass.test: pass" in page and "disagree" not in page


def test_list_filters_by_verdict(browser, received):
    forged, signed = received
    page = browser.get("/received/?auth=fail").get_data(as_text=True)
    assert f"/received/{forged}" in page and f"/received/{signed}\"" not in page
    page = browser.get("/received/?auth=pass").get_data(as_text=True)
    assert f"/received/{signed}" in page and f"/received/{forged}\"" not in page


def test_dashboard_counts_verdicts(browser, received):
    page = browser.get("/").get_data(as_text=True)
    assert "Sender authentication, 7 days" in page
    assert re.search(r'auth=fail">1<', page) and re.search(r'auth=pass">1<', page)


def test_applications_page_sets_an_addresses_policy(browser, db, seed):
    with db.read() as s:
        addr_id = s.query(CreateAddress).filter_by(address=seed.create_address).one().id
    page = browser.get("/applications/").get_data(as_text=True)
    assert "default (off)" in page and "<strong>off</strong>" in page
    r = browser.post(f"/applications/addresses/{addr_id}/sender-auth", page="/applications/",
                     prefix=f"auth-{addr_id}-", data={f"auth-{addr_id}-sender_auth": "require"})
    assert r.status_code == 302
    with db.read() as s:
        assert s.get(CreateAddress, addr_id).sender_auth == "require"
    r = browser.client.post(f"/applications/addresses/{addr_id}/sender-auth",
                            data={f"auth-{addr_id}-sender_auth": "off"})  # no CSRF token
    assert r.status_code == 400
    with db.read() as s:
        assert s.get(CreateAddress, addr_id).sender_auth == "require"
