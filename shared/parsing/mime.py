"""Facts about a MIME part, read once: its header parameters and its text.

The robot guard and the parser read the same parts of the same message (the
pipeline runs guard.check, then parse_message): between them, the
Content-Type parameters of a plain reply were parsed eight times (compat32
re-parses the header on every get_param() call) and its body decoded twice.
These helpers give exactly what the email package's methods give, computed
once per part and kept in a weak map beside it.

An entry is only reused while what it was computed from is unchanged: the
header value (by identity: compat32 hands out the stored string itself, so a
replaced header, or a header it rebuilds on each read, is always re-parsed)
and, for the text, the payload object and the headers it depends on.
"""

from __future__ import annotations

import weakref
from email import utils
from email.message import Message

_MISSING = object()
_facts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _entry(part: Message) -> dict:
    try:
        entry = _facts.get(part)
        if entry is None:
            entry = _facts[part] = {}
        return entry
    except TypeError:  # not weak-referenceable or not hashable: no cache
        return {}


def params(part: Message, header: str = "content-type"):
    """part.get_params(header=header) as a tuple, or _MISSING without the header."""
    value = part.get(header, _MISSING)
    if value is _MISSING:
        return _MISSING
    entry = _entry(part)
    key = ("params", header.lower())
    hit = entry.get(key)
    if hit is not None and hit[0] is value:
        return hit[1]
    found = part.get_params(_MISSING, header)
    result = _MISSING if found is _MISSING else tuple(found)
    entry[key] = (value, result)
    return result


def param(part: Message, name: str, failobj=None, header: str = "content-type"):
    """part.get_param(name, failobj, header)."""
    found = params(part, header)
    if found is _MISSING:
        return failobj
    name = name.lower()
    for key, value in found:
        if key.lower() == name:
            return value
    return failobj


def content_charset(part: Message, failobj=None):
    """part.get_content_charset(failobj), the same steps on the cached parameters."""
    charset = param(part, "charset", _MISSING)
    if charset is _MISSING:
        return failobj
    if isinstance(charset, tuple):
        pcharset = charset[0] or "us-ascii"
        try:
            as_bytes = charset[2].encode("raw-unicode-escape")
            charset = str(as_bytes, pcharset)
        except (LookupError, UnicodeError):
            charset = charset[2]
    try:
        charset.encode("us-ascii")
    except UnicodeError:
        return failobj
    return charset.lower()


def filename(part: Message, failobj=None):
    """part.get_filename(failobj), the same steps on the cached parameters."""
    name = param(part, "filename", _MISSING, "content-disposition")
    if name is _MISSING:
        name = param(part, "name", _MISSING, "content-type")
    if name is _MISSING:
        return failobj
    return utils.collapse_rfc2231_value(name).strip()


def cached_text(part: Message, compute):
    """compute(part), remembered while the payload and the headers that
    decoding reads (Content-Type, Content-Transfer-Encoding) are the same
    objects. Only string and bytes payloads (immutable) are remembered.

    One difference from decoding twice: a broken base64 payload registers
    its defects in part.defects once, not once per decoding.
    """
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, (str, bytes)):
        return compute(part)
    ctype = part.get("content-type", _MISSING)
    cte = part.get("content-transfer-encoding", _MISSING)
    default = part.get_default_type()
    entry = _entry(part)
    hit = entry.get("text")
    if hit is not None and hit[0] is payload and hit[1] is ctype and hit[2] is cte and hit[3] == default:
        return hit[4]
    result = compute(part)
    entry["text"] = (payload, ctype, cte, default, result)
    return result
