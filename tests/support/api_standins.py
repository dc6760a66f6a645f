"""Local stand-ins for the sending APIs of Postmark, Mailgun, SendGrid and Amazon SES (v2).

No service is reachable from here, so each test starts one of these on
loopback. Each checks a request the way its service documents it (path,
method, authentication, content type, required fields) and answers with the
service's documented success or error shape. What a service would refuse is
answered as it would refuse it *and* recorded in `problems`, so a test sees
a malformed request even where the mailer would treat the answer as
permanent.

`mode` picks the answer to a well-formed send: "ok", "reject" (4xx with the
service's error text), "rate" (429 with Retry-After), "error" (500), "hang"
(accepts the request and never answers), "unauthorized" (401, as for a
revoked key), "account" (Postmark and SES: the account may not send). Written from the services' public API references; no code of
theirs is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from email import message_from_bytes
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

MODES = ("ok", "reject", "rate", "error", "hang", "unauthorized", "account")


class Reply(Exception):
    """Raised inside a check to answer at once with this status, body and headers."""

    def __init__(self, status: int, body: Any = b"", headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, dict(headers or {})


class Request:
    """One request as it arrived: method, path, headers (case-insensitive), raw body."""

    def __init__(self, method: str, path: str, headers, body: bytes):
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.parsed: Any = None  # what the stand-in read from the body (JSON, form fields, MIME)

    def header(self, name: str) -> str:
        return self.headers.get(name) or ""


class StandIn:
    """Base: a threaded HTTP server on 127.0.0.1 with a mode, a log of requests and of problems."""

    name = "service"

    def __init__(self, port: int = 0) -> None:
        self.mode = "ok"
        self.retry_after = "7"
        self.requests: list[Request] = []
        self.sent: list[Request] = []  # well-formed sends that were answered with success
        self.problems: list[str] = []
        self._release = threading.Event()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave in separate writes: no 40 ms stall between

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path, self.headers, body)
                standin.requests.append(req)
                try:
                    status, payload, headers = standin.route(req)
                except Reply as r:
                    status, payload, headers = r.status, r.body, r.headers
                if status == 0:  # hang: hold the connection until the test ends
                    standin._release.wait(60)
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                if data and "Content-Type" not in headers:
                    headers["Content-Type"] = "application/json"
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"{self.name}-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "StandIn":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def problem(self, text: str, reply: Reply) -> Reply:
        self.problems.append(text)
        return reply

    def answer_send(self, req: Request, ok: tuple[int, Any, dict], reject: tuple[int, Any, dict],
                    rate_body: Any, error_body: Any, account: tuple[int, Any, dict] | None = None):
        """The answer to a well-formed, authenticated send, by mode ("unauthorized" is answered by the auth check)."""
        if self.mode == "ok":
            self.sent.append(req)
            return ok
        if self.mode == "reject":
            return reject
        if self.mode == "account" and account is not None:
            return account
        if self.mode == "rate":
            return 429, rate_body, {"Retry-After": self.retry_after}
        if self.mode == "error":
            return 500, error_body, {}
        if self.mode == "hang":
            return 0, b"", {}
        raise AssertionError(f"unknown mode {self.mode!r}")

    def route(self, req: Request) -> tuple[int, Any, dict]:
        raise NotImplementedError


def _json_body(standin: StandIn, req: Request, bad: Reply) -> Any:
    if req.header("Content-Type").split(";")[0].strip().lower() != "application/json":
        raise standin.problem(f"Content-Type {req.header('Content-Type')!r}, not application/json", bad)
    try:
        return json.loads(req.body)
    except ValueError:
        raise standin.problem("body is not JSON", bad) from None


# --- Postmark: POST /email, X-Postmark-Server-Token ---------------------------------------------

class Postmark(StandIn):
    name = "postmark"
    FIELDS = {"From", "To", "Cc", "Bcc", "Subject", "Tag", "HtmlBody", "TextBody", "ReplyTo", "Headers",
              "TrackOpens", "TrackLinks", "Metadata", "Attachments", "MessageStream"}

    def __init__(self, token: str = "pm-server-token", port: int = 0) -> None:
        super().__init__(port)
        self.token = token

    def _auth(self, req: Request) -> None:
        if req.header("X-Postmark-Server-Token") != self.token or self.mode == "unauthorized":
            raise Reply(401, {"ErrorCode": 10, "Message": "The Server Token you provided in the "
                              "X-Postmark-Server-Token request header was invalid."})

    def route(self, req: Request):
        if req.method == "GET" and req.path == "/server":
            self._auth(req)
            return 200, {"ID": 1, "Name": "Mailgate", "InboundAddress": "abc@inbound.postmarkapp.com"}, {}
        if req.path != "/email" or req.method != "POST":
            raise self.problem(f"{req.method} {req.path}: no such endpoint", Reply(404, b""))
        if req.header("Accept").lower() != "application/json":
            self.problems.append(f"Accept {req.header('Accept')!r}, not application/json")
        self._auth(req)
        invalid = Reply(422, {"ErrorCode": 402, "Message": "Received invalid JSON input."})
        body = _json_body(self, req, invalid)
        req.parsed = body
        self._check(body)
        to = body.get("To", "")
        return self.answer_send(
            req,
            ok=(200, {"To": to, "SubmittedAt": "2024-05-01T10:00:00.0000000-04:00",
                      "MessageID": str(uuid.uuid4()), "ErrorCode": 0, "Message": "OK"}, {}),
            reject=(422, {"ErrorCode": 406, "Message": f"You tried to send to recipient(s) that have been "
                          f"marked as inactive. Found inactive addresses: {to}."}, {}),
            rate_body={"ErrorCode": 429, "Message": "Rate limit exceeded."},
            error_body={"ErrorCode": 500, "Message": "Internal server error."},
            account=(422, {"ErrorCode": 412, "Message": "Your account is pending approval and may only send "
                           "to addresses on your own domain."}, {}))

    def _check(self, body: Any) -> None:
        bad = Reply(422, {"ErrorCode": 300, "Message": "Invalid email request."})
        if not isinstance(body, dict):
            raise self.problem("body is not a JSON object", bad)
        unknown = set(body) - self.FIELDS
        if unknown:
            raise self.problem(f"unknown fields {sorted(unknown)}", bad)
        for name in ("From", "To"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise self.problem(f"{name} missing", bad)
        if not (body.get("TextBody") or body.get("HtmlBody")):
            raise self.problem("neither TextBody nor HtmlBody", bad)
        headers = body.get("Headers", [])
        if not isinstance(headers, list) or not all(
                isinstance(h, dict) and set(h) == {"Name", "Value"} and all(isinstance(v, str) for v in h.values())
                for h in headers):
            raise self.problem(f"Headers is not a list of {{Name, Value}} strings: {headers!r}", bad)


# --- Mailgun: POST /v3/<domain>/messages.mime, Basic api:<key>, multipart/form-data -----------------

class Mailgun(StandIn):
    name = "mailgun"

    def __init__(self, api_key: str = "key-mailgun", domain: str = "mg.example.com", port: int = 0) -> None:
        super().__init__(port)
        self.api_key, self.domain = api_key, domain

    def _auth(self, req: Request) -> None:
        expected = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        if req.header("Authorization") != expected or self.mode == "unauthorized":
            raise Reply(401, b"Forbidden", {"Content-Type": "text/plain"})

    def route(self, req: Request):
        if req.method == "GET" and req.path == f"/v3/domains/{self.domain}":
            self._auth(req)
            return 200, {"domain": {"name": self.domain, "state": "active"}, "receiving_dns_records": [],
                         "sending_dns_records": []}, {}
        if req.method == "GET" and req.path.startswith("/v3/domains/"):
            self._auth(req)
            return 404, {"message": "Domain not found"}, {}
        if req.method != "POST" or req.path != f"/v3/{self.domain}/messages.mime":
            raise self.problem(f"{req.method} {req.path}: no such endpoint", Reply(404, {"message": "Not Found"}))
        self._auth(req)
        fields = self._form(req)
        req.parsed = fields
        to = fields.get("to", [])
        return self.answer_send(
            req,
            ok=(200, {"id": f"<{uuid.uuid4().hex}@{self.domain}>", "message": "Queued. Thank you."}, {}),
            reject=(400, {"message": "'to' parameter is not a valid address. please check documentation"}, {}),
            rate_body={"message": "Too many requests"},
            error_body={"message": "Internal Server Error"})

    def _form(self, req: Request) -> dict[str, list]:
        """multipart/form-data (RFC 7578) split by hand, so a file part's bytes are kept exactly."""
        bad = Reply(400, {"message": "'message' parameter is missing"})
        ctype = req.header("Content-Type")
        if not ctype.lower().startswith("multipart/form-data") or "boundary=" not in ctype:
            raise self.problem(f"Content-Type {ctype!r}, not multipart/form-data", bad)
        boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip().strip('"').encode()
        chunks = req.body.split(b"--" + boundary)
        if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
            raise self.problem("multipart body without its closing boundary", bad)
        fields: dict[str, list] = {}
        for chunk in chunks[1:-1]:
            if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n") or b"\r\n\r\n" not in chunk:
                raise self.problem("malformed multipart part", bad)
            head, value = chunk[2:-2].split(b"\r\n\r\n", 1)
            part = message_from_bytes(head + b"\r\n\r\n", policy=HTTP)
            if not str(part.get("Content-Disposition", "")).startswith("form-data"):
                raise self.problem(f"part without form-data disposition: {head!r}", bad)
            name = part.get_param("name", header="content-disposition")
            if name == "message" and part.get_param("filename", header="content-disposition") is None:
                raise self.problem("'message' is not sent as a file upload", bad)
            fields.setdefault(name, []).append(value if name == "message" else value.decode("utf-8"))
        if len(fields.get("message", [])) != 1:
            raise self.problem("'message' missing or repeated", bad)
        if not fields.get("to"):
            raise self.problem("'to' missing", Reply(400, {"message": "'to' parameter is missing"}))
        return fields


# --- SendGrid: POST /v3/mail/send, Bearer <key>, JSON ------------------------------------------------

class Sendgrid(StandIn):
    name = "sendgrid"
    RESERVED = {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding",
                "to", "from", "subject", "reply-to", "cc", "bcc"}

    def __init__(self, api_key: str = "SG.sendgrid-key", port: int = 0) -> None:
        super().__init__(port)
        self.api_key = api_key

    @staticmethod
    def _errors(message: str, field: str | None = None) -> dict:
        return {"errors": [{"message": message, "field": field, "help": None}]}

    def _auth(self, req: Request) -> None:
        if req.header("Authorization") != f"Bearer {self.api_key}" or self.mode == "unauthorized":
            raise Reply(401, self._errors("The provided authorization grant is invalid, expired, or revoked"))

    def route(self, req: Request):
        if req.method == "GET" and req.path == "/v3/scopes":
            self._auth(req)
            return 200, {"scopes": ["mail.send", "user.profile.read"]}, {}
        if req.method != "POST" or req.path != "/v3/mail/send":
            raise self.problem(f"{req.method} {req.path}: no such endpoint", Reply(404, self._errors("not found")))
        self._auth(req)
        body = _json_body(self, req, Reply(400, self._errors("Bad Request")))
        req.parsed = body
        self._check(body)
        return self.answer_send(
            req,
            ok=(202, b"", {"X-Message-Id": uuid.uuid4().hex[:22]}),
            reject=(400, self._errors("Does not contain a valid address.", "personalizations.0.to.0.email"), {}),
            rate_body=self._errors("too many requests"),
            error_body=self._errors("internal server error"))

    def _address(self, value: Any, where: str) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("email"), str) or set(value) - {"email", "name"}:
            raise self.problem(f"{where} is not an {{email, name}} object: {value!r}",
                               Reply(400, self._errors("Invalid type.", where)))

    def _check(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise self.problem("body is not a JSON object", Reply(400, self._errors("Bad Request")))
        pers = body.get("personalizations")
        if not isinstance(pers, list) or not pers:
            raise self.problem("no personalizations", Reply(400, self._errors(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations")))
        for i, p in enumerate(pers):
            if not isinstance(p, dict) or not isinstance(p.get("to"), list) or not p["to"]:
                raise self.problem(f"personalizations.{i}.to missing", Reply(400, self._errors(
                    "The to array is required for all personalization objects, and must have at least one "
                    "email object with a valid email address.", f"personalizations.{i}.to")))
            for j, a in enumerate(p["to"]):
                self._address(a, f"personalizations.{i}.to.{j}")
        self._address(body.get("from"), "from")
        if "reply_to" in body:
            self._address(body["reply_to"], "reply_to")
        if not isinstance(body.get("subject"), str) or not body["subject"]:
            raise self.problem("subject missing", Reply(400, self._errors(
                "The subject is required. You can get around this requirement if you use a template with a "
                "subject defined or if every personalization has a subject defined.", "subject")))
        content = body.get("content")
        if not isinstance(content, list) or not content or not all(
                isinstance(c, dict) and isinstance(c.get("type"), str) and isinstance(c.get("value"), str)
                for c in content):
            raise self.problem("content missing or malformed", Reply(400, self._errors("Bad Request", "content")))
        types = [c["type"] for c in content]
        if "text/plain" in types and types[0] != "text/plain":
            raise self.problem("text/plain content is not first", Reply(400, self._errors(
                "If present, text/plain and text/html may only be provided in the following order: "
                "text/plain, text/html.", "content")))
        headers = body.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise self.problem("headers is not an object of strings", Reply(400, self._errors(
                "Invalid type. Expected: object, given: array.", "headers")))
        reserved = [h for h in headers if h.lower() in self.RESERVED]
        if reserved:
            raise self.problem(f"reserved headers {reserved}", Reply(400, self._errors(
                f"The header {reserved[0]} is reserved and cannot be set.", "headers")))


# --- Amazon SES v2: POST /v2/email/outbound-emails, Signature Version 4, JSON ---------------------------

class Ses(StandIn):
    name = "ses"

    def __init__(self, access_key: str = "AKIDEXAMPLE", secret_key: str = "ses-secret-key",
                 region: str = "eu-west-1", port: int = 0) -> None:
        super().__init__(port)
        self.access_key, self.secret_key, self.region = access_key, secret_key, region

    @staticmethod
    def _error(status: int, kind: str, message: str, headers: dict | None = None) -> tuple[int, Any, dict]:
        return status, {"message": message}, {"x-amzn-ErrorType": kind, **(headers or {})}

    def _auth(self, req: Request) -> None:
        if self.mode == "unauthorized":
            raise Reply(*self._error(403, "UnrecognizedClientException",
                                     "The security token included in the request is invalid."))
        why = self._signature_problem(req)
        if why:
            self.problems.append(f"SigV4: {why}")
            raise Reply(*self._error(403, "SignatureDoesNotMatch",
                                     "The request signature we calculated does not match the signature you provided."))

    def _signature_problem(self, req: Request) -> str | None:
        """Signature Version 4 as AWS documents it: canonical request, string to sign, derived key."""
        auth = req.header("Authorization")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return f"Authorization {auth[:30]!r} is not AWS4-HMAC-SHA256"
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        access_key, date, region, service, terminal = parts["Credential"].split("/")
        if access_key != self.access_key:
            return "unknown access key"
        if (region, service, terminal) != (self.region, "ses", "aws4_request"):
            return f"scope {region}/{service}/{terminal}"
        amz_date = req.header("X-Amz-Date")
        if not amz_date.startswith(date):
            return "X-Amz-Date and the credential's date disagree"
        signed = parts["SignedHeaders"].split(";")
        if "host" not in signed:
            return "host is not signed"
        url = urlsplit(req.path)
        canonical_headers = "".join(f"{h}:{' '.join((req.header(h)).split())}\n" for h in signed)
        payload_hash = req.header("X-Amz-Content-SHA256") or hashlib.sha256(req.body).hexdigest()
        if payload_hash != hashlib.sha256(req.body).hexdigest():
            return "payload hash does not match the body"
        query = "&".join(sorted(url.query.split("&"))) if url.query else ""
        canonical = "\n".join([req.method, url.path or "/", query, canonical_headers, ";".join(signed), payload_hash])
        scope = f"{date}/{region}/ses/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + self.secret_key).encode()
        for piece in (date, region, "ses", "aws4_request"):
            key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(expected, parts["Signature"]) else "signature mismatch"

    def route(self, req: Request):
        path = unquote(urlsplit(req.path).path)
        if req.method == "GET" and path == "/v2/email/account":
            self._auth(req)
            return 200, {"SendingEnabled": True, "ProductionAccessEnabled": True, "EnforcementStatus": "HEALTHY",
                         "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 0.0}}, {}
        if req.method != "POST" or path != "/v2/email/outbound-emails":
            raise self.problem(f"{req.method} {path}: no such endpoint", Reply(*self._error(
                404, "NotFoundException", "Not found")))
        self._auth(req)
        body = _json_body(self, req, Reply(*self._error(400, "BadRequestException", "Invalid JSON")))
        self._check(req, body)
        status, payload, headers = self.answer_send(
            req,
            ok=(200, {"MessageId": f"0100018f{uuid.uuid4().hex}-000000"}, {}),
            reject=self._error(400, "MessageRejected", "Email address is not verified. The following identities "
                               "failed the check in region EU-WEST-1: noreply@reply.example.com"),
            rate_body={"message": "Maximum sending rate exceeded."},
            error_body={"message": "Internal failure."},
            account=self._error(400, "SendingPausedException", "The message can't be sent because the account's "
                                "ability to send email is currently paused."))
        if status == 429:
            headers["x-amzn-ErrorType"] = "TooManyRequestsException"
        if status == 500:
            headers["x-amzn-ErrorType"] = "InternalFailure"
        return status, payload, headers

    def _check(self, req: Request, body: Any) -> None:
        bad = Reply(*self._error(400, "BadRequestException", "Invalid request"))
        if not isinstance(body, dict) or not isinstance(body.get("Content"), dict):
            raise self.problem("Content missing", bad)
        raw = body["Content"].get("Raw")
        if set(body["Content"]) != {"Raw"} or not isinstance(raw, dict) or not isinstance(raw.get("Data"), str):
            raise self.problem(f"Content is not Raw: {sorted(body['Content'])}", bad)
        try:
            data = base64.b64decode(raw["Data"], validate=True)
        except ValueError:
            raise self.problem("Raw.Data is not base64", bad) from None
        dest = body.get("Destination", {})
        to = dest.get("ToAddresses") if isinstance(dest, dict) else None
        if to is not None and (not isinstance(to, list) or not all(isinstance(a, str) for a in to)):
            raise self.problem("Destination.ToAddresses is not a list of strings", bad)
        req.parsed = {"from": body.get("FromEmailAddress"), "to": to or [], "raw": data}


STANDINS = {"postmark": Postmark, "mailgun": Mailgun, "sendgrid": Sendgrid, "ses": Ses}


def main() -> None:
    """Serve one stand-in until killed (the outbound benchmark runs it in its own process)."""
    import argparse

    ap = argparse.ArgumentParser(description="Serve a local stand-in for a sending API.")
    ap.add_argument("service", choices=sorted(STANDINS))
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    STANDINS[args.service](port=args.port).server.serve_forever()


if __name__ == "__main__":
    main()
