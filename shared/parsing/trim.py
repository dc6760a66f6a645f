"""Reply trimming (first version: quote headers, > lines, -- signatures)."""

from __future__ import annotations

import re

from .models import Cut

_ON_WROTE = re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.I)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.I)
_FROM_BLOCK = re.compile(r"^\s*\*?From:\*?\s")
_SIG = re.compile(r"^-- ?$")
_SENT_FROM = re.compile(r"^\s*Sent from my\b.*$", re.I)


def trim_reply(text: str) -> tuple[str, str, str, list[Cut]]:
    """Return (new text, quoted, signature, cuts)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cuts: list[Cut] = []
    quoted = ""
    for i, line in enumerate(lines):
        rule = None
        if _ON_WROTE.match(line):
            rule = "quote_header:en_on_wrote"
        elif _ORIGINAL.match(line):
            rule = "quote_header:original_message"
        elif _FROM_BLOCK.match(line) and i + 1 < len(lines) and re.match(r"^\s*\*?(Sent|Date|To):", lines[i + 1]):
            rule = "quote_header:outlook_block"
        if rule:
            quoted = "\n".join(lines[i:]).strip()
            cuts.append(Cut(rule, quoted))
            lines = lines[:i]
            break
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    signature = ""
    for i, line in enumerate(lines):
        if _SIG.match(line) or _SENT_FROM.match(line):
            signature = "\n".join(lines[i:]).strip()
            cuts.append(Cut("signature:dash_dash" if _SIG.match(line) else "signature:sent_from", signature))
            lines = lines[:i]
            break
    return "\n".join(lines).strip(), quoted, signature, cuts
