"""Hostile or odd requests to the webhooks, after authentication: a clear 4xx or a stored message, never a 500."""

from __future__ import annotations

import json
import threading

from ..conftest import REPLY_DOMAIN, make_mail
from .providers import mailgun_form, postmark_payload, sendgrid_form
from .test_webhooks import SG_AUTH, client, postmark, refused, rows, settings  # noqa: F401 -- fixtures

DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON nested past Python's recursion limit


def test_deeply_nested_json_is_malformed_not_a_crash(client, db, seed):
    body = ('{"OriginalRecipient": "bugs@%s", "RawEmail": %s}' % (REPLY_DOMAIN, DEEP)).encode()
    assert postmark(client, None, data=body, content_type="application/json").status_code == 403
    form = dict(sendgrid_form(make_mail(), [f"bugs@{REPLY_DOMAIN}"]), envelope=DEEP)
    assert client.post("/mail/sendgrid/", data=form, auth=SG_AUTH, content_type="multipart/form-data").status_code == 400
    assert rows(db) == [] and refused(db) == {("postmark", "malformed"): 1, ("sendgrid", "malformed"): 1}


def test_a_lone_surrogate_in_raw_email_is_stored_not_a_crash(client, db, seed):
    """JSON may escape a character no UTF-8 holds (\\ud800): the message is kept as it came, not retried forever."""
    payload = postmark_payload(make_mail(subject="Odd bytes", body="cafe ok\n"), f"bugs@{REPLY_DOMAIN}")
    payload["RawEmail"] = payload["RawEmail"].replace("cafe", "caf\ud800")
    answer = postmark(client, None, data=json.dumps(payload).encode(), content_type="application/json")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert rows(db)[-1].subject == "Odd bytes"


def test_one_signed_mailgun_post_replayed_at_once_with_other_bodies_stores_one_message(client, db, seed):
    """Mailgun's signature covers timestamp and token, not the message: a captured post replayed many times
    at once (each with a body of the attacker's) must pass the token check once, not once per copy."""
    signed = mailgun_form(make_mail(subject="The real one"), f"bugs@{REPLY_DOMAIN}", "sign-key")
    copies = [signed] + [dict(signed, **{"body-mime": make_mail(subject=f"Forged {i}").decode()}) for i in range(7)]
    answers: list[int] = []
    start = threading.Barrier(len(copies))

    def post(form):
        start.wait()
        answers.append(client.post("/mail/mailgun/", data=form).status_code)

    threads = [threading.Thread(target=post, args=(form,)) for form in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == [200] + [406] * 7
    assert len(rows(db)) == 1
