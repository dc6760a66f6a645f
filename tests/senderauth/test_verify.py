"""Verification against a real name server on loopback: SPF, DKIM and DMARC, pass / fail / none / temperror."""

from __future__ import annotations

import time

import pytest

from mailgate.shared.senderauth import AuthConfig, Transport, authenticate
from mailgate.shared.senderauth.resolver import DnsTemporary, Resolver

from ..conftest import make_mail


@pytest.fixture
def config(dns_server) -> AuthConfig:
    return AuthConfig(mode="report", dns_servers=(dns_server.address,), dns_timeout=1.0)


def smtp(mail_from: str, client: str = "127.0.0.1", helo: str = "client.test") -> Transport:
    return Transport(source="milter", client_addr=client, helo=helo, mail_from=mail_from, queue_id="4ABC")


def test_aligned_dkim_pass(config, zones):
    raw = zones.signers["pass.test"].sign(make_mail(sender="demo@pass.test"))
    auth = authenticate(config, raw, smtp("bounce@elsewhere.example", client="192.0.2.99"))
    assert [(s.domain, s.result) for s in auth.dkim] == [("pass.test", "pass")]
    assert (auth.dmarc, auth.aligned, auth.verdict, auth.source) == ("pass", True, "pass", "verified")
    assert auth.policy == "reject" and not auth.envelope_mismatch


def test_spf_pass_aligned_without_signature(config):
    auth = authenticate(config, make_mail(sender="demo@pass.test"), smtp("bounces@mail.pass.test"))
    assert (auth.spf, auth.spf_domain, auth.dkim) == ("pass", "mail.pass.test", [])
    assert (auth.dmarc, auth.aligned, auth.verdict) == ("pass", True, "pass")


def test_forged_from_with_the_forgers_envelope(config):
    auth = authenticate(config, make_mail(sender="demo@pass.test"), smtp("mallory@evil.test"))
    assert auth.spf == "pass" and auth.spf_domain == "evil.test"  # SPF passes -- for the forger's domain
    assert (auth.dmarc, auth.aligned, auth.verdict) == ("fail", False, "fail")
    assert auth.envelope_mismatch


def test_body_tampered_after_signing(config, zones):
    raw = zones.signers["pass.test"].sign(make_mail(sender="demo@pass.test", body="Pay 10 EUR."))
    tampered = raw.replace(b"Pay 10 EUR.", b"Pay 1000 EUR.")
    auth = authenticate(config, tampered, smtp("demo@pass.test", client="192.0.2.99"))
    assert [(s.domain, s.result) for s in auth.dkim] == [("pass.test", "fail")]
    assert auth.spf == "fail" and auth.verdict == "fail"


def test_dmarc_p_none_is_fail_with_policy_none(config):
    auth = authenticate(config, make_mail(sender="news@none.test"), smtp("news@none.test"))
    assert auth.spf == "fail"
    assert (auth.dmarc, auth.policy, auth.verdict) == ("fail", "none", "fail")


def test_no_dmarc_record_is_none_even_when_aligned(config, zones):
    raw = zones.signers["nodmarc.test"].sign(make_mail(sender="pat@nodmarc.test"))
    auth = authenticate(config, raw, smtp("pat@nodmarc.test"))
    assert auth.spf == "pass" and auth.dkim[0].result == "pass"
    assert (auth.dmarc, auth.aligned, auth.verdict) == ("none", True, "none")


def test_strict_alignment_refuses_a_subdomain(config, zones):
    auth = authenticate(config, make_mail(sender="ops@strict.test"), smtp("bounce@mail.strict.test"))
    assert auth.spf == "pass" and (auth.dmarc, auth.aligned) == ("fail", False)
    assert not auth.envelope_mismatch  # same organisation: not a mismatch worth a warning
    raw = zones.signers["strict.test"].sign(make_mail(sender="ops@strict.test"))
    assert authenticate(config, raw, smtp("bounce@mail.strict.test")).verdict == "pass"


def test_subdomain_uses_the_organisational_record(config, zones):
    raw = zones.signers["pass.test"].sign(make_mail(sender="ann@sub.pass.test"))
    auth = authenticate(config, raw, smtp("ann@sub.pass.test", client="192.0.2.99"))
    assert (auth.dmarc, auth.policy, auth.verdict) == ("pass", "reject", "pass")


def test_dns_timeout_is_temperror_and_bounded(config):
    t0 = time.monotonic()
    auth = authenticate(config, make_mail(sender="x@slow.test"), smtp("x@slow.test"))
    assert auth.spf == "temperror" and (auth.dmarc, auth.verdict) == ("temperror", "temperror")
    assert "did not answer" in auth.note
    assert time.monotonic() - t0 < 6  # per look-up timeout 1 s: SPF and DMARC, not minutes


def test_servfail_is_temperror(config):
    auth = authenticate(config, make_mail(sender="x@broken.test"), smtp("x@broken.test"))
    assert (auth.spf, auth.verdict) == ("temperror", "temperror")


def test_pipe_and_upload_have_no_spf(config, zones):
    raw = zones.signers["pass.test"].sign(make_mail(sender="demo@pass.test"))
    auth = authenticate(config, raw, Transport(source="pipe", mail_from="demo@pass.test"))
    assert auth.spf == "none" and auth.verdict == "pass"  # DKIM alone carries it


def test_no_from_domain(config):
    auth = authenticate(config, b"Subject: x\r\n\r\nbody\r\n", smtp("a@pass.test"))
    assert auth.verdict == "none" and "no From address" in auth.note


def test_json_shape_is_the_fixed_one(config, zones):
    raw = zones.signers["pass.test"].sign(make_mail(sender="demo@pass.test"))
    data = authenticate(config, raw, smtp("demo@pass.test")).to_json()
    assert {"spf", "dkim", "dmarc", "aligned", "verdict", "source"} <= set(data)
    assert data["dkim"] == [{"domain": "pass.test", "result": "pass"}] and data["aligned"] is True


def test_answers_are_cached_per_process(dns_server):
    resolver = Resolver((dns_server.address,), 1.0)
    resolver.txt("_dmarc.pass.test")
    hits, _ = resolver.cache_statistics()
    resolver.txt("_dmarc.pass.test")
    assert resolver.cache_statistics()[0] == hits + 1
    with pytest.raises(DnsTemporary):
        resolver.txt("_dmarc.slow.test")


def test_hostile_headers_are_bounded_and_never_raise(config, zones, mail):
    import dataclasses

    junk = "".join(f"DKIM-Signature: v=1; d=pass.test; s=sel{i}; b=!!;;;\r\n" for i in range(50))
    junk += "".join(f"Authentication-Results: mx.test; dmarc=pass header.from=pass.test ({i})\r\n" for i in range(200))
    junk += "DKIM-Signature: \x00\xff garbage\r\nAuthentication-Results: ;;;\r\n"
    raw = junk.encode("latin-1") + mail(sender="demo@pass.test")
    upstream = dataclasses.replace(config, authserv_id="mx.test")
    auth = authenticate(upstream, raw, smtp("mallory@evil.test"))
    assert auth.source == "verified"  # in the milter, unbound claims are not believed
    assert len(auth.dkim) == 5 and {s.result for s in auth.dkim} <= {"permerror", "fail"}
    assert auth.verdict == "fail"
