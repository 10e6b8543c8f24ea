"""What a person sees: a Message rendered to an m.notice's `body` and `formatted_body`.

Every notice Yakuba sends is built here (the executor calls `notice_content`), so formatting
is one rule for all features, not each feature's job:
- a multi-line notice's first line is its title (bold); lines that start with "• " are a list;
  `!yakuba …` in backquotes is code; every other line break is kept;
- a link to a message (`EventLink`, made by appservice/matrix/links.py) shows the words
  「該当メッセージ」 (core.link.message) and points at the organisation's own web client —
  `links.permalink` in yakuba.yaml (`Presentation.permalink`); never an outside site such
  as matrix.to, which a closed municipal network may not reach. Without a permalink the line
  is left out (the notice names the room already). The plain `body` keeps the URL after the
  words, for clients that show no HTML;
- text from outside (room and display names) is escaped and made one line (core/text.py).
No long unbroken ids in visible text: a phone screen (390 px) wraps words, not ids.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from appservice.core.decisions import Message
from appservice.core.i18n import t, template
from appservice.core.text import Text, one_line

HTML_FORMAT = "org.matrix.custom.html"
DEFAULT_BOT_NAME = "役場アシスタント"
_GONE = "\x00"  # a link with nowhere to point: its line is dropped


@dataclass(frozen=True)
class EventLink:
    """A link to one event (`core.link.message`: 「該当メッセージ」), resolved when rendered."""

    room_id: str
    event_id: str


@dataclass(frozen=True)
class Presentation:
    """How Yakuba shows itself: where message links point, the bots' names, the avatar."""

    # A URL template with {room_id} and {event_id}: the organisation's own web client.
    permalink: str | None = None
    bot_display_name: str = DEFAULT_BOT_NAME
    archive_display_name: str = DEFAULT_BOT_NAME + "（記録保存）"
    # "builtin" (appservice/app/avatar.py draws one), "" (none), an image file, or an mxc:// URI.
    bot_avatar: str = "builtin"

    def event_url(self, link: EventLink) -> str | None:
        if not self.permalink:
            return None
        ids = {"room_id": _id(link.room_id), "event_id": _id(link.event_id)}
        return self.permalink.format_map(ids)


def _id(value: str) -> str:
    # The sigils and the server part stay readable (as clients write them); anything else that
    # could end the URL or the fragment is escaped.
    return quote(value, safe="!$@:._~-+=")


PLACEHOLDERS = ("room_id", "event_id")


def permalink_template(value: str) -> str:
    """The checked `links.permalink`: http(s), our placeholders only, not an outside service.
    A bare base URL (no placeholders) is Element Web's: base + #/room/{room_id}/{event_id}.
    Raises ValueError with the reason."""
    value = value.strip()
    m = re.match(r"^https?://([^/#?]+)", value)
    if not m:
        raise ValueError("expected an http:// or https:// URL of your web client")
    if m.group(1).lower().split(":")[0] in {"matrix.to", "www.matrix.to"}:
        raise ValueError("matrix.to is an outside service; point at your own web client")
    names = re.findall(r"\{([^{}]*)\}", value)
    if not names:
        return value.rstrip("/") + "/#/room/{room_id}/{event_id}"
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}: use {{room_id}} and {{event_id}}")
    if "room_id" not in names:
        raise ValueError("the template needs {room_id}")
    return value


# -- rendering ---------------------------------------------------------------------------------

def render(message: Message, locale: str, presentation: Presentation | None = None) -> str:
    """The plain text: catalog text with its params; a Message param is rendered too, a list
    param becomes its rendered items joined with the locale's list separator (「、」 / ", "). A
    plain string param (a room name, a display name…) is made one line; `Text` is kept."""
    return _drop_gone(_render(message, locale, presentation or Presentation(), as_html=False))


def render_html(message: Message, locale: str, presentation: Presentation | None = None) -> str:
    """The same text as HTML before `structure`: escaped, links as <a>."""
    return _drop_gone(_render(message, locale, presentation or Presentation(), as_html=True))


def _render(message: Message, locale: str, p: Presentation, *, as_html: bool) -> str:
    def esc(s: str) -> str:
        return html.escape(s, quote=False) if as_html else s

    def one(value: Any) -> Any:
        if isinstance(value, Message):
            return _render(value, locale, p, as_html=as_html)
        if isinstance(value, EventLink):
            return _link(value, locale, p, as_html=as_html)
        if isinstance(value, list | tuple):
            return t("core.list_separator", locale).join(str(one(v)) for v in value)
        if isinstance(value, Text):
            return esc(value)
        if isinstance(value, str):
            return esc(one_line(value))
        return value

    text = template(message.key, locale)
    return (esc(text)).format_map(_SafeDict({k: one(v) for k, v in message.params.items()}))


def _link(link: EventLink, locale: str, p: Presentation, *, as_html: bool) -> str:
    url = p.event_url(link)
    if url is None:
        return _GONE
    label = t("core.link.message", locale)
    if as_html:
        return f'<a href="{html.escape(url, quote=True)}">{html.escape(label, quote=False)}</a>'
    return f"{label}: {url}"


def _drop_gone(text: str) -> str:
    if _GONE not in text:
        return text
    lines = [line for line in text.split("\n") if line.strip() != _GONE]
    return "\n".join(lines).replace(_GONE, "").rstrip()


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_CODE = re.compile(r"`([^`\n]+)`")


def structure(escaped: str) -> str:
    """Escaped text with line breaks → HTML: the first line bold when there are more, runs of
    "• " lines a list, backquoted text code, other line breaks <br>."""
    lines = escaped.split("\n")
    out: list[str] = []
    items: list[str] = []

    def close_list() -> None:
        if items:
            out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
            items.clear()

    for index, line in enumerate(lines):
        line = _CODE.sub(r"<code>\1</code>", line)
        if line.startswith("• "):
            items.append(line[2:])
            continue
        close_list()
        if index == 0 and len(lines) > 1 and line.strip():
            out.append(f"<strong>{line}</strong>")
        else:
            out.append(line)
    close_list()
    # <br> between text lines; none next to a list (it is a block already).
    html_out = ""
    for prev, part in zip([None, *out], out, strict=False):
        if prev is not None and not part.startswith("<ul>") and not prev.startswith("<ul>"):
            html_out += "<br>"
        html_out += part
    return html_out


def notice_content(body: str, formatted: str | None = None, reply_to: str | None = None) -> dict[str, Any]:
    """An m.notice; `formatted` is escaped HTML before `structure` (plain body if None)."""
    content: dict[str, Any] = {"msgtype": "m.notice", "body": body, "format": HTML_FORMAT,
                               "formatted_body": structure(formatted if formatted is not None
                                                           else html.escape(body, quote=False))}
    if reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content


def message_content(messages: list[Message], locale: str, presentation: Presentation | None = None, *,
                    extra_lines: list[str] | None = None, reply_to: str | None = None) -> dict[str, Any]:
    """One notice of one or more messages (a command's reply), plus already-made plain lines."""
    extra = extra_lines or []
    body = "\n".join([render(m, locale, presentation) for m in messages] + extra)
    formatted = "\n".join([render_html(m, locale, presentation) for m in messages]
                          + [html.escape(line, quote=False) for line in extra])
    return notice_content(body, formatted, reply_to)
