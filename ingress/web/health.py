"""`mailgate check` for the webhooks: what each configured provider's entry lets in."""

from __future__ import annotations

from mailgate.shared.config import Settings
from mailgate.shared.health import Check
from mailgate.shared.inbound_credentials import INBOUND_TYPES, inbound_credentials


def run_checks(settings: Settings) -> list[Check]:
    """One line per provider with an inbound entry; none when no webhook is configured. Never raises."""
    checks = []
    for provider in INBOUND_TYPES:
        entries = inbound_credentials(settings, provider)
        if entries:
            checks.append(_check(provider, entries))
    return checks


def _check(provider: str, entries: list) -> Check:
    name = f"webhook {provider}"
    path = f"/mail/{provider}/"
    if provider == "postmark":
        usable = [e for e in entries if e.networks]
        if not usable:
            return Check(name, False, f"{path}: inbound-addresses is empty: every request is refused",
                         "Leave inbound-addresses out (Postmark's published ranges) or list them.")
        how = "; ".join(f"{e.key}: from {len(e.networks)} address range(s)"
                        + (", Basic auth" if e.basic_auth else ", no Basic auth (inbound-user unset)") for e in usable)
        return Check(name, True, f"{path} {how}")
    if provider == "mailgun":
        return Check(name, True, f"{path} signed by {len(entries)} key(s) ({', '.join(e.key for e in entries)}); "
                     "the route must forward to a URL ending in 'mime'")
    with_auth = [e for e in entries if e.basic_auth is not None]
    if not with_auth:
        return Check(name, False, f"{path}: no sendgrid entry sets inbound-user and inbound-password: every "
                     "request is refused", "Set inbound-user and inbound-password, and put them in the Inbound Parse URL.")
    return Check(name, True, f"{path} Basic auth ({', '.join(e.key for e in with_auth)}); turn on "
                 "'POST the raw, full MIME message'")
