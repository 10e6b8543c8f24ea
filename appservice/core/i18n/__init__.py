"""Message catalogs: every user-facing sentence lives in a `<domain>.<locale>.yaml` file in an
`i18n/` folder — the core's beside this file, each feature's in its own folder
(appservice/features/<name>/i18n/), the work calendar's in appservice/lib/workcal/i18n/.

Japanese is the default locale; English is the second. A key missing in the requested locale
falls back to Japanese, then to the key itself (so a missing text is visible, not a crash).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_LOCALE = "ja"
LOCALES = ("ja", "en")
_PACKAGE = Path(__file__).resolve().parents[2]  # appservice/


def catalog_files(locale: str) -> list[Path]:
    """Every catalog file of a locale, in a stable order (a key defined twice is a test failure)."""
    return sorted(_PACKAGE.glob(f"**/i18n/*.{locale}.yaml"))


@cache
def catalog(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in catalog_files(locale):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, value in data.items():
            merged[str(key)] = str(value)
    return merged


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def template(key: str, locale: str = DEFAULT_LOCALE) -> str:
    """The catalog text of `key`, its {params} not filled in."""
    return catalog(locale).get(key) or catalog(DEFAULT_LOCALE).get(key) or key


def t(key: str, locale: str = DEFAULT_LOCALE, **params: Any) -> str:
    return template(key, locale).format_map(_SafeDict(params))
