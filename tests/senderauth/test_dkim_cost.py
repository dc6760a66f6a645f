"""A sender's own DKIM key cannot make verification cost seconds of CPU.

RSA verification is pow(signature, e, n) with the key's exponent and
modulus; a domain may publish any numbers it likes. A 8192-bit modulus
with an 8192-bit exponent costs about a second per signature (a 16384-bit
pair eight), under the GIL the milter's sessions share. RFC 8301 asks
verifiers for keys up to 4096 bits; real keys use e = 65537.
"""

from __future__ import annotations

import base64
import re
import secrets
import time

from dnszones import DnsServer, make_signer
from mailgate.shared.senderauth.dkim_check import check_dkim
from mailgate.shared.senderauth.resolver import Resolver

from ..conftest import make_mail

BITS = 8192
SELECTORS = 5


def _der_int(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return b"\x02" + _der_len(len(body)) + body


def _der_len(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _costly_key_record() -> str:
    """An RSAPublicKey (RFC 8017) whose modulus and exponent are both BITS long: odd numbers, no primes."""
    n = secrets.randbits(BITS) | (1 << (BITS - 1)) | 1
    e = secrets.randbits(BITS) | (1 << (BITS - 1)) | 1
    seq = _der_int(n) + _der_int(e)
    der = b"\x30" + _der_len(len(seq)) + seq
    p = base64.b64encode(der).decode()
    return "v=DKIM1; k=rsa; p=" + p


def _txt(value: str) -> str:
    return " ".join(f'"{value[i:i + 250]}"' for i in range(0, len(value), 250))


def test_a_published_key_too_costly_to_use_is_a_permerror_at_no_cost(tmp_path):
    signer = make_signer("costly.test", tmp_path)
    raw = make_mail(sender="someone@costly.test")
    signatures = b""
    for i in range(SELECTORS):  # a correct body hash, so that dkimpy goes on to the RSA step
        header = signer.sign(raw, selector=f"big{i}")[: -len(raw)]
        header = re.sub(rb"b=[A-Za-z0-9+/=\s]+$", b"b=" + base64.b64encode(secrets.token_bytes(BITS // 8)) + b"\n",
                        header.rstrip(b"\r\n"))
        signatures += header
    zone = "$TTL 60\n" + "".join(f"big{i}._domainkey.costly.test. 60 IN TXT {_txt(_costly_key_record())}\n"
                                  for i in range(SELECTORS))
    with DnsServer(zone) as server:
        resolver = Resolver((server.address,), 2.0)
        started = time.process_time()
        results = check_dkim(resolver, signatures + raw)
        spent = time.process_time() - started
    assert spent < 1.0, spent
    assert [(s.domain, s.result) for s in results] == [("costly.test", "permerror")] * SELECTORS
