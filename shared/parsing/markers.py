"""Reply-above-this-line markers: the line Mailgate's notifications carry, and other trackers' lines.

A notification starts with a short line such as `##- Reply above this line -##`
(the words come from MAILGATE_REPLY_MARKER, any language). A reply that
quotes the notification carries it, quoted or not, and everything from it on
is the notification: the trimmer cuts there before any other rule. The
`##- … -##` frame is what makes the line ours whatever its words, so changing
the words never breaks trimming of replies to older notifications. Hosted
trackers use similar lines ("##- Please type your reply above this line -##",
"## Reply above this line ##", Jira's "Reply above this line."); those are
recognised by their phrase, in the languages below.
"""

from __future__ import annotations

import re

DEFAULT_TEXT = "Reply above this line"

# The marker's words in a few languages, for MAILGATE_REPLY_MARKER (docs/outbound.md).
TRANSLATIONS = {
    "en": "Reply above this line",
    "de": "Über dieser Zeile antworten",
    "fr": "Répondez au-dessus de cette ligne",
    "es": "Responda encima de esta línea",
    "pt": "Responda acima desta linha",
    "it": "Rispondi sopra questa riga",
    "nl": "Antwoord boven deze regel",
    "sv": "Svara ovanför den här raden",
    "da": "Svar over denne linje",
    "nb": "Svar over denne linjen",
    "fi": "Vastaa tämän rivin yläpuolelle",
    "pl": "Odpowiedz powyżej tej linii",
    "cs": "Odpovězte nad tímto řádkem",
    "ru": "Ответьте над этой строкой",
    "tr": "Bu satırın üstüne yanıt yazın",
    "ja": "この行より上に返信してください",
    "zh": "请在此行上方回复",
    "ko": "이 줄 위에 답장하세요",
}


def marker_line(text: str = DEFAULT_TEXT) -> str:
    """The line a notification starts with."""
    return f"##- {text.strip()} -##"


# `##- words -##`: Mailgate's frame (Zendesk's too), whatever the words.
_FRAMED = re.compile(r"^#{2,3}-\s*\S.{0,150}?\s*-#{2,3}$")

# "reply/type/write above this line" per language: where (above) and which
# line, in the order the language puts them...
_PLACE = re.compile(
    r"("
    r"\babove (this|the) line\b|\bbelow (this|the) line\b"
    r"|\b(über|oberhalb) (dieser|der) zeile\b"
    r"|\bau-dessus de (cette|la) ligne\b"
    r"|\b(por )?(encima|arriba) de (esta|la) l[íi]nea\b"
    r"|\bacima d(esta|a) linha\b"
    r"|\bsopra (questa|la) (riga|linea)\b"
    r"|\bboven (deze|de) (regel|lijn)\b"
    r"|\bovanför (den här|denna) raden?\b"
    r"|\bover denne linjen?\b"
    r"|\btämän rivin yläpuolelle\b"
    r"|\bpowyżej tej linii\b"
    r"|\bnad (tímto|tento) řádk(em)?\b"
    r"|(над|выше) (этой|этою) строк(ой|и)"
    r"|\bbu satırın (üstüne|üzerine)\b"
    r"|この(ライン|線|行)より上|此行(上方|以上)|此线(以上|上方)|이 줄 위에"
    r")",
    re.IGNORECASE,
)
# ...and a word saying what to do there: prose that mentions a line has none.
_ACTION = re.compile(
    r"(repl|respon|answer|type|write|do not|don't|antwort|schreib|geben sie|répon|écri|tape|respuest|escrib|"
    r"digit|rispond|rispost|scriv|typ |reactie|svar|skriv|vastaa|vastau|kirjoita|odpowi|odpisz|wpisz|"
    r"odpov|napiš|ответ|введите|напишите|yanıt|cevap|yazın|返信|回复|답장|회신)",
    re.IGNORECASE,
)
# Substrings one of which _PLACE needs (its "above" word), in the lowercased
# text: the cheap test that lets a message without any marker skip the
# per-line work ("line" alone is in "online", "deadline", …).
PLACE_NEEDLES = ("above", "below", "über", "oberhalb", "dessus", "encima", "arriba", "acima", "sopra", "boven",
                 "ovanför", "over denne", "yläpuolel", "powyżej", "nad t", "над", "выше", "satırın", "より上",
                 "此行", "此线", "이 줄")
_WORDS = re.compile(r"\w+")




def reply_marker(content: str) -> str | None:
    """The rule name when this line (quote markers removed) is a reply-above-this-line marker.

    A marker is a short line that is only that: a framed `##- … -##` line,
    or the phrase with at most a few other words ("Please type your reply
    above this line", "—— Reply above this line ——").
    """
    text = content.strip()
    if not text or len(text) > 160:
        return None
    if text.startswith("##") and _FRAMED.match(text):
        return "marker:reply_above"
    low = text.lower()
    for needle in PLACE_NEEDLES:
        if needle in low:
            break
    else:
        return None  # _PLACE cannot match
    if _PLACE.search(text) is None or _ACTION.search(text) is None:
        return None
    # The phrase must be most of the line: a sentence that mentions a line is prose.
    if len(_WORDS.findall(text)) > 12:
        return None
    return "marker:reply_above"


def is_framed(line: str) -> bool:
    """Is this line a `##- … -##` marker (the shape Mailgate writes)?"""
    text = line.strip()
    return text.startswith("##") and _FRAMED.match(text) is not None


_TIME = re.compile(r"\b\d{1,2}[:.h]\d{2}\b")
_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")


def is_attribution(text: str) -> bool:
    """Text right above a marker that reads as a client's attribution: a time or an address, ending it."""
    text = text.strip()
    if not text or len(text) > 300:
        return False
    return text.endswith((":", "：", ">", ")")) and bool(_TIME.search(text) or _ADDRESS.search(text))


_DECORATION_ONLY = re.compile(r"^[\s\-_=~*#—–−―·.]+$")


def is_decoration(content: str) -> bool:
    """A line of dashes or rules only ("—-—-—-—"), which belongs to a marker right below it."""
    return bool(content) and _DECORATION_ONLY.match(content) is not None
