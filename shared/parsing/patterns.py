"""The vocabulary of reply trimming: what quote headers, header blocks,
separators and mobile signatures look like, in the languages we have seen.

Kept apart from the algorithm (trim.py) so that adding a language is adding a
line here. Every pattern has a name; the name becomes the `rule` of the Cut it
causes, so an admin can see exactly which pattern removed a line.

All patterns are matched against *normalised* header candidates: one to a few
physical lines joined with single spaces (clients wrap long headers), quote
markers and decoration (`*bold*`, `---- … ----`) already stripped.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE

# Evidence that a "… wrote:" line is a header and not prose ("He wrote:"):
# a time, a date, a year, or an address.
_DATEISH = re.compile(
    r"\d{1,2}[:.h]\d{2}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\b(19|20)\d{2}\b|@|\d{1,2}\.? ?(月|de |de\s)",
)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")
_EMAIL_IN_BRACKETS = re.compile(r"[<(\[]\s*(mailto:)?[^<>()\s]+@[^<>()\s]+\s*[>)\]]")

# "<attribution> <verb>:" headers. The verb ends the header; what comes before
# is a date and/or a name. Each needs _DATEISH evidence (see quote_header()).
QUOTE_HEADERS: list[tuple[str, re.Pattern[str]]] = [
    # English: "On Mon, 1 Jan 2024 at 10:00, Bob <bob@x> wrote:", "At 6/16/2016
    # 08:32 PM, you wrote:", Zoho's "---- On … wrote ----" (dashes stripped).
    ("en_on_wrote", re.compile(r"^(on|at)\b.{3,300}\b(wrote|writes|said|sent)\s*:?$", _I)),
    ("en_wrote", re.compile(r"^.{1,250}\b(wrote|writes)\s*:$", _I)),
    ("fr_a_ecrit", re.compile(r"^.{1,300}\ba\s+[ée]crit\s*:?$", _I)),
    ("es_escribio", re.compile(r"^.{1,300}\bescribi[óo]\s*:?$", _I)),
    ("ca_ha_escrit", re.compile(r"^.{1,300}\b(ha escrit|va escriure)\s*:?$", _I)),
    ("pt_escreveu", re.compile(r"^.{1,300}\bescreveu\s*:?$", _I)),
    ("it_ha_scritto", re.compile(r"^.{1,300}\bha scritto\s*:?$", _I)),
    ("de_schrieb", re.compile(r"^.{1,300}\b(schrieb\b.{0,120}|hat am .{1,80} geschrieben\s*):$", _I)),
    ("nl_schreef", re.compile(r"^.{1,300}\b(schreef|geschreven)\b.{0,120}:$", _I)),
    ("pl_napisal", re.compile(
        r"^(.{1,300}\b(napisał|napisała|napisal|pisze)(\s*\(a\))?|wiadomość napisana przez .{1,250})\s*:$", _I)),
    ("scandinavian_skrev", re.compile(r"^.{1,300}\bskrev\b.{0,120}:$", _I)),
    ("fi_kirjoitti", re.compile(r"^.{1,300}\bkirjoitti\s*:$", _I)),
    ("cs_napsal", re.compile(r"^.{1,300}\bnapsal(a)?\s*:$", _I)),
    ("hu_irta", re.compile(r"^.{1,300}\bírta\s*:$", _I)),
    ("tr_yazdi", re.compile(r"^.{1,300}\byazdı\s*:$", _I)),
    ("ru_napisal", re.compile(r"^.{1,300}(написал|написала|написал\(а\)|написав|написала|пише|пишет)\s*:$", _I)),
    ("zh_xiedao", re.compile(r"^.{1,300}(写道|寫道)\s*[:：]$")),
    ("ko_jakseong", re.compile(r"^.{1,300}작성\s*[:：]$")),
    ("ja_message", re.compile(r"^.{1,300}(のメッセージ|書きました|書き込みました)\s*[:：]$")),
    # Less frequent languages, one pattern: Greek, Hebrew, Arabic, Vietnamese,
    # Indonesian/Malay, Romanian, Croatian/Serbian/Slovene, Slovak, Baltic,
    # Estonian, Bulgarian.
    ("other_wrote", re.compile(
        r"^.{1,300}(έγραψε|כתב|כתבה|كتب|đã viết|menulis|a scris|je napisao|je napisala|je napisal|"
        r"napísal|napísala|rašė|rakstīja|kirjutas|написа)\s*[:：]$", _I)),
]

# Headers with no verb at all (old Gmail, Russian and Japanese clients, mail
# apps): a date, a name and an address, ending with ">:" — or Gmail's ISO date
# line, "2016-03-03 17:21 GMT+01:00 Some One".
DATE_ADDRESS_HEADER = re.compile(r"^.{0,200}[<(][^<>()\s]+@[^<>()\s]+\s*[>)]\s*[:：]$")
ISO_DATE_HEADER = re.compile(
    r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}(,?\s+\d{1,2}:\d{2}(:\d{2})?)?\s+"
    r"(GMT[+-]\d{1,2}(:\d{2})?\s+.{1,80}|.{0,80}<[^<>\s]+@[^<>\s]+>\s*:?)$",
    _I,
)

# "-----Original Message-----", "---------- Forwarded message ---------",
# "Begin forwarded message:" … The line, once decoration is stripped, must be
# exactly one of these phrases.
SEPARATOR_PHRASES = [
    "original message", "forwarded message", "begin forwarded message", "forwarded email", "reply message",
    "antwort nachricht", "oprindelig meddelelse",
    "ursprüngliche nachricht", "ursprungliche nachricht", "weitergeleitete nachricht", "originalnachricht",
    "mensaje original", "mensaje reenviado", "message d'origine", "message original", "message transféré",
    "début du message réexpédié", "messaggio originale", "messaggio inoltrato", "mensagem original",
    "mensagem encaminhada", "oorspronkelijk bericht", "origineel bericht", "doorgestuurd bericht",
    "oprindelig besked", "videresendt besked", "videresendt meddelelse", "opprinnelig melding",
    "videresendt melding", "ursprungligt meddelande", "vidarebefordrat meddelande",
    "alkuperäinen viesti", "välitetty viesti", "wiadomość oryginalna", "oryginalna wiadomość",
    "przekazana wiadomość", "исходное сообщение", "пересылаемое сообщение", "пересланное сообщение",
    "původní zpráva", "přeposlaná zpráva", "eredeti üzenet", "orijinal mesaj",
    "原始邮件", "原始郵件", "转发的邮件", "転送されたメッセージ", "元のメッセージ", "원본 메시지", "전달된 메시지",
    # Samsung, Zimbra and Apple Mail in more languages
    "originalmeddelande", "mail original", "mesaj original", "mesaj redirecționat", "αρχικό μήνυμα",
    "προωθημένο μήνυμα", "továbbított üzenet", "továbbított levél", "anfang der weitergeleiteten nachricht",
    "inicio del mensaje reenviado", "inizio messaggio inoltrato", "begin doorgestuurd bericht",
    "início da mensagem reencaminhada", "início da mensagem encaminhada", "vidarebefordrat brev",
    "videresendt e-post", "początek przekazywanej wiadomości", "začátek přeposílané zprávy",
    "iletilen ileti", "välitetty viesti alkaa",
]
# Which separators introduce a forwarded message (the rest introduce a quoted
# one: "Original Message"). Mail to a create address keeps a forward.
FORWARD_WORDS = ("forward", "weitergeleitet", "transféré", "réexpédié", "reenviado", "inoltrato", "encaminhada",
                 "reencaminhada", "doorgestuurd", "videresendt", "vidarebefordrat", "välitetty", "przekazan",
                 "пересыла", "переслан", "přeposlan", "přeposílan", "továbbított", "iletilen", "redirecționat",
                 "προωθημένο", "转发", "転送", "전달")
_SEPARATOR = re.compile(
    r"^(" + "|".join(re.escape(p) for p in SEPARATOR_PHRASES) + r")\s*[:：]?$", _I
)
_DECORATION = " \t*_=~-<>[]"

# Outlook / Exchange / webmail header blocks: "From: … / Sent: … / To: …".
# Keys per language; FROM_KEYS must appear in a block for it to count.
FROM_KEYS = [
    "from", "de", "von", "van", "da", "fra", "från", "od", "от", "від", "lähettäjä", "kimden",
    "feladó", "发件人", "寄件者", "差出人", "보낸 사람", "message du", "expéditeur", "remitente",
    "από", "מאת", "من", "de la",
]
OTHER_KEYS = [
    "sent", "date", "to", "cc", "bcc", "subject", "reply-to",
    "envoyé", "envoyé le", "à", "a", "objet", "sujet", "copie à", "cc ", "répondre à",
    "gesendet", "an", "betreff", "datum", "antwort an",
    "verzonden", "aan", "onderwerp", "datum",
    "inviato", "oggetto", "data", "risposta", "per",
    "enviado", "enviado el", "enviada", "para", "asunto", "fecha", "assunto",
    "sendt", "til", "emne", "dato", "skickat", "till", "ämne",
    "wysłano", "wysłane", "do", "temat", "data",
    "отправлено", "кому", "тема", "дата", "надіслано",
    "lähetetty", "vastaanottaja", "aihe", "odesláno", "komu", "předmět",
    "gönderildi", "kime", "konu", "elküldve", "címzett", "tárgy",
    "发送时间", "收件人", "主题", "抄送", "日期", "寄件日期", "收件者", "主旨", "副本",
    "送信日時", "宛先", "件名", "보낸 날짜", "받는 사람", "제목", "참조",
    "στάλθηκε", "προς", "θέμα", "נשלח", "אל", "נושא", "تاريخ الإرسال", "إلى", "الموضوع",
    "trimis", "către", "subiect",
    "pour", "dată", "ημερομηνία", "日付", "날짜",
]
_KEY_ALT = "|".join(sorted({re.escape(k.strip()) for k in FROM_KEYS + OTHER_KEYS}, key=len, reverse=True))
HEADER_LINE = re.compile(r"^\s*\*{0,2}\s*(" + _KEY_ALT + r")\s*\*{0,2}\s*[:：]", _I)
_FROM_KEY = re.compile(
    r"^\s*\*{0,2}\s*(" + "|".join(re.escape(k) for k in sorted(FROM_KEYS, key=len, reverse=True)) + r")\s*\*{0,2}\s*[:：]", _I
)

# Mobile / client signatures: a line the sender's device appended.
_SENT_VERB = re.compile(r"^(sent|posted)\s+(from|with|via|using|by|on)\s+(?P<rest>.*)$", _I)
_EXCUSE = re.compile(r"\b(excuse|pardon|sorry|forgive|typo|brevity|autocorrect)", _I)
MOBILE_SIGNATURES = re.compile(
    r"^("
    r"envoy[ée] (de|depuis|à partir de|a partir de) .{1,60}"
    r"|von meinem .{1,40} gesendet\.?"
    r"|gesendet (von|mit|vom) .{1,60}"
    r"|diese nachricht wurde von meinem .{1,80} gesendet\.?"
    r"|sendt fra min .{1,40}|skickat från min .{1,40}|sendt fra .{1,40}"
    r"|enviado (desde|do|de|con) (mi|meu|o|el|mon)? ?.{1,40}"
    r"|inviato (da|dal|dalla|dal mio) .{1,40}"
    r"|(verzonden|verstuurd) (met|vanaf|van) .{1,40}"
    r"|trimis de pe .{1,40}"
    r"|στάλθηκε από .{1,40}"
    r"|küldve .{1,40}|.{1,40}-r[óo]l küldve"
    r"|.{1,40}(umdan|ımdan|imden|ümden|dan|den) gönderildi"
    r"|wysłane z .{1,40}"
    r"|отправлено (с|из) .{1,40}"
    r"|lähetetty .{1,40}"
    r"|odesláno z .{1,40}"
    r"|(從|从)我的.{1,30}(傳送|发送|發送)"
    r"|.{1,30}から送信(しました)?[。.]?"
    r"|.{1,30}에서 보냈습니다[.。]?"
    r"|get (\[)?outlook for (ios|android)\b.{0,80}"
    r"|from my (iphone|ipad|ipod|android|mobile|phone|samsung|galaxy|blackberry|smartphone)\b.{0,20}"
    r"|\w+ from (my )?mobile"
    r")$",
    _I,
)


def strip_decoration(text: str) -> str:
    """Remove `*bold*`, `---- x ----` and similar wrapping around a line."""
    return text.strip(_DECORATION).strip()


_SEPARATOR_SET = frozenset(p.lower() for p in SEPARATOR_PHRASES)


# "---- Bob Smith wrote ----" (Android mail apps): a name and the verb between dashes, no date.
_NAME_WROTE = re.compile(
    r"^-{3,}\s*\S.{0,80}?\s(wrote|schrieb|a écrit|escribió|escreveu|ha scritto|schreef|skrev|napisał\(a\)|"
    r"napisał|napisała|написал\(а\)|написал|написала|kirjoitti|napsal|írta|yazdı)\s*:?\s*-{3,}$",
    _I,
)


def named_wrote_separator(content: str) -> bool:
    """A "---- Bob Smith wrote ----" line: a reply header without a date, framed by dashes."""
    return content[:3] == "---" and content[-3:] == "---" and _NAME_WROTE.match(content) is not None


def is_separator(content: str) -> bool:
    """An "Original Message" / "Forwarded message" separator line."""
    if len(content) > 80:
        return False
    text = strip_decoration(content)
    if text.isascii():
        # The same test as _SEPARATOR without the regex: a phrase, optional
        # spaces, an optional colon. (On ASCII text re.IGNORECASE is lower().)
        if text.endswith(":"):
            text = text[:-1]
        return text.rstrip().lower() in _SEPARATOR_SET
    return bool(_SEPARATOR.match(text))


# Every quote header contains one of these (a verb, an address, or an ISO
# date): plain substring tests reject ordinary lines before the
# per-language patterns run.
_HEADER_HINTS = (
    "@", "wrote", "writes", "said", "crit", "escribi", "escreveu", "scritto", "schrieb", "schreef", "napisana",
    "geschreven", "napisa", "pisze", "skrev", "kirjoitti", "napsal", "írta", "yazdı", "написа", "пише",
    "写道", "寫道", "작성", "のメッセージ", "書き", "έγραψε", "כתב", "كتب", "viết", "menulis", "scris",
    "napis", "rašė", "rakstīja", "kirjutas",
)
_ISO_PREFIX = re.compile(r"^\d{4}[-/]")


def _has_header_hint(text: str) -> bool:
    low = text.lower()
    return any(h in low for h in _HEADER_HINTS) or bool(_ISO_PREFIX.match(text))


# For each of QUOTE_HEADERS, substrings one of which its pattern needs in
# ASCII text (lowercased): the patterns that cannot match are not run. On
# ASCII text re.IGNORECASE equals lower(), with one exception that is why
# Turkish has "yazd": its dotless "ı" matches "i" and "I". A pattern whose
# verb is not ASCII ("írta", Cyrillic, CJK) cannot match ASCII text at all.
_ASCII_NEEDS: dict[str, tuple[str, ...]] = {
    "en_on_wrote": ("wrote", "writes", "said", "sent"),
    "en_wrote": ("wrote", "writes"),
    "fr_a_ecrit": ("crit",),
    "es_escribio": ("escribi",),
    "ca_ha_escrit": ("ha escrit", "va escriure"),
    "pt_escreveu": ("escreveu",),
    "it_ha_scritto": ("ha scritto",),
    "de_schrieb": ("schrieb", "geschrieben"),
    "nl_schreef": ("schreef", "geschreven"),
    "pl_napisal": ("napisal", "pisze"),
    "scandinavian_skrev": ("skrev",),
    "fi_kirjoitti": ("kirjoitti",),
    "cs_napsal": ("napsal",),
    "hu_irta": (),
    "tr_yazdi": ("yazd",),
    "ru_napisal": (),
    "zh_xiedao": (),
    "ko_jakseong": (),
    "ja_message": (),
    "other_wrote": ("menulis", "a scris", "je napisa", "kirjutas"),
}
_QUOTE_HEADERS_ASCII = [(name, rx, _ASCII_NEEDS[name]) for name, rx in QUOTE_HEADERS]


def quote_header(candidate: str) -> str | None:
    """The rule name when `candidate` (1-6 joined lines) is a quote header."""
    text = strip_decoration(candidate) if candidate[:1] in "-*=_" else candidate.strip()
    if not text or len(text) > 400 or not _has_header_hint(text):
        return None
    # Strip markdown/HTML-ish emphasis around the whole header.
    text = text.strip("*").strip()
    low = text.lower() if text.isascii() else None
    for name, rx, needs in _QUOTE_HEADERS_ASCII:
        if low is not None:
            for need in needs:
                if need in low:
                    break
            else:
                continue  # the pattern cannot match: skip it
        if rx.match(text):
            if name == "en_on_wrote" and not text.rstrip().endswith(":") and not _DATEISH.search(text):
                return None
            if _DATEISH.search(text) or _EMAIL.search(text):
                return "quote_header:" + name
            return None
    if len(text) <= 250 and DATE_ADDRESS_HEADER.match(text) and _DATEISH.search(text.split("<")[0].split("(")[0]):
        return "quote_header:date_address"
    if ISO_DATE_HEADER.match(text):
        return "quote_header:iso_date"
    return None


_ON_AT = re.compile(r"^(on|at)\b", _I)  # how en_on_wrote starts


def may_start_on_wrote(candidate: str) -> bool:
    """False when quote_header(candidate), and quote_header of any longer
    candidate that starts with this one, cannot be en_on_wrote: the text
    quote_header matches (decoration stripped the same way) does not start
    with "On"/"At". An empty text says nothing about longer ones: True.
    """
    text = strip_decoration(candidate) if candidate[:1] in "-*=_" else candidate.strip()
    text = text.strip("*").strip()
    return not text or _ON_AT.match(text) is not None


def undated_quote_header(candidate: str) -> str | None:
    """The rule name for a header shape without date or address ("On Mon, Alice wrote:").

    Alone such a line could be prose, so the trimmer only uses this for the
    last line of text when nothing but quoted lines follow it.
    """
    text = candidate.strip().strip("*").strip()
    if not text or len(text) > 200 or not text.endswith((":", "：")):
        return None
    for name, rx in QUOTE_HEADERS:
        if rx.match(text):
            return f"quote_header:{name}_undated"
    return None


def is_header_line(content: str) -> bool:
    """A "Key: value" line of an Outlook-style header block."""
    return ("：" in content or ":" in content) and HEADER_LINE.match(content) is not None


def is_from_header_line(content: str) -> bool:
    return ("：" in content or ":" in content) and _FROM_KEY.match(content) is not None


_LINKS = re.compile(r"<[^<>]*>|\[([^\]]*)\]\([^)]*\)|https?://\S+")
# In ASCII text (lowercased), MOBILE_SIGNATURES or _SENT_VERB needs one of
# these; the alternatives with a non-ASCII word cannot match ASCII text.
_MOBILE_NEEDS = ("envoy", "von meinem", "gesendet", "diese nachricht", "sendt fra", "skickat",
                 "enviado", "inviato da", "verzonden", "verstuurd", "trimis de pe",
                 "outlook for", "from my", "mobile", "sent", "posted")
# Outlook's mobile apps sign "Get Outlook for iOS" in every language
# ("Outlook für iOS beziehen", "Obtener Outlook para Android", …).
_OUTLOOK_APP = re.compile(r"\boutlook\b.{0,40}\b(ios|android)\b|\b(ios|android)\b.{0,40}\boutlook\b", _I)
_OUTLOOK_GET = re.compile(
    r"aka\.ms/|^(get|hent|hämta|pobierz|obtener|obter|baixe|scarica|ottieni|télécharger|скачайте|получите|hanki|"
    r"stáhněte|indir|descarcă|λήψη)\b|\b(beziehen|downloaden|herunterladen|letöltése)\s*$", _I)


_DEVICE_LINE = re.compile(r"^sent from my \S+( \S+){0,3}\.?$", _I)


def device_line(content: str) -> bool:
    """A line that names the sender's device and nothing else ("Sent from my iPhone",
    "Von meinem iPhone gesendet", "Get Outlook for iOS"): the stricter test used
    when the line is all there is ("Sent with swaks." is a sentence someone wrote)."""
    text = content.strip()
    if not text or len(text) > 160:
        return False
    if "<" in text or "[" in text or "http" in text:
        text = _LINKS.sub(r"\1", text).strip()
    text = text.strip("()<> \t").strip()
    if _DEVICE_LINE.match(text) or MOBILE_SIGNATURES.match(text):
        return True
    return len(text.split()) <= 8 and bool(_OUTLOOK_APP.search(text)) and bool(_OUTLOOK_GET.search(content.strip()))


def mobile_signature(content: str) -> bool:
    """A "Sent from my iPhone"-style line appended by the sender's client.

    "Sent from my desk, is much easier …" is prose: the device part must be
    short (at most six words once links are removed), unless what follows is
    an apology for typos.
    """
    text = content.strip()
    if not text or len(text) > 160:
        return False
    if "<" in text or "[" in text or "http" in text:  # else _LINKS cannot match
        text = _LINKS.sub(r"\1", text).strip()
    text = text.strip("()<> \t").strip()
    if len(text.split()) <= 8 and _OUTLOOK_APP.search(text) and _OUTLOOK_GET.search(content.strip()):
        return True
    if text.isascii():
        low = text.lower()
        for need in _MOBILE_NEEDS:
            if need in low:
                break
        else:
            return False  # neither pattern below can match
    if MOBILE_SIGNATURES.match(text):
        return True
    match = _SENT_VERB.match(text)
    if not match:
        return False
    rest = match.group("rest").strip()
    words = rest.split()
    if len(words) <= 6 and not re.search(r"[.!?]\s+\w", rest):
        return True
    first = re.split(r"[.,;!]", rest, maxsplit=1)
    if len(first[0].split()) <= 6 and len(first) > 1 and _EXCUSE.search(first[1]):
        return True
    return False
