"""`mailgate check` for the IMAP poller: login, mailbox, IDLE, and the incoming-address template."""

from __future__ import annotations

from email.message import EmailMessage

from mailgate.ingress.imap import routing
from mailgate.ingress.imap.connection import ImapFailure, close_quietly, open_session
from mailgate.ingress.imap.settings import ImapSettings
from mailgate.shared.addresses import incoming
from mailgate.shared.config import Settings
from mailgate.shared.health import Check

SAMPLE_REPLY_KEY = incoming.SAMPLE_KEY


def run_checks(settings: Settings, imap: ImapSettings) -> list[Check]:
    """The IMAP checks in the order an operator fixes them; never raises."""
    checks = _session_checks(imap)
    checks.append(check_incoming_address(settings, settings.incoming_address))
    return checks


def _session_checks(imap: ImapSettings) -> list[Check]:
    try:
        client, selected = open_session(imap)
    except ImapFailure as exc:
        fix = ("Check MAILGATE_IMAP_HOST, _PORT, _SSL/_STARTTLS and that the server is reachable."
               if "connect" in str(exc) or "certificate" in str(exc) else "")
        return [Check("imap login", False, str(exc), fix)]
    try:
        tls = "TLS" if imap.ssl or imap.starttls else "no TLS"
        verified = "certificate verified" if imap.verify else "certificate NOT verified (MAILGATE_IMAP_VERIFY=false)"
        checks = [
            Check("imap login", True, f"logged in as {imap.user} at {imap.address} ({tls}, {verified})"),
            Check("imap mailbox", True, f"{imap.mailbox}: {selected.get(b'EXISTS', 0)} message(s)"),
        ]
        if client.has_capability("IDLE"):
            checks.append(Check("imap idle", True, f"IDLE supported; re-issued every {imap.idle_timeout} s"))
        else:
            checks.append(Check("imap idle", False, f"the server has no IDLE: new mail is only seen every "
                                f"{imap.idle_timeout} s", "Use a server with IDLE, or lower MAILGATE_IMAP_IDLE_TIMEOUT."))
        if imap.move_to and imap.move_to not in (f for _, _, f in client.list_folders()):
            checks.append(Check("imap move folder", False, f"folder {imap.move_to!r} does not exist",
                                "Create it, or fix MAILGATE_IMAP_MOVE_TO."))
        return checks
    finally:
        close_quietly(client)


def check_incoming_address(settings: Settings, template: str) -> Check:
    """An address handed out inside the template gives back its key, and the key routes to Mailgate."""
    name = "incoming address"
    if not template:
        return Check(name, True, f"none: the mailbox receives mail for {', '.join(settings.domains)} itself")
    if routing.KEY_PLACEHOLDER not in template:
        return Check(name, True, f"dedicated mailbox {template}: replies only (the key travels in References)")
    expected = f"{SAMPLE_REPLY_KEY}@{settings.reply_domain}"
    sample = incoming.issue(template, expected)
    msg = EmailMessage()
    msg["To"] = sample
    back = routing.recipients(msg, settings, template)
    if back != [expected]:
        return Check(name, False, f"{sample} reads back as {back or 'nothing'}, not {expected}",
                     "Put %{key} in the local part, with fixed text around it.")
    return Check(name, True, f"{template}: {sample} routes back to {expected}")
