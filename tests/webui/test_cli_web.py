"""`mailgate create-admin` and `mailgate web` (the console on waitress) from the command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select


def test_create_admin_from_stdin(env, db):
    from mailgate.shared.models import AdminUser, AuditEntry
    from mailgate.webui.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["create-admin", "root", "--password-stdin"], input="a long enough secret\n", env=env)
    assert r.exit_code == 0, r.output
    with db.read() as s:
        row = s.scalars(select(AdminUser).where(AdminUser.username == "root")).one()
        assert row.password_hash.startswith(("scrypt:", "pbkdf2:")) and "a long enough" not in row.password_hash
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.action == "admin.create")).first()
    r = runner.invoke(main, ["create-admin", "root", "--password-stdin"], input="a long enough secret\n", env=env)
    assert r.exit_code != 0 and "already exists" in r.output
    r = runner.invoke(main, ["create-admin", "other", "--password-stdin"], input="short\n", env=env)
    assert r.exit_code != 0 and "at least" in r.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mailgate_web_serves_the_console(env, db):
    exe = Path(sys.executable).with_name("mailgate")
    if not exe.exists():
        pytest.skip("the mailgate console script is not installed in this environment")
    port = _free_port()
    proc = subprocess.Popen([str(exe), "web", "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, **env, "PYTHONSAFEPATH": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # A deadline, not a count of tries: the console starts in ~1.3 s here, but a busy CI VM can
        # be several times slower, and a try that times out costs 2 s of its own.
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    body = r.read().decode()
                    assert r.status == 200 and "Username" in body
                    assert r.headers["Server"] == "mailgate"  # waitress, not the Flask dev server
                    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.terminate()  # so that reading its output cannot block on a live process
                    out = proc.communicate(timeout=10)[0]
                    pytest.fail("mailgate web did not answer: " + out.decode(errors="replace"))
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
