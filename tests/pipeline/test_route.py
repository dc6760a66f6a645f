"""The route step: Mailgate's usable recipient, a reply address before a create address, headers without an envelope."""

import pytest

from mailgate.shared.outcomes import Reason, Reject
from mailgate.shared.pipeline.steps import route


def test_the_create_address_of_the_envelope(stored, deciding, seed):
    w = stored()
    with deciding(w):
        route.run(w)
    assert (w.routed_to, w.application, w.recipient.kind, w.object_ref) == (seed.create_address, "tasks", "create", None)


def test_a_reply_address_wins_over_a_copied_create_address(stored, deciding, seed, task_with_reply):
    ref, addr = task_with_reply
    w = stored(to=[seed.create_address, addr])
    with deciding(w):
        route.run(w)
    assert (w.recipient.kind, w.object_ref, w.routed_to) == ("reply", ref, addr.lower())
    assert "the other Mailgate recipients are recorded only" in w.decisions[-1]


def test_no_envelope_routes_by_the_headers(stored, deciding, mail, seed):
    w = stored(mail(to=f"Someone <someone@example.org>, {seed.create_address}"), to=[])
    with deciding(w):
        route.run(w)
    assert w.routed_to == seed.create_address and w.decisions[0].startswith("No envelope: routed by the headers")


@pytest.mark.parametrize("to,reason", [(["someone@example.org"], Reason.UNKNOWN_RECIPIENT),
                                        (["nobody@reply.example.com"], Reason.UNKNOWN_RECIPIENT)])
def test_no_usable_recipient_is_refused(stored, deciding, to, reason):
    w = stored(to=to)
    with deciding(w), pytest.raises(Reject) as refused:
        route.run(w)
    assert refused.value.reason == reason and w.routed_to is None
