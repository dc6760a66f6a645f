"""Sender authentication: what off / report / require make of the result `sender_auth.prepare()` found.

The verification (DNS) ran before the message was handed over; this step
only decides, with the create address's own setting over
MAILGATE_SENDER_AUTH. Under require, a message without a DMARC pass is
rejected (unauthenticated_sender), and one whose domain could not be
checked (DNS did not answer) is deferred: AuthDeferred, a TempFail, so the
message stays `received` and the sender retries. A personal create address
passes: its secret names the user.
"""

from __future__ import annotations

from mailgate.shared import sender_auth
from mailgate.shared.outcomes import AUTH_TEMPFAIL, AuthDeferred, Reason, Reject
from mailgate.shared.pipeline.work import NotForeseeable, Work
from mailgate.shared.senderauth.policy import effective_mode, refusal_text
from mailgate.shared.senderauth.result import mismatch_sentence, summary


def run(w: Work) -> None:
    rcpt = w.recipient
    if rcpt.kind == "unsubscribe":  # its random token is the authority, as in the one-click link
        return
    mode = effective_mode(w.settings.sender_auth, rcpt.create.sender_auth if rcpt.kind == "create" else None)
    if mode == "off":
        return
    auth = w.envelope.auth
    if auth is None:  # not prepared (an address switched on between RCPT and now): verify here, once
        if w.foreseeing:
            raise NotForeseeable("sender authentication would ask DNS")
        auth = w.envelope.auth = sender_auth.verify(w.settings, w.envelope, w.raw)
        w.columns.update(sender_auth.columns(auth))
    w.note(f"Sender authentication ({mode}): {summary(auth)}." + (f" {auth.note}" if auth.note else ""))
    mismatch = mismatch_sentence(auth, w.row.mail_from, w.row.from_addr)
    if mismatch:
        w.note(mismatch)
    if mode != "require" or auth.verdict == "pass":
        return
    if rcpt.personal is not None:
        w.note(f"{rcpt.address} is {rcpt.personal.username}'s personal create address: its secret "
               f"authenticates the sender.")
        return
    if auth.verdict == "temperror":
        w.note("Deferred: " + AUTH_TEMPFAIL.text)
        raise AuthDeferred(AUTH_TEMPFAIL.text)
    raise Reject(Reason.UNAUTHENTICATED_SENDER, refusal_text(auth))
