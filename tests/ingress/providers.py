"""Requests shaped as each provider documents them: the stand-ins for Postmark, Mailgun and SendGrid.

Written from the providers' own pages (no code or fixture copied):
- Postmark: "Inbound webhook" (postmarkapp.com/developer/webhooks/inbound-webhook): the JSON
  document, OriginalRecipient, and RawEmail when the server's "Include raw email content in
  JSON payload" is on; "Parse an email": a non-200 is retried, a 403 stops the retries.
- Mailgun: "Receiving Messages via HTTP through a forward() action"
  (documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http): a URL
  ending in "mime" gets `body-mime` with recipient, sender, from, subject, timestamp, token,
  signature; urlencoded without attachments; 406 stops retries. "Securing Webhooks"
  (.../user-manual/webhooks/securing-webhooks): a 50-character token, a Unix timestamp, and the
  hex HMAC-SHA256 of timestamp + token under the webhook signing key.
- SendGrid: "Inbound Email Parse Webhook" (twilio.com/docs/sendgrid/for-developers/parsing-email/
  inbound-email): multipart/form-data; with "POST the raw, full MIME message" the message is the
  `email` field; `envelope` is JSON with `to` (a list) and `from`; also dkim, SPF, sender_ip,
  spam_score, spam_report, charsets, to, from, subject.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from email import message_from_bytes
from email.utils import getaddresses

POSTMARK_IP = "50.31.156.6"  # one of Postmark's published inbound addresses (the default ranges)


def _headers(raw: bytes):
    return message_from_bytes(raw)


def postmark_payload(raw: bytes, recipient: str, *, raw_email: bool = True) -> dict:
    msg = _headers(raw)
    sender = getaddresses([msg.get("From", "")])[0]
    payload = {
        "FromName": sender[0], "MessageStream": "inbound", "From": sender[1],
        "FromFull": {"Email": sender[1], "Name": sender[0], "MailboxHash": ""},
        "To": msg.get("To", ""),
        "ToFull": [{"Email": a, "Name": n, "MailboxHash": ""} for n, a in getaddresses([msg.get("To", "")])],
        "Cc": "", "CcFull": [], "Bcc": "", "BccFull": [],
        "OriginalRecipient": recipient, "Subject": msg.get("Subject", ""),
        "MessageID": str(uuid.uuid4()), "ReplyTo": "", "MailboxHash": "", "Date": msg.get("Date", ""),
        "TextBody": "", "HtmlBody": "", "StrippedTextReply": "", "Tag": "",
        "Headers": [{"Name": k, "Value": v} for k, v in msg.items() if k not in ("From", "To", "Subject")]
        + [{"Name": "X-Spam-Status", "Value": "No"}],
        "Attachments": [],
    }
    if raw_email:
        payload["RawEmail"] = raw.decode("utf-8", "surrogateescape")
    return payload


def mailgun_signature(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def mailgun_form(raw: bytes, recipient: str, key: str, *, sender: str = "alice@example.org",
                 timestamp: int | None = None, token: str | None = None) -> dict:
    msg = _headers(raw)
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)  # 50 characters
    return {"recipient": recipient, "sender": sender, "from": msg.get("From", ""), "subject": msg.get("Subject", ""),
            "body-mime": raw.decode("utf-8", "surrogateescape"), "timestamp": stamp, "token": token,
            "signature": mailgun_signature(key, stamp, token)}


def sendgrid_form(raw: bytes, to: list[str], *, sender: str = "alice@example.org") -> dict:
    msg = _headers(raw)
    return {"email": raw.decode("utf-8", "surrogateescape"), "envelope": json.dumps({"to": to, "from": sender}),
            "to": msg.get("To", ""), "from": msg.get("From", ""), "subject": msg.get("Subject", ""),
            "dkim": "{@example.org : pass}", "SPF": "pass", "sender_ip": "192.0.2.10", "spam_score": "0.1",
            "spam_report": "", "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8"})}
