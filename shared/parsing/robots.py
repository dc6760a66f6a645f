"""Robot classification (first version): bounces and auto-replies by headers."""

from __future__ import annotations

import re
from email.message import Message

from ..message import header_text
from .models import RobotVerdict


def classify_robot(msg: Message, envelope_sender: str | None) -> RobotVerdict:
    """Classify `msg`; never raises (an error means "not a robot")."""
    try:
        return _classify(msg, envelope_sender)
    except Exception:  # pragma: no cover - defensive
        return RobotVerdict(None, "classification failed; treated as human")


def _classify(msg: Message, envelope_sender: str | None) -> RobotVerdict:
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        return RobotVerdict("bounce", "null envelope sender <>")
    ctype = msg.get_content_type().lower()
    report = (msg.get_param("report-type") or "")
    if ctype == "multipart/report" and str(report).lower() == "delivery-status":
        return RobotVerdict("bounce", "multipart/report; report-type=delivery-status")
    auto = header_text(msg, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return RobotVerdict("auto_reply", f"Auto-Submitted: {auto}")
    if header_text(msg, "X-Autoreply"):
        return RobotVerdict("auto_reply", "X-Autoreply header")
    prec = header_text(msg, "Precedence").lower()
    if prec in ("bulk", "junk", "list", "auto_reply"):
        return RobotVerdict("auto_reply", f"Precedence: {prec}")
    return RobotVerdict(None, "")
