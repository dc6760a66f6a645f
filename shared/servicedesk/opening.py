"""A service desk's new task: who wrote (and who was copied), recorded as external participants, and the
acknowledgement to the writer.

What the message says about them is read before the transaction
(`read_requester`, no database); `open_conversation` writes them in the
act's transaction.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message

from mailgate.shared.addresses import AddressError, find_user_by_email, is_reserved, split_address
from mailgate.shared.config import Settings
from mailgate.shared.message import message_id
from mailgate.shared.prepared import Conn
from mailgate.shared.rows import CreateTarget, TaskRow
from mailgate.shared.servicedesk import notices, participants
from mailgate.shared.servicedesk.participants import display_name

MAX_CC = 10  # Cc'd addresses made participants of one task, at most
ACK_WINDOW = timedelta(hours=1)
ACK_LIMIT = 5  # acknowledgements to one address per window: a robot that answers each one stops getting them


@dataclass
class Requester:
    """The writer of a service-desk mail and the people it copies, as the message names them."""

    address: str = ""  # normalised; "" when the sender cannot be a participant
    name: str = ""
    thread_root: str = ""  # the mail's Message-ID: their conversation's root
    cc: list[tuple[str, str]] = field(default_factory=list)  # (normalised address, display name)


def _mailboxes(msg: Message, header: str) -> list[tuple[str, str]]:
    try:
        values = [str(v) for v in msg.get_all(header) or []]
        pairs = email.utils.getaddresses(values)
    except Exception:  # noqa: BLE001 -- an unreadable header names nobody
        return []
    found = []
    for name, addr in pairs:
        try:
            local, domain = split_address(addr)
        except AddressError:
            continue
        found.append((f"{local}@{domain}", display_name(name)))
    return found


def read_requester(msg: Message, sender: str) -> Requester:
    """The requester is `sender` (the authorised From address); their name is From's display name."""
    try:
        local, domain = split_address(sender)
    except AddressError:
        return Requester()
    address = f"{local}@{domain}"
    name = next((n for a, n in _mailboxes(msg, "From") if a == address), "")
    cc: dict[str, str] = {}
    for a, n in _mailboxes(msg, "Cc"):
        if a != address and len(cc) < 4 * MAX_CC:
            cc.setdefault(a, n)
    return Requester(address, name, message_id(msg), list(cc.items()))


def open_conversation(conn: Conn, settings: Settings, *, task: TaskRow, create: CreateTarget, requester: Requester,
                      source_received_id: int | None) -> list[str]:
    """Record the requester (and, when the address says so, the Cc'd) on `task`; acknowledge. Returns notes."""
    notes: list[str] = []
    writer = participants.add(conn, task_id=task.id, address=requester.address, name=requester.name, via="from",
                              desk=create.address, thread_root=requester.thread_root)
    notes.append(f"{requester.address} is the task's external participant (no account).")
    if create.desk_cc:
        added = _add_cc(conn, settings, task, create, requester)
        if added:
            notes.append(f"Copied addresses made participants: {', '.join(added)}.")
    notes.append(_acknowledge(conn, settings, task, create, writer, source_received_id))
    return notes


def _add_cc(conn: Conn, settings: Settings, task: TaskRow, create: CreateTarget, requester: Requester) -> list[str]:
    added: list[str] = []
    for address, name in requester.cc:
        if len(added) >= MAX_CC:
            break
        local, _, domain = address.rpartition("@")
        if settings.serves_domain(domain) or is_reserved(local) or find_user_by_email(conn, address) is not None:
            continue  # ours, a robot's name, or a team member (whose address no participant may see)
        participants.add(conn, task_id=task.id, address=address, name=name, via="cc", desk=create.address,
                         thread_root=requester.thread_root)
        added.append(address)
    return added


def _acknowledge(conn: Conn, settings: Settings, task: TaskRow, create: CreateTarget, writer: participants.ParticipantRow,
                 source_received_id: int | None) -> str:
    if not create.desk_acknowledge:
        return "No acknowledgement: turned off for this address."
    local = writer.address.rpartition("@")[0]
    if is_reserved(local):
        return f"No acknowledgement: {writer.address} is a robot's name (noreply, mailer-daemon, …)."
    if participants.opened_lately(conn, writer.address, ACK_WINDOW) > ACK_LIMIT:
        return (f"No acknowledgement: {writer.address} opened more than {ACK_LIMIT} tasks within the hour "
                "(a robot answering our mail would loop).")
    notices.queue_acknowledgement(conn, settings, task=task, participant=writer, template=create.desk_template,
                                  source_received_id=source_received_id)
    return f"Acknowledgement queued to {writer.address}."
