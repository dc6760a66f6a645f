"""Robot classification: each kind of evidence, and humans who must stay human."""

from __future__ import annotations

import pytest

from mailgate.shared.message import load_message
from mailgate.shared.parsing import classify_robot


def verdict(headers: str, body: str = "Hello\n", envelope: str | None = None):
    raw = (headers.strip("\n") + "\n\n" + body).encode("utf-8")
    return classify_robot(load_message(raw), envelope)


HUMAN = "From: Alice <alice@example.com>\nTo: t@reply.example.com\nSubject: Re: T12 login page\n"


def test_a_human_reply_is_not_a_robot() -> None:
    v = verdict(HUMAN, "Works for me now.\n")
    assert v.kind is None and v.reason == ""


# --- bounces ---------------------------------------------------------------

def test_null_envelope_sender_is_a_bounce() -> None:
    v = verdict(HUMAN, envelope="")
    assert v.kind == "bounce" and "null sender" in v.reason


def test_known_envelope_wins_over_return_path() -> None:
    assert verdict("Return-Path: <>\n" + HUMAN, envelope="alice@example.com").kind is None
    assert verdict("Return-Path: <>\n" + HUMAN).kind == "bounce"


def test_mbox_from_line_mailer_daemon_counts_as_null_sender() -> None:
    assert verdict("From MAILER-DAEMON  Mon Sep 20 19:29:27 2021\n" + HUMAN).kind == "bounce"


def test_delivery_status_report() -> None:
    headers = ("From: Mail System <x@mx.example.com>\nSubject: x\nMIME-Version: 1.0\n"
               "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n")
    body = ("--b\nContent-Type: text/plain\n\nsorry\n--b\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 5.1.1\n--b--\n")
    v = verdict(headers, body)
    assert v.kind == "bounce" and "delivery-status" in v.reason


def test_x_failed_recipients() -> None:
    assert verdict("X-Failed-Recipients: bob@example.org\n" + HUMAN).kind == "bounce"


@pytest.mark.parametrize("sender", [
    "MAILER-DAEMON@mx.example.com", "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
    "Mail Delivery System <MAILER-DAEMON@example.com>", "Microsoft Outlook <postmaster@Example.onmicrosoft.com>",
])
def test_mail_system_senders(sender: str) -> None:
    v = verdict(f"From: {sender}\nSubject: Undeliverable: report\n", "Delivery has failed to these recipients.\n")
    assert v.kind == "bounce"


def test_text_dsn_block_in_body() -> None:
    body = "Your mail could not be sent.\n\nFinal-Recipient: rfc822; bob@example.org\nAction: failed\nStatus: 5.2.2\n"
    assert verdict("From: robot@mx.example.com\nSubject: notice\n", body).kind == "bounce"


def test_amazon_ses_notification() -> None:
    body = '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent"}}\n'
    v = verdict("From: SES <no-reply@sns.amazonaws.com>\nSubject: AWS Notification Message\n", body)
    assert v.kind == "bounce" and "Amazon SES" in v.reason


def test_automated_sender_with_bounce_phrase() -> None:
    body = "Error: Invalid user address\n550 - Requested action not taken: no such user here\n"
    assert verdict("From: post_master@vtext.example.com\nSubject: Re: hello\n", body).kind == "bounce"


def test_exim_bounce_marked_auto_replied_is_a_bounce() -> None:
    headers = ("From: Mail Delivery System <Mailer-Daemon@mx.example.com>\nAuto-Submitted: auto-replied\n"
               "Subject: Mail delivery failed: returning message to sender\n")
    assert verdict(headers, "This message was created automatically by mail delivery software.\n").kind == "bounce"


# --- auto-replies ------------------------------------------------------------

@pytest.mark.parametrize("header, reason", [
    ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
    ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
    ("X-Autoreply: yes", "X-Autoreply: yes"),
    ("X-Autorespond: on vacation", "X-Autorespond: on vacation"),
    ("Precedence: bulk", "Precedence: bulk"),
    ("Precedence: junk", "Precedence: junk"),
    ("Precedence: list", "Precedence: list"),
    ("Precedence: auto_reply", "Precedence: auto_reply"),
    ("X-Apple-Action: VACATION", "X-Apple-Action: VACATION"),
])
def test_auto_reply_headers(header: str, reason: str) -> None:
    v = verdict(header + "\n" + HUMAN)
    assert v.kind == "auto_reply" and v.reason == reason


def test_auto_submitted_no_is_human() -> None:
    assert verdict("Auto-Submitted: no\n" + HUMAN).kind is None


@pytest.mark.parametrize("subject", [
    "Automatic reply: T12 login page", "Out of Office: T12", "Out of Office AutoReply", "Auto: T12",
    "Abwesenheitsnotiz: T12", "Réponse automatique : T12", "Respuesta automática: T12", "Autoreply",
])
def test_auto_reply_subjects(subject: str) -> None:
    assert verdict(f"From: Bob <bob@example.com>\nSubject: {subject}\n").kind == "auto_reply"


def test_null_sender_auto_reply_is_an_auto_reply() -> None:
    v = verdict("From: Bob <bob@example.com>\nSubject: Automatic reply: T12\n", envelope="")
    assert v.kind == "auto_reply"


# --- humans who look a bit like robots ---------------------------------------

@pytest.mark.parametrize("headers, body", [
    ("From: Alice <alice@example.com>\nSubject: Undeliverable mail to customers?\n",
     "Since Monday we get 'User unknown' and 'mailbox full' errors. 550 5.1.1 everywhere.\n"),
    ("From: Alice <alice@example.com>\nSubject: Re: Out of office next week?\n", "Yes, I am away.\n"),
    ("From: Alice <alice@example.com>\nSubject: Fwd: Returned mail: see transcript for details\n",
     "Forwarding this.\n\n> ----- The following addresses had permanent fatal errors -----\n> Final-Recipient: rfc822; b@x\n> Status: 5.1.1\n"),
    ("From: Bob the admin <postmaster@example.com>\nSubject: DNS change tonight\n", "Heads up.\n"),
    ("From: Alice <alice@example.com>\nSubject: vacation planning\n", "Who is away in August?\n"),
    ("From: Alice <alice@example.com>\nSubject: Re: Automatic reply settings\n", "Found it.\n"),
    ("From: Alice <alice@example.com>\nX-Auto-Response-Suppress: All\nSubject: Re: T1\n", "Done.\n"),
])
def test_humans_stay_human(headers: str, body: str) -> None:
    v = verdict(headers, body)
    assert v.kind is None, v.reason


def test_never_raises_on_garbage_headers() -> None:
    for raw in [b"", b"\xff\xfe", b"Content-Type: multipart/report; report-type=\n\n", b"From: =?x?q?\xff?=\n\n"]:
        classify_robot(load_message(raw), None)


def test_read_receipt_is_an_auto_reply() -> None:
    headers = ("From: Bob <bob@example.com>\nSubject: Read: T12\nMIME-Version: 1.0\n"
               "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n")
    body = ("--b\nContent-Type: text/plain\n\nYour message was read.\n--b\n"
            "Content-Type: message/disposition-notification\n\nDisposition: manual-action/MDN-sent-manually; displayed\n--b--\n")
    v = verdict(headers, body)
    assert v.kind == "auto_reply" and "read receipt" in v.reason


def test_abuse_feedback_report_is_a_bounce() -> None:
    headers = ("From: scomp@aol.net\nSubject: Email Feedback Report\nMIME-Version: 1.0\n"
               "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n")
    assert verdict(headers, "--b\nContent-Type: text/plain\n\nx\n--b--\n").kind == "bounce"
