"""SMTP mailer options against a real aiosmtpd: STARTTLS with login, and implicit TLS (ssl)."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest

from mailgate.shared.outbound.mailers import SMTPMailer, TemporaryFailure

from .conftest import Sink, free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    return ctx


class _Auth:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.login == b"mailgate" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)


def test_starttls_and_login(cert):
    from aiosmtpd.controller import Controller

    handler, port = Sink(), free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port, tls_context=cert, require_starttls=True,
                     authenticator=_Auth(), auth_require_tls=True)
    ctl.start()
    try:
        opts = {"host": "127.0.0.1", "port": port, "starttls": True, "verify": False, "user": "mailgate",
                "password": "s3cret"}
        m = SMTPMailer("tls", opts)
        m.send("noreply@reply.example.com", ["bob@example.org"], b"Subject: hi\r\n\r\nhello\r\n")
        m.close()
        assert len(handler.messages) == 1
        bad = SMTPMailer("tls", {**opts, "password": "wrong", "timeout": 3})
        # Our credentials, not the message: temporary, so the next mailer gets it.
        # (aiosmtpd answers smtplib's mechanism fallback slowly; the exact text varies.)
        with pytest.raises(TemporaryFailure):
            bad.send("noreply@reply.example.com", ["bob@example.org"], b"Subject: hi\r\n\r\nhello\r\n")
        strict = SMTPMailer("tls", {**opts, "verify": True})  # self-signed: refused when verifying
        with pytest.raises(TemporaryFailure, match="SSL|certificate"):
            strict.send("noreply@reply.example.com", ["bob@example.org"], b"Subject: hi\r\n\r\nhello\r\n")
    finally:
        ctl.stop()


def test_implicit_tls(cert):
    from aiosmtpd.controller import Controller

    handler, port = Sink(), free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=cert)
    ctl.start()
    try:
        m = SMTPMailer("smtps", {"host": "127.0.0.1", "port": port, "ssl": True, "verify": False})
        m.send("noreply@reply.example.com", ["bob@example.org"], b"Subject: hi\r\n\r\nhello\r\n")
        m.close()
        assert len(handler.messages) == 1
    finally:
        ctl.stop()
