"""SPF (RFC 7208) for the client address, the HELO name and MAIL FROM, with pyspf over our resolver.

pyspf looks names up through its module-level `DNSLookup` function, which it
picks at import (dnspython or pydns) and which is its one point of extension.
Ours sends each look-up to the `Resolver` of the check in progress (a context
variable, so concurrent session threads each use their own), and says
TempError when the resolver has no answer now, which pyspf reports as
`temperror`.
"""

from __future__ import annotations

import contextvars
import ipaddress

import spf

from mailgate.shared.senderauth.resolver import DnsTemporary, Resolver

_current: contextvars.ContextVar[Resolver | None] = contextvars.ContextVar("mailgate_spf_resolver", default=None)
_pyspf_lookup = spf.DNSLookup


def _lookup(name: str, qtype: str, strict: bool = True, timeout: float = 20) -> list:
    """pyspf's DNSLookup contract: [((name, type), data), ...]; spf.TempError when unanswered."""
    resolver = _current.get()
    if resolver is None:  # pyspf used by someone else in this process: its own look-up
        return _pyspf_lookup(name, qtype, strict, timeout)
    try:
        records = resolver.answers(name, "TXT" if qtype == "SPF" else qtype)
    except DnsTemporary as exc:
        raise spf.TempError(f"DNS {exc}") from None
    out = []
    for r in records:
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), r.address))
        elif qtype == "MX":
            out.append(((name, qtype), (r.preference, r.exchange)))
        elif qtype == "PTR":
            out.append(((name, qtype), r.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), r.strings))
    return out


spf.DNSLookup = _lookup


def spf_domain(mail_from: str | None, helo: str) -> str:
    """The identity SPF checks: MAIL FROM's domain, or the HELO name for the null sender."""
    if mail_from and "@" in mail_from:
        return mail_from.rsplit("@", 1)[1].lower().rstrip(".")
    return (helo or "").lower().rstrip(".")


def check_spf(resolver: Resolver, client_addr: str, helo: str, mail_from: str | None) -> str:
    """The SPF result word; `none` when the client address or both identities are unknown (pipe, upload)."""
    try:
        ipaddress.ip_address(client_addr)
    except ValueError:
        return "none"
    if not spf_domain(mail_from, helo):
        return "none"
    token = _current.set(resolver)
    try:
        # querytime: the whole check's budget (RFC 7208 4.6.4 asks for one); timeout: each look-up's.
        result, _explanation = spf.check2(i=client_addr, s=mail_from or "", h=helo or "",
                                          timeout=resolver.timeout, querytime=resolver.timeout * 2)
    except DnsTemporary:
        return "temperror"
    finally:
        _current.reset(token)
    result = (result or "none").lower()
    return result if result in ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror") else "permerror"
