"""The loopback name server and the test domains' keys, once per test session."""

from __future__ import annotations

import pytest

from ..support.dnszones import TestZones


@pytest.fixture(scope="session")
def zones(tmp_path_factory) -> TestZones:
    return TestZones(tmp_path_factory.mktemp("dkim-keys"))


@pytest.fixture(scope="session")
def dns_server(zones):
    server = zones.server().start()
    yield server
    server.stop()
