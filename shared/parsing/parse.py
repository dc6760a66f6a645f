"""parse_message: the whole parse of one message, which never raises."""

from __future__ import annotations

import traceback
from email.message import Message

from .body import extract_body
from .commands import extract_commands
from .models import ParsedMessage
from .trim import trim_reply


# Longer than any reply a person writes (about 100 pages): beyond it the text is cut
# before trimming, whose cost grows with every line.
MAX_TEXT_CHARS = 200_000


def parse_text(text: str, body_type: str = "text/plain") -> ParsedMessage:
    """Trim an already-decoded body text and extract its commands."""
    trimmed = trim_reply(text)
    new, commands, command_cuts = extract_commands(trimmed.text)
    return ParsedMessage(
        text=new.strip(),
        quoted=trimmed.quoted,
        signature=trimmed.signature,
        commands=commands,
        cuts=trimmed.cuts + command_cuts,
        body_type=body_type,
    )


def parse_message(msg: Message) -> ParsedMessage:
    """Parse a loaded message (see mailgate.shared.message.load_message).

    Never raises: on an internal error the result carries what could be
    found and a warning naming the failure, so the pipeline still stores a
    status and the admin can see what happened.
    """
    try:
        body = extract_body(msg)
    except Exception:  # pragma: no cover - extract_body is itself defensive
        return ParsedMessage(warnings=["body extraction failed: " + traceback.format_exc(limit=1)])
    if len(body.text) > MAX_TEXT_CHARS:
        body.text = body.text[:MAX_TEXT_CHARS]
        body.warnings.append(f"text cut at {MAX_TEXT_CHARS:,} characters: longer than any reply")
    try:
        result = parse_text(body.text, body.body_type)
    except Exception:  # pragma: no cover - defensive: keep the untrimmed text
        result = ParsedMessage(text=body.text.strip(), body_type=body.body_type,
                               warnings=["trimming failed: " + traceback.format_exc(limit=1)])
    if body.body_type == "none":
        result.body_type = "none"
    result.attachments = body.attachments
    result.cuts = body.cuts + result.cuts
    html_quoted = [c.text for c in body.cuts if c.rule.startswith("html_quote")]
    html_signature = [c.text for c in body.cuts if c.rule.startswith("html_signature")]
    result.quoted = "\n\n".join(t for t in [*html_quoted, result.quoted] if t)
    result.signature = "\n\n".join(t for t in [*html_signature, result.signature] if t)
    result.warnings = body.warnings + result.warnings
    return result
