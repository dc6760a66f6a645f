"""`mailgate ingress` started as an operator might: what it says about a setting that opens a hole."""

from __future__ import annotations

import json

import pytest
from ingress_process import running_ingress

from .dovecot import free_port
from .test_webhooks import MAILERS

pytestmark = pytest.mark.slow


def _start_and_stop(env: dict, host: str) -> str:
    full = {**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_TRUSTED_PROXIES": "1"}
    with running_ingress(full, free_port(), "--host", host) as listener:
        pass
    return listener.output


def test_trusting_a_proxy_on_a_public_address_is_called_out(env, db):
    """With MAILGATE_TRUSTED_PROXIES every peer's X-Forwarded-For is believed: reached around the proxy,
    anyone can claim to be Postmark's address."""
    said = _start_and_stop(env, "0.0.0.0")
    assert "WARNING" in said and "MAILGATE_TRUSTED_PROXIES" in said and "X-Forwarded-For" in said
    assert "MAILGATE_TRUSTED_PROXIES" not in _start_and_stop(env, "127.0.0.1")
