"""The end-of-message answers of docs/milter.md's SMTP table, decided in one place."""

from __future__ import annotations

import pytest

from mailgate.shared.outcomes import Outcome, Reason, Status, message_reply


@pytest.mark.parametrize("status,reason,all_ours,code", [
    (Status.REJECTED, Reason.TOO_LARGE, True, 552),
    (Status.REJECTED, Reason.TOO_LARGE, False, 250),  # the other recipients' copy goes on
    (Status.REJECTED, Reason.UNKNOWN_SENDER, True, 550),
    (Status.REJECTED, Reason.UNKNOWN_SENDER, False, 250),
    (Status.IGNORED, Reason.BOUNCE, True, 250),  # never answer a robot
    (Status.PROCESSED, None, True, 250),
])
def test_end_of_message_answers(status, reason, all_ours, code):
    reply = message_reply(Outcome(id=1, status=status, reason=reason), all_recipients_ours=all_ours)
    assert reply.code == code
