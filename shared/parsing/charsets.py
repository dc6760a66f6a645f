"""Turning a part's bytes into text without ever losing the text.

Mail lies about its charset all the time: a missing charset on 8-bit data, a
name Python does not know (`unknown-8bit`, `x-user-defined`, `ks_c_5601-1987`
spelled oddly), or bytes that do not decode in the declared charset. A comment
with a few odd characters is far better than an empty comment, so every step
here falls back instead of failing; the last resort, latin-1, decodes any
byte sequence.
"""

from __future__ import annotations

import codecs

# Labels seen in the wild mapped to a codec Python knows, or to the superset
# browsers actually use for them (WHATWG encoding standard practice): mail
# labelled iso-8859-1 is very often cp1252 (curly quotes in 0x80-0x9f).
_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",  # ASCII is a subset; 8-bit bytes there are usually UTF-8
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "x-user-defined": "",
    "default": "",
    "charset": "",
}


def normalise_charset(label: str | None) -> str:
    """A codec name Python can use for `label`, or '' when it names nothing useful."""
    if not label:
        return ""
    name = str(label).strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    if not name:
        return ""
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode `data`, trying the declared charset, then UTF-8, cp1252, latin-1.

    Returns (text, warning); the warning is None when the declared charset
    worked, else a short phrase for the admin saying which fallback was used.
    """
    declared = normalise_charset(charset)
    tried: list[str] = []
    for candidate in (declared, "utf-8", "cp1252"):
        if not candidate or candidate in tried:
            continue
        tried.append(candidate)
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        if candidate == declared or not charset:
            return text, None
        return text, f"charset {charset!r} failed; decoded as {candidate}"
    return data.decode("latin-1"), f"charset {charset!r} failed; decoded as latin-1"
