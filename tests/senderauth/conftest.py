"""The loopback name server and the test domains' keys, once per test session."""

from __future__ import annotations

import pytest

from dnszones import TestZones


@pytest.fixture(scope="session")
def zones(tmp_path_factory) -> TestZones:
    return TestZones(tmp_path_factory.mktemp("dkim-keys"))


@pytest.fixture(scope="session")
def dns_server(zones):
    server = zones.server().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dns_server_recovered(zones):
    """The same zones with slow.test answering: the DNS outage is over."""
    server = zones.server(silent=()).start()
    yield server
    server.stop()


@pytest.fixture
def env(env, dns_server) -> dict[str, str]:
    """Report by default, our name server, a short timeout (the timeout cases wait for it)."""
    return {**env, "MAILGATE_SENDER_AUTH": "report", "MAILGATE_DNS_SERVERS": dns_server.address,
            "MAILGATE_DNS_TIMEOUT": "1"}


@pytest.fixture
def people(db, settings):
    """demo@pass.test (a DMARC-protected domain), pat@nodmarc.test (no DMARC), and the create address."""
    from mailgate.shared import directory

    with db.transaction() as s:
        directory.add_user(s, "demo", ["demo@pass.test"], "Demo", settings=settings, actor="test")
        directory.add_user(s, "pat", ["pat@nodmarc.test"], "Pat", settings=settings, actor="test")
        directory.add_user(s, "nina", ["news@none.test"], "Nina", settings=settings, actor="test")
        directory.add_create_address(s, settings, "tasks", "bugs@reply.example.com", actor="test")
    return "bugs@reply.example.com"
