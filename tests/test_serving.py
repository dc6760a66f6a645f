"""`mailgate.shared.serving`: the waitress wiring every Mailgate HTTP listener uses (console, ingress), over a
real socket, with the headers a reverse proxy sends."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from mailgate.shared.serving import create_server, proxy_options


def _echo(environ, start_response):
    body = json.dumps({"addr": environ["REMOTE_ADDR"], "scheme": environ["wsgi.url_scheme"],
                       "xff": environ.get("HTTP_X_FORWARDED_FOR"), "host": environ.get("HTTP_HOST")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def listener(request):
    server = create_server(_echo, host="127.0.0.1", port=0, threads=2, trusted_proxies=request.param)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_port
    server.close()
    thread.join(timeout=5)


def _ask(port: int, headers: str) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(f"GET / HTTP/1.1\r\nHost: ingress.example\r\n{headers}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return json.loads(data.partition(b"\r\n\r\n")[2])


PROXIED = ("X-Forwarded-For: 192.0.2.1, 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
           "X-Forwarded-Host: evil.example\r\n")


@pytest.mark.parametrize("listener", [0], indirect=True)
def test_without_trusted_proxies_the_headers_never_reach_the_app(listener):
    seen = _ask(listener, PROXIED)
    assert seen == {"addr": "127.0.0.1", "scheme": "http", "xff": None, "host": "ingress.example"}


@pytest.mark.parametrize("listener", [1], indirect=True)
def test_behind_one_proxy_the_client_is_the_last_forwarded_address(listener):
    seen = _ask(listener, PROXIED)
    assert seen["addr"] == "203.0.113.7" and seen["scheme"] == "https"
    assert seen["host"] == "ingress.example"  # X-Forwarded-Host is never trusted


@pytest.mark.parametrize("listener", [2], indirect=True)
def test_behind_two_proxies_the_second_from_the_right(listener):
    assert _ask(listener, PROXIED)["addr"] == "192.0.2.1"
    assert _ask(listener, "")["addr"] == "127.0.0.1"  # no header: the peer itself


def test_options():
    assert proxy_options(0) == {"clear_untrusted_proxy_headers": True}
    assert proxy_options(3)["trusted_proxy_count"] == 3
