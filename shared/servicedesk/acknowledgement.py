"""The acknowledgement a service desk sends to whoever opened a task: its text, as a template per address.

`$name` style placeholders (Python's string.Template: plain text, no code,
no attribute access), checked when the template is set so a typo is an
error at the command line, not a broken mail later.
"""

from __future__ import annotations

from string import Template

PLACEHOLDERS = {
    "ref": "the task's reference (T12)",
    "title": "the task's title (from the subject)",
    "name": "the sender's display name (or their address when they gave none)",
    "address": "the sender's address",
    "desk": "the service desk's address",
}

DEFAULT = """\
Hello $name,

thank you for writing. Your request is now $ref:

    $title

We will answer by email. To add something, reply to this message; your
reply is added to $ref. Please keep $ref in the subject when you write to
us about it.
"""

MAX_CHARS = 20_000


class TemplateError(ValueError):
    """The acknowledgement template cannot be used; the message says why."""


def check(text: str) -> str:
    """The template as it will be stored, or TemplateError naming the first problem."""
    if not text.strip():
        raise TemplateError("the acknowledgement template is empty (turn the acknowledgement off instead)")
    if len(text) > MAX_CHARS:
        raise TemplateError(f"the acknowledgement template is over {MAX_CHARS:,} characters")
    template = Template(text)
    if not template.is_valid():
        raise TemplateError("a lone '$' in the acknowledgement template: write '$$' for a dollar sign")
    unknown = sorted(set(template.get_identifiers()) - PLACEHOLDERS.keys())
    if unknown:
        raise TemplateError(f"unknown placeholder ${unknown[0]}; use "
                            + ", ".join(f"${p}" for p in PLACEHOLDERS))
    return text.replace("\r\n", "\n")


def render(text: str | None, *, ref: str, title: str, name: str, address: str, desk: str) -> str:
    """The acknowledgement's body for one task (`text` None: the default)."""
    values = {"ref": ref, "title": title, "name": name or address, "address": address, "desk": desk}
    return Template(text or DEFAULT).safe_substitute(values)
