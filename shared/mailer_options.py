"""What each mailer type accepts in its `options`, checked when MAILGATE_MAILERS is read.

The transports (shared/outbound/mailers.py) coerce their options with
int()/float()/bool(), which turns a typo into a traceback at the first send
(`"port": "abc"`), or worse into the opposite setting (`"ssl": "false"` is
truthy, `"args": "-v"` becomes `["-", "v"]`). Checking the JSON types here
makes a bad value a ConfigError naming MAILGATE_MAILERS and the mailer, at
start-up. `null` counts as absent (the transport's default applies).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

Check = Callable[[Any], "str | None"]  # the problem with a value, or None when it is fine


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _nonempty_string(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


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


# Aliases the transports accept (username/user, tls/ssl, path/binary) are listed too.
OPTIONS: dict[str, dict[str, Check]] = {
    "smtp": {"host": _nonempty_string, "port": _port, "user": _string, "username": _string,
             "password": _string, "starttls": _boolean, "ssl": _boolean, "tls": _boolean,
             "timeout": _positive, "verify": _boolean, "local_hostname": _nonempty_string},
    "sendmail": {"binary": _nonempty_string, "path": _nonempty_string, "args": _string_list,
                 "timeout": _positive},
    "test": {"log": _string, "fail": _one_of("temporary", "permanent"), "delay": _not_negative},
}


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
            return f"options.{name} {wrong}, got {value!r}"
    if mailer_type == "smtp" and options.get("ssl") and options.get("starttls"):
        return "options.ssl and options.starttls exclude each other (ssl: TLS from the start, port 465; " \
               "starttls: upgrade a plain connection, port 587)"
    return None
