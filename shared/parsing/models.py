"""The parser's result types.

These names and fields are a contract: the pipeline, the CLI (`mailgate parse
--json`) and the console's detail page are coded against them. Fields may be
added; none may be renamed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Command:
    """One `!word args` line found at the top or bottom of the new text.

    The parser only extracts: whether `name` is a known command, and whether
    its arguments make sense, is the tracker's decision.
    """

    name: str  # lowercased, without the "!"
    args: list[str] = field(default_factory=list)
    line: str = ""  # the line as written, for the admin

    def __str__(self) -> str:
        return " ".join([self.name, *self.args])


@dataclass
class Attachment:
    """A MIME part kept as a file: the bytes are the decoded payload."""

    name: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Cut:
    """Text removed from the body and the rule that removed it.

    Recorded so an admin can see why a line disappeared (console detail page).
    `rule` is `family:detail`, e.g. `quote_header:en_on_wrote`.
    """

    rule: str
    text: str


@dataclass
class ParsedMessage:
    """What the parser made of a message: the new text and everything cut."""

    text: str = ""
    quoted: str = ""
    signature: str = ""
    commands: list[Command] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    cuts: list[Cut] = field(default_factory=list)
    body_type: str = "none"  # "text/plain" | "text/html" | "none"
    # Non-fatal problems met while decoding (unknown charset, broken part…),
    # so the admin can see the parser had to guess.
    warnings: list[str] = field(default_factory=list)
    # Trimming would have left nothing of a reply that had words of its own:
    # the untrimmed text was kept (minus a trailing quote); fallback_rule is
    # the rule whose cut would have removed them.
    fallback: bool = False
    fallback_rule: str = ""
    # Mail to a create address that forwards a message: that message's Subject.
    forwarded_subject: str | None = None
    # The decoded body the text came from, to read it again as mail to a
    # create address (parse.for_create); not part of the JSON.
    source_text: str | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "quoted": self.quoted,
            "signature": self.signature,
            "commands": [str(c) for c in self.commands],
            "attachments": [
                {"name": a.name, "content_type": a.content_type, "size": a.size}
                for a in self.attachments
            ],
            "cuts": [{"rule": c.rule, "text": c.text} for c in self.cuts],
            "body_type": self.body_type,
            "warnings": list(self.warnings),
            "fallback": self.fallback,
            "fallback_rule": self.fallback_rule or None,
            "forwarded_subject": self.forwarded_subject,
        }


@dataclass
class RobotVerdict:
    """Whether a message was written by a machine, and the evidence.

    `kind` is "bounce", "auto_reply" or None (a human, as far as we can tell).
    `reason` is a short human phrase naming the evidence, shown to the admin.
    """

    kind: str | None
    reason: str = ""

    @property
    def is_robot(self) -> bool:
        return self.kind is not None
