"""The one address syntax: RFC 5322 (ASCII) and RFC 6531 (UTF-8), for what Mailgate writes and what it reads.

(`%{key}` incoming-address templates: tests/test_incoming.py.)"""

import pytest

from mailgate.shared.addresses import AddressError, is_addr_spec, split_address


@pytest.mark.parametrize("value", ["noreply@reply.example.com", "a.b+c@x-y.example", "o'brien@example.org",
                                   "x@localhost", "{tag}=!#$%&*/?^`|~@example.org"])
def test_addr_spec_accepts_dot_atoms_at_hostnames(value):
    assert is_addr_spec(value)


@pytest.mark.parametrize("value", ["", "plain", "a@", "@b.example", "a..b@example.org", ".a@example.org",
                                   "a.@example.org", "a b@example.org", "<a@example.org>", '"q"@example.org',
                                   "a@-x.example", "a@x-.example", "a@x..example", "a@example.org\n",
                                   "ü@example.org", "a@bücher.example", "a" * 65 + "@example.org",
                                   "a@" + "b" * 64 + ".example", "a@" + ".".join(["b" * 60] * 5)])
def test_addr_spec_refuses_everything_else(value):
    assert not is_addr_spec(value)


def test_rfc_6531_addresses_pass_only_when_utf8_is_allowed():
    for value in ("jörg@bücher.example", "用户@例子.广告", "ü.x@example.org"):
        assert not is_addr_spec(value) and is_addr_spec(value, utf8=True), value
    assert not is_addr_spec("j..ö@example.org", utf8=True)
    assert not is_addr_spec("ö" * 33 + "@example.org", utf8=True)  # 66 octets: over the local part's 64
    assert not is_addr_spec("a\ud800@example.org", utf8=True)  # a lone surrogate is no character


def test_split_address_reads_lowercased_and_refuses_what_could_smuggle_a_line():
    assert split_address(" <Bob.Work@Example.NET.> ") == ("bob.work", "example.net")
    assert split_address("x@localhost") == ("x", "localhost")
    for bad in ("a@b", "a@b.c\r\nBcc: x", "a b@c.d", "a..b@c.d", "a@b_c.d", "a" * 65 + "@c.d", "a@@c.d"):
        with pytest.raises(AddressError):
            split_address(bad)
