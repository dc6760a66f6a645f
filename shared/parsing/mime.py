"""Facts about a MIME part, read once: content type, header parameters, text.

The robot guard and the parser read the same parts of the same message (the
pipeline runs guard.check, then parse_message): between them, a plain reply's
Content-Type was split seven times, its parameters parsed eight times
(compat32 re-parses the header on every get_param() call) and its body
decoded twice. These helpers return exactly what the email package's methods
return, computed once per part and kept on the part.

An entry is only used while what it was computed from is unchanged: the
part's header list (compared item by item, so any set, replace or delete
shows), its payload object, its policy and its default type. Anything else
(a part without the usual compat32 attributes) is computed every time.
"""

from __future__ import annotations

from email import utils
from email.header import Header
from email.message import Message

from ..message import undo_surrogates

_MISSING = object()


class _Facts:
    __slots__ = ("headers", "payload", "policy", "default", "values")

    def __init__(self, headers: list, payload: object, policy: object, default: str):
        self.headers = list(headers)
        self.payload = payload
        self.policy = policy
        self.default = default
        self.values: dict = {}


_ATTR = "_mailgate_parsing_facts"


def _values(part: Message) -> dict | None:
    """The cache of `part`, emptied when the part changed; None: do not cache.

    Kept in the part's own __dict__ (it lives and dies with the part, and a
    lookup there is cheaper than a weak map's).
    """
    try:
        attrs = part.__dict__
        headers = attrs["_headers"]
        payload = attrs["_payload"]
        policy = attrs["policy"]
        default = attrs["_default_type"]
    except (AttributeError, KeyError):  # not a compat32-style Message: no cache
        return None
    entry = attrs.get(_ATTR)
    if entry is None or entry.payload is not payload or entry.policy is not policy \
            or entry.default != default or entry.headers != headers:
        entry = attrs[_ATTR] = _Facts(headers, payload, policy, default)
    return entry.values


def content_type(part: Message) -> str:
    """part.get_content_type()."""
    values = _values(part)
    if values is None:
        return part.get_content_type()
    found = values.get("ctype")
    if found is None:
        found = values["ctype"] = part.get_content_type()
    return found


def params(part: Message, header: str = "content-type"):
    """part.get_params(header=header) as a tuple, or _MISSING without the header."""
    values = _values(part)
    key = ("params", header.lower())
    if values is not None:
        found = values.get(key)
        if found is not None:
            return found
    found = _params_of_8bit(part, header)
    if found is None:
        found = part.get_params(_MISSING, header)
    if found is not _MISSING:
        found = tuple(found)
    if values is not None:
        values[key] = found
    return found


def _params_of_8bit(part: Message, header: str):
    """The parameters of a header written in raw 8-bit (`filename="Café.pdf"` from an SMTPUTF8 sender),
    decoded like a body; None for any other header, read the usual way.

    Why: compat32 hands such a value to get_params() as a Header in the
    unknown-8bit charset, whose text has U+FFFD for every non-ASCII byte.
    """
    if not isinstance(part.get(header), Header):  # how compat32 hands out raw 8-bit values; else the usual way
        return None
    for key, value in part.raw_items():
        if key.lower() == header and isinstance(value, str):
            decoded = Message()
            decoded[header] = undo_surrogates(value)
            return decoded.get_params(_MISSING, header)
    return None


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
    """part.get_content_charset(failobj): the same steps on the cached parameters."""
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
    """part.get_filename(failobj): the same steps on the cached parameters."""
    name = param(part, "filename", _MISSING, "content-disposition")
    if name is _MISSING:
        name = param(part, "name", _MISSING, "content-type")
    if name is _MISSING:
        return failobj
    return utils.collapse_rfc2231_value(name).strip()


def cached_text(part: Message, compute):
    """compute(part) for a part whose payload is a string or bytes, once.

    One difference from decoding twice: a broken base64 payload registers
    its defects in part.defects once, not once per decoding.
    """
    values = _values(part) if isinstance(getattr(part, "_payload", None), (str, bytes)) else None
    if values is None:
        return compute(part)
    found = values.get("text")
    if found is None:
        found = values["text"] = compute(part)
    return found
