"""A real SMTP far end on loopback (aiosmtpd), and helpers to point mailers at it."""

from __future__ import annotations

import socket
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from mailgate.shared.config import MailerConfig
from mailgate.shared.models import OutboundMessage


def free_port() -> int:
    """A loopback port nobody listens on (bound then released): connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """aiosmtpd handler that keeps what arrives; can be told to refuse RCPT or DATA."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_answer: str | None = None
        self.data_answer: str | None = None
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_answer:
            return self.data_answer
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Message accepted"

    def parsed(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default) for _f, _r, raw in self.messages]


class SinkServer:
    def __init__(self, handler: Sink, port: int):
        self.handler, self.port = handler, port

    def mailer(self, key: str = "sink", priority: int | None = None) -> MailerConfig:
        return MailerConfig(key=key, type="smtp", priority=priority,
                            options={"host": "127.0.0.1", "port": self.port, "timeout": 10})


@pytest.fixture
def sink():
    from aiosmtpd.controller import Controller

    handler = Sink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SinkServer(handler, port)
    finally:
        controller.stop()


def with_mailers(settings, *mailers: MailerConfig):
    return replace(settings, mailers=tuple(mailers))


@pytest.fixture
def refusing_mailer() -> MailerConfig:
    return MailerConfig(key="down", type="smtp", priority=None,
                        options={"host": "127.0.0.1", "port": free_port(), "timeout": 5})


def outbound_rows(db) -> list[OutboundMessage]:
    """Every outbound row, oldest first, detached from its session (readable after it ends)."""
    from sqlalchemy import select

    with db.read() as s:
        rows = list(s.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
        for r in rows:
            s.expunge(r)
    return rows
