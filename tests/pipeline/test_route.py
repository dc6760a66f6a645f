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


def test_a_thousand_recipients_cost_no_more_than_twenty_checks(stored, deciding, seed, monkeypatch):
    """Work per message is bounded, not multiplied by its recipients (issue 20 item 9)."""
    checked = []
    real = route.check_recipient

    def counting(conn, settings, address):
        checked.append(address)
        return real(conn, settings, address)

    monkeypatch.setattr(route, "check_recipient", counting)
    spellings = [seed.create_address.upper(), seed.create_address]  # one address, twice: checked once
    unknown = [f"nobody{i}@reply.example.com" for i in range(1000)]
    w = stored(to=[*spellings, *unknown])
    with deciding(w):
        route.run(w)
    assert w.routed_to == seed.create_address and len(checked) == route.MAX_CHECKED
    assert checked[0] == seed.create_address.upper() and seed.create_address not in checked
    assert "1001 Mailgate recipients: only the first 20 were considered." in w.decisions
