"""`mailgate web` as a real process on a free loopback port, for tests that need the real server (waitress)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import leftovers
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mailgate_web(env: dict[str, str], *args: str) -> Iterator[str]:
    """Start `mailgate web`, wait until it answers, yield its base URL; stopped on exit."""
    exe = Path(sys.executable).with_name("mailgate")
    if not exe.exists():
        pytest.skip("the mailgate console script is not installed in this environment")
    port = free_port()
    proc = subprocess.Popen([str(exe), "web", "--host", "127.0.0.1", "--port", str(port), *args],
                            env={**os.environ, **env, "PYTHONSAFEPATH": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    running = leftovers.started(f"mailgate web on port {port}", proc.kill, leftovers.process(proc.pid))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a busy CI VM can be several times slower than the ~1.3 s here
        while True:
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.terminate()
                    out = proc.communicate(timeout=10)[0]
                    pytest.fail("mailgate web did not answer: " + out.decode(errors="replace"))
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        leftovers.stopped(running)


def raw_request(base: str, request: bytes, timeout: float = 120) -> tuple[int, dict[str, str], str]:
    """Send bytes as they are (no client library adding or fixing headers); (status, headers, body)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return int(lines[0].split()[1]), headers, body.decode("utf-8", "replace")


def login_form(base: str, extra_headers: str = "") -> tuple[str, str]:
    """(session cookie, CSRF token) of a fresh login form."""
    status, headers, body = raw_request(base, (f"GET /login HTTP/1.1\r\nHost: console\r\n{extra_headers}"
                                               "Connection: close\r\n\r\n").encode())
    assert status == 200
    cookie = headers["set-cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body).group(1)
    return cookie, token


def login_post(base: str, cookie: str, token: str, username: str, password: str,
               extra_headers: str = "") -> tuple[int, dict[str, str], str]:
    from urllib.parse import urlencode

    form = urlencode({"username": username, "password": password, "csrf_token": token}).encode()
    return raw_request(base, (f"POST /login HTTP/1.1\r\nHost: console\r\nCookie: {cookie}\r\n{extra_headers}"
                              "Content-Type: application/x-www-form-urlencoded\r\n"
                              f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n").encode() + form)
