"""The fixed interface other parts are coded against."""

from __future__ import annotations

import json
import random

import mailgate.shared.parsing as parsing
from mailgate.shared.message import load_message
from mailgate.shared.parsing import Attachment, Command, Cut, ParsedMessage, RobotVerdict


def test_reexports() -> None:
    for name in ("parse_message", "classify_robot", "Command", "Attachment", "Cut", "ParsedMessage", "RobotVerdict"):
        assert hasattr(parsing, name)


def test_to_json_shape() -> None:
    parsed = ParsedMessage(
        text="hi", quoted="> q", signature="-- \nme",
        commands=[Command("priority", ["high"], "!priority high")],
        attachments=[Attachment("a.txt", "text/plain", b"abc")],
        cuts=[Cut("quote:trailing", "> q")], body_type="text/plain",
    )
    data = parsed.to_json()
    assert data["commands"] == ["priority high"]
    assert data["attachments"] == [{"name": "a.txt", "content_type": "text/plain", "size": 3}]
    assert data["cuts"] == [{"rule": "quote:trailing", "text": "> q"}]
    assert {"text", "quoted", "signature", "body_type"} <= set(data)
    json.dumps(data)


def test_attachment_size_and_verdict() -> None:
    assert Attachment("x", "application/octet-stream", b"12345").size == 5
    assert RobotVerdict(None).kind is None


def test_never_raises_on_random_bytes() -> None:
    rng = random.Random(6)
    seeds = [b"", b"\x00\xff", b"Content-Type: multipart/mixed; boundary=x\n\n--x\n--x--",
             b"Content-Type: text/plain; charset=nonsense\n\n\xe9\xe8", b"From: \n\n>" * 50]
    for _ in range(300):
        seeds.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
        base = bytearray(b"From: a@b\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\n"
                         b"Content-Type: text/html; charset=utf-8\n\n<blockquote>x</blockquote><p>y\n--b--\n")
        for _ in range(5):
            base[rng.randrange(len(base))] = rng.randrange(256)
        seeds.append(bytes(base))
    for raw in seeds:
        msg = load_message(raw)
        parsed = parsing.parse_message(msg)
        json.dumps(parsed.to_json())
        for env in (None, "", "bob@example.com"):
            parsing.classify_robot(msg, env)


def test_deep_nesting_does_not_recurse_forever() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=a\n\n"
    for i in range(120):
        raw += b"--a\nContent-Type: multipart/mixed; boundary=a\n\n"
    raw += b"--a\nContent-Type: text/plain\n\nhello\n--a--\n"
    parsing.parse_message(load_message(raw))
