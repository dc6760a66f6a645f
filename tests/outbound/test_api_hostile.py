"""The API mailers against odd credentials and hostile answers: no secret in any text, no unbounded read."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from mailgate.shared.config import ConfigError
from mailgate.shared.mailer_config import parse_mailers
from mailgate.shared.outbound.api_mailers import PostmarkMailer, SendgridMailer
from mailgate.shared.outbound.failures import MailerFailure

from ..support.api_standins import STANDINS

MIME = b"From: a@reply.example.com\r\nTo: b@example.org\r\nSubject: s\r\nMessage-ID: <1@x>\r\n\r\nHello\r\n"


@pytest.mark.parametrize("value", ["pm-token\n", "pm token", "pm-t\u00f6ken", "pm\x00token"])
def test_a_credential_an_http_header_cannot_carry_is_refused_at_start_up_without_showing_it(value):
    entry = {"key": "pm", "type": "postmark", "options": {"access-token": value}}
    with pytest.raises(ConfigError) as refused:
        parse_mailers("MAILGATE_MAILERS", json.dumps([entry]))
    assert "options.access-token" in str(refused.value)
    assert value.strip() not in str(refused.value)


@pytest.mark.parametrize("cls,option", [(PostmarkMailer, "access-token"), (SendgridMailer, "api-key")])
def test_an_error_text_never_carries_the_credential(cls, option):
    """Defence in depth: a header the HTTP library refuses is named in its error, credential included."""
    standin = STANDINS[cls.type]().start()
    try:
        mailer = cls("k", {option: "S3CRET-VALUE\r\nX-Injected: 1", "endpoint": standin.url})
        with pytest.raises(MailerFailure) as failed:
            mailer.send("a@reply.example.com", ["b@example.org"], MIME)
        assert "S3CRET" not in str(failed.value)
        assert standin.requests == []  # nothing was sent, injected header or not
    finally:
        standin.stop()
