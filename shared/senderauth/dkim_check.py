"""DKIM (RFC 6376): every signature of the message verified by dkimpy, its keys fetched through our resolver."""

from __future__ import annotations

import base64
import functools
import logging

import dkim
from dkim.crypto import parse_public_key
from dkim.util import InvalidTagValueList, parse_tag_value

from mailgate.shared.senderauth.head import signed
from mailgate.shared.senderauth.resolver import DnsTemporary, Resolver
from mailgate.shared.senderauth.result import DkimSignature

MAX_SIGNATURES = 5  # a message may carry many; each costs a key look-up and an RSA check
# RSA verification is pow(signature, e, n) with the sender's own numbers: an 8192-bit n and e cost a
# second of CPU, 16384 bits eight. RFC 8301 3.2 asks verifiers for 1024 to 4096 bits; real keys use 65537.
MAX_KEY_BITS = 4096
MAX_EXPONENT_BITS = 32
_quiet = logging.getLogger("mailgate.senderauth.dkimpy")
_quiet.setLevel(logging.CRITICAL)


class _Keys:
    """dkimpy's `dnsfunc`: the key record, or None; a DNS problem escapes dkimpy as DnsTemporary."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.missing = False

    def __call__(self, name: bytes, timeout: float = 5) -> bytes | None:
        records = self.resolver.txt(name)  # DnsTemporary is not a DKIMException: dkimpy lets it through
        if not records or _too_costly(records[0].encode("utf-8")):
            self.missing = True  # no usable key: permerror
            return None
        return records[0].encode("utf-8")


@functools.lru_cache(maxsize=4096)  # a key record is read once per domain, not once per message
def _too_costly(record: bytes) -> bool:
    """An RSA key past MAX_KEY_BITS or with an exponent past MAX_EXPONENT_BITS (dkimpy reads the key)."""
    try:
        tags = parse_tag_value(record)
        if tags.get(b"k", b"rsa").strip() != b"rsa":
            return False
        key = parse_public_key(base64.b64decode(b"".join(tags[b"p"].split())))
    except Exception:  # noqa: BLE001 -- not a key dkimpy can read: it says so itself
        return False
    return key["modulus"].bit_length() > MAX_KEY_BITS or key["publicExponent"].bit_length() > MAX_EXPONENT_BITS


def _signing_domain(value: bytes) -> str:
    try:
        tags = parse_tag_value(value)
    except InvalidTagValueList:
        return ""
    return tags.get(b"d", b"").decode("ascii", "replace").strip().lower().rstrip(".")


def check_dkim(resolver: Resolver, raw: bytes) -> list[DkimSignature]:
    """One entry per DKIM-Signature (the first MAX_SIGNATURES), top first."""
    if not signed(raw):
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
