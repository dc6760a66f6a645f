"""`!command` lines: instructions to the tracker written in a reply.

Only the first and the last lines of the new text are looked at, the way
Phabricator and Maniphest read mail: a `!word` in the middle of a paragraph is
prose, not an instruction. A run of consecutive command lines at the top and
one at the bottom are taken (blank lines between them are allowed), and
removed from the text. The parser extracts any `!word args`; whether the
tracker knows the word is its own decision.
"""

from __future__ import annotations

import re

from .models import Command, Cut

# `!` (or the full-width `！` a CJK input method types) then a word starting
# with a letter; arguments are the rest of the line. "!!!" or "!1" are
# emphasis, not commands.
_COMMAND = re.compile(r"^\s*[!！]([A-Za-z][\w-]{0,39})(?:\s+(.*?))?\s*$")


def parse_command(line: str) -> Command | None:
    """A Command when `line` is a command line, else None."""
    match = _COMMAND.match(line)
    if not match:
        return None
    args = (match.group(2) or "").split()
    return Command(name=match.group(1).lower(), args=args, line=line.strip())


def extract_commands(text: str) -> tuple[str, list[Command], list[Cut]]:
    """Take command lines from the top and bottom of `text`.

    Returns (remaining text, commands in reading order, cuts).
    """
    lines = text.split("\n")
    top: list[Command] = []
    bottom: list[Command] = []
    start, end = 0, len(lines)
    cut_lines: list[str] = []
    while start < end:
        if not lines[start].strip():
            start += 1
            continue
        cmd = parse_command(lines[start])
        if cmd is None:
            break
        top.append(cmd)
        cut_lines.append(lines[start])
        start += 1
    while end > start:
        if not lines[end - 1].strip():
            end -= 1
            continue
        cmd = parse_command(lines[end - 1])
        if cmd is None:
            break
        bottom.insert(0, cmd)
        cut_lines.append(lines[end - 1])
        end -= 1
    commands = top + bottom
    if not commands:
        return text, [], []
    rest = "\n".join(lines[start:end]).strip()
    return rest, commands, [Cut("command", "\n".join(c.line for c in commands))]
