"""MAILGATE_MAILERS: the list of mailer entries, read and checked once at start-up.

The entry schema follows Phabricator's `cluster.mailers` (docs/outbound.md,
"Mailers"): `key`, `type`, `priority`, `options`, `inbound`, `outbound`,
`media` and `message-id`. A mistake anywhere is a ConfigError naming
MAILGATE_MAILERS and the mailer's key, so an operator learns it when the
process starts, not at the first notification.

Options hold secrets (API keys, tokens, passwords): MailerConfig keeps them
out of its repr, and `fingerprint()` is the only form of a secret that may
be shown or logged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from mailgate.shared import mailer_options

MAILER_TYPES = ("smtp", "sendmail", "test", "postmark", "mailgun", "sendgrid", "ses")
API_TYPES = ("postmark", "mailgun", "sendgrid", "ses")
MEDIA = ("email",)  # Mailgate only sends email; Phabricator's "sms" has no mailer here
ENTRY_KEYS = ("key", "type", "priority", "options", "inbound", "outbound", "media", "message-id")

# Whether a type keeps the Message-ID Mailgate sets, when the entry does not say.
# Amazon SES replaces any Message-ID with its own (its "header fields" documentation).
MESSAGE_ID_DEFAULT = {"ses": False}


@dataclass(frozen=True)
class MailerConfig:
    """One entry of MAILGATE_MAILERS, validated; `options` never appears in a repr."""

    key: str
    type: str
    priority: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    inbound: bool = True
    outbound: bool = True
    media: tuple[str, ...] = MEDIA
    message_id: bool = True

    @property
    def sends_email(self) -> bool:
        """Whether the outbound worker and send-test may use this entry."""
        return self.outbound and "email" in self.media

    def secret_fingerprints(self) -> dict[str, str]:
        """Each secret option's fingerprint (never its value), for `mailgate check` and the Health page."""
        return {name: fingerprint(str(value)) for name, value in self.options.items()
                if name in mailer_options.SECRETS and value}


def fingerprint(secret: str) -> str:
    """Identifies a secret without revealing it: 8 hex digits of a domain-separated SHA-256."""
    digest = hashlib.sha256(b"mailgate-secret-fingerprint:" + secret.encode("utf-8")).hexdigest()
    return f"{digest[:4]}:{digest[4:8]}"


def _flag(var: str, key: str, item: Mapping[str, Any], name: str, default: bool) -> bool:
    value = item.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _error(var, key, f"{name} must be true or false (a JSON boolean, not a string), got {value!r}")
    return value


def _media(var: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return MEDIA
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise _error(var, key, 'media must be a list of strings, e.g. ["email"]')
    unknown = [m for m in value if m not in MEDIA]
    if unknown:
        raise _error(var, key, f"media {unknown[0]!r} is not sent by Mailgate (known: {', '.join(MEDIA)})")
    return tuple(value)


def _error(var: str, key: str, problem: str) -> Exception:
    from mailgate.shared.config import ConfigError  # config imports this module

    return ConfigError(var, f"mailer {key!r}: {problem}")


def parse_entry(var: str, index: int, item: Any, seen: set[str]) -> MailerConfig:
    """One entry of the list, checked; raises ConfigError naming `var` and the mailer."""
    from mailgate.shared.config import ConfigError

    if not isinstance(item, dict):
        raise ConfigError(var, f"mailer #{index + 1} is not an object")
    key = item.get("key")
    if not isinstance(key, str) or not key:
        raise ConfigError(var, f"mailer #{index + 1} needs a non-empty string 'key'")
    if key in seen:
        raise ConfigError(var, f"mailer key {key!r} is used twice")
    seen.add(key)
    unknown = sorted(set(item) - set(ENTRY_KEYS))
    if unknown:
        raise _error(var, key, f"unknown entry key {unknown[0]!r} (known: {', '.join(ENTRY_KEYS)}; "
                     "a type's settings go in \"options\")")
    mtype = item.get("type")
    if mtype not in MAILER_TYPES:
        raise _error(var, key, f"type must be one of {', '.join(MAILER_TYPES)}")
    priority = item.get("priority")
    if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
        raise _error(var, key, "priority must be an integer or absent")
    options = item.get("options")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise _error(var, key, "options must be an object")
    inbound = _flag(var, key, item, "inbound", True)
    outbound = _flag(var, key, item, "outbound", True)
    message_id = _flag(var, key, item, "message-id", MESSAGE_ID_DEFAULT.get(mtype, True))
    media = _media(var, key, item.get("media"))
    # null is "not set": dropped here, so every transport applies its own default (a None
    # reaching one read "verify": null as false, and "args": null crashed).
    given = {name: value for name, value in options.items() if value is not None}
    wrong = mailer_options.problem(mtype, options) or mailer_options.missing(mtype, given, inbound, outbound)
    if wrong:
        raise _error(var, key, wrong)
    return MailerConfig(key=key, type=mtype, priority=priority, options=given, inbound=inbound,
                        outbound=outbound, media=media, message_id=message_id)


def parse_mailers(var: str, value: str | None) -> tuple[MailerConfig, ...]:
    """The whole MAILGATE_MAILERS value (a JSON list); () when unset or blank."""
    from mailgate.shared.config import ConfigError

    if value is None or not value.strip():
        return ()
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(var, f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, list):
        raise ConfigError(var, "expected a JSON list of mailers")
    seen: set[str] = set()
    return tuple(parse_entry(var, i, item, seen) for i, item in enumerate(data))
