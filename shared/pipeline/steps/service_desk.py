"""Service desk: a stranger's mail to a desk address has opened a task; record them as its external participant
(and, when the address says so, the people the mail copies), and queue the acknowledgement.

Runs after `act` (the task exists then) and does nothing for any other
message: `authorise` named the requester (`w.requester`) only for a desk
address and a sender without an account (docs/service-desk.md).
"""

from __future__ import annotations

from mailgate.shared.pipeline.work import Work
from mailgate.shared.servicedesk.opening import open_conversation


def run(w: Work) -> None:
    if w.requester is None or w.action != "create":
        return
    for sentence in open_conversation(w.conn, w.settings, task=w.task, create=w.recipient.create,
                                      requester=w.requester, source_received_id=w.row.id):
        w.note(sentence)
