"""The mail parser: what a human wrote, what the tracker should do, and
whether a robot wrote it.

    parse_message(msg)  -> ParsedMessage   best text part, quotes and
                                           signature trimmed, !commands,
                                           attachments, every cut recorded
    for_create(parsed)  -> ParsedMessage   the same message read as mail to a
                                           create address (a forward is kept)
    classify_robot(msg, envelope_sender) -> RobotVerdict
                                           bounce | auto_reply | None

Both never raise: the pipeline stores first and must always reach a status.
Pure Python on the standard library and beautifulsoup4; no Flask, no Milter.
"""

from __future__ import annotations

from .models import Attachment, Command, Cut, ParsedMessage, RobotVerdict
from .parse import for_create, parse_message, parse_text
from .robots import classify_robot

__all__ = [
    "Attachment",
    "Command",
    "Cut",
    "ParsedMessage",
    "RobotVerdict",
    "classify_robot",
    "for_create",
    "parse_message",
    "parse_text",
]
