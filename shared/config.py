"""Settings, validated once at start-up, the same for every entry point.

Every entry point (CLI, milter, console, worker) reads its settings in one
order: the process environment first, then one configuration file, then the
defaults. The file is `MAILGATE_CONFIG` (empty: none), else
`/etc/mailgate/mailgate.env` when it exists; its format is in
docs/configuration.md. Every variable `MAILGATE_<NAME>` can instead be given
as a file path in `MAILGATE_<NAME>_FILE` (Docker/systemd secrets). A bad
value raises ConfigError naming the variable (and the file and line), so an
operator sees *which* knob is wrong instead of a traceback from deep inside
SQLAlchemy or pymilter.

Adding a setting: a field on `Settings` with its default, one line in
`from_env` reading it through the `_Reader` (`get`, `boolean`, `integer`,
`choice`), and a row in docs/configuration.md. A module with settings of its
own reads them through `reader()`; code that cannot take a Settings field
reads `settings.environ` (the same layered view); never os.environ.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from mailgate.shared.addresses import REPLY_PREFIX, RESERVED_LOCAL_PARTS, is_addr_spec
from mailgate.shared.mailer_config import MAILER_TYPES, MailerConfig, parse_mailers  # noqa: F401 (re-exported)
from mailgate.shared.ratelimit import Rate, RateError, parse_rate

PREFIX = "MAILGATE_"

DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
DEFAULT_MILTER_SOCKET = "unix:/var/spool/postfix/mailgate/milter.sock"
DEFAULT_REPLY_DOMAIN = "reply.mailgate.localhost"
DEFAULT_PURGE_AFTER_DAYS = 90  # retention of processed mail (docs/security.md)
DEFAULT_PURGE_REJECTED_AFTER_DAYS = 14  # ... and of rejected and ignored mail
DEFAULT_RATE_PER_CLIENT = "120/minute"  # messages for Mailgate per client IP, per milter process (docs/security.md)
DEFAULT_RATE_PER_SENDER = "30/minute"  # ... and per envelope sender
DEFAULT_CONFIG_FILE = Path("/etc/mailgate/mailgate.env")
DEFAULT_CONSOLE_URL = "http://127.0.0.1:8080"
CONFIG_VARIABLE = PREFIX + "CONFIG"
MAX_CONFIG_FILE_BYTES = 1024 * 1024

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class ConfigError(Exception):
    """A configuration value is missing or invalid; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    reply_domain: str
    domains: tuple[str, ...]
    secret_key: str = field(repr=False)
    reply_prefix: str = ""
    public_replies: bool = False
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    milter_socket: str = DEFAULT_MILTER_SOCKET
    mailers: tuple[MailerConfig, ...] = ()
    base_url: str = ""  # the application's own pages, for links in notifications ("": no link)
    console_url: str = DEFAULT_CONSOLE_URL  # where admins reach the console (https turns on secure cookies)
    ingress_url: str = ""  # where `mailgate ingress` is reached from the internet (one-click unsubscribe); "": none
    from_address: str = ""
    purge_after_days: int = DEFAULT_PURGE_AFTER_DAYS  # processed mail and finished notifications; 0: kept
    purge_rejected_after_days: int = DEFAULT_PURGE_REJECTED_AFTER_DAYS  # rejected and ignored mail; 0: kept
    reply_marker: str = "Reply above this line"  # the words of a notification's first line; "" = none
    trusted_proxies: int = 0
    rate_per_client: Rate | None = parse_rate(DEFAULT_RATE_PER_CLIENT)  # None: no limit
    rate_per_sender: Rate | None = parse_rate(DEFAULT_RATE_PER_SENDER)
    sender_auth: str = "report"  # off | report | require (docs/sender-auth.md)
    authserv_id: str = ""  # believe our MTA's Authentication-Results with exactly this authserv-id
    dns_servers: tuple[str, ...] = ()  # empty: the system resolver (resolv.conf)
    dns_timeout: float = 5.0
    incoming_address: str = ""  # GitLab's template with %{key}, a dedicated mailbox, or "" (shared/addresses/incoming.py)
    # Where these settings came from: the file read (None: none) and the layered
    # MAILGATE_* view (process environment over the file) for code reading a raw name.
    config_file: Path | None = None
    # repr=False: it holds secrets (MAILGATE_MAILERS' keys), which a logged or printed Settings must not show.
    environ: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)  # a dict: Settings is pickled

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def serves_domain(self, domain: str) -> bool:
        return domain.lower().rstrip(".") in self.domains


def _default_instance_path() -> Path:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/mailgate")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mailgate"


class _Reader:
    """Reads MAILGATE_<NAME> or MAILGATE_<NAME>_FILE from layers, the first layer that sets either wins.

    Per name, not per variable: a process environment that sets MAILGATE_SECRET_KEY_FILE
    overrides a file's MAILGATE_SECRET_KEY instead of clashing with it.
    """

    def __init__(self, *layers: Mapping[str, str]):
        self.layers = layers

    def _layer_for(self, var: str) -> Mapping[str, str]:
        for layer in self.layers:
            if var in layer or var + "_FILE" in layer:
                return layer
        return {}

    def get(self, name: str) -> str | None:
        var = PREFIX + name
        layer = self._layer_for(var)
        direct = layer.get(var)
        file_var = var + "_FILE"
        path = layer.get(file_var)
        if direct is not None and path is not None:
            raise ConfigError(var, f"set both {var} and {file_var}; keep one")
        if path is not None:
            try:
                return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(file_var, f"cannot read {path!r}: {exc.strerror}") from None
        return direct

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        """One of `choices` (compared lower-case); unset or empty is `default`."""
        value = self.get(name)
        if value is None or value.strip() == "":
            return default
        allowed = tuple(choices)
        v = value.strip().lower()
        if v not in allowed:
            raise ConfigError(PREFIX + name, f"expected one of {', '.join(allowed)}, got {value!r}")
        return v

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None or value.strip() == "":
            return default
        v = value.strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off"):
            return False
        raise ConfigError(PREFIX + name, f"expected a boolean (true/false), got {value!r}")

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        value = self.get(name)
        if value is None or value.strip() == "":
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise ConfigError(PREFIX + name, f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise ConfigError(PREFIX + name, f"must be at least {minimum}, got {number}")
        return number


def _domain(var: str, value: str) -> str:
    d = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(d):
        raise ConfigError(var, f"{value!r} is not a valid domain name")
    return d


def _url(var: str, value: str) -> str:
    """An http(s) URL without a trailing slash ("" stays "": not set)."""
    url = value.strip().rstrip("/")
    if url and not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(var, f"must start with http:// or https:// and name a host, got {value!r}")
    if any(c.isspace() for c in url):
        raise ConfigError(var, f"must not contain spaces, got {value!r}")
    return url


_AUTHSERV_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")


def _dns_servers(var: str, value: str | None) -> tuple[str, ...]:
    """Comma-separated IP addresses, each with an optional :port ([v6]:port)."""
    import ipaddress

    from mailgate.shared.senderauth.resolver import parse_server

    servers = []
    for item in (value or "").replace(" ", ",").split(","):
        if not item.strip():
            continue
        try:
            host, port = parse_server(item)
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(var, f"{item.strip()!r} is not an IP address (optionally :port)") from None
        if not 0 < port < 65536:
            raise ConfigError(var, f"{item.strip()!r}: port out of range")
        servers.append(item.strip())
    return tuple(servers)


def _dns_timeout(var: str, value: str | None) -> float:
    if value is None or not value.strip():
        return 5.0
    try:
        seconds = float(value.strip().rstrip("s"))
    except ValueError:
        raise ConfigError(var, f"expected seconds, got {value!r}") from None
    if not 0.1 <= seconds <= 60:
        raise ConfigError(var, f"between 0.1 and 60 seconds, got {value!r}")
    return seconds


def _reply_marker(value: str | None) -> str:
    """MAILGATE_REPLY_MARKER: a language code of the shipped wordings, your own words, or off."""
    from mailgate.shared.parsing.markers import DEFAULT_TEXT, TRANSLATIONS

    text = (value or "").strip()
    if not text:
        return DEFAULT_TEXT
    if text.lower() in ("off", "none", "false", "0"):
        return ""
    if text.lower() in TRANSLATIONS:
        return TRANSLATIONS[text.lower()]
    if len(text) > 80 or "##" in text or not text.isprintable():
        raise ConfigError(PREFIX + "REPLY_MARKER", "one line of at most 80 characters without '##' "
                          f"(or a language code: {', '.join(sorted(TRANSLATIONS))}; or off)")
    return text


def _secret_key(instance: Path, given: str | None) -> str:
    """The console's session key: given, or generated once into the instance folder."""
    if given:
        return given
    path = instance / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    except OSError:
        return secrets.token_hex(32)
    try:
        instance.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(key + "\n")
        return key
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        # Read-only instance folder: sessions then last one process lifetime.
        return secrets.token_hex(32)


def _rate(env, name: str, default: str) -> Rate | None:
    value = env.get(name)
    try:
        return parse_rate(default if value is None else value)
    except RateError as exc:
        raise ConfigError(PREFIX + name, str(exc)) from None


def _retention_days(env, name: str, default: int) -> int:
    days = env.integer(name, default)
    if 0 < days < 7:
        raise ConfigError(PREFIX + name, "0 (kept) or at least 7: senders retry for up to 5 days "
                          "and a purged message's dedupe claim goes with it")
    return days


# --- the configuration file -----------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNQUOTED_SPECIAL = set(" \t'\"\\$`;&|<>()")  # what sh would treat as syntax in an unquoted word
_DOUBLE_QUOTED_ESCAPES = {"\\": "\\", '"': '"', "$": "$", "`": "`"}


def _parse_value(raw: str) -> str:
    """One value as sh would read it, in the subset where sh and this reader agree; ValueError otherwise."""
    if raw.startswith("'"):
        end = raw.find("'", 1)
        if end < 0:
            raise ValueError("unterminated single quote (a value must fit on one line)")
        value, rest = raw[1:end], raw[end + 1:]
    elif raw.startswith('"'):
        out: list[str] = []
        i = 1
        while True:
            if i >= len(raw):
                raise ValueError("unterminated double quote (a value must fit on one line)")
            c = raw[i]
            if c == '"':
                break
            if c == "\\":
                nxt = raw[i + 1:i + 2]
                if nxt not in _DOUBLE_QUOTED_ESCAPES:
                    raise ValueError(f"backslash before {nxt!r} inside double quotes; use single quotes")
                out.append(_DOUBLE_QUOTED_ESCAPES[nxt])
                i += 2
                continue
            if c in "$`":
                raise ValueError(f"{c!r} inside double quotes would be expanded by a shell; use single quotes")
            out.append(c)
            i += 1
        value, rest = "".join(out), raw[i + 1:]
    else:
        word = re.match(r"[^\s#]*", raw).group(0)
        bad = sorted(set(word) & _UNQUOTED_SPECIAL)
        if bad:
            raise ValueError(f"{''.join(bad)!r} in an unquoted value; put the value in single quotes")
        value, rest = word, raw[len(word):]
    comment = rest[:1].isspace() and rest.lstrip().startswith("#")
    if rest.strip() and not comment:
        raise ValueError(f"unexpected {rest[:20]!r} after the value (one NAME=value per line; quote a value "
                         "with spaces; '#' comments after a space)")
    return value


def parse_config_text(text: str, origin: str) -> dict[str, str]:
    """`NAME=value` lines of a configuration file; ConfigError naming the file and line on anything else.

    The format is the part of sh syntax that sh, this reader and systemd's
    EnvironmentFile= read alike: so the file can also be sourced by scripts.
    """
    values: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue

        def fail(problem: str) -> ConfigError:
            return ConfigError(CONFIG_VARIABLE, f"{origin} line {number}: {problem}")

        if stripped.startswith("export "):
            stripped = stripped[len("export "):].lstrip()
        name, eq, raw = stripped.partition("=")
        if not eq or not _NAME.fullmatch(name):
            raise fail("expected NAME=value (no spaces around '=')")
        if not name.startswith(PREFIX):
            raise fail(f"{name} is not a Mailgate setting (names start with {PREFIX})")
        if name == CONFIG_VARIABLE:
            raise fail(f"{CONFIG_VARIABLE} names this file; it cannot be set inside it")
        if name in values:
            raise fail(f"{name} is set twice (first on line {first_line[name]}); keep one")
        try:
            values[name] = _parse_value(raw)
        except ValueError as exc:
            raise fail(f"{name}: {exc}") from None
        first_line[name] = number
    return values


def config_file_path(environ: Mapping[str, str], *, use_default: bool = True) -> Path | None:
    """The configuration file to read: MAILGATE_CONFIG (empty: none), else the default when it exists."""
    given = environ.get(CONFIG_VARIABLE)
    if given is not None:
        given = given.strip()
        return Path(given).expanduser() if given else None
    if not use_default:
        return None
    try:
        DEFAULT_CONFIG_FILE.stat()
    except FileNotFoundError:
        return None
    except OSError:
        return DEFAULT_CONFIG_FILE  # there, but not visible to this user: reading it says why
    return DEFAULT_CONFIG_FILE


def read_config_file(path: Path) -> dict[str, str]:
    """The settings in one configuration file; ConfigError (naming MAILGATE_CONFIG) when unusable."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(CONFIG_VARIABLE, f"{path} does not exist") from None
    except PermissionError:
        raise ConfigError(CONFIG_VARIABLE, f"cannot read {path}: permission denied (run as root or as a member "
                          f"of group mailgate, or set {CONFIG_VARIABLE}= to read none)") from None
    except OSError as exc:
        raise ConfigError(CONFIG_VARIABLE, f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_FILE_BYTES:
        raise ConfigError(CONFIG_VARIABLE, f"{path} is larger than {MAX_CONFIG_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(CONFIG_VARIABLE, f"{path} line {line}: not UTF-8") from None
    return parse_config_text(text, str(path))


def layered_environ(environ: Mapping[str, str] | None = None) -> tuple[Mapping[str, str], Mapping[str, str], Path | None]:
    """(process MAILGATE_* variables, the file's, the file) in the order every entry point reads them.

    `environ` None is this process's environment and allows the default file;
    a given mapping is a whole environment (tests, benchmarks): only a
    MAILGATE_CONFIG inside it names a file.
    """
    process = os.environ if environ is None else environ
    path = config_file_path(process, use_default=environ is None)
    from_file = read_config_file(path) if path is not None else {}
    return process, from_file, path


def reader(environ: Mapping[str, str] | None = None) -> _Reader:
    """A reader over the same layers as from_env, for a module that keeps its own settings (the IMAP poller's)."""
    process, from_file, _ = layered_environ(environ)
    return _Reader(process, from_file)


Reader = _Reader


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate Settings; raises ConfigError naming the bad variable.

    `environ` None: this process's environment, then the configuration file
    (see the module docstring); a mapping: that environment alone, plus the
    file its own MAILGATE_CONFIG names.
    """
    process, from_file, config_path = layered_environ(environ)
    env = _Reader(process, from_file)
    view = {**from_file, **{k: v for k, v in process.items() if k.startswith(PREFIX)}}

    instance_value = env.get("INSTANCE")
    instance = Path(instance_value).expanduser() if instance_value else _default_instance_path()
    # In this order: the first bad variable is the one named; the secret key is written only when all are good.
    url = _database_url(env, instance)
    reply_domain, domains = _domains(env)
    prefix = _reply_prefix(env)
    socket = _milter_socket(env)
    base_url = _url(PREFIX + "BASE_URL", env.get("BASE_URL") or "")
    console_url = _url(PREFIX + "CONSOLE_URL", env.get("CONSOLE_URL") or DEFAULT_CONSOLE_URL)
    ingress_url = _ingress_url(env)
    from_address = _from_address(env, reply_domain)
    reply_marker = _reply_marker(env.get("REPLY_MARKER"))
    purge_days = _retention_days(env, "PURGE_AFTER_DAYS", DEFAULT_PURGE_AFTER_DAYS)
    purge_rejected_days = _retention_days(env, "PURGE_REJECTED_AFTER_DAYS", DEFAULT_PURGE_REJECTED_AFTER_DAYS)
    from mailgate.shared.senderauth.policy import DEFAULT_MODE, MODES
    sender_auth = env.choice("SENDER_AUTH", MODES, DEFAULT_MODE)
    authserv_id = _authserv_id(env)
    incoming = _incoming_address(env)

    return Settings(
        instance_path=instance,
        database_url=url,
        reply_domain=reply_domain,
        domains=tuple(domains),
        secret_key=_secret_key(instance, env.get("SECRET_KEY")),
        reply_prefix=prefix,
        public_replies=env.boolean("PUBLIC_REPLIES", False),
        reply_marker=reply_marker,
        max_message_bytes=env.integer("MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES, minimum=1024),
        milter_socket=socket,
        mailers=parse_mailers(PREFIX + "MAILERS", env.get("MAILERS")),
        base_url=base_url,
        console_url=console_url,
        ingress_url=ingress_url,
        from_address=from_address,
        purge_after_days=purge_days,
        purge_rejected_after_days=purge_rejected_days,
        rate_per_client=_rate(env, "RATE_LIMIT_PER_CLIENT", DEFAULT_RATE_PER_CLIENT),
        rate_per_sender=_rate(env, "RATE_LIMIT_PER_SENDER", DEFAULT_RATE_PER_SENDER),
        trusted_proxies=env.integer("TRUSTED_PROXIES", 0),
        sender_auth=sender_auth,
        authserv_id=authserv_id,
        dns_servers=_dns_servers(PREFIX + "DNS_SERVERS", env.get("DNS_SERVERS")),
        dns_timeout=_dns_timeout(PREFIX + "DNS_TIMEOUT", env.get("DNS_TIMEOUT")),
        incoming_address=incoming,
        config_file=config_path,
        environ=view,
    )


def _database_url(env: _Reader, instance: Path) -> str:
    url = env.get("DATABASE_URL")
    if url is None or not url.strip():
        url = f"sqlite:///{instance / 'mailgate.db'}"
    url = url.strip()
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(PREFIX + "DATABASE_URL", "must start with sqlite:// or postgresql+psycopg://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _domains(env: _Reader) -> tuple[str, list[str]]:
    """The reply domain, and every domain Mailgate answers for (the reply domain first)."""
    reply_domain = _domain(PREFIX + "REPLY_DOMAIN", env.get("REPLY_DOMAIN") or DEFAULT_REPLY_DOMAIN)
    domains = [reply_domain]
    for d in (env.get("DOMAINS") or "").replace(",", " ").split():
        d = _domain(PREFIX + "DOMAINS", d)
        if d not in domains:
            domains.append(d)
    return reply_domain, domains


def _reply_prefix(env: _Reader) -> str:
    prefix = (env.get("REPLY_PREFIX") or "").strip().lower()
    if prefix and not REPLY_PREFIX.fullmatch(prefix):
        raise ConfigError(PREFIX + "REPLY_PREFIX", "letters, digits, '-' or '_' only (no '+')")
    if prefix in RESERVED_LOCAL_PARTS:
        raise ConfigError(PREFIX + "REPLY_PREFIX", f"{prefix!r} is a reserved name (postmaster, noreply, ...): "
                          "an address starting with it is never routed to an application")
    return prefix


def _milter_socket(env: _Reader) -> str:
    socket = (env.get("MILTER_SOCKET") or DEFAULT_MILTER_SOCKET).strip()
    if not (socket.startswith("unix:") or socket.startswith("inet:") or socket.startswith("/")):
        raise ConfigError(PREFIX + "MILTER_SOCKET", "expected unix:/path or inet:port@host")
    if socket.startswith("/"):
        socket = "unix:" + socket
    return socket


def _ingress_url(env: _Reader) -> str:
    ingress_url = (env.get("INGRESS_URL") or "").strip().rstrip("/")
    if ingress_url and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", ingress_url):
        raise ConfigError(PREFIX + "INGRESS_URL", "must be an http:// or https:// URL without query or fragment "
                          "(where `mailgate ingress` is reached from the internet)")
    return ingress_url


def _from_address(env: _Reader, reply_domain: str) -> str:
    from_address = (env.get("FROM_ADDRESS") or f"noreply@{reply_domain}").strip()
    if not is_addr_spec(from_address):
        # It goes in every MAIL FROM and From header: a non-ASCII or decorated value would make every
        # notification unrenderable (or unsendable) long after start-up.
        raise ConfigError(PREFIX + "FROM_ADDRESS", f"{from_address!r} is not a plain ASCII email address "
                          "(local@domain, no name or brackets)")
    return from_address


def _authserv_id(env: _Reader) -> str:
    authserv_id = (env.get("AUTHSERV_ID") or "").strip()
    if authserv_id and not _AUTHSERV_ID.fullmatch(authserv_id):
        raise ConfigError(PREFIX + "AUTHSERV_ID", f"{authserv_id!r} is not an authserv-id (a host name, "
                          "as your verifier writes it before the first ';')")
    return authserv_id


def _incoming_address(env: _Reader) -> str:
    incoming = (env.get("INCOMING_ADDRESS") or "").strip()
    if incoming:
        from mailgate.shared.addresses.incoming import problem as incoming_problem

        wrong = incoming_problem(incoming)
        if wrong:
            raise ConfigError(PREFIX + "INCOMING_ADDRESS", f"{incoming!r}: {wrong}")
    return incoming
