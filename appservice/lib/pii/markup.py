"""HTML (Matrix formatted_body) read as text, with a map back to the original offsets.

Tags, comments and declarations are dropped (attributes are not text); block-level tags
become one line break, so that a number split across paragraphs reads like one split across
lines; character references (&#49;, &#x31;, &nbsp;) are decoded. Parsing uses the stdlib
html.parser and runs only on text that holds a tag or a reference.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from .normalize import Normalized

_MARKUP = re.compile(r"<[A-Za-z/!?]|&(?:#[0-9]|#[xX][0-9A-Fa-f]|[A-Za-z][A-Za-z0-9]{1,31};)")
BLOCK = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl",
    "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "mx-reply", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul",
})


_UNCLOSED = re.compile(r"<(?=[A-Za-z/!?][^<>]*(?:<|\Z))")


def _as_data(m: re.Match[str]) -> str:
    return "\ufffd"


class _Tokens(HTMLParser):
    """Records where each token starts and what it is; the text itself is sliced later."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tokens: list[tuple[tuple[int, int], str, str]] = []

    def _add(self, kind: str, tag: str = "") -> None:
        self.tokens.append((self.getpos(), kind, tag))

    def handle_data(self, data: str) -> None:
        self._add("data")

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._add("tag", tag)

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        self._add("tag", tag)

    def handle_endtag(self, tag: str) -> None:
        self._add("tag", tag)

    def handle_charref(self, name: str) -> None:
        self._add("ref")

    def handle_entityref(self, name: str) -> None:
        self._add("ref")

    def handle_comment(self, data: str) -> None:
        self._add("tag")

    def handle_decl(self, decl: str) -> None:
        self._add("tag")

    def handle_pi(self, data: str) -> None:
        self._add("tag")

    def unknown_decl(self, data: str) -> None:
        self._add("tag")


def has_markup(text: str) -> bool:
    return ("<" in text or "&" in text) and _MARKUP.search(text) is not None


def strip_markup(text: str) -> Normalized | None:
    """Text content of HTML, or None when there is no markup (or it cannot be parsed)."""
    if not has_markup(text):
        return None
    # html.parser rescans an unclosed construct ("<a <a <a …", "<!--<!--…") for every '<'
    # that follows: quadratic. An opener with no '>' before the next '<' is made data first
    # (same length, so positions still index `text`, which is what gets sliced below).
    fed = _UNCLOSED.sub(_as_data, text) if "<" in text else text
    parser = _Tokens()
    try:
        parser.feed(fed)
        parser.close()
    except Exception:  # a parser bug must not hide the plain text
        return None
    line_starts = [0]
    pos = text.find("\n")
    while pos >= 0:
        line_starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    spans: list[tuple[int, str, str]] = []
    for (line, col), kind, tag in parser.tokens:
        if not 1 <= line <= len(line_starts):
            return None
        spans.append((line_starts[line - 1] + col, kind, tag))
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    covered = 0
    last_break = -1  # index in starts/ends of a break made by the previous tag, to merge runs of tags
    for idx, (start, kind, tag) in enumerate(spans):
        end = spans[idx + 1][0] if idx + 1 < len(spans) else len(text)
        if start < covered or end < start:
            return None  # positions out of order: do not guess
        if kind == "data" and last_break >= 0 and text[start:end].isspace():
            ends[last_break] = end  # "</p>\n<p>": one break
            covered = end
            continue
        if start > covered:  # text the parser did not report: keep it as it is
            _copy(text, covered, start, out, starts, ends)
            last_break = -1
        covered = end
        if kind == "tag":
            if tag in BLOCK:
                if last_break >= 0:
                    ends[last_break] = end
                else:
                    last_break = len(starts)
                    out.append("\n")
                    starts.append(start)
                    ends.append(end)
            continue
        last_break = -1
        raw = text[start:end]
        if kind == "ref":
            dec = html.unescape(raw)
            if dec != raw:
                for ch in dec:
                    out.append(ch)
                    starts.append(start)
                    ends.append(end)
                continue
        _copy(text, start, end, out, starts, ends)
    if covered < len(text):
        _copy(text, covered, len(text), out, starts, ends)
    if not out:
        return Normalized("", [], [])
    return Normalized("".join(out), starts, ends)


def _copy(text: str, a: int, b: int, out: list[str], starts: list[int], ends: list[int]) -> None:
    out.append(text[a:b])
    starts.extend(range(a, b))
    ends.extend(range(a + 1, b + 1))


def plain_text(text: str) -> str:
    m = strip_markup(text)
    return text if m is None else m.text

