"""Was this message written by a machine? Bounces and auto-replies.

Mail from robots must never become a comment, and must never be answered
(answering an auto-reply is how mail loops start). But dropping a real human
reply is the worst error this module can make, so evidence is ranked and body
text alone never condemns a message:

Bounce evidence
  decisive  a delivery report (multipart/report; report-type=delivery-status,
            or any message/delivery-status part); X-Failed-Recipients; a
            Final-Recipient/Status/Action block in the unquoted body text; an
            Amazon SES / SNS bounce or delivery notification (JSON body);
            From: a mail system (MAILER-DAEMON, postmaster, "Mail Delivery
            Subsystem", …); an abuse feedback report (ARF), which is the
            mail system reporting on delivery too.
  combined  a bounce-like Subject ("Undeliverable", "Returned mail",
            "Delivery Status Notification", …) or a bounce phrase in the
            unquoted body ("could not be delivered", "User unknown", …),
            each only counted together with a second signal: an automated
            sender address (no-reply, *-admin, owner-*), a null sender, or
            the other of the two. A human forwarding or quoting a bounce
            ("Fwd: Returned mail", "> 550 User unknown") stays human.
Auto-reply evidence
  Auto-Submitted other than "no" (RFC 3834), X-Autoreply, X-Autorespond,
  read receipts (RFC 8098 disposition notifications),
  Precedence: bulk | junk | list | auto_reply, Apple's X-Apple-Action:
  VACATION, and an auto-reply Subject prefix ("Automatic reply:", "Out of
  Office:", "Abwesenheitsnotiz:", "Réponse automatique :", …) — a prefix
  with its colon, not a word anywhere (a human may write "Re: out of office
  next week?").
Null sender
  The null envelope sender <> is what bounces use (and well-behaved
  auto-replies): with auto-reply evidence and no bounce evidence it is an
  auto-reply, otherwise a bounce. When the envelope is unknown (a raw
  upload), the Return-Path header or the mbox "From " line written at
  delivery stands for it.

Bounce evidence wins over auto-reply evidence: Exim and others mark their
bounces "Auto-Submitted: auto-replied".
"""

from __future__ import annotations

import re
from email.message import Message

from ..message import decode_header_value, header_text
from ..message import header_text as message_header_text
from . import mime
from .body import part_text
from .models import RobotVerdict

_DAEMON_FROM = re.compile(
    r"(mailer-daemon|mailer_daemon|postmaster|post_master|mail delivery (sub)?system|"
    r"mail delivery service|mail administrator|mail system|mailsystem|mdaemon|"
    r"\bmail ?daemon|\bndr\b|delivery ?notification|symantec.*mail ?security)",
    re.I,
)
_AUTOMATED_LOCAL = re.compile(
    r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|post_master|bounces?|bounce[-+].*|"
    r".*-admin|owner-.*|.*-owner|.*-request|sysadmin|mdaemon|daemon|notifications?|"
    r"auto-?reply|autoresponder|ml-?admin|majordomo|listserv|mailman)$",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|undelivered mail|returned mail|delivery status notification|"
    r"delivery (status )?(notification|failure|report)|mail delivery failed|delivery failed|"
    r"failure notice|failed delivery|non[- ]?delivery|nondeliverable|could not be delivered|"
    r"not delivered|unable to deliver|delivery problem|message not delivered|"
    r"mail system error|returned to sender|delivery has failed|warning: could not send|"
    r"rejected|bounced?|unzustellbar|nicht zustellbar|non remis|no entregado|"
    r"onbestelbaar|niet bezorgd|non recapitabile|mensagem não entregue|"
    r"not a member|loop alert|delayed mail|delivery delayed|"
    r"配信|エラー|不達|送信できません)",
    re.I,
)
_REPLY_PREFIX = re.compile(r"^\s*(re|fwd?|aw|wg|tr|sv|vs|rv|enc|odp|antw)\s*(\[\d+\])?\s*:", re.I)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response|antwort)|autoreply|autoresponse|"
    r"out of (the )?office( auto ?reply| reply)?|ooo|away from (the )?office|vacation( reply)?|"
    r"on vacation|abwesenheitsnotiz|abwesend|automatische antwort|"
    r"r[ée]ponse automatique|absence|absent|respuesta autom[aá]tica|fuera de la oficina|"
    r"risposta automatica|fuori sede|automatisch antwoord|afwezig|automatisk svar|"
    r"fr[aå]nvaro|poza biurem|automatyczna odpowied[zź]|автоответ|"
    r"自動応答|自动回复|자동 응답|auto)\s*[:：]",
    re.I,
)
_AUTO_REPLY_SUBJECT_WHOLE = re.compile(
    r"^\s*(out of (the )?office( auto ?reply)?|auto(matic)?[- ]?reply|autoreply|away until .{1,40}|"
    r"i am (currently )?out of (the )?office.*|i'm (currently )?out of (the )?office.*)\s*$",
    re.I,
)
# Body evidence: DSN fields (RFC 3464) written as text, and phrases MTAs use.
_DSN_FIELD = re.compile(
    r"^\s*(final-recipient|original-recipient|action|status|diagnostic-code|remote-mta|reporting-mta)\s*:\s*\S",
    re.I | re.M,
)
_DSN_STATUS = re.compile(r"^\s*status\s*:\s*[245]\.\d{1,3}\.\d{1,3}", re.I | re.M)
_BOUNCE_PHRASE = re.compile(
    r"(could not be delivered|couldn't be delivered|was not delivered|wasn't delivered|"
    r"undeliverable|delivery (to the following recipients? )?(has )?failed|permanent fatal errors|"
    r"this is the mail system at host|i'm sorry to have to inform you|"
    r"message could not be sent|unable to deliver|delivery status notification|"
    r"user unknown|unknown user|no such user|invalid (user|recipient|mailbox) address|"
    r"mailbox (is )?(full|unavailable|not found|quota exceeded)|quota exceeded|over quota|"
    r"recipient address rejected|requested action not taken|address rejected|"
    r"smtp error from remote mail server|remote host said|host or domain name not found|"
    r"delivery to the following recipient|did not reach (some or all of )?the intended recipient|"
    r"this message was created automatically by mail delivery software|"
    r"the following addresses? had permanent|returned mail|not a member of this (mailing )?list|"
    r"duplicated message-id|message delivery has been delayed|delivery has been delayed|"
    r"\b5\d\d[ -]5\.\d{1,3}\.\d{1,3}\b|"
    r"送信できませんでした|配信できませんでした|宛先不明)",
    re.I,
)
_SES_JSON = re.compile(r'"notificationType"\s*:\s*"(Bounce|Complaint|Delivery|DeliveryDelay)"', re.I)
_MBOX_FROM = re.compile(r"^From\s+(\S+)")
_POSTMASTER = re.compile(r"post_?master", re.I)
_MAILER_DAEMON_ADDRESS = re.compile(r"mailer[-_]?daemon@")
_BRACKETED_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_BARE_ADDRESS = re.compile(r"([^\s<>\"]+@[^\s<>\"]+)")


def classify_robot(msg: Message, envelope_sender: str | None) -> RobotVerdict:
    """Classify `msg` as "bounce", "auto_reply" or None; never raises.

    envelope_sender: None when unknown (raw upload), "" for the null sender
    <>, else the MAIL FROM address.
    """
    try:
        return _classify(msg, envelope_sender)
    except Exception as exc:  # pragma: no cover - defensive; a human is the safe default
        return RobotVerdict(None, f"classification failed ({exc.__class__.__name__}); treated as human")


def _envelope(msg: Message, envelope_sender: str | None) -> tuple[str | None, str]:
    """The envelope sender and where it came from."""
    if envelope_sender is not None:
        return envelope_sender.strip().strip("<>").strip(), "envelope sender"
    values = []
    try:
        values = msg.get_all("Return-Path") or []
    except Exception:
        values = []
    if values:
        value = decode_header_value(values[0]).strip()
        return value.strip("<>").strip(), "Return-Path"
    try:
        unixfrom = msg.get_unixfrom() or ""
    except Exception:
        unixfrom = ""
    match = _MBOX_FROM.match(unixfrom)
    if match:
        sender = match.group(1)
        if sender.upper() == "MAILER-DAEMON" or sender == "<>":
            return "", "mbox From_ line"
        return sender, "mbox From_ line"
    return None, ""


def _walk(msg: Message, limit: int = 200):
    count = 0
    try:
        for part in msg.walk():
            yield part
            count += 1
            if count >= limit:
                return
    except Exception:
        return


def _first_text_part(msg: Message) -> tuple[str, str] | None:
    """The decoded text and content type of the first text part."""
    for part in _walk(msg):
        try:
            ctype = mime.content_type(part)
        except Exception:
            continue
        broken_multipart = ctype.startswith("multipart/") and isinstance(part.get_payload(), str)
        if (ctype in ("text/plain", "text/html") or broken_multipart) and not part.is_multipart():
            disp = str(part.get("Content-Disposition") or "").lower()
            if disp.startswith("attachment"):
                continue
            return part_text(part)[0], ctype
    return None


def _unquoted(text: str, ctype: str) -> str:
    """Unquoted lines of a part's text (at most 200 lines), tags removed."""
    if ctype != "text/plain":
        text = re.sub(r"<[^>]+>", " ", text)
    lines = [ln for ln in text.split("\n")[:400] if not ln.lstrip().startswith(">")]
    return "\n".join(lines[:200])


def _bounce_head(msg: Message, sender: str | None, sender_src: str) -> str | None:
    """Bounce evidence in the headers and the envelope alone: decisive markers, or a robot sender with a
    bounce-like Subject. No part of the body is read."""
    found = _report_type(msg) or _failure_headers(msg, sender, sender_src)
    if found:
        return found
    from_addr, automated = _robot_from(msg)
    if automated or sender == "":
        subject = header_text(msg, "Subject")
        if _BOUNCE_SUBJECT.search(subject) and not _REPLY_PREFIX.match(subject):
            who = f"automated sender {from_addr}" if automated else "null sender"
            return f"{who} and bounce subject {subject[:50]!r}"
    return None


def _report_type(msg: Message) -> str | None:
    """A delivery or feedback report by its top-level type: decisive."""
    ctype = mime.content_type(msg)
    report_type = str(mime.param(msg, "report-type") or "").lower()
    if ctype == "multipart/report" and report_type in ("delivery-status", "global-delivery-status"):
        return f"multipart/report; report-type={report_type}"
    if ctype == "multipart/report" and report_type == "feedback-report":
        return "abuse/complaint feedback report (ARF)"
    return None


def _failure_headers(msg: Message, sender: str | None, sender_src: str) -> str | None:
    """X-Failed-Recipients, or a mail system as the sender: decisive."""
    if _has(msg, "x-failed-recipients") and msg.get("X-Failed-Recipients") is not None:
        return "X-Failed-Recipients header"
    return _daemon_sender(msg, sender, sender_src)


def _robot_from(msg: Message) -> tuple[str, bool]:
    """The From address, and whether its local part is a robot's (noreply, notifications, ...)."""
    from_addr = _address(header_text(msg, "From"))
    return from_addr, bool(_AUTOMATED_LOCAL.match(from_addr.split("@")[0])) if from_addr else False


def _daemon_sender(msg: Message, sender: str | None, sender_src: str) -> str | None:
    """A mail system in From (its name, or MAILER-DAEMON) or as the envelope sender: decisive."""
    from_value = header_text(msg, "From")
    from_addr = _address(from_value)
    # "postmaster" is also a human admin's address, so there it only counts as an automated
    # sender (combined evidence).
    display = from_value.split("<")[0] if from_addr else from_value
    if _DAEMON_FROM.search(_POSTMASTER.sub("", display)) or _MAILER_DAEMON_ADDRESS.match(from_addr):
        return f"From: {from_value[:60]}"
    if sender and _DAEMON_FROM.search(sender):
        return f"{sender_src} {sender[:60]}"
    return None


def _bounce_evidence(msg: Message, sender: str | None, sender_src: str) -> str | None:
    """A reason phrase when the message is a bounce, else None."""
    found = _report_type(msg)
    if found:
        return found
    for part in _walk(msg):
        if mime.content_type(part) in ("message/delivery-status", "message/global-delivery-status"):
            return "delivery-status report part"
    found = _failure_headers(msg, sender, sender_src)
    if found:
        return found
    from_addr, automated = _robot_from(msg)
    null_sender = sender == ""
    found = _first_text_part(msg)
    # The body's unquoted head is only needed for the two decisive markers
    # below and, from a robot sender, for bounce phrases. Neither marker
    # anywhere in the whole text (tags and quotes included) means neither is
    # in that head, and a human sender's message is done here.
    whole = found[0].lower() if found else ""
    if not (automated or null_sender or "notificationtype" in whole or "final-recipient" in whole):
        return None
    body = _unquoted(*found) if found else ""
    folded = body.lower()  # cheap substring tests first: the regexes only run where they can match
    if "notificationtype" in folded and _SES_JSON.search(body):
        return "Amazon SES notification"
    if "final-recipient" in folded:
        dsn_fields = {m.group(1).lower() for m in _DSN_FIELD.finditer(body)}
        if "final-recipient" in dsn_fields and (_DSN_STATUS.search(body) or len(dsn_fields) >= 3):
            return "Final-Recipient/Status block in the body"

    # Subject and body phrases are things a human can write too ("Undeliverable
    # mail to our customers?"): only together with a robot sender, so they are
    # only looked for when the sender is one.
    if not (automated or null_sender):
        return None
    subject = header_text(msg, "Subject")
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject)) and not _REPLY_PREFIX.match(subject)
    phrase = _BOUNCE_PHRASE.search(body)
    if bounce_subject or phrase:
        what = f"subject {subject[:50]!r}" if bounce_subject else f"body {phrase.group(0)!r}"
        who = f"automated sender {from_addr}" if automated else "null sender"
        return f"{who} and bounce {what}"
    return None


def _address(value: str) -> str:
    match = _BRACKETED_ADDRESS.search(value) or _BARE_ADDRESS.search(value)
    return match.group(1).lower() if match else ""


def _header_names(msg: Message) -> frozenset[str] | None:
    """The message's header names, lowercased (None if they cannot be read)."""
    try:
        return frozenset(k.lower() for k in msg.keys())
    except Exception:
        return None


def _has(msg: Message, lower_name: str) -> bool:
    """False only when the message surely has no such header."""
    names = _header_names(msg)
    return names is None or lower_name in names



_COMMENT = re.compile(r"\([^()]*\)")


def _keyword(value: str) -> str:
    """An Auto-Submitted value's keyword: RFC 3834 allows comments around it (`no (a person wrote this)`)
    and parameters after it (`auto-replied; owner-email=...`)."""
    return _COMMENT.sub(" ", value).split(";")[0].strip()


def _auto_reply_evidence(msg: Message, parts: bool = True) -> str | None:
    """A reason phrase when the message is an auto-reply (`parts` False: from the headers alone)."""
    # Most of the headers below are absent from most mail: a missing one
    # reads as "" without being looked up.
    names = _header_names(msg)

    def header_text(msg: Message, name: str) -> str:
        if names is not None and name.lower() not in names:
            return ""
        return message_header_text(msg, name)

    auto = header_text(msg, "Auto-Submitted").lower()
    if auto and _keyword(auto) != "no":
        return f"Auto-Submitted: {auto[:40]}"
    # Vendor headers of autoresponders (cPanel/Exim vacation, qmail, ticket
    # systems). X-Auto-Response-Suppress is NOT one: Outlook sets it on
    # ordinary mail to ask others not to auto-reply.
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autogenerated"):
        value = header_text(msg, name)
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value[:40]}"
    if "autoresponder" in header_text(msg, "X-POST-MessageClass").lower():
        return "X-POST-MessageClass: autoresponder"
    precedence = header_text(msg, "Precedence").lower().strip()
    if precedence in ("bulk", "junk", "list", "auto_reply", "auto-reply"):
        return f"Precedence: {precedence}"
    report_type = str(mime.param(msg, "report-type") or "").lower()
    if mime.content_type(msg) == "multipart/report" and report_type == "disposition-notification":
        return "read receipt (multipart/report; report-type=disposition-notification)"
    for part in _walk(msg, limit=50) if parts else ():
        if mime.content_type(part) == "message/disposition-notification":
            return "read receipt (message/disposition-notification part)"
    if header_text(msg, "X-Apple-Action").upper() == "VACATION":
        return "X-Apple-Action: VACATION"
    subject = header_text(msg, "Subject")
    if _AUTO_REPLY_SUBJECT.match(subject) or _AUTO_REPLY_SUBJECT_WHOLE.match(subject):
        return f"auto-reply subject {subject[:50]!r}"
    return None


def _classify(msg: Message, envelope_sender: str | None) -> RobotVerdict:
    sender, sender_src = _envelope(msg, envelope_sender)
    bounce = _bounce_evidence(msg, sender, sender_src)
    if bounce:
        return RobotVerdict("bounce", bounce)
    auto = _auto_reply_evidence(msg)
    if auto:
        return RobotVerdict("auto_reply", auto)
    if sender == "":
        return RobotVerdict("bounce", f"null sender <> ({sender_src})")
    return RobotVerdict(None, "")


def classify_robot_head(msg: Message, envelope_sender: str | None) -> RobotVerdict:
    """classify_robot() on what the headers and the envelope say, reading no part of the body; never raises.

    A robot here is a robot for classify_robot() too (which may name another
    reason for it, found in the body); None means only the body could still
    show a robot. Cheap: it is asked before a message's sender is authorised
    (pipeline step `guard`) and by the milter for mail to the notification sender.
    """
    try:
        sender, sender_src = _envelope(msg, envelope_sender)
        bounce = _bounce_head(msg, sender, sender_src)
        if bounce:
            return RobotVerdict("bounce", bounce)
        auto = _auto_reply_evidence(msg, parts=False)
        if auto:
            return RobotVerdict("auto_reply", auto)
        if sender == "":
            return RobotVerdict("bounce", f"null sender <> ({sender_src})")
        return RobotVerdict(None, "")
    except Exception as exc:  # pragma: no cover - defensive; a human is the safe default
        return RobotVerdict(None, f"classification failed ({exc.__class__.__name__}); treated as human")


def automated_sender(msg: Message, envelope_sender: str | None) -> str:
    """The robot address the message comes from (envelope sender or From: MAILER-DAEMON, no-reply@,
    bounces+…@, *-owner@, …), or ''. An address is no evidence of a robot by itself; it says
    who may write to an address that reads only robots (the notification sender)."""
    try:
        sender, _ = _envelope(msg, envelope_sender)
        for address in (sender or "", _address(header_text(msg, "From"))):
            local = address.rpartition("@")[0] if "@" in address else address
            if local and (_AUTOMATED_LOCAL.match(local) or _DAEMON_FROM.search(local)):
                return address
    except Exception:  # noqa: BLE001 -- a header that cannot be read names no robot
        return ""
    return ""
