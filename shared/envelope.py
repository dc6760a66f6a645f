"""The SMTP envelope as plain data, independent of how the message arrived."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailgate.shared.senderauth import AuthResult

SOURCES = ("milter", "pipe", "test", "imap", "postmark", "mailgun", "sendgrid")
# Where `client_addr` is the sending MTA's address, as SPF needs it. A webhook's client is the
# provider's server, which the sender's own domain may list in SPF (`include:sendgrid.net`).
SMTP_CLIENT_SOURCES = ("milter", "pipe", "test")


@dataclass
class Envelope:
    """What the transport knew. `sender` None means unknown (a raw upload); "" is the null sender."""

    source: str = "test"
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)
    client_addr: str = ""
    client_name: str = ""
    helo: str = ""
    queue_id: str = ""
    auth_results: str = ""
    # The message's real size when the bytes handed over are only its head: the milter keeps no more
    # than the headers of a message over the limit that it must let through for other recipients.
    size: int | None = None
    # Sender authentication, found before the message is handed to the writer (sender_auth.prepare);
    # None: not checked (yet).
    auth: "AuthResult | None" = None
    # Recipients of the same message that are not Mailgate's: a refusal then cannot be said to the sender
    # (they get the message, the answer is 250) and Mailgate never sends a bounce; the record says so.
    other_recipients: int = 0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")
        if self.sender is not None:
            self.sender = self.sender.strip().strip("<>").strip()

    @property
    def has_recipients(self) -> bool:
        return bool(self.recipients)
