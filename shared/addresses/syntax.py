"""Address syntax: RFC 5322 (ASCII) and RFC 6531 (UTF-8), one grammar for every place Mailgate reads or writes one.

Three uses, three strictnesses, built from the same pieces:

- `is_addr_spec`: what Mailgate itself puts in an envelope (MAIL FROM, a
  send-test RCPT): a dot-atom local part and a hostname, within RFC 5321's
  lengths; ASCII, unless `utf8` (RFC 6531, for a relay that offers SMTPUTF8).
  Checking where a value enters (configuration, the CLI) turns what would be
  an encoding error in the middle of an SMTP session into a one-line message.
- `split_address`: an address mail was sent to or from (a recipient, a From):
  lowercased, a dot-atom local part, a domain of letters, digits, dots and
  hyphens -- looser than a hostname, so that a sloppy domain is compared and
  refused by look-up rather than by syntax, and no space or line break can pass.
- `ADDR_SPEC`: the plain `local@domain` a header fast path recognises
  (`message.header_addresses`), leaving anything else to the email package.
"""

from __future__ import annotations

import re

ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322 3.2.3
UTF8_NON_ASCII = "[\u0080-\ud7ff\ue000-\U0010ffff]"  # RFC 6532 3.1: any non-ASCII character (no surrogates)
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # RFC 1035 2.3.1 letters, digits, hyphens


def dot_atom(atext: str) -> str:
    """RFC 5322 3.2.3: atoms of `atext` joined by single dots."""
    return rf"{atext}+(?:\.{atext}+)*"


DOT_ATOM = dot_atom(ATEXT)
HOSTNAME = rf"{LABEL}(?:\.{LABEL})*"
ADDR_SPEC = rf"{DOT_ATOM}@{HOSTNAME}"  # no capturing group: safe to embed

_UTF8_ATEXT = rf"(?:{ATEXT}|{UTF8_NON_ASCII})"
_UTF8_LET_DIG = rf"(?:[A-Za-z0-9]|{UTF8_NON_ASCII})"
_UTF8_LABEL = rf"{_UTF8_LET_DIG}(?:(?:{_UTF8_LET_DIG}|-){{0,61}}{_UTF8_LET_DIG})?"  # a U-label (RFC 5890)

LOCAL_MAX = 64  # octets, RFC 5321 4.5.3.1.1
ADDRESS_MAX = 254  # octets: a path of 256 less its angle brackets (RFC 5321 4.5.3.1.3)

# fullmatch, never match with "$": "$" also matches before a last newline.
_ASCII = re.compile(ADDR_SPEC)
_UTF8 = re.compile(rf"{dot_atom(_UTF8_ATEXT)}@{_UTF8_LABEL}(?:\.{_UTF8_LABEL})*")
_READ_LOCAL = re.compile(DOT_ATOM)
_READ_DOMAIN = re.compile(r"[a-z0-9.-]+")


def is_addr_spec(value: str, *, utf8: bool = False) -> bool:
    """True for `local@domain` in dot-atom form within SMTP's length limits; ASCII only unless `utf8`.

    No display name, no angle brackets, no quoted local part, no comments:
    what goes in MAIL FROM / RCPT TO as it is.
    """
    if not isinstance(value, str):
        return False
    if not value.isascii() and not utf8:
        return False
    octets = len(value.encode("utf-8", "surrogatepass"))
    if octets > ADDRESS_MAX or not (_UTF8 if utf8 else _ASCII).fullmatch(value):
        return False
    return len(value.rpartition("@")[0].encode("utf-8")) <= LOCAL_MAX


class AddressError(ValueError):
    """An address is not syntactically usable; the message says why."""


def split_address(address: str) -> tuple[str, str]:
    """(local, domain) of an address mail came with, lowercased; raises AddressError on bad syntax."""
    addr = (address or "").strip().strip("<>").strip()
    if addr.count("@") != 1:
        raise AddressError(f"{address!r} is not an email address")
    local, domain = addr.rsplit("@", 1)
    local, domain = local.lower(), domain.lower().rstrip(".")
    if not local or not domain or "." not in domain and domain != "localhost":
        raise AddressError(f"{address!r} is not an email address")
    if len(local) > LOCAL_MAX or not _READ_LOCAL.fullmatch(local):
        raise AddressError(f"{address!r} has characters not allowed in an address")
    if not _READ_DOMAIN.fullmatch(domain):  # letters, digits, dots, hyphens: no space or newline can pass
        raise AddressError(f"{address!r} has an invalid domain")
    return local, domain


def normalise(address: str) -> str:
    local, domain = split_address(address)
    return f"{local}@{domain}"
