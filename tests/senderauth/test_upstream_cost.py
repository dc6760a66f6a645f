"""Authentication-Results headers a sender writes cost next to nothing: only a header that may be ours is parsed."""

from __future__ import annotations

import time

from mailgate.shared.senderauth.upstream import believed

from .test_upstream import PASS


def _headers(*values: str) -> list[tuple[str, str]]:
    return [("Authentication-Results", v) for v in values] + [("From", "demo@pass.test")]


def test_a_quarter_megabyte_of_foreign_headers_is_not_parsed():
    """A milter sees every header the sender wrote; none carries this transaction's queue id."""
    many = ["mx.test; " + "; ".join(f"dkim=pass header.d=a{i}.test" for i in range(8000))]  # our id, unbound
    many += [f"mx.test.other{i}.test; spf=pass smtp.mailfrom=a@b.test" for i in range(4000)]  # our id inside
    started = time.process_time()
    assert believed(_headers(*many), "mx.test", "4ABC", "milter") == []
    assert time.process_time() - started < 0.3


def test_a_header_longer_than_any_verifier_writes_is_not_believed():
    long = "mx.test/4ABC; " + PASS + "; " + "; ".join(f"dkim=pass header.d=a{i}.test" for i in range(8000))
    started = time.process_time()
    assert believed(_headers(long), "mx.test", "4ABC", "milter") == []
    assert time.process_time() - started < 0.3
    assert len(believed(_headers(f"mx.test/4ABC; {PASS}"), "mx.test", "4ABC", "milter")) == 1
