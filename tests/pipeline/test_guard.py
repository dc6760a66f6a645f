"""The guard step: robots are found while reading and refused at the step's turn; people pass."""

import pytest

from mailgate.shared.outcomes import Ignore, Reason
from mailgate.shared.pipeline.steps import guard


def test_a_bounce_is_read_as_a_robot_and_ignored_at_its_turn(stored, mail):
    w = stored(mail(sender="MAILER-DAEMON@example.org", subject="Undelivered Mail Returned to Sender",
                    headers={"Auto-Submitted": "auto-replied"}), sender="")
    guard.read(w)
    assert w.robot_verdict is not None and w.robot is None and w.decisions == []  # nothing applied yet
    with pytest.raises(Ignore) as ignored:
        guard.run(w)
    assert ignored.value.reason == Reason.BOUNCE and w.robot == "bounce" and w.decisions == [ignored.value.text]


def test_our_own_notification_coming_back_is_ignored_without_a_robot_kind(stored, mail):
    w = stored(mail(headers={"X-Mailgate-Notification": "commented"}))
    guard.read(w)
    with pytest.raises(Ignore) as ignored:
        guard.run(w)
    assert ignored.value.reason == Reason.OWN_MAIL and w.robot is None


def test_a_person_passes(stored):
    w = stored()
    guard.read(w)
    guard.run(w)
    assert w.robot_verdict is None and w.decisions == []
