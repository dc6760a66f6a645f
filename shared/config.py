"""Settings from the environment, validated once at start-up.

Every variable `MAILGATE_<NAME>` can instead be given as a file path in
`MAILGATE_<NAME>_FILE` (Docker/systemd secrets). A bad value raises
ConfigError naming the variable, so an operator sees *which* knob is wrong
instead of a traceback from deep inside SQLAlchemy or pymilter.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mailgate.shared.addrspec import is_addr_spec
from mailgate.shared.mailer_config import MAILER_TYPES, MailerConfig, parse_mailers  # noqa: F401 (re-exported)

PREFIX = "MAILGATE_"

DEFAULT_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
DEFAULT_MILTER_SOCKET = "unix:/var/spool/postfix/mailgate/milter.sock"
DEFAULT_REPLY_DOMAIN = "reply.mailgate.localhost"

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
REPLY_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")  # a MAILGATE_REPLY_PREFIX (fullmatch); addresses.py reads one


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
    secret_key: str
    reply_prefix: str = ""
    public_replies: bool = False
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    milter_socket: str = DEFAULT_MILTER_SOCKET
    mailers: tuple[MailerConfig, ...] = ()
    base_url: str = "http://localhost:8080"
    from_address: str = ""
    purge_after_days: int = 0
    trusted_proxies: int = 0

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
    """Reads MAILGATE_<NAME> or MAILGATE_<NAME>_FILE from one environment mapping."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def get(self, name: str) -> str | None:
        var = PREFIX + name
        direct = self.environ.get(var)
        file_var = var + "_FILE"
        path = self.environ.get(file_var)
        if direct is not None and path is not None:
            raise ConfigError(var, f"set both {var} and {file_var}; keep one")
        if path is not None:
            try:
                return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(file_var, f"cannot read {path!r}: {exc.strerror}") from None
        return direct

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


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate Settings; raises ConfigError naming the bad variable."""
    env = _Reader(os.environ if environ is None else environ)

    instance_value = env.get("INSTANCE")
    instance = Path(instance_value).expanduser() if instance_value else _default_instance_path()

    url = env.get("DATABASE_URL")
    if url is None or not url.strip():
        url = f"sqlite:///{instance / 'mailgate.db'}"
    url = url.strip()
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(PREFIX + "DATABASE_URL", "must start with sqlite:// or postgresql+psycopg://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]

    reply_domain = _domain(PREFIX + "REPLY_DOMAIN", env.get("REPLY_DOMAIN") or DEFAULT_REPLY_DOMAIN)
    domains = [reply_domain]
    for d in (env.get("DOMAINS") or "").replace(",", " ").split():
        d = _domain(PREFIX + "DOMAINS", d)
        if d not in domains:
            domains.append(d)

    prefix = (env.get("REPLY_PREFIX") or "").strip().lower()
    if prefix and not REPLY_PREFIX.fullmatch(prefix):
        raise ConfigError(PREFIX + "REPLY_PREFIX", "letters, digits, '-' or '_' only (no '+')")
    from mailgate.shared.addresses import RESERVED_LOCAL_PARTS  # here: addresses imports this module

    if prefix in RESERVED_LOCAL_PARTS:
        raise ConfigError(PREFIX + "REPLY_PREFIX", f"{prefix!r} is a reserved name (postmaster, noreply, ...): "
                          "an address starting with it is never routed to an application")

    socket = (env.get("MILTER_SOCKET") or DEFAULT_MILTER_SOCKET).strip()
    if not (socket.startswith("unix:") or socket.startswith("inet:") or socket.startswith("/")):
        raise ConfigError(PREFIX + "MILTER_SOCKET", "expected unix:/path or inet:port@host")
    if socket.startswith("/"):
        socket = "unix:" + socket

    base_url = (env.get("BASE_URL") or "http://localhost:8080").strip().rstrip("/")
    if not re.match(r"^https?://", base_url):
        raise ConfigError(PREFIX + "BASE_URL", "must start with http:// or https://")

    from_address = (env.get("FROM_ADDRESS") or f"noreply@{reply_domain}").strip()
    if not is_addr_spec(from_address):
        # It goes in every MAIL FROM and From header: a non-ASCII or decorated value would make every
        # notification unrenderable (or unsendable) long after start-up.
        raise ConfigError(PREFIX + "FROM_ADDRESS", f"{from_address!r} is not a plain ASCII email address "
                          "(local@domain, no name or brackets)")

    purge_days = env.integer("PURGE_AFTER_DAYS", 0)
    if 0 < purge_days < 7:
        raise ConfigError(PREFIX + "PURGE_AFTER_DAYS", "0 (off) or at least 7: senders retry for up to 5 days "
                          "and a purged message's dedupe claim goes with it")

    return Settings(
        instance_path=instance,
        database_url=url,
        reply_domain=reply_domain,
        domains=tuple(domains),
        secret_key=_secret_key(instance, env.get("SECRET_KEY")),
        reply_prefix=prefix,
        public_replies=env.boolean("PUBLIC_REPLIES", False),
        max_message_bytes=env.integer("MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES, minimum=1024),
        milter_socket=socket,
        mailers=parse_mailers(PREFIX + "MAILERS", env.get("MAILERS")),
        base_url=base_url,
        from_address=from_address,
        purge_after_days=purge_days,
        trusted_proxies=env.integer("TRUSTED_PROXIES", 0),
    )
