"""Open an IMAP session (IMAPS or STARTTLS, login, mailbox) and say clearly what failed.

Failures come in two kinds: `LoginRefused` (the server answered and said
no: a wrong user or password, which waiting will not fix) and
`ConnectionLost` (the network, TLS or the server went away: retried with
backoff). Neither message ever contains the password.
"""

from __future__ import annotations

import imaplib
import socket
import ssl

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailgate.ingress.imap.settings import ImapSettings

# What the network, TLS or a server that went away raise from inside imapclient/imaplib.
NETWORK_ERRORS = (OSError, ssl.SSLError, imaplib.IMAP4.abort, EOFError, socket.timeout)


class ImapFailure(Exception):
    """Something about the mailbox is wrong; the message names the server and the setting to check."""


class LoginRefused(ImapFailure):
    """The server refused the credentials (or the mailbox): an operator must act."""


class ConnectionLost(ImapFailure):
    """The connection failed or dropped: try again later."""


def _context(settings: ImapSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect(settings: ImapSettings) -> IMAPClient:
    try:
        client = IMAPClient(settings.host, port=settings.port, ssl=settings.ssl, ssl_context=_context(settings),
                            timeout=settings.timeout)
        if settings.starttls:
            client.starttls(_context(settings))
        return client
    except ssl.SSLCertVerificationError as exc:
        raise ConnectionLost(f"IMAP server {settings.address}: certificate not trusted ({exc.verify_message}); "
                             "install its CA, or set MAILGATE_IMAP_VERIFY=false for a test server") from None
    except NETWORK_ERRORS + (IMAPClientError,) as exc:
        raise ConnectionLost(f"cannot connect to IMAP server {settings.address}: {describe(exc)}") from None


def open_session(settings: ImapSettings) -> tuple[IMAPClient, dict]:
    """A logged-in client with the mailbox selected (read-write), and SELECT's answer."""
    client = _connect(settings)
    try:
        client.login(settings.user, settings.password)
    except LoginError as exc:
        close_quietly(client)
        raise LoginRefused(f"IMAP login refused for user {settings.user!r} at {settings.address}: "
                           f"{describe(exc)}; check MAILGATE_IMAP_USER and MAILGATE_IMAP_PASSWORD") from None
    except NETWORK_ERRORS + (IMAPClientError,) as exc:
        close_quietly(client)
        raise ConnectionLost(f"IMAP server {settings.address} dropped the login: {describe(exc)}") from None
    try:
        selected = client.select_folder(settings.mailbox)
    except IMAPClientError as exc:
        close_quietly(client)
        raise LoginRefused(f"IMAP mailbox {settings.mailbox!r} cannot be opened for {settings.user!r} at "
                           f"{settings.address}: {describe(exc)}; check MAILGATE_IMAP_MAILBOX") from None
    except NETWORK_ERRORS as exc:
        close_quietly(client)
        raise ConnectionLost(f"IMAP server {settings.address} dropped the session: {describe(exc)}") from None
    return client, selected


def describe(exc: BaseException) -> str:
    """One line for the log: the server's own words when it gave some."""
    text = str(exc).strip().splitlines()
    words = text[0] if text else ""
    if words.startswith("b'") or words.startswith('b"'):
        words = words[2:-1]
    return f"{exc.__class__.__name__}: {words}" if words else exc.__class__.__name__


def close_quietly(client: IMAPClient) -> None:
    """Log out if the server still listens; never raise (the session is being abandoned anyway)."""
    try:
        client.logout()
    except Exception:  # noqa: BLE001 -- a dead connection cannot log out
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass
