"""The sender-authentication policy: off, report or require, globally and per create address."""

from __future__ import annotations

from mailgate.shared.senderauth.result import AuthResult

MODES = ("off", "report", "require")
DEFAULT_MODE = "report"


def effective_mode(global_mode: str, address_mode: str | None) -> str:
    """A create address's own setting wins over MAILGATE_SENDER_AUTH; reply addresses follow the setting."""
    return address_mode if address_mode in MODES else global_mode


def refusal_text(auth: AuthResult) -> str:
    """The 550 sentence: what failed, and what the sender can do about it."""
    domain = auth.from_domain or "the From address's domain"
    if auth.verdict == "none" and not auth.from_domain:
        why = "the message has no single From address whose domain could be checked"
    elif auth.verdict == "none":
        why = f"{domain} publishes no DMARC policy, so nothing proves the message comes from there"
    else:
        why = f"DMARC failed for {domain}: neither an aligned DKIM signature nor SPF for {domain} passed"
    return (f"This address only takes mail whose sender is authenticated, and {why}. "
            f"Send from your usual mail server (which signs with DKIM), or ask the administrator "
            f"for your personal create address.")

