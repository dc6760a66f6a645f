"""Mailers for the HTTP sending APIs of Postmark, Mailgun and SendGrid.

One HTTP client for all three: httpx (a maintained client with separate
connect/read/write/pool timeouts and keep-alive through one Client per
mailer, so a worker reuses its TLS connection as it reuses its SMTP one).
The environment's proxy and netrc settings are ignored (`trust_env=False`):
a site that needs a proxy names it in the `endpoint` option, so what the
worker talks to is what MAILGATE_MAILERS says.

Each mailer is given the bytes the worker rendered. Mailgun takes them as
they are (`messages.mime`); Postmark and SendGrid take fields, read back
from those bytes (mime_fields.py), with every header Mailgate sets carried
in their extra-headers field. Answers map to outcomes in http_answers.py.
Credentials never appear in an error text or a log line.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Sequence

import httpx

from mailgate.shared.mailer_config import fingerprint
from mailgate.shared.mailer_options import SECRETS
from mailgate.shared.outbound import mime_fields
from mailgate.shared.outbound.failures import CredentialsRefused, MailerDown
from mailgate.shared.outbound.http_answers import failure_for, short

DEFAULT_TIMEOUT = 30.0
MAX_ANSWER_BYTES = 256 * 1024  # of an answer's body read at most: the services answer a few hundred bytes of JSON


class ApiMailer:
    """What the three HTTP APIs share: endpoint, timeouts, one kept client, the answer rules."""

    type = ""
    keeps_message_id = True

    def __init__(self, key: str, options: dict):
        self.key = key
        self.options = options
        self.endpoint = str(options.get("endpoint") or self.default_endpoint()).strip().rstrip("/")
        self.timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
        self._client: httpx.Client | None = None

    def default_endpoint(self) -> str:
        raise NotImplementedError

    @property
    def where(self) -> str:
        return f"{self.type} {self.endpoint}"

    def client(self) -> httpx.Client:
        if self._client is None:
            # TCP_NODELAY, as curl sets it: the client writes a request's headers and body separately,
            # and Nagle would hold the body until the headers are acknowledged (a delayed ACK: up to 40 ms).
            transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            self._client = httpx.Client(base_url=self.endpoint, timeout=httpx.Timeout(self.timeout),
                                        trust_env=False, transport=transport, headers={"User-Agent": "Mailgate"})
        return self._client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP exchange; no answer at all (refused, reset, timed out) means the mailer is down."""
        try:
            with self.client().stream(method, path, **kwargs) as response:
                body = self._bounded_body(response)
        except httpx.TimeoutException as exc:
            raise MailerDown(f"{self.where}: no answer within {self.timeout:g} s ({exc.__class__.__name__})") from None
        except httpx.HTTPError as exc:  # a refused header value is quoted in the text: the credential too
            raise MailerDown(self.redact(f"{self.where}: {exc.__class__.__name__}: {exc}")) from None
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=body, request=response.request)

    def _bounded_body(self, response: httpx.Response) -> bytes:
        """At most MAX_ANSWER_BYTES of the body, read within the timeout: an answer without end is cut off."""
        deadline = time.monotonic() + self.timeout
        chunks, size = [], 0
        for chunk in response.iter_bytes(chunk_size=64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ANSWER_BYTES or time.monotonic() > deadline:
                break
        return b"".join(chunks)[:MAX_ANSWER_BYTES]

    def redact(self, text: str) -> str:
        """`text` with every secret option's value (and its repr-escaped form) replaced by its fingerprint."""
        for name, value in self.options.items():
            if name in SECRETS and isinstance(value, str) and value:
                for form in {value, repr(value)[1:-1], repr(value.encode("utf-8", "replace"))[2:-1]}:
                    text = text.replace(form, f"[{name} {fingerprint(value)}]")
        return text

    def error_text(self, response: httpx.Response) -> str:
        """The service's own words for a refusal (overridden per service's error shape)."""
        return response.text

    def check(self, response: httpx.Response) -> None:
        failure = failure_for(response.status_code, self.redact(self.error_text(response)), self.where,
                              response.headers.get("Retry-After"))
        if failure is not None:
            raise failure

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class PostmarkMailer(ApiMailer):
    """Postmark's /email API. Options: access-token (the Server API token), endpoint, timeout."""

    type = "postmark"
    # ErrorCodes that say the account or sender cannot send at all (Postmark's API error codes):
    # sender signature not found / not confirmed, not allowed to send, account pending, may not send.
    ACCOUNT_ERRORS = {400, 401, 405, 412, 413}

    def default_endpoint(self) -> str:
        return "https://api.postmarkapp.com"

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "X-Postmark-Server-Token": str(self.options.get("access-token", ""))}

    def error_text(self, response: httpx.Response) -> str:
        body = _json(response)
        if isinstance(body, dict) and "Message" in body:
            return f"ErrorCode {body.get('ErrorCode')}: {body['Message']}"
        return response.text

    def payload(self, data: bytes) -> dict[str, Any]:
        f = mime_fields.read(data)
        body: dict[str, Any] = {"From": f.sender, "To": f.to, "Subject": f.subject, "TextBody": f.text or ""}
        if f.html:
            body["HtmlBody"] = f.html
        if f.reply_to:
            body["ReplyTo"] = f.reply_to
        if f.headers:
            body["Headers"] = [{"Name": name, "Value": value} for name, value in f.headers]
        return body

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        response = self.request("POST", "/email", json=self.payload(data), headers=self._headers())
        body = _json(response)
        if response.status_code == 422 and isinstance(body, dict) and body.get("ErrorCode") in self.ACCOUNT_ERRORS:
            raise CredentialsRefused(f"{self.where}: HTTP 422: {short(self.redact(self.error_text(response)))}")
        self.check(response)
        return f"Postmark MessageID {body.get('MessageID')}" if isinstance(body, dict) and body.get("MessageID") else ""

    def probe(self) -> str:
        """GET /server: reads the server's settings, proving the token; changes nothing."""
        response = self.request("GET", "/server", headers=self._headers())
        self.check(response)
        body = _json(response) or {}
        return f"server {body.get('Name', '?')!r} accepts the token"


class MailgunMailer(ApiMailer):
    """Mailgun's messages.mime API. Options: api-key, domain, api-hostname (EU: api.eu.mailgun.net), endpoint."""

    type = "mailgun"

    def default_endpoint(self) -> str:
        return f"https://{self.options.get('api-hostname') or 'api.mailgun.net'}"

    @property
    def _auth(self) -> tuple[str, str]:
        return ("api", str(self.options.get("api-key", "")))

    def error_text(self, response: httpx.Response) -> str:
        body = _json(response)
        return str(body["message"]) if isinstance(body, dict) and "message" in body else response.text

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        domain = self.options.get("domain")
        response = self.request("POST", f"/v3/{domain}/messages.mime", auth=self._auth,
                                data={"to": list(recipients)},
                                files={"message": ("message.mime", data, "message/rfc822")})
        self.check(response)
        body = _json(response)
        return f"Mailgun id {body['id']}" if isinstance(body, dict) and body.get("id") else ""

    def probe(self) -> str:
        """GET /v3/domains/<domain>: reads the sending domain, proving key and domain; changes nothing."""
        domain = self.options.get("domain")
        response = self.request("GET", f"/v3/domains/{domain}", auth=self._auth)
        self.check(response)
        state = ((_json(response) or {}).get("domain") or {}).get("state", "?")
        return f"domain {domain} ({state}) accepts the key"


class SendgridMailer(ApiMailer):
    """SendGrid's v3 mail/send API. Options: api-key, endpoint, timeout."""

    type = "sendgrid"

    def default_endpoint(self) -> str:
        return "https://api.sendgrid.com"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.options.get('api-key', '')}"}

    def error_text(self, response: httpx.Response) -> str:
        body = _json(response)
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            return "; ".join(f"{e.get('message')}" + (f" ({e['field']})" if e.get("field") else "")
                             for e in body["errors"] if isinstance(e, dict))
        return response.text

    def payload(self, recipients: Sequence[str], data: bytes) -> dict[str, Any]:
        f = mime_fields.read(data)
        name, address = f.sender_address
        body: dict[str, Any] = {
            "personalizations": [{"to": [{"email": r} for r in recipients]}],
            "from": {"email": address, **({"name": name} if name else {})},
            "subject": f.subject,
            "content": [{"type": "text/plain", "value": f.text or "\n"}]
            + ([{"type": "text/html", "value": f.html}] if f.html else []),
        }
        if f.reply_to:
            body["reply_to"] = {"email": f.reply_to}
        if f.headers:
            body["headers"] = dict(f.headers)
        return body

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        response = self.request("POST", "/v3/mail/send", json=self.payload(recipients, data), headers=self._headers())
        self.check(response)
        message_id = response.headers.get("X-Message-Id")
        return f"SendGrid X-Message-Id {message_id}" if message_id else ""

    def probe(self) -> str:
        """GET /v3/scopes: lists what the key may do, proving it; the key must hold mail.send."""
        response = self.request("GET", "/v3/scopes", headers=self._headers())
        self.check(response)
        scopes = (_json(response) or {}).get("scopes") or []
        if "mail.send" not in scopes:
            raise CredentialsRefused(f"{self.where}: the API key lacks the mail.send scope")
        return "the key holds mail.send"


TYPES: dict[str, type] = {"postmark": PostmarkMailer, "mailgun": MailgunMailer, "sendgrid": SendgridMailer}

__all__ = ["ApiMailer", "MailgunMailer", "PostmarkMailer", "SendgridMailer", "TYPES"]
