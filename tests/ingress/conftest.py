"""Fixtures of the ingress tests: a real Dovecot per test module that needs one."""

from __future__ import annotations

import pytest

from .dovecot import Dovecot, available


@pytest.fixture
def dovecot():
    if not available():
        pytest.skip("needs Dovecot (Debian dovecot-imapd) and openssl")
    server = Dovecot().prepare().start()
    try:
        yield server
    finally:
        server.destroy()
