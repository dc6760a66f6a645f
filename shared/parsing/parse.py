"""parse_message: the whole parse of one message, which never raises."""

from __future__ import annotations

import traceback
from email.message import Message

from .body import Body, extract_body
from .commands import extract_commands
from .fallback import keep_own_words
from .models import Cut, ParsedMessage
from .trim import trim_reply


# Longer than any reply a person writes (about 100 pages): beyond it the text is cut
# before trimming, whose cost is a few microseconds per line (10 MB of short lines: 20 s).
MAX_TEXT_CHARS = 200_000

# Cuts after which mail to a create address reads differently (a forward, a bare quote).
_CREATE_SENSITIVE = ("separator", "header_block", "quote:trailing")


def parse_text(text: str, body_type: str = "text/plain", *, for_create: bool = False) -> ParsedMessage:
    """Trim an already-decoded body text and extract its commands.

    A reply is never reduced to nothing: when trimming leaves no text but
    the sender wrote words of their own, the untrimmed text is kept
    (fallback.py) and the result says so.
    """
    trimmed = trim_reply(text, for_create=for_create)
    fallback_rule, warnings = "", []
    if not trimmed.text.strip():
        kept = keep_own_words(text, trimmed.cuts)
        if kept is not None:
            trimmed.text, fallback_rule, quote = kept
            trimmed.cuts = [Cut("quote:trailing", quote)] if quote else []
            trimmed.quoted, trimmed.signature = quote, ""
            warnings.append(f"trimming would have removed every word ({fallback_rule}): the text was kept")
    new, commands, command_cuts = extract_commands(trimmed.text)
    return ParsedMessage(
        text=new.strip(),
        quoted=trimmed.quoted,
        signature=trimmed.signature,
        commands=commands,
        cuts=trimmed.cuts + command_cuts,
        body_type=body_type,
        warnings=warnings,
        fallback=bool(fallback_rule),
        fallback_rule=fallback_rule,
        forwarded_subject=trimmed.forwarded_subject,
        source_text=text,
    )


def parse_message(msg: Message, *, for_create: bool = False) -> ParsedMessage:
    """Parse a loaded message (see mailgate.shared.message.load_message).

    `for_create`: the message went to a create address (trim.trim_reply).
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
    return _finish(body, for_create)


def for_create(parsed: ParsedMessage) -> ParsedMessage:
    """The same message read as mail to a create address: a forward or a bare quote is kept.

    Cheap when nothing would change (no separator, header block or trailing
    quote was cut); otherwise only the trimming runs again, on the body
    already decoded.
    """
    if parsed.source_text is None or not any(c.rule.startswith(_CREATE_SENSITIVE) for c in parsed.cuts):
        return parsed
    body = Body(text=parsed.source_text, body_type=parsed.body_type, attachments=parsed.attachments,
                cuts=[c for c in parsed.cuts if c.rule.startswith("html_")], warnings=[
                    w for w in parsed.warnings if not w.startswith("trimming would have")])
    return _finish(body, True)


def _finish(body: Body, for_create: bool) -> ParsedMessage:
    """Trim the decoded body and join what the body extraction found (attachments, HTML cuts, warnings)."""
    try:
        result = parse_text(body.text, body.body_type, for_create=for_create)
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
