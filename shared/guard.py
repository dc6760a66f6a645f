"""Step 3: the loop and robot guard. Robots are never answered and never act."""

from __future__ import annotations

from email.message import Message

from mailgate.shared.outcomes import Ignore, Reason
from mailgate.shared.parsing import classify_robot
from mailgate.shared.parsing.models import RobotVerdict
from mailgate.shared.parsing.robots import automated_sender, classify_robot_body, classify_robot_head

# Stamped on every notification Mailgate sends; its presence on inbound mail
# means our own mail came back (a forwarding loop, or a list echoing it).
OWN_MAIL_HEADER = "X-Mailgate-Notification"


def check(msg: Message, envelope_sender: str | None) -> None:
    """Raise Ignore for our own mail, bounces and auto-replies (the whole message: headers and body)."""
    own_mail(msg)
    _raise(classify_robot(msg, envelope_sender))


def own_mail(msg: Message) -> None:
    """Raise Ignore when the message carries our own notification header."""
    try:
        own = msg.get(OWN_MAIL_HEADER)
    except Exception:
        own = None
    if own is not None:
        raise Ignore(Reason.OWN_MAIL, f"Carries {OWN_MAIL_HEADER}: our own notification came back.")


def robot_by_head(msg: Message, envelope_sender: str | None) -> bool:
    """Whether the headers and the envelope alone show a robot (classify_robot then agrees)."""
    return classify_robot_head(msg, envelope_sender).kind is not None


def head_verdict(msg: Message, envelope_sender: str | None) -> RobotVerdict:
    """What the headers and the envelope alone show (robot_by_head's verdict, kept for check_body)."""
    return classify_robot_head(msg, envelope_sender)


def check_body(msg: Message, envelope_sender: str | None) -> None:
    """check() of a message whose headers own_mail() passed and head_verdict() found clean
    (RobotVerdict(None, "")): the body's evidence only, the headers' not read again."""
    _raise(classify_robot_body(msg, envelope_sender))


def takes_robot(msg: Message, envelope_sender: str | None) -> bool:
    """What the notification sender accepts, on the headers alone: a delivery report or an automatic reply
    (null sender, robot evidence in the headers), or mail from a robot's address (MAILER-DAEMON, bounces@,
    no-reply@, ...). A person's message to it is refused without its body being read (docs/security.md)."""
    return robot_by_head(msg, envelope_sender) or bool(automated_sender(msg, envelope_sender))


def _raise(verdict: RobotVerdict) -> None:
    if verdict.kind == "bounce":
        raise Ignore(Reason.BOUNCE, f"Delivery report ({verdict.reason}).", robot="bounce")
    if verdict.kind == "auto_reply":
        raise Ignore(Reason.AUTO_GENERATED, f"Automatic reply ({verdict.reason}).", robot="auto_reply")
