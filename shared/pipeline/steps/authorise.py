"""Authorise: may the sender do this? A reply only from the address's own user (or, public, any known user);
a create address from a known user, or as its default author; a personal create address as its user.
A service desk (docs/service-desk.md) takes anyone: an unknown sender opens the task as the default author
or the Support identity and becomes its external participant; a participant's reply address takes mail
from that participant's address only; an unsubscribe address takes anyone (its token is the authority).

The sender is the From header's one mailbox (what a person controls and
sees), read before the transaction (`read`); the envelope sender only when
there is no From header at all. A From that does not name one mailbox is
refused (unreadable_from), never replaced by the envelope sender.
"""

from __future__ import annotations

from mailgate.shared.addresses import AddressError, find_user_by_email, normalise
from mailgate.shared.message import from_mailbox
from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.pipeline.work import NotForeseeable, Work
from mailgate.shared.rows import UserRef
from mailgate.shared.servicedesk import participants
from mailgate.shared.servicedesk.opening import read_requester


def read(w: Work) -> None:
    w.from_box = from_mailbox(w.msg)


def run(w: Work) -> None:
    rcpt = w.recipient
    if rcpt.kind == "unsubscribe":
        w.participant, w.author = rcpt.participant, _support(w)
        w.actor = w.author.username
        w.note(f"Unsubscribe address of external participant #{rcpt.participant.id}: its token authorises.")
        return
    sender = _sender(w)
    user = find_user_by_email(w.conn, sender) if sender else None
    if rcpt.personal is not None:
        return _personal_author(w)
    if user is not None and not user.enabled:
        # Refused outright: not "unknown", which a create address's default author would let in
        # under another name -- disabling someone is meant to stop their mail.
        w.note(f"{sender} belongs to {user.username}, whose account is disabled: refused.")
        # The refusal goes back to whoever wrote From (perhaps a forger): it names no account.
        raise Reject(Reason.SENDER_MISMATCH if rcpt.kind == "reply" else Reason.UNKNOWN_SENDER,
                     f"Mail from {sender} is not accepted here: the account is disabled.")
    author = _reply_author(w, sender, user) if rcpt.kind == "reply" else _create_author(w, sender, user)
    w.author, w.actor = author, author.username


def _sender(w: Work) -> str:
    """The From mailbox; the envelope sender only when there is no From header at all (said in the trail)."""
    box = w.from_box
    if box.problem:
        envelope = f"; the envelope sender {w.envelope.sender} is not taken in its place" if w.envelope.sender else ""
        w.note(f"From header {box.seen!r}: {box.problem}{envelope}.")
        raise Reject(Reason.UNREADABLE_FROM)
    if not box.present:
        w.note(f"No From header: the envelope sender {w.envelope.sender or '(none)'} is taken as the sender.")
        return w.envelope.sender or ""
    return box.address


def _personal_author(w: Work) -> None:
    """A personal create address: its secret, not the From header, says who writes."""
    user = w.recipient.personal
    if not user.enabled:
        raise Reject(Reason.UNKNOWN_SENDER, "Mail to this address is not accepted: the account is disabled.")
    w.note(f"Personal create address of {user.username}: the task is opened as {user.username}.")
    w.author, w.actor = user, user.username


def _reply_author(w: Work, sender: str, user: UserRef | None) -> UserRef:
    token = w.recipient.token
    if w.recipient.participant is not None:
        return _participant_author(w, sender)
    if token.is_public:
        if user is None:
            raise Reject(Reason.SENDER_MISMATCH,
                         f"{sender or 'The sender'} is not a known user, so cannot reply to a public address.")
    elif user is None or user.id != token.user_id:
        raise Reject(Reason.SENDER_MISMATCH,
                     f"This reply address was issued to user #{token.user_id}; "
                     f"{sender or 'the sender'} is not one of their addresses.")
    w.note(f"Sender {sender} is {user.username}: allowed to reply.")
    return user


def _participant_author(w: Work, sender: str) -> UserRef:
    """A participant's reply address: signed for their e-mail address, so only mail from it is theirs."""
    participant = w.recipient.participant
    if _normalised(sender) != participant.address:
        # The refusal may go back to a forger: it names neither the participant nor their address.
        raise Reject(Reason.SENDER_MISMATCH, f"This reply address was issued to someone else; "
                     f"{sender or 'the sender'} is not their address.")
    w.participant = participant
    w.note(f"Sender {sender} is the task's external participant #{participant.id}: allowed to reply "
           "(written under the Support identity).")
    return _support(w)


def _normalised(address: str) -> str:
    try:
        return normalise(address)
    except AddressError:
        return ""


def _create_author(w: Work, sender: str, user: UserRef | None) -> UserRef:
    create = w.recipient.create
    if user is not None:
        w.note(f"Sender {sender} is {user.username}: allowed to open tasks.")
        return user
    if create.service_desk:
        return _desk_author(w, sender)
    if create.default_author is not None and create.default_author.enabled:
        w.note(f"Sender {sender or '(none)'} is not known; the address's default author "
               f"{create.default_author.username} opens the task.")
        return create.default_author
    raise Reject(Reason.UNKNOWN_SENDER,
                 f"{sender or 'The sender'} is not a known user, so cannot open tasks at {w.recipient.address}.")


def _desk_author(w: Work, sender: str) -> UserRef:
    """A stranger writes to a service desk: the task is the default author's (or the Support identity's),
    and the sender is to become its external participant (the service_desk step records them)."""
    address = _normalised(sender)
    domain = address.rpartition("@")[2]
    if not address or w.settings.serves_domain(domain):
        raise Reject(Reason.UNKNOWN_SENDER, f"{sender or 'The sender'} cannot open a task at {w.recipient.address}: "
                     "a participant's address must be outside Mailgate's own domains.")
    w.requester = read_requester(w.msg, address)
    default = w.recipient.create.default_author
    author = default if default is not None and default.enabled else _support(w)
    w.note(f"Service desk: {address} has no account; the task is opened as {author.username}, and {address} "
           "becomes its external participant.")
    return author


def _support(w: Work) -> UserRef:
    """The built-in Support user; made on first need, but never while foreseeing, which only reads."""
    found = participants.support_identity(w.conn, create=not w.foreseeing)
    if found is None:
        raise NotForeseeable("the Support identity is yet to be made")
    return found
