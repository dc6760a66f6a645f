"""Reading a message's Mailgate recipients back from its headers, for each address strategy."""

from __future__ import annotations

from email import message_from_bytes

from mailgate.ingress.imap import routing
from mailgate.shared.addresses import incoming

KEY = "t12+7+3f9c0a5be1d2c4e8"


def msg(headers: str):
    return message_from_bytes((headers.strip() + "\r\n\r\nbody\r\n").encode())


def test_catch_all_reads_every_routing_header(settings):
    m = msg("Delivered-To: T12+7+3f9c0a5be1d2c4e8@reply.example.com\r\nTo: Team <team@elsewhere.example>\r\n"
            "Cc: bugs@Reply.Example.com\r\nX-Original-To: bugs@reply.example.com\r\nX-Envelope-To: postmaster@reply.example.com")
    assert routing.recipients(m, settings) == ["T12+7+3f9c0a5be1d2c4e8@reply.example.com", "bugs@Reply.Example.com"]
    assert routing.recipients(msg("To: someone@elsewhere.example"), settings) == []


def test_template_gives_the_key_back(settings):
    template = "incoming+%{key}@gmail.com"
    m = msg(f"To: incoming+{KEY}@gmail.com\r\nCc: incoming@gmail.com\r\nDelivered-To: incoming+bugs@GMAIL.com")
    assert routing.recipients(m, settings, template) == ["bugs@reply.example.com", f"{KEY}@reply.example.com"]
    assert incoming.key_in("incoming-%{key}@exchange.example.com", "incoming-bugs@exchange.example.com") == "bugs"
    assert incoming.key_in(template, "incoming+@gmail.com") is None
    assert incoming.key_in(template, "other+bugs@gmail.com") is None
    assert routing.recipients(msg("To: bugs@reply.example.com"), settings, template) == []  # not in the template


def test_dedicated_mailbox_reads_the_key_from_references_only(settings):
    template = "support@example.com"
    reply = msg(f"To: support@example.com\r\nIn-Reply-To: <mailgate.t12.abc@reply.example.com>\r\n"
                f"References: <mailgate.t12.root@reply.example.com> <reply-{KEY}@reply.example.com>")
    assert routing.recipients(reply, settings, template) == [f"{KEY}@reply.example.com"]
    new = msg("To: support@example.com\r\nSubject: a new thread")
    assert routing.recipients(new, settings, template) == []  # only replies work
    foreign = msg(f"To: support@example.com\r\nReferences: <reply-{KEY}@elsewhere.example> <reply-notakey@reply.example.com>")
    assert routing.recipients(foreign, settings, template) == []


def test_envelope_sender_from_return_path():
    assert routing.envelope_sender(msg("Return-Path: <bob@example.org>")) == "bob@example.org"
    assert routing.envelope_sender(msg("Return-Path: <>")) == ""
    assert routing.envelope_sender(msg("From: bob@example.org")) is None
