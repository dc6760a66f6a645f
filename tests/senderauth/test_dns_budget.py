"""A message's DNS time is bounded as a whole: time-outs do not stack up per signature and per record."""

from __future__ import annotations

import time

from mailgate.shared.senderauth import AuthConfig, Transport, authenticate

from ..conftest import make_mail

TIMEOUT = 1.0


def test_a_message_whose_every_look_up_times_out_costs_at_most_three_timeouts(dns_server):
    """SPF, five DKIM keys and DMARC, all under a zone that never answers: one budget for all of them."""
    config = AuthConfig(mode="report", dns_servers=(dns_server.address,), dns_timeout=TIMEOUT)
    signatures = b"".join(b"DKIM-Signature: v=1; a=rsa-sha256; d=slow.test; s=s%d; h=from; bh=AAAA; b=AAAA\n" % i
                          for i in range(5))
    raw = signatures + make_mail(sender="someone@slow.test")
    started = time.monotonic()
    auth = authenticate(config, raw, Transport(source="milter", client_addr="127.0.0.1", helo="mx.slow.test",
                                               mail_from="someone@slow.test", queue_id="4ABC"))
    took = time.monotonic() - started
    assert took < 3 * TIMEOUT + 0.5, took
    assert (auth.spf, auth.dmarc, auth.verdict) == ("temperror", "temperror", "temperror")
    assert {s.result for s in auth.dkim} == {"temperror"} and len(auth.dkim) == 5


def test_answers_already_known_are_used_after_the_budget_is_spent(dns_server, zones):
    """The budget limits waiting for servers, not reading the cache: a cached pass stays a pass."""
    config = AuthConfig(mode="report", dns_servers=(dns_server.address,), dns_timeout=TIMEOUT)
    signed = zones.signers["pass.test"].sign(make_mail(sender="demo@pass.test"))
    transport = Transport(source="milter", client_addr="192.0.2.99", helo="mx.pass.test",
                          mail_from="demo@pass.test", queue_id="4ABC")
    assert authenticate(config, signed, transport).verdict == "pass"  # the key and the record are cached now
    slow = b"".join(b"DKIM-Signature: v=1; a=rsa-sha256; d=slow.test; s=t%d; h=from; bh=AAAA; b=AAAA\n" % i
                    for i in range(4))
    auth = authenticate(config, slow + signed, transport)
    assert [(s.domain, s.result) for s in auth.dkim][-1] == ("pass.test", "pass")
    assert auth.verdict == "pass"
