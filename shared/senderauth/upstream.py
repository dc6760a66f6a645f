"""Trusting the MTA: Authentication-Results (RFC 8601) written by our own verifier, parsed with `authres`.

With MAILGATE_AUTHSERV_ID set, a header whose authserv-id is exactly that
id is read instead of verifying again; any other id is ignored. A header
claiming our id that came in with the message must not be believed (RFC
8601 section 5), and which ones came in depends on where Mailgate reads:

* In the milter, Postfix shows the headers an earlier milter (OpenDKIM,
  OpenDMARC, rspamd) added mixed with the client's, without its own
  Received header between them, so position proves nothing. Only a header
  bound to this very transaction is believed: authserv-id `ID/<queue id>`
  (OpenDKIM's and OpenDMARC's AuthservIDWithJobID), which no sender can
  write in advance.
* Everywhere else (pipe, upload, mailbox) the message is read as the MTA
  stored it: headers above the first Received header were added on our
  side; one below it came from the sender.
* A webhook's message was received by the provider's servers, never by our
  MTA: no header in it is ours, whatever its position.

No believable header: Mailgate verifies the message itself.
"""

from __future__ import annotations

import re

import authres

from mailgate.shared.senderauth.dmarc import aligned
from mailgate.shared.senderauth.result import (
    DKIM_RESULTS, DMARC_RESULTS, SPF_RESULTS, AuthResult, DkimSignature, verdict_of,
)

MAX_HEADERS = 20  # A-R headers read at most (a message may carry hundreds)
MAX_VALUE = 16 * 1024  # characters: longer than any verifier writes; a longer header is the sender's, never parsed
_FIRST_TOKEN = re.compile(r"\s*([^\s;(\"]+)")  # the authserv-id, unless a comment or a quoted string comes first
NOT_THROUGH_OUR_MTA = ("postmark", "mailgun", "sendgrid")  # the webhooks' sources


def _parse(value: str) -> authres.AuthenticationResultsHeader | None:
    try:
        return authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
    except Exception:  # noqa: BLE001 -- authres raises its own SyntaxError and others on hostile text
        return None


def _may_be_ours(value: str, authserv_id: str) -> bool:
    """Cheap test before the parser: our id before the first ';', and a length a verifier writes.
    A sender can fill the header section with A-R headers made to be slow to parse."""
    if len(value) > MAX_VALUE:
        return False
    first = _FIRST_TOKEN.match(value)
    if first is None:  # a comment or a quoted string first: let the parser read it
        return True
    return first.group(1).split("/", 1)[0].lower() == authserv_id.lower()


def _id_matches(found: str, ours: str, queue_id: str, bound_only: bool) -> bool:
    found, ours = found.lower(), ours.lower()
    if queue_id and found == f"{ours}/{queue_id.lower()}":
        return True
    return not bound_only and found.split("/", 1)[0] == ours


def believed(headers: list[tuple[str, str]], authserv_id: str, queue_id: str,
             source: str) -> list[authres.AuthenticationResultsHeader]:
    """The Authentication-Results headers, in order, that our own verifier wrote (see the module text)."""
    if source in NOT_THROUGH_OUR_MTA:
        return []
    found = []
    bound_only = source == "milter"
    for name, value in headers:
        lowered = name.strip().lower()
        if lowered == "received" and not bound_only:
            break  # below the first hop: the sender's headers
        if lowered != "authentication-results" or not _may_be_ours(value, authserv_id):
            continue
        parsed = _parse(value)
        if parsed is not None and _id_matches(parsed.authserv_id or "", authserv_id, queue_id, bound_only):
            found.append(parsed)
        if len(found) >= MAX_HEADERS:
            break
    return found


def _word(result: str, allowed: tuple[str, ...]) -> str:
    word = (result or "").strip().lower()
    word = {"hardfail": "fail"}.get(word, word)
    return word if word in allowed else "permerror"


def _prop(result, ptype: str, name: str) -> str:
    for p in getattr(result, "properties", []) or []:
        if (p.type or "").lower() == ptype and (p.name or "").lower() == name:
            return str(p.value or "")
    return ""


def _domain_of(value: str) -> str:
    return value.rsplit("@", 1)[-1].strip().strip("<>").lower().rstrip(".")


def from_headers(parsed: list[authres.AuthenticationResultsHeader], from_domain: str) -> AuthResult | None:
    """The verdict our verifier wrote, or None when it wrote no result Mailgate can use."""
    auth = AuthResult(source="upstream", from_domain=from_domain)
    seen = dmarc_seen = False
    for header in parsed:
        for r in header.results or []:
            method = (r.method or "").lower()
            if method == "spf" and not auth.spf_domain:
                auth.spf = _word(r.result, SPF_RESULTS)
                auth.spf_domain = _domain_of(_prop(r, "smtp", "mailfrom") or _prop(r, "smtp", "helo"))
                seen = True
            elif method == "dkim":
                domain = _prop(r, "header", "d") or _domain_of(_prop(r, "header", "i"))
                auth.dkim.append(DkimSignature(domain.lower().rstrip("."), _word(r.result, DKIM_RESULTS)))
                seen = True
            elif method == "dmarc" and not dmarc_seen:
                auth.dmarc = _word(r.result, DMARC_RESULTS)
                dmarc_seen = True
                header_from = _prop(r, "header", "from")
                if header_from and from_domain and _domain_of(header_from) != from_domain:
                    auth.dmarc = "none"  # about another From than the one we read: not this message's verdict
                seen = True
    if not seen:
        return None
    dkim_ok = any(s.result == "pass" and aligned(s.domain, from_domain, "r") for s in auth.dkim)
    spf_ok = auth.spf == "pass" and aligned(auth.spf_domain, from_domain, "r")
    auth.aligned = auth.dmarc == "pass" or dkim_ok or spf_ok
    auth.verdict = verdict_of(auth.dmarc)
    return auth
