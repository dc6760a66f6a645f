"""Trusting our MTA's Authentication-Results: exactly our authserv-id, and never one the sender wrote."""

from __future__ import annotations

import pytest

from mailgate.shared.senderauth import AuthConfig, Transport, authenticate
from mailgate.shared.senderauth.upstream import believed, from_headers

PASS = "dkim=pass header.d=pass.test; spf=pass smtp.mailfrom=demo@pass.test; dmarc=pass header.from=pass.test"
FAIL = "dkim=none; spf=pass smtp.mailfrom=mallory@evil.test; dmarc=fail header.from=pass.test"


def msg(*ars: str, received: bool = True, sender_ar: str | None = None) -> bytes:
    head = "".join(f"Authentication-Results: {a}\r\n" for a in ars)
    if received:
        head += "Received: from client.test (client.test [192.0.2.9]) by mx.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    if sender_ar:
        head += f"Authentication-Results: {sender_ar}\r\n"
    return (head + "From: demo@pass.test\r\nTo: bugs@reply.example.com\r\nSubject: hi\r\n\r\nbody\r\n").encode()


@pytest.fixture
def config(dns_server) -> AuthConfig:
    return AuthConfig(authserv_id="mx.test", dns_servers=(dns_server.address,), dns_timeout=1.0)


def test_pipe_believes_our_header_above_the_first_received(config):
    auth = authenticate(config, msg(f"mx.test; {PASS}"), Transport(source="pipe", mail_from="mallory@evil.test"))
    assert (auth.source, auth.verdict, auth.dmarc, auth.aligned) == ("upstream", "pass", "pass", True)
    assert [(s.domain, s.result) for s in auth.dkim] == [("pass.test", "pass")]


def test_other_authserv_ids_are_ignored(config):
    auth = authenticate(config, msg(f"mx.other.test; {PASS}"), Transport(source="pipe", mail_from="mallory@evil.test"))
    assert auth.source == "verified" and auth.verdict == "fail"  # verified here: evil.test's SPF is not aligned


def test_pipe_ignores_our_id_below_the_first_received(config):
    raw = msg(received=True, sender_ar=f"mx.test; {PASS}")
    auth = authenticate(config, raw, Transport(source="pipe", client_addr="127.0.0.1", mail_from="mallory@evil.test"))
    assert auth.source == "verified" and auth.verdict == "fail"


def test_milter_believes_only_the_header_bound_to_this_queue_id(config):
    injected = msg(f"mx.test; {PASS}", received=False)
    auth = authenticate(config, injected, Transport(source="milter", client_addr="127.0.0.1",
                                                    mail_from="mallory@evil.test", queue_id="4F2A1B"))
    assert auth.source == "verified" and auth.verdict == "fail"
    bound = msg(f"mx.test/4F2A1B; {FAIL}", f"mx.test; {PASS}", received=False)
    auth = authenticate(config, bound, Transport(source="milter", client_addr="127.0.0.1",
                                                 mail_from="mallory@evil.test", queue_id="4F2A1B"))
    assert (auth.source, auth.verdict) == ("upstream", "fail")
    guessed = msg(f"mx.test/0000AA; {PASS}", received=False)  # another transaction's id
    auth = authenticate(config, guessed, Transport(source="milter", client_addr="127.0.0.1",
                                                   mail_from="mallory@evil.test", queue_id="4F2A1B"))
    assert auth.source == "verified"


def test_garbage_headers_are_skipped():
    headers = [("Authentication-Results", "mx.test; ;;; ="), ("Authentication-Results", "mx.test; " + PASS)]
    found = believed(headers, "mx.test", "", "pipe")
    assert len(found) == 1
    assert from_headers(found, "pass.test").verdict == "pass"


def test_a_dmarc_result_for_another_from_is_not_this_messages():
    found = believed([("Authentication-Results", "mx.test; dmarc=pass header.from=other.test")], "mx.test", "", "pipe")
    assert from_headers(found, "pass.test").verdict == "none"
