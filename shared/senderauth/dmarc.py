"""DMARC (RFC 7489): the From domain's policy record, identifier alignment, and the result.

The record is looked up at `_dmarc.<From domain>`, then at the organisational
domain (publicsuffixlist's registrable domain); alignment is relaxed
(same organisational domain) or strict (same name) as the record's adkim=
and aspf= say. This is policy logic over answers from our resolver: the DNS
and the cryptography stay with dnspython, pyspf and dkimpy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from publicsuffixlist import PublicSuffixList

from mailgate.shared.senderauth.resolver import Resolver
from mailgate.shared.senderauth.result import DkimSignature

POLICIES = ("none", "quarantine", "reject")


@functools.lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: no download at run time


def organisational_domain(domain: str) -> str:
    """The registrable domain (`mail.example.co.uk` -> `example.co.uk`); the name itself when it is a suffix."""
    domain = domain.lower().rstrip(".")
    return _psl().privatesuffix(domain) or domain


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    """Strict: the same name. Relaxed: the same organisational domain."""
    a, b = identifier.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not a or not b:
        return False
    return a == b if mode == "s" else organisational_domain(a) == organisational_domain(b)


@dataclass(frozen=True)
class Record:
    domain: str  # where it was found
    policy: str  # p=, or sp= for a subdomain found at its organisational domain
    adkim: str = "r"
    aspf: str = "r"


def parse_record(text: str) -> dict[str, str] | None:
    """The tags of a DMARC record, or None when it is not one (v=DMARC1 must come first)."""
    tags: dict[str, str] = {}
    for i, part in enumerate(p.strip() for p in text.split(";")):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            return None if i == 0 else tags
        name, value = name.strip().lower(), value.strip()
        if i == 0 and (name != "v" or value != "DMARC1"):
            return None
        tags.setdefault(name, value)
    return tags or None


def _record_at(resolver: Resolver, domain: str) -> dict[str, str] | None:
    """RFC 7489 6.6.3: exactly one DMARC record, or none."""
    found = [t for t in (parse_record(txt) for txt in resolver.txt(f"_dmarc.{domain}")) if t is not None]
    return found[0] if len(found) == 1 else None


def find_record(resolver: Resolver, from_domain: str) -> Record | None:
    """The policy that applies to `from_domain`; DnsTemporary when it could not be asked."""
    org = organisational_domain(from_domain)
    tags, at = _record_at(resolver, from_domain), from_domain
    if tags is None and org != from_domain:
        tags, at = _record_at(resolver, org), org
    if tags is None:
        return None
    policy = tags.get("p", "").lower()
    if at != from_domain and tags.get("sp", "").lower() in POLICIES:
        policy = tags["sp"].lower()
    if policy not in POLICIES:
        if "rua" not in tags:  # 6.6.3: an invalid p= without a report address means no DMARC processing
            return None
        policy = "none"
    return Record(at, policy, "s" if tags.get("adkim", "r").lower() == "s" else "r",
                  "s" if tags.get("aspf", "r").lower() == "s" else "r")


@dataclass(frozen=True)
class Evaluation:
    result: str  # pass | fail | none | temperror
    aligned: bool
    policy: str


def evaluate(record: Record | None, from_domain: str, spf: str, spf_domain: str,
             dkim: list[DkimSignature]) -> Evaluation:
    """Alignment and the DMARC result, once the record (or its absence) is known."""
    adkim = record.adkim if record else "r"
    aspf = record.aspf if record else "r"
    dkim_ok = any(s.result == "pass" and aligned(s.domain, from_domain, adkim) for s in dkim)
    spf_ok = spf == "pass" and aligned(spf_domain, from_domain, aspf)
    is_aligned = dkim_ok or spf_ok
    if record is None:
        return Evaluation("none", is_aligned, "")
    if is_aligned:
        return Evaluation("pass", True, record.policy)
    # Nothing aligned passed; an aligned identifier we could not check may yet have passed.
    undecided = (spf == "temperror" and aligned(spf_domain, from_domain, aspf)) or any(
        s.result == "temperror" and aligned(s.domain, from_domain, adkim) for s in dkim)
    return Evaluation("temperror" if undecided else "fail", False, record.policy)
