"""A queued notice after a key rotation leaves with a working, re-signed Reply-To -- a participant's and a
team member's -- also when reply addresses are handed out inside MAILGATE_INCOMING_ADDRESS (before: the
re-signed address lost the template's form, and a dedicated mailbox's References kept the dead key)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from mailgate.shared import commenting, durability, keys
from mailgate.shared.addresses import incoming
from mailgate.shared.addresses import check_recipient
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound.resign import resign_reply_to


@pytest.mark.parametrize("to", ["jane@customer.example", "alice@example.org"])
@pytest.mark.parametrize("template", ["", "incoming+%{key}@mailbox.example", "help@mailbox.example"])
def test_reply_to_is_resigned_in_its_handed_out_form(db, settings, seed, desk_task, template, to):
    settings = replace(settings, incoming_address=template)
    with durability.transaction(db) as conn:
        commenting.comment_as(conn, settings, ref="T1", username="bob", text="Hello.")
    with db.transaction() as s:
        keys.rotate_key(s)
    with db.transaction() as s:
        row = s.scalars(select(OutboundMessage).where(OutboundMessage.recipient == to)).one()
        before = (row.reply_to, dict(row.headers))
        assert resign_reply_to(s, settings, row) is True
        after = (row.reply_to, dict(row.headers))
    assert after != before
    if template and incoming.KEY not in template:  # a dedicated mailbox: the key rides in References
        assert after[0] == "help@mailbox.example"
        ref = [i for i in after[1]["References"].split() if i.startswith("<reply-")][0]
        address = ref[len("<reply-"):-1]
    elif template:
        address = incoming.key_in(template, after[0]) + "@reply.example.com"
    else:
        address = after[0]
    with db.reading() as conn:
        rcpt = check_recipient(conn, settings, address)
    if to == "alice@example.org":
        assert rcpt.token.user_id == seed.alice
    else:
        assert rcpt.participant.id == desk_task.participant.id
