"""HTML-only mail to plain text, with the quoted history removed.

Most mail clients send a text/plain alternative, and then this module is not
used. When HTML is all there is, the quoted history is usually marked up
explicitly, which is more reliable than any text heuristic, so it is removed
here, on the tree, before the text trimmer sees the result:

- `<blockquote>` (Apple Mail, Thunderbird `type="cite"`, Gmail inside
  `gmail_quote`, most webmails);
- Gmail's `div.gmail_quote` (the "On … wrote:" line lives inside it);
- Outlook / Exchange: `div#divRplyFwdMsg` (the From/Sent/To header block)
  and everything after it, `div#appendonsend` likewise, Outlook for Mac's
  `#OLK_SRC_BODY_SECTION`, the old border-top separator
  `<div style="border:none;border-top:solid #E1E1E1 …">`, and the `x_`
  prefixed ids/classes Outlook Web gives them when it forwards such mail;
- Thunderbird's `.moz-cite-prefix` ("On … wrote:"), Yahoo's `.yahoo_quoted`,
  ProtonMail's `.protonmail_quote`, Zimbra's `hr#zwchr` and what follows.

Every removal is returned as a Cut, so the admin sees what went and why.
"""

from __future__ import annotations

import re

from .models import Cut

# bs4 (with lxml and soupsieve) is imported on the first HTML-only message, not with the parser: most
# mail has a text part, and the pipe ingress starts a process per message.
BeautifulSoup = Comment = NavigableString = Tag = None  # type: ignore[assignment]


def _load_bs4() -> bool:
    """Import beautifulsoup4 once; False if it cannot be (a dependency, but parsing must never crash)."""
    global BeautifulSoup, Comment, NavigableString, Tag
    if BeautifulSoup is None:
        try:
            from bs4 import BeautifulSoup, Comment, NavigableString, Tag
        except Exception:  # pragma: no cover
            return False
    return True


_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4",
    "h5", "h6", "pre", "blockquote", "hr", "section", "article", "header",
    "footer", "dd", "dt", "dl", "address",
}
_DROP = {"script", "style", "head", "title", "meta", "noscript", "template", "object", "iframe"}
_OUTLOOK_BORDER = re.compile(r"border-top\s*:\s*solid\s+#(?:e1e1e1|b5c4df)", re.I)


def _remove_with_following(tag: "Tag") -> str:
    """Remove `tag` and every later sibling, climbing to the body.

    Outlook puts the header block of the quoted mail in a div and the quoted
    body in the siblings after it (at several nesting levels), so everything
    after the marker in document order is history.
    """
    removed: list[str] = []
    node = tag
    while node is not None and getattr(node, "name", None) not in ("body", "html", "[document]"):
        parent = node.parent
        for sib in list(node.next_siblings):
            removed.append(_render(sib) if isinstance(sib, Tag) else str(sib))
            sib.extract()
        node = parent
    removed.insert(0, _render(tag))
    # Outlook draws a rule just above the header block: it belongs to it.
    prev = tag.find_previous_sibling()
    if prev is not None and prev.name == "hr":
        prev.extract()
    tag.extract()
    return "\n".join(r for r in removed if r.strip())


# Above these sizes the HTML is not parsed into a tree (the tree and its walks cost
# Python time per element); tags are stripped
# crudely instead, so the words survive, and the text trimmer still sees the quote.
MAX_HTML_CHARS = 2_000_000
MAX_HTML_TAGS = 20_000
# A tree also costs a fixed price however small the HTML (the parser built, the tree walked): each is
# charged at least this many tags, so a message's budget buys at most MAX_HTML_TAGS / MIN_TREE_TAGS trees
# (thousands of tiny HTML parts side by side would otherwise cost a tree each).
MIN_TREE_TAGS = 200


def tree_cost(html: str) -> int:
    """What converting `html` on a tree takes from a message's tag budget."""
    return max(html.count("<"), MIN_TREE_TAGS)


def html_to_text(html: str, max_tags: int = MAX_HTML_TAGS) -> tuple[str, list[Cut]]:
    """Convert `html` to text, dropping marked-up quotations.

    Returns (text, cuts). Never raises: on any failure, or for oversized
    input (a `tree_cost` over `max_tags`: what is left of a message's budget), it
    falls back to a crude tag strip so the words still reach the tracker.
    """
    if len(html) <= MAX_HTML_CHARS and tree_cost(html) <= max_tags:
        try:
            return _html_to_text(html)
        except Exception:  # pragma: no cover - defensive
            pass
    return _crude_text(html), []


_INVISIBLE_OPEN = re.compile(r"<(script|style|head)\b", re.I)
_BREAKS = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h\d)\s*>")
_TAG = re.compile(r"<[^<>]*>")  # not [^>]*: a "<" without ">" would be scanned to the end, for each one


def _crude_text(html: str) -> str:
    """Tags stripped, in time linear in the input (hostile HTML is the reason this exists)."""
    import html as html_module

    kept, pos = [], 0
    for opening in _INVISIBLE_OPEN.finditer(html):
        if opening.start() < pos:
            continue  # inside a block already dropped
        kept.append(html[pos:opening.start()])
        closing = re.compile(rf"</{opening.group(1)}\s*>", re.I).search(html, opening.end())
        if closing is None:  # never closed: the rest is script or style to a browser too
            pos = len(html)
            break
        pos = closing.end()
    kept.append(html[pos:])
    text = _BREAKS.sub("\n", " ".join(kept))
    text = _TAG.sub(" ", text)
    return _tidy(html_module.unescape(text))


def _parse(html: str) -> "BeautifulSoup":
    """The tree, without what is never text (scripts, styles, comments).

    lxml, not Python's html.parser: that one is quadratic on unclosed tags
    before CPython 3.11.13 (CVE-2025-6069).
    """
    _load_bs4()
    soup = BeautifulSoup(html, "lxml")
    doomed = [n for n in soup.descendants
              if isinstance(n, Comment) or (isinstance(n, Tag) and n.name in _DROP)]
    for node in doomed:
        node.extract()
    return soup


# Markers after which everything is the previous message: (test on a tag, rule).
_MARKERS = (
    (lambda t: t.get("id") in ("divRplyFwdMsg", "x_divRplyFwdMsg"), "html_quote:outlook_divRplyFwdMsg"),
    (lambda t: t.get("id") in ("appendonsend", "x_appendonsend"), "html_quote:outlook_appendonsend"),
    (lambda t: t.get("id") == "OLK_SRC_BODY_SECTION", "html_quote:outlook_mac"),
    (lambda t: t.name == "hr" and t.get("id") == "zwchr", "html_quote:zimbra"),
    (lambda t: t.name == "div" and bool(_OUTLOOK_BORDER.search(str(t.get("style") or ""))),
     "html_quote:outlook_border"),
)
# Elements that are quotes or signatures themselves, by class, in the order they are cut.
_CLASSES = (
    ("gmail_quote", "html_quote:gmail_quote"),
    ("x_gmail_quote", "html_quote:gmail_quote"),
    ("moz-cite-prefix", "html_quote:thunderbird_cite_prefix"),
    ("yahoo_quoted", "html_quote:yahoo_quoted"),
    ("protonmail_quote", "html_quote:protonmail_quote"),
    ("gmail_signature", "html_signature:gmail_signature"),
)


def _candidates(soup: "BeautifulSoup") -> tuple[list[list["Tag"]], list[list["Tag"]], list["Tag"]]:
    """Every tag each rule below looks for, in document order, from one walk over the tree.

    Why not a find_all() per rule: each walks the whole tree in Python, and
    there are thirteen rules -- most of the time of a large HTML mail.
    """
    markers: list[list[Tag]] = [[] for _ in _MARKERS]
    classed: list[list[Tag]] = [[] for _ in _CLASSES]
    quotes: list[Tag] = []
    for tag in soup.descendants:
        if not isinstance(tag, Tag):
            continue
        if tag.name == "blockquote":
            quotes.append(tag)
        classes = tag.get("class")
        if classes:
            for i, (cls, _rule) in enumerate(_CLASSES):
                if cls in classes:
                    classed[i].append(tag)
        if tag.attrs:
            for i, (test, _rule) in enumerate(_MARKERS):
                if test(tag):
                    markers[i].append(tag)
    return markers, classed, quotes


def _html_to_text(html: str) -> tuple[str, list[Cut]]:
    if not _load_bs4():  # pragma: no cover
        raise RuntimeError("bs4 missing")
    soup = _parse(html)
    cuts: list[Cut] = []

    def cut(rule: str, text: str) -> None:
        text = _tidy(text)
        if text:
            cuts.append(Cut(rule, text))

    markers, classed, quotes = _candidates(soup)
    for found, (_test, rule) in zip(markers, _MARKERS):
        tag = next((t for t in found if _attached(t, soup)), None)  # the first one still in the document
        if tag is not None:
            cut(rule, _remove_with_following(tag))
    for found, (_cls, rule) in zip(classed, _CLASSES):
        for tag in found:
            if not _attached(tag, soup):
                continue
            cut(rule, _render(tag))
            tag.extract()
    for tag in quotes:
        if not _attached(tag, soup):  # already removed with an ancestor
            continue
        cut("html_quote:blockquote", _render(tag))
        tag.extract()
    text = _tidy(_render(soup))
    if not text and cuts:
        # Everything was inside quote markup: a forward (Gmail wraps the
        # forwarded message in gmail_quote) or an odd client. Render it all,
        # blockquotes as "> " lines, and let the text trimmer decide what is
        # history — a forward with nothing above keeps its content.
        return _tidy(_render(_parse(html), quote_blocks=True)), []
    return text, cuts


def _render(node: "Tag", quote_blocks: bool = False) -> str:
    """Text with line breaks where the blocks were.

    Block boundaries add a line break only when not already at the start of
    a line (Gmail writes one `<div>` per line: doubling them would insert
    blank lines), `<p>` separates paragraphs with one blank line, `<br>`
    always breaks.
    """
    out: list[str] = []
    _walk(node, out, quote_blocks)
    return "".join(out)


def _ends_with(out: list[str], s: str) -> bool:
    tail = "".join(out[-3:])
    return not tail or tail.endswith(s)


def _newline(out: list[str]) -> None:
    if not _ends_with(out, "\n"):
        out.append("\n")


def _paragraph(out: list[str]) -> None:
    _newline(out)
    if not _ends_with(out, "\n\n"):
        out.append("\n")


def _walk(n: "Tag", out: list[str], quote_blocks: bool) -> None:
    """Append the text of `n`'s children to `out`, with the breaks of their blocks (see _render)."""
    for child in n.children:
        if isinstance(child, NavigableString):
            if isinstance(child, Comment):
                continue
            text = re.sub(r"\s+", " ", str(child))
            if _ends_with(out, "\n"):
                text = text.lstrip(" ")
            if text:
                out.append(text)
        elif isinstance(child, Tag):
            name = child.name
            if name == "br":
                out.append("\n")
                continue
            if name in ("p", "blockquote", "pre", "table", "ul", "ol", "h1", "h2", "h3"):
                _paragraph(out)
            elif name in _BLOCK:
                _newline(out)
            if name == "li":
                out.append("- ")
            if name == "hr":
                out.append("----")
            if name == "pre":
                out.append(child.get_text())
            elif name == "blockquote" and quote_blocks:
                inner = _tidy(_render(child, quote_blocks=True))
                out.append("\n".join("> " + ln if ln else ">" for ln in inner.split("\n")))
            else:
                _walk(child, out, quote_blocks)
            if name == "a":
                out.append(_link_target(child))
            if name in ("td", "th"):
                out.append(" ")
            if name in ("p", "pre", "table", "ul", "ol", "h1", "h2", "h3"):
                _paragraph(out)
            elif name in _BLOCK:
                _newline(out)


def _attached(tag: "Tag", soup: "BeautifulSoup") -> bool:
    """Is `tag` still in the document (not inside an already removed subtree)?"""
    return any(parent is soup for parent in tag.parents)


def _link_target(tag: "Tag") -> str:
    """" <url>" after a link whose text does not already show where it goes,
    so the comment keeps the information ("see this page <https://…>")."""
    href = str(tag.get("href") or "").strip()
    if not href.lower().startswith(("http://", "https://")):
        return ""
    label = tag.get_text(" ").strip()
    if not label or label.rstrip("/") == href.rstrip("/") or href in label:
        return ""
    return f" <{href}>"


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln.strip(" \t") for ln in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
