"""What every webhook hands the pipeline: the raw message and the envelope the provider saw."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import Authorization

from mailgate.shared.db import Database
from mailgate.shared.outcomes import IngressReason, Refused

if TYPE_CHECKING:
    from flask import Request


@dataclass
class RequestContext:
    """What a provider's checks may need besides the request: the client's address, the database."""

    client_addr: str
    db: Database
    claimed: str | None = None  # a Mailgun token this request holds while it is handled (tokens.claim)


@dataclass
class Delivery:
    raw: bytes
    recipients: list[str] = field(default_factory=list)  # the provider's envelope: RCPT TO as it received them
    sender: str | None = None  # MAIL FROM, when the provider says (None: unknown)


def basic_auth_matches(given: Authorization | None, user: str, password: str) -> bool:
    """HTTP Basic credentials compared in full and in constant time."""
    if given is None or given.type != "basic":
        return False
    user_ok = hmac.compare_digest((given.username or "").encode(), user.encode())
    password_ok = hmac.compare_digest((given.password or "").encode(), password.encode())
    return user_ok and password_ok


def need_text(value: object, what: str) -> str:
    """A required string field, or a `malformed` refusal naming it."""
    if not isinstance(value, str) or not value:
        raise Refused(IngressReason.MALFORMED, f"{what} missing or not a string")
    return value


def form_text(request: "Request", name: str, hint: str) -> str:
    """The raw message a provider posts in form field `name`, as a field or as an uploaded file (`hint`: how
    to make the provider send it, named in the refusal when it is missing)."""
    raw = request.form.get(name)
    if raw is None and name in request.files:
        raw = request.files[name].read().decode("utf-8", "surrogateescape")
    return need_text(raw, f"{name} ({hint})")


def parse_json(text: str | bytes, what: str) -> Any:
    """JSON from a provider, or a `malformed` refusal (nesting past the recursion limit included)."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Refused(IngressReason.MALFORMED, f"{what} is not JSON ({exc.__class__.__name__})") from None


def raw_bytes(text: str) -> bytes:
    """The message as the provider gave it: a lone surrogate (JSON's \\ud800) is kept, not a crash."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
