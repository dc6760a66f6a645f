"""DKIM (RFC 6376): every signature of the message verified by dkimpy, its keys fetched through our resolver."""

from __future__ import annotations

import logging

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from mailgate.shared.senderauth.resolver import DnsTemporary, Resolver
from mailgate.shared.senderauth.result import DkimSignature

MAX_SIGNATURES = 5  # a message may carry many; each costs a key look-up and an RSA check
_quiet = logging.getLogger("mailgate.senderauth.dkimpy")
_quiet.setLevel(logging.CRITICAL)


class _Keys:
    """dkimpy's `dnsfunc`: the key record, or None; a DNS problem escapes dkimpy as DnsTemporary."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.missing = False

    def __call__(self, name: bytes, timeout: float = 5) -> bytes | None:
        records = self.resolver.txt(name)  # DnsTemporary is not a DKIMException: dkimpy lets it through
        if not records:
            self.missing = True
            return None
        return records[0].encode("utf-8")


def _signing_domain(value: bytes) -> str:
    try:
        tags = parse_tag_value(value)
    except InvalidTagValueList:
        return ""
    return tags.get(b"d", b"").decode("ascii", "replace").strip().lower().rstrip(".")


def check_dkim(resolver: Resolver, raw: bytes) -> list[DkimSignature]:
    """One entry per DKIM-Signature (the first MAX_SIGNATURES), top first."""
    end = raw.find(b"\n\n")
    head = raw[:end if end >= 0 else len(raw)].lower()
    if not head.startswith(b"dkim-signature:") and b"\ndkim-signature:" not in head:
        return []  # unsigned: no need to have dkimpy read the whole message
    try:
        verifier = dkim.DKIM(raw, logger=_quiet, minkey=1024, timeout=resolver.timeout)
    except Exception:  # noqa: BLE001 -- a message dkimpy cannot even split has no verifiable signature
        return []
    signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    results = []
    for idx, value in enumerate(signatures[:MAX_SIGNATURES]):
        domain = _signing_domain(value)
        keys = _Keys(resolver)
        try:
            ok = verifier.verify(idx, dnsfunc=keys)
            result = "pass" if ok else ("permerror" if keys.missing else "fail")
        except DnsTemporary:
            result = "temperror"
        except dkim.ValidationError:
            result = "fail"  # body hash mismatch, expired, ...
        except dkim.DKIMException:
            result = "permerror"  # malformed signature or key
        except Exception:  # noqa: BLE001 -- hostile input dkimpy did not foresee: unverifiable, not a crash
            result = "permerror"
        results.append(DkimSignature(domain, result))
    return results
