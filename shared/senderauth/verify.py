"""Sender authentication of one message: our verifier's Authentication-Results, or SPF + DKIM + DMARC here.

Pure: the message bytes and what the transport knew in, an `AuthResult`
out; no database. It runs before the message is handed to the writer (in
the milter's session thread), so its DNS look-ups never hold up another
message's turn.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
from dataclasses import dataclass

from mailgate.shared.message import header_addresses
from mailgate.shared.senderauth import upstream
from mailgate.shared.senderauth.dkim_check import check_dkim
from mailgate.shared.senderauth.dmarc import evaluate, find_record, organisational_domain
from mailgate.shared.senderauth.head import HEADER_BYTES
from mailgate.shared.senderauth.resolver import MESSAGE_BUDGET_TIMEOUTS, DnsTemporary, message_budget, shared_resolver
from mailgate.shared.senderauth.result import AuthResult, verdict_of
from mailgate.shared.senderauth.spf_check import check_spf, spf_domain


@dataclass(frozen=True)
class AuthConfig:
    """The settings verification needs (MAILGATE_SENDER_AUTH, _AUTHSERV_ID, _DNS_SERVERS, _DNS_TIMEOUT)."""

    mode: str = "report"
    authserv_id: str = ""
    dns_servers: tuple[str, ...] = ()
    dns_timeout: float = 5.0


@dataclass(frozen=True)
class Transport:
    """What the transport knew about the message: empty strings where it knew nothing (pipe, upload)."""

    source: str = "test"
    client_addr: str = ""
    helo: str = ""
    mail_from: str | None = None
    queue_id: str = ""


def _headers(raw: bytes) -> tuple[list[tuple[str, str]], "email.message.Message"]:
    head = raw[:HEADER_BYTES]
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head, headersonly=True)
    return [(str(k), str(v)) for k, v in msg.items()], msg


def from_domain_of(msg) -> tuple[str, str]:
    """(the From domain, '' or why there is none to check): one domain, or nothing to check."""
    domains = {a.rsplit("@", 1)[1].strip().lower().rstrip(".") for a in header_addresses(msg, "From") if "@" in a}
    if len(domains) == 1:
        return domains.pop(), ""
    if not domains:
        return "", "The message has no From address with a domain to check."
    return "", "The From header names several domains; DMARC can check only one."


def authenticate(config: AuthConfig, raw: bytes, transport: Transport) -> AuthResult:
    """The message's AuthResult; never raises for anything the message contains."""
    items, msg = _headers(raw)
    from_domain, note = from_domain_of(msg)
    auth = None
    if config.authserv_id:
        believed = upstream.believed(items, config.authserv_id, transport.queue_id, transport.source)
        auth = upstream.from_headers(believed, from_domain) if believed else None
    if auth is None:
        with message_budget(MESSAGE_BUDGET_TIMEOUTS * config.dns_timeout):  # time-outs must not stack up
            auth = verify_here(config, raw, transport, from_domain)
    auth.note = auth.note or note
    envelope_domain = spf_domain(transport.mail_from, "") if transport.mail_from else ""
    auth.envelope_mismatch = bool(
        envelope_domain and from_domain and auth.verdict != "pass"
        and organisational_domain(envelope_domain) != organisational_domain(from_domain))
    return auth


def verify_here(config: AuthConfig, raw: bytes, transport: Transport, from_domain: str) -> AuthResult:
    """SPF, DKIM and DMARC with our resolver (the process's shared cache)."""
    resolver = shared_resolver(config.dns_servers, config.dns_timeout)
    spf = check_spf(resolver, transport.client_addr, transport.helo, transport.mail_from)
    checked = spf_domain(transport.mail_from, transport.helo) if spf != "none" or transport.client_addr else ""
    dkim = check_dkim(resolver, raw)
    auth = AuthResult(spf=spf, dkim=dkim, source="verified", from_domain=from_domain, spf_domain=checked)
    if not from_domain:
        return auth
    try:
        record = find_record(resolver, from_domain)
    except DnsTemporary:
        auth.dmarc = auth.verdict = "temperror"
        auth.note = f"The DMARC record of {from_domain} could not be looked up (DNS did not answer)."
        return auth
    result = evaluate(record, from_domain, spf, checked, dkim)
    auth.dmarc, auth.aligned, auth.policy = result.result, result.aligned, result.policy
    auth.verdict = verdict_of(result.result)
    return auth
