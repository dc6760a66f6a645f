"""Step 3: the loop and robot guard. Robots are never answered and never act."""

from __future__ import annotations

from email.message import Message

from mailgate.shared.outcomes import Ignore, Reason
from mailgate.shared.parsing import classify_robot

# Stamped on every notification Mailgate sends; its presence on inbound mail
# means our own mail came back (a forwarding loop, or a list echoing it).
OWN_MAIL_HEADER = "X-Mailgate-Notification"


def check(msg: Message, envelope_sender: str | None) -> None:
    """Raise Ignore for our own mail, bounces and auto-replies."""
    try:
        own = msg.get(OWN_MAIL_HEADER)
    except Exception:
        own = None
    if own is not None:
        raise Ignore(Reason.OWN_MAIL, f"Carries {OWN_MAIL_HEADER}: our own notification came back.")
    verdict = classify_robot(msg, envelope_sender)
    if verdict.kind == "bounce":
        raise Ignore(Reason.BOUNCE, f"Delivery report ({verdict.reason}).", robot="bounce")
    if verdict.kind == "auto_reply":
        raise Ignore(Reason.AUTO_GENERATED, f"Automatic reply ({verdict.reason}).", robot="auto_reply")
