"""Loading hostile raw bytes into an email object, and reading headers safely.

Everything here must accept any byte sequence without raising: the pipeline
stores first and decides later, and a message that cannot be read is still a
message with a status. Header values that leave this module are decoded
(RFC 2047), and stripped of CR/LF and other control characters so that an
encoded CRLF can never become a header line anywhere downstream.
"""

from __future__ import annotations

import email
import email.feedparser
import email.header
import email.headerregistry
import email.parser
import email.errors
import email.policy
import email.utils
import hashlib
import itertools
import re
from dataclasses import dataclass
from email.message import Message
from typing import Iterable

from mailgate.shared import rfc2047
from mailgate.shared.addresses.syntax import ADDR_SPEC

# compat32 never raises while parsing and keeps raw header values: decoding
# is done here, explicitly, where failures are caught.
_POLICY = email.policy.compat32

# C0 and C1 controls (a terminal obeys ESC and the C1 CSI), line and paragraph separators
# (a line break to some readers), and the bidi overrides and isolates (text shown in another
# order than it is: "invoice<RLO>gpj.exe" reads as "invoiceexe.jpg").
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_SPACES = re.compile(r"[ \t]+")


# The email package tests every line against the boundary of each open multipart
# level, and reads nested messages through a generator per level: its cost is
# lines x levels (hostile nesting costs minutes before the message is even stored),
# and past ~1,000 levels it runs out of stack. The parser below
# stops at MAX_NESTING levels, or when the lines read below the third level, times
# the levels each is tested at, pass MAX_PARSE_WORK; then only the
# header section is read, and the body stays one text, unparsed. Counted on what the
# parser really nests, not on how the boundaries are spelt (RFC 2231 `boundary*0=`,
# bare CR line ends): no way around it, and nothing counted for ordinary mail.
MAX_NESTING = 100
MAX_PARSE_WORK = 1_000_000
_FREE_LEVELS = 3  # real mail: mixed > alternative > related; no counting at or above these
# Parts side by side cost too (a boundary regex compiled per multipart, a Message per part or
# delivery-status block); 5,000 is more than mail has (a flanker test message nests 3,043).
MAX_PARTS = 5_000
_FEED_CHARS = 65_536
TOO_DEEP = "MIME structure too deeply nested or with too many parts to read: headers only, the body was not parsed"
UNREADABLE = "MIME structure could not be read: headers only, the body was not parsed"


class _TooDeep(Exception):
    pass


class _BoundedInput(email.feedparser.BufferedSubFile):
    """The feedparser's line source; counts the boundary tests of each line below the free levels."""

    def __init__(self) -> None:
        super().__init__()
        self.work = 0

    def push_eof_matcher(self, pred) -> None:
        depth = len(self._eofstack) + 1
        if depth > MAX_NESTING:
            raise _TooDeep()
        if depth > _FREE_LEVELS:
            def counted(line: str, _pred=pred) -> bool:
                self.work += 1
                if self.work > MAX_PARSE_WORK:
                    raise _TooDeep()
                return _pred(line)
            pred = counted
        super().push_eof_matcher(pred)


class _BoundedParser(email.feedparser.FeedParser):
    """compat32's FeedParser, refusing hostile depth (see MAX_NESTING) instead of spending minutes on it."""

    def __init__(self, max_parts: int = MAX_PARTS) -> None:
        super().__init__(policy=_POLICY)
        self._input = _BoundedInput()
        self._depth = 0
        self._parts = 0
        self._max_parts = max_parts

    def _parsegen(self):
        # Every part -- nested multipart, message/rfc822, delivery-status block -- is read by a
        # _parsegen of its own.
        self._depth += 1
        self._parts += 1
        if self._depth > MAX_NESTING or self._parts > self._max_parts:
            raise _TooDeep()
        try:
            yield from super()._parsegen()
        finally:
            self._depth -= 1


def load_message(raw: bytes, max_parts: int = MAX_PARTS) -> Message:
    """Parse raw bytes into a Message; never raises. Past `max_parts` MIME parts only the headers are read."""
    text = raw.decode("ascii", "surrogateescape")  # as email.message_from_bytes reads bytes
    try:
        msg = _single_part(text)
        if msg is not None:
            return msg
        parser = _BoundedParser(max_parts)
        for start in range(0, len(text), _FEED_CHARS):  # in pieces: a refusal stops the line splitting too
            parser.feed(text[start:start + _FEED_CHARS])
        return parser.close()
    except (_TooDeep, RecursionError):
        return _headers_only(text, TOO_DEEP)
    except Exception:  # pragma: no cover - compat32 parser is lenient; belt and braces
        try:
            return _headers_only(text, UNREADABLE)
        except Exception:
            msg = Message()
            msg.set_payload(raw.decode("utf-8", "replace"))
            return msg




_HEAD_END = re.compile(rb"\n\r?\n")


def load_head(raw: bytes) -> Message:
    """The header section only, as load_message() reads it; no part of the body is read (its payload is '').

    What is known of a message before its sender is authorised: Message-ID,
    Subject, From, the routing headers, the robot guard's header evidence.
    Its cost does not grow with the body, however hostile.
    """
    end = _HEAD_END.search(raw)
    text = (raw[:end.end()] if end else raw).decode("ascii", "surrogateescape")
    try:
        msg = email.parser.Parser(policy=_POLICY).parsestr(text, headersonly=True)
    except Exception:  # pragma: no cover - compat32 is lenient; belt and braces
        msg = Message()
    msg.set_payload("")
    return msg


def load_body(head: Message, raw: bytes, max_parts: int = MAX_PARTS) -> Message:
    """The whole message, once its head (load_head) was read: the head's decoded header values are
    kept (decoded once per message, not once per reading)."""
    msg = load_message(raw, max_parts)
    decoded = head.__dict__.get(_DECODED)
    if decoded:
        msg.__dict__.setdefault(_DECODED, {}).update(decoded)  # entries hold the raw value: checked on use
    return msg


GLANCE_BYTES = 64 * 1024  # what the robot guard reads of a message whose headers say it is a robot
GLANCE_PARTS = 100


def load_glance(head: Message, raw: bytes) -> Message:
    """The message's first GLANCE_BYTES and GLANCE_PARTS parts, for the robot guard's body evidence
    (a delivery report's explanation and status come first): bounded work whatever the message."""
    return load_body(head, raw[:GLANCE_BYTES], GLANCE_PARTS)


def _header_section(text: str) -> tuple[str, str]:
    """(header section, body) split where the email package splits them: at the first empty line
    (which goes with neither), or before the first line that is not a header (which starts the body).
    Only the header lines are looked at: the body, however long, is not cut into lines."""
    pos = 0
    while pos < len(text):
        end = email.feedparser.NLCRE.search(text, pos)  # the email package's own line ends ...
        line_end, next_line = (end.start(), end.end()) if end else (len(text), len(text))
        if line_end == pos:  # the empty line
            return text[:pos], text[next_line:]
        if not email.feedparser.headerRE.match(text[pos:line_end]):  # ... and its test of a header line
            return text[:pos], text[pos:]
        pos = next_line
    return text, ""


def _headers_only(text: str, why: str) -> Message:
    """The header section parsed (Subject, From, Message-ID survive), the body kept as one text, with
    a defect saying why (TOO_DEEP or UNREADABLE): the parser reports it as a warning."""
    head, body = _header_section(text)
    msg = email.parser.Parser(policy=_POLICY).parsestr(head, headersonly=True)  # the body unread: not split
    msg.set_payload(body)
    msg.defects.append(email.errors.MessageDefect(why))
    return msg


# The empty line that ends a header section ("\n\n", or "\r\n" after a line's "\n").
_HEADER_SECTION_END = re.compile(r"\n\r?\n")
_COMPOUND_NAMES = ("multipart/", "Multipart/", "message/", "Message/")


def _single_part(text: str) -> Message | None:
    """The message the email package would read, when its body is one part (None: read it the full way).

    Why: the email package cuts the whole message into lines and reads them
    one by one, also the body of a text/plain message, which it then only
    joins back together: on a 4 KB reply most of its time. For a body that
    is not multipart/* or message/*, its payload is exactly the text after
    the empty line that ended the header section; so the header section is
    parsed by the same parser, and the rest set as the payload. Only when
    that parser ended the header section at that very line (the payload it
    read from the section is empty): a section ended by a stray non-header
    line, or a bare-CR empty line, goes the full way.
    """
    end = _HEADER_SECTION_END.search(text)
    if end is None:
        return None
    # A compound type named in the headers, as it is usually spelt: the full way at once, not after a
    # header parse (other spellings are caught below, after it).
    if any(text.find(name, 0, end.start()) >= 0 for name in _COMPOUND_NAMES):
        return None
    parser = email.feedparser.FeedParser(policy=_POLICY)
    parser.feed(text[:end.end()])
    msg = parser.close()
    if msg.get_payload() != "" or msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(text[end.end():])
    return msg


def clean_header_value(value: str) -> str:
    """Collapse folding, drop CR/LF and control characters, trim."""
    if value.isprintable() and "  " not in value:  # the common case, in C: nothing to replace
        return value.strip()
    value = _CONTROL.sub(" ", value)
    return _SPACES.sub(" ", value).strip()


def decode_header_value(value: object) -> str:
    """Decode an RFC 2047 header value to clean text; unknown charsets fall back."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        text = _header_object_text(value)
    else:
        text = undo_surrogates(str(value))
    if "=?" not in text:  # no encoded word (RFC 2047): nothing to decode
        return clean_header_value(text)
    return clean_header_value(rfc2047.decode(text, _decode_bytes))


def _join_chunks(parts: list[tuple[str | bytes, str | None]]) -> str:
    """A Header object's chunks as text; compat32's raw 8-bit bytes come in charset
    "unknown-8bit": guessed like a body."""
    return "".join(
        _decode_bytes(chunk, None if charset in (None, "unknown-8bit") else charset)
        if isinstance(chunk, bytes) else chunk
        for chunk, charset in parts
    )


def _header_object_text(value: email.header.Header) -> str:
    """compat32 hands out raw 8-bit headers as Header objects in the
    "unknown-8bit" charset; str() would turn every such byte into U+FFFD.
    Decode the bytes as UTF-8 (else cp1252) instead; any RFC 2047 words
    inside are decoded afterwards by the caller."""
    try:
        return _join_chunks(email.header.decode_header(value))
    except Exception:
        return str(value)


_SURROGATES = re.compile(r"[\udc80-\udcff]")


def undo_surrogates(text: str) -> str:
    """Raw 8-bit header bytes (no RFC 2047) arrive surrogate-escaped from
    the compat32 parser; decode them as UTF-8, else cp1252, like a body."""
    if not _SURROGATES.search(text):
        return text
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return _decode_bytes(data, None)


def raw_headers(msg: Message, limit: int = 300) -> list[tuple[str, str]]:
    """The header block as it arrived, as (name, value) text, for showing (escaped) to an admin.

    Why not decode_header_value(): the admin sees what was sent, encoded
    words and all. Raw 8-bit bytes are decoded like a body, though: left
    surrogate-escaped they are text no page can be encoded in. Folding is
    joined into spaces.
    """
    out = []
    for name, value in itertools.islice(msg.raw_items(), limit):
        text = undo_surrogates(str(value)).replace("\r", "").replace("\n", " ")
        out.append((undo_surrogates(str(name)), text))
    return out


def _decode_bytes(data: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8", "cp1252"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


_DECODED = "_mailgate_header_text"  # the attribute holding a message's decoded headers


def header_text(msg: Message, name: str) -> str:
    """The decoded, cleaned value of the first header `name`, or ''.

    Decoded once per message: the robot guard, the parser and the stored row
    all read the Subject, and a hostile one can take a long header to decode.
    Inbound messages are only read after `load_message`, so the text stays
    true; a header changed through the Message API is decoded afresh.
    """
    memo = msg.__dict__.setdefault(_DECODED, {})
    key = name.lower()
    try:
        value = msg.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    seen = memo.get(key)
    if seen is not None and seen[0] == value:
        return seen[1]
    text = decode_header_value(value)
    memo[key] = (value, text)
    return text


# One address, bare or `Name <address>`, a dot-atom at a hostname (addresses.syntax)
# and no RFC 5322 specials in the name: most From and To values. For those the
# address is plain to read, and email.utils.getaddresses() (much slower, in
# Python) would find the same one (tests/parsing/test_message.py checks that);
# anything else goes to it.
_ONE_SIMPLE_ADDRESS = re.compile(rf"[ \t]*(?:({ADDR_SPEC})|[^\"(),.:;<>@\[\]\\]*<({ADDR_SPEC})>)[ \t]*")


def header_addresses(msg: Message, name: str) -> list[str]:
    """All addresses in every header `name`, as bare addr-specs (case kept)."""
    try:
        values = msg.get_all(name) or []
    except Exception:
        return []
    raw = [clean_header_value(str(v)) for v in values]
    if len(raw) == 1:
        simple = _ONE_SIMPLE_ADDRESS.fullmatch(raw[0])
        if simple:
            return [simple.group(1) or simple.group(2)]
    try:
        pairs = email.utils.getaddresses(raw)
    except Exception:
        return []
    return [addr.strip() for _, addr in pairs if addr and "@" in addr]


FROM_MAX_CHARS = 2000  # a From longer than this is not read at all (the modern parser's work stays bounded)
_FROM_PARSER = email.headerregistry.HeaderRegistry()


@dataclass(frozen=True)
class FromMailbox:
    """The From header's one mailbox, or why there is none to trust.

    `present` False: no From header (the caller may use the envelope sender,
    and says so). `problem` set: a From is there but does not name exactly
    one mailbox -- never replaced by the envelope (rejected/unreadable_from).
    """

    address: str = ""
    problem: str = ""
    present: bool = True
    seen: str = ""  # the header as found (clean, clipped), for the decision trail


def from_mailbox(msg: Message) -> FromMailbox:
    """Read From strictly: one header, one mailbox, and two parsers that agree on it.

    The lenient parser read `alice@example.org <mallory@evil.test>` as two
    addresses and a first-address rule took alice; the modern one reads
    other malformed values its own way. Agreement of both on exactly one
    address is what "unambiguous" means here.
    """
    try:
        values = msg.get_all("From") or []
    except Exception:  # noqa: BLE001 -- a header that cannot be read is not a mailbox
        return FromMailbox(problem="the From header cannot be read")
    if not values:
        return FromMailbox(present=False)
    texts = [clean_header_value(undo_surrogates(str(v))) for v in values]
    seen = " | ".join(texts)[:300]
    if len(texts) > 1:
        return FromMailbox(problem=f"{len(texts)} From headers", seen=seen)
    value = texts[0]
    if len(value) > FROM_MAX_CHARS:
        return FromMailbox(problem=f"a From header of {len(value):,} characters", seen=seen)
    simple = _ONE_SIMPLE_ADDRESS.fullmatch(value)
    if simple:
        return FromMailbox(address=simple.group(1) or simple.group(2), seen=seen)
    legacy = [a.strip() for _, a in email.utils.getaddresses([value]) if a.strip()]
    try:
        modern = [a.addr_spec for a in _FROM_PARSER("From", value).addresses]
    except Exception:  # noqa: BLE001 -- the modern parser gave up: no agreement
        modern = []
    if len(legacy) == 1 and len(modern) == 1 and legacy[0].lower() == modern[0].lower() and _mailbox_like(legacy[0]):
        return FromMailbox(address=legacy[0], seen=seen)
    found = ", ".join(dict.fromkeys(legacy + modern)) or "no address"
    return FromMailbox(problem=f"the From header does not name one mailbox (read as: {found[:200]})", seen=seen)


def _mailbox_like(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() for c in address)


def first_address(msg: Message, name: str) -> str:
    """The first address in header `name`, or ''."""
    found = header_addresses(msg, name)
    return found[0] if found else ""


_MSGID = re.compile(r"<([^<>\s]+)>")


MESSAGE_ID_CHARS = 250  # what the received_messages column keeps (for display and search)


def message_id(msg: Message) -> str:
    """The Message-ID without angle brackets, whole (at most a header line), or '' when missing/garbled.

    Whole, not clipped to the column: two ids alike in their first 250
    characters are two messages, and the dedupe key must tell them apart.
    """
    value = header_text(msg, "Message-ID")
    match = _MSGID.search(value)
    if match:
        return match.group(1)[:998]
    value = value.strip("<> ")
    return value[:998] if value and " " not in value else ""


def dedupe_key(msg: Message, raw: bytes, mid: str | None = None, route: Iterable[str] = ()) -> str:
    """Message-ID and route when there is a Message-ID, else a digest of the raw bytes.

    `mid`: the message_id() already read. `route`: the Mailgate addresses it is for; a retry goes to the
    same ones, while a different message reusing a Message-ID for another object must not be dropped
    as its duplicate. Prefixed so that a Message-ID can never collide with a digest.
    """
    if mid is None:
        mid = message_id(msg)
    if not mid:
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    where = ",".join(sorted({r.strip().lower() for r in route if r.strip()}))
    suffix = "|to:" + hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()[:16] if where else ""
    if len(mid) + len(suffix) > MESSAGE_ID_CHARS:  # longer than the key column: a digest, which stays unique
        return "mid:sha256:" + hashlib.sha256(mid.encode("utf-8", "surrogatepass")).hexdigest() + suffix
    return "mid:" + mid + suffix


def no_nul(text: str) -> str:
    """Text as the database takes it: PostgreSQL refuses NUL in text, and mail may carry it."""
    return text.replace("\x00", "")


def json_safe(value):
    """A JSON value as the database takes it: every string without NUL (PostgreSQL refuses it in JSON too)."""
    if isinstance(value, str):
        return no_nul(value) if "\x00" in value else value
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value
