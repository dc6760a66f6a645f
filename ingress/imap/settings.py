"""MAILGATE_IMAP_* settings, validated at start-up with an error naming the variable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from mailgate.shared.config import PREFIX, ConfigError, reader

DEFAULT_IDLE_TIMEOUT = 60
# RFC 2177: a server may drop a client idle for 30 minutes; some (Office 365, Gmail) end IDLE far sooner.
MAX_IDLE_TIMEOUT = 29 * 60


@dataclass(frozen=True)
class ImapSettings:
    host: str
    user: str
    password: str
    port: int = 993
    mailbox: str = "INBOX"
    ssl: bool = True
    starttls: bool = False
    verify: bool = True
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    delete_after_delivery: bool = True
    expunge_deleted: bool = True
    move_to: str = ""  # a folder: stored messages are moved there instead of deleted
    timeout: int = 30  # seconds for any one command (connect, login, fetch) before the connection counts as lost

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def keeps_messages(self) -> bool:
        """Neither deleted nor moved: stored messages are only flagged \\Seen (and only unseen ones are read)."""
        return not self.delete_after_delivery and not self.move_to


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether an IMAP mailbox is set up at all (MAILGATE_IMAP_HOST)."""
    return bool((reader(environ).get("IMAP_HOST") or "").strip())


def from_env(environ: Mapping[str, str] | None = None) -> ImapSettings:
    """Read and check MAILGATE_IMAP_*; raises ConfigError naming the variable."""
    env = reader(environ)  # the process environment, then the configuration file (docs/configuration.md)
    host = (env.get("IMAP_HOST") or "").strip()
    if not host:
        raise ConfigError(PREFIX + "IMAP_HOST", "not set: the IMAP server to read mail from")
    user = env.get("IMAP_USER") or ""
    if not user.strip():
        raise ConfigError(PREFIX + "IMAP_USER", "not set: the mailbox's login name")
    password = env.get("IMAP_PASSWORD")
    if not password:
        raise ConfigError(PREFIX + "IMAP_PASSWORD", "not set (or MAILGATE_IMAP_PASSWORD_FILE)")
    ssl = env.boolean("IMAP_SSL", True)
    starttls = env.boolean("IMAP_STARTTLS", False)
    if ssl and starttls:
        raise ConfigError(PREFIX + "IMAP_STARTTLS", "set MAILGATE_IMAP_SSL=false too: STARTTLS upgrades a plain "
                          "connection (port 143), SSL is TLS from the start (port 993)")
    port = env.integer("IMAP_PORT", 993 if ssl else 143, minimum=1)
    if port > 65535:
        raise ConfigError(PREFIX + "IMAP_PORT", f"must be at most 65535, got {port}")
    idle = env.integer("IMAP_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT, minimum=5)
    if idle > MAX_IDLE_TIMEOUT:
        raise ConfigError(PREFIX + "IMAP_IDLE_TIMEOUT", f"at most {MAX_IDLE_TIMEOUT} seconds (RFC 2177: servers "
                          "drop a client idle for 30 minutes)")
    mailbox = (env.get("IMAP_MAILBOX") or "INBOX").strip()
    move_to = (env.get("IMAP_MOVE_TO") or "").strip()
    if move_to and move_to == mailbox:
        raise ConfigError(PREFIX + "IMAP_MOVE_TO", "must differ from MAILGATE_IMAP_MAILBOX")
    return ImapSettings(
        host=host, user=user.strip(), password=password, port=port, mailbox=mailbox, ssl=ssl,
        starttls=starttls, verify=env.boolean("IMAP_VERIFY", True), idle_timeout=idle,
        delete_after_delivery=env.boolean("IMAP_DELETE_AFTER_DELIVERY", True),
        expunge_deleted=env.boolean("IMAP_EXPUNGE_DELETED", True), move_to=move_to,
    )
