"""`mailgate ingress` started as an operator might: what it says about a setting that opens a hole."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import leftovers
import pytest

from .dovecot import free_port
from .test_listener import MAILGATE
from .test_webhooks import MAILERS

pytestmark = pytest.mark.slow


def _start_and_stop(env: dict, host: str) -> str:
    port = free_port()
    full = {**os.environ, **env, "MAILGATE_MAILERS": json.dumps(MAILERS), "PYTHONSAFEPATH": "1",
            "MAILGATE_TRUSTED_PROXIES": "1"}
    proc = subprocess.Popen([MAILGATE, "ingress", "--host", host, "--port", str(port)], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    running = leftovers.started(f"mailgate ingress on port {port}", proc.kill, leftovers.process(proc.pid))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
        leftovers.stopped(running)
    return out + err


def test_trusting_a_proxy_on_a_public_address_is_called_out(env, db):
    """With MAILGATE_TRUSTED_PROXIES every peer's X-Forwarded-For is believed: reached around the proxy,
    anyone can claim to be Postmark's address."""
    said = _start_and_stop(env, "0.0.0.0")
    assert "WARNING" in said and "MAILGATE_TRUSTED_PROXIES" in said and "X-Forwarded-For" in said
    assert "MAILGATE_TRUSTED_PROXIES" not in _start_and_stop(env, "127.0.0.1")
