"""What the inbound webhooks (`mailgate ingress`) may trust, read from the MAILGATE_MAILERS entries.

A postmark, mailgun or sendgrid entry with `"inbound": true` (the default)
says how that service proves a webhook request is its own:

- postmark: the request comes from one of `inbound-addresses` (Postmark's
  published inbound ranges by default), and, when `inbound-user` is set,
  carries those HTTP Basic credentials (put them in the webhook URL).
- mailgun: the payload's signature is an HMAC-SHA256 under `signing-key`
  (the "HTTP webhook signing key"); without one, `api-key` (older Mailgun
  accounts signed with the API key).
- sendgrid: the Inbound Parse URL carries `inbound-user`/`inbound-password`
  as HTTP Basic credentials.

The values were checked at start-up (shared/mailer_config.py); this module
only hands them out, typed, and compares credentials in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from typing import Sequence, Union

from mailgate.shared.config import MailerConfig, Settings

# Postmark's inbound webhook source addresses (its "IPs for firewalls" support article), as
# Phabricator ships them; an entry's options.inbound-addresses replaces the list.
POSTMARK_INBOUND_ADDRESSES = ("50.31.156.6/32", "50.31.156.77/32", "18.217.206.57/32", "3.134.147.250/32")

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def _same(given: str | None, expected: str | None) -> bool:
    """Constant-time equality of two secrets (both must be present)."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic credentials a webhook URL must carry; secrets stay out of the repr."""

    user: str
    password: str = field(repr=False)

    def matches(self, user: str | None, password: str | None) -> bool:
        """Both compared in full, in constant time (no early exit on a wrong user)."""
        user_ok = _same(user, self.user)
        password_ok = _same(password, self.password)
        return user_ok and password_ok


@dataclass(frozen=True)
class PostmarkInbound:
    key: str
    networks: tuple[Network, ...]
    basic_auth: BasicAuth | None = None

    def allows_address(self, address: str) -> bool:
        """Whether a request's source address is one Postmark sends webhooks from."""
        try:
            ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)


@dataclass(frozen=True)
class MailgunInbound:
    key: str
    signing_key: str = field(repr=False)  # options.signing-key, else options.api-key


@dataclass(frozen=True)
class SendgridInbound:
    key: str
    basic_auth: BasicAuth | None = None


InboundCredentials = Union[PostmarkInbound, MailgunInbound, SendgridInbound]
INBOUND_TYPES = ("postmark", "mailgun", "sendgrid")


def _basic_auth(options: dict) -> BasicAuth | None:
    user, password = options.get("inbound-user"), options.get("inbound-password")
    return BasicAuth(user, password) if user and password else None


def _of(config: MailerConfig) -> InboundCredentials:
    options = dict(config.options)
    if config.type == "postmark":
        given = options.get("inbound-addresses")
        ranges = POSTMARK_INBOUND_ADDRESSES if given is None else given
        networks = tuple(ipaddress.ip_network(r.strip(), strict=False) for r in ranges)
        return PostmarkInbound(config.key, networks, _basic_auth(options))
    if config.type == "mailgun":
        return MailgunInbound(config.key, options.get("signing-key") or options["api-key"])
    return SendgridInbound(config.key, _basic_auth(options))


def inbound_credentials(settings: Settings | Sequence[MailerConfig], mailer_type: str) -> list[InboundCredentials]:
    """The inbound credentials of every entry of `mailer_type` that serves inbound mail, in configured order.

    An empty list means the webhook for that service is not configured and
    must refuse every request.
    """
    if mailer_type not in INBOUND_TYPES:
        raise ValueError(f"no inbound webhook for mailer type {mailer_type!r} (known: {', '.join(INBOUND_TYPES)})")
    configs = settings.mailers if isinstance(settings, Settings) else settings
    return [_of(c) for c in configs if c.type == mailer_type and c.inbound]
