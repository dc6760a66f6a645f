"""What each mailer type accepts in its `options`, checked when MAILGATE_MAILERS is read.

The transports (shared/outbound/mailers.py) coerce their options with
int()/float()/bool(), which turns a typo into a traceback at the first send
(`"port": "abc"`), or worse into the opposite setting (`"ssl": "false"` is
truthy, `"args": "-v"` becomes `["-", "v"]`). Checking the JSON types here
makes a bad value a ConfigError naming MAILGATE_MAILERS and the mailer, at
start-up. `null` counts as absent (the transport's default applies).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Mapping

Check = Callable[[Any], "str | None"]  # the problem with a value, or None when it is fine


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _nonempty_string(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _credential(value: Any) -> str | None:
    """A key the API is given in an HTTP header: visible ASCII only (else the HTTP library's error quotes it)."""
    if isinstance(value, str) and value and all("!" <= c <= "~" for c in value):
        return None
    return "must be the key as the service shows it: letters, digits and punctuation, no spaces or line breaks"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false (a JSON boolean, not a string)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _port(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return None
    return "must be a whole number from 1 to 65535"


def _positive(value: Any) -> str | None:
    return None if _is_number(value) and value > 0 else "must be a number of seconds above 0"


def _not_negative(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else "must be a number of seconds, 0 or more"


def _string_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(a, str) for a in value):
        return None
    return 'must be a list of strings (e.g. ["-v"])'


def _one_of(*allowed: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(repr(a) for a in allowed)}"
    return check


def _cidr_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        return 'must be a list of addresses or networks (e.g. ["50.31.156.6/32"])'
    for item in value:
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            return f"has {item!r}, which is not an IP address or network (CIDR)"
    return None


_URL = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[^\s?#]*)?$")


def _endpoint(value: Any) -> str | None:
    """A base URL without credentials, query or fragment: it is shown in checks and errors."""
    if isinstance(value, str) and _URL.match(value.strip()) and "@" not in value:
        return None
    return "must be an http:// or https:// base URL without user, password, query or fragment"


_HOST = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                   r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def _hostname(value: Any) -> str | None:
    return None if isinstance(value, str) and _HOST.match(value) else "must be a host name (e.g. api.eu.mailgun.net)"


def _region(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", value):
        return None
    return "must be an AWS region name (e.g. eu-west-1)"


# Options whose values are secrets: never echoed in an error, shown only as fingerprints.
SECRETS = frozenset({"password", "access-token", "api-key", "signing-key", "secret-key", "inbound-password"})

_API = {"endpoint": _endpoint, "timeout": _positive}

# Aliases the transports accept (username/user, tls/ssl, path/binary) are listed too.
OPTIONS: dict[str, dict[str, Check]] = {
    "smtp": {"host": _nonempty_string, "port": _port, "user": _string, "username": _string,
             "password": _string, "starttls": _boolean, "ssl": _boolean, "tls": _boolean,
             "timeout": _positive, "verify": _boolean, "local_hostname": _nonempty_string},
    "sendmail": {"binary": _nonempty_string, "path": _nonempty_string, "args": _string_list,
                 "timeout": _positive},
    "test": {"log": _string, "fail": _one_of("temporary", "permanent"), "delay": _not_negative},
    "postmark": {**_API, "access-token": _credential, "inbound-addresses": _cidr_list,
                 "inbound-user": _nonempty_string, "inbound-password": _nonempty_string},
    "mailgun": {**_API, "api-key": _credential, "domain": _hostname, "api-hostname": _hostname,
                "signing-key": _nonempty_string},
    "sendgrid": {**_API, "api-key": _credential, "inbound-user": _nonempty_string,
                 "inbound-password": _nonempty_string},
    "ses": {**_API, "access-key": _credential, "secret-key": _credential, "region": _region},
}

# What an entry cannot work without, per direction it serves.
_NEEDED_OUT = {"postmark": ("access-token",), "mailgun": ("api-key", "domain"), "sendgrid": ("api-key",),
               "ses": ("region",)}
_PAIRS = (("inbound-user", "inbound-password"), ("access-key", "secret-key"))


def problem(mailer_type: str, options: Mapping[str, Any]) -> str | None:
    """The first thing wrong with `options` for `mailer_type`, as a phrase for ConfigError; None if fine."""
    allowed = OPTIONS[mailer_type]
    for name, value in options.items():
        if name not in allowed:
            return f"unknown option {name!r} for type {mailer_type} (known: {', '.join(sorted(allowed))})"
        if value is None:
            continue
        wrong = allowed[name](value)
        if wrong:
            shown = "a value that is not one (not shown: it is a secret)" if name in SECRETS else repr(value)
            return f"options.{name} {wrong}, got {shown}"
    if mailer_type == "smtp" and options.get("ssl") and options.get("starttls"):
        return "options.ssl and options.starttls exclude each other (ssl: TLS from the start, port 465; " \
               "starttls: upgrade a plain connection, port 587)"
    return None


def missing(mailer_type: str, options: Mapping[str, Any], inbound: bool, outbound: bool) -> str | None:
    """What a type needs for the directions it serves and is not given, as a phrase; None if complete."""
    if outbound:
        for name in _NEEDED_OUT.get(mailer_type, ()):
            if not options.get(name):
                return f"type {mailer_type} needs options.{name} to send (or set \"outbound\": false)"
    for first, second in _PAIRS:
        if first in OPTIONS[mailer_type] and bool(options.get(first)) != bool(options.get(second)):
            return f"options.{first} and options.{second} go together: set both or neither"
    if inbound and mailer_type == "mailgun" and not (options.get("signing-key") or options.get("api-key")):
        return "type mailgun needs options.signing-key (or api-key) to verify inbound webhooks " \
               "(or set \"inbound\": false)"
    return None
