"""The `links:` and `bot:` sections of yakuba.yaml: how Yakuba shows itself to staff.

    links:
      # The organisation's own web client; 「該当メッセージ」 in a notice links here.
      # A bare base URL is Element Web's (…/#/room/{room_id}/{event_id}); any other client:
      # a template with {room_id} and {event_id}. Not set: notices name the room, no link.
      permalink: https://chat.city-a.example.jp/
    bot:
      display_name: 役場アシスタント      # who staff see speaking (not "_yakuba")
      archive_display_name: 役場アシスタント（記録保存）
      avatar: builtin                    # builtin | "" (none) | an image file | mxc://…
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appservice.core.configerror import ConfigError
from appservice.core.formatting import Presentation, permalink_template
from appservice.core.schema import Custom, Schema, Str


def _permalink(value: Any, path: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a URL, got {value!r}"[:300])
    try:
        return permalink_template(value)
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64 or "\n" in value:
        raise ConfigError(path, f"expected a display name (1–64 characters, one line), got {value!r}"[:300])
    return value.strip()


_DEFAULTS = Presentation()
PRESENTATION = {
    "links": Schema("links", {"permalink": Custom(_permalink, None)}),
    "bot": Schema("bot", {
        "display_name": Custom(_name, _DEFAULTS.bot_display_name),
        "archive_display_name": Custom(_name, _DEFAULTS.archive_display_name),
        "avatar": Str(_DEFAULTS.bot_avatar),
    }),
}


def presentation_from(v: dict[str, Any], base: Path) -> Presentation:
    bot = v["bot"]
    avatar = bot["avatar"].strip()
    if avatar not in ("", "builtin") and not avatar.startswith("mxc://"):
        path = Path(avatar) if Path(avatar).is_absolute() else base / avatar
        if not path.is_file():
            raise ConfigError("bot.avatar", f"no such image file: {path}")
        avatar = str(path)
    return Presentation(permalink=v["links"]["permalink"], bot_display_name=bot["display_name"],
                        archive_display_name=bot["archive_display_name"], bot_avatar=avatar)
