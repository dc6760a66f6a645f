"""The reply-trimming fixtures written for Mailgate and the GitLab ones, as cases to score.

Two sources, both in tests/fixtures/replies/ (see its README):

- `written/<shape>.txt`: replies written for these tests, one failure shape
  per file, in the structure real clients produce. A case is a block:

      === name
      client: Gmail web          (sets the X-Mailer / User-Agent a real one would)
      lang: fr
      mode: reply | create       (create: sent to a create address)
      subject: Re: [T12] …
      --- text                   the text/plain part, byte for byte
      …
      --- html                   optional text/html alternative
      …
      --- expected               the comment (reply) or task description (create)
      …
      --- title                  optional: the task title a create address must take
      …

- `gitlab/*.eml` with `*.expected.txt`, listed in `gitlab/manifest.tsv`.

Every case belongs to one half: `tune` (rules may be changed by looking at
it) or `held` (reported separately, never looked at while tuning). Within a
file, cases alternate, first `tune`; the halves were fixed before any rule
was changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "fixtures" / "replies"

# What real clients put in their headers, so the fixtures look like their mail.
_AGENTS = {
    "gmail": ("X-Mailer", None),
    "outlook": ("X-Mailer", "Microsoft Outlook 16.0"),
    "outlook web": ("X-MS-Exchange-Organization-SCL", "-1"),
    "apple mail": ("X-Mailer", "Apple Mail (2.3731.700.6)"),
    "ios": ("X-Mailer", "iPhone Mail (20G75)"),
    "android gmail": ("X-Mailer", None),
    "samsung": ("X-Mailer", "Samsung Email 6.1"),
    "thunderbird": ("User-Agent", "Mozilla Thunderbird 115.3.1"),
}


@dataclass
class Case:
    source: str  # "written/<shape>" or "gitlab"
    name: str
    half: str  # "tune" | "held"
    mode: str  # "reply" | "create"
    expected: str
    title: str | None
    raw: bytes
    client: str = ""
    lang: str = ""

    @property
    def id(self) -> str:
        return f"{self.source}/{self.name}"


def _blocks(text: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(name, fields, sections) for every `=== name` block of a fixture file."""
    out = []
    for chunk in re.split(r"^=== ", text, flags=re.M)[1:]:
        head, _, rest = chunk.partition("\n")
        fields: dict[str, str] = {}
        sections: dict[str, str] = {}
        parts = re.split(r"^--- (text|html|expected|title)\n", rest, flags=re.M)
        for line in parts[0].splitlines():
            if ":" in line and not line.startswith("#"):
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        for key, body in zip(parts[1::2], parts[2::2]):
            sections[key] = body[:-1] if body.endswith("\n") else body
        out.append((head.strip(), fields, sections))
    return out


def build_message(fields: dict[str, str], sections: dict[str, str], n: int) -> bytes:
    """The message a client would send: text/plain, with the HTML alternative when given."""
    msg = EmailMessage()
    msg["From"] = fields.get("from", "Alice Martin <alice@example.org>")
    msg["To"] = fields.get("to", "T12+7+3f9c0a5be1d2c4e8@reply.example.com")
    msg["Subject"] = fields.get("subject", "Re: [T12] Printer on the third floor")
    msg["Date"] = format_datetime(datetime(2024, 3, 5, 9, 30, n % 60, tzinfo=timezone.utc))
    msg["Message-ID"] = make_msgid(domain="client.example.org")
    header, value = _AGENTS.get(fields.get("client", "").lower(), (None, None))
    if header and value:
        msg[header] = value
    msg.set_content(sections.get("text", ""), cte="8bit" if fields.get("cte") == "8bit" else "quoted-printable")
    if sections.get("html"):
        msg.add_alternative(sections["html"], subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def written_cases() -> list[Case]:
    cases = []
    for path in sorted((ROOT / "written").glob("*.txt")):
        for i, (name, fields, sections) in enumerate(_blocks(path.read_text(encoding="utf-8"))):
            cases.append(Case(
                source=f"written/{path.stem}", name=name, half="tune" if i % 2 == 0 else "held",
                mode=fields.get("mode", "reply"), expected=sections.get("expected", ""),
                title=sections.get("title"), raw=build_message(fields, sections, i),
                client=fields.get("client", ""), lang=fields.get("lang", ""),
            ))
    return cases


def gitlab_cases() -> list[Case]:
    cases = []
    manifest = (ROOT / "gitlab" / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for i, line in enumerate(manifest):
        cols = line.split("\t")
        name, mode = cols[0], cols[1]
        expected = (ROOT / "gitlab" / f"{name}.expected.txt").read_text(encoding="utf-8")
        title_path = ROOT / "gitlab" / f"{name}.title.txt"
        cases.append(Case(
            source="gitlab", name=name, half="tune" if i % 2 == 0 else "held", mode=mode,
            expected=expected, title=title_path.read_text(encoding="utf-8").strip() if title_path.exists() else None,
            raw=(ROOT / "gitlab" / f"{name}.eml").read_bytes(),
        ))
    return cases


def all_cases() -> list[Case]:
    return written_cases() + gitlab_cases()


def normalise(text: str) -> str:
    """What an exact match compares: line ends unified, trailing spaces and outer blank lines gone."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()
