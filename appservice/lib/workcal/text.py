"""Human text for a Status, from the message catalogs (appservice/core/i18n/workcal.*.yaml).

Policies that send a notice should use `Message(reason_key(s), s.reason_params)` so the
executor renders it in the reader's locale; `reason_text` is the same thing rendered now.
"""

from __future__ import annotations

from typing import Any

from appservice.core.i18n import DEFAULT_LOCALE, t
from appservice.lib.workcal.engine import Status


def reason_key(status: Status) -> str:
    """Catalog key for the reason. Weekday names and unnamed closed days have their own keys,
    so every text lives in the catalogs and params never need translating."""
    if status.reason == "weekend":
        return f"workcal.reason.weekend.{status.reason_params.get('weekday', '')}"
    if status.reason == "closed_day" and status.reason_params.get("name"):
        return "workcal.reason.closed_day.named"
    return f"workcal.reason.{status.reason}"


def reason_text(status: Status, locale: str = DEFAULT_LOCALE) -> str:
    """E.g. "元日", "年末年始", "土曜日", "17:15 以降"; "New Year's Day", "after 17:15"."""
    return _text(reason_key(status), locale, **status.reason_params)


def status_line(status: Status, locale: str = DEFAULT_LOCALE) -> str:
    """One line for people: `執務時間外: 年末年始 (次の切り替え: 2027-01-04 08:30)`."""
    state = _text("workcal.state.working" if status.working else "workcal.state.off", locale)
    if status.next_change is None:
        return _text("workcal.line.no_change", locale, state=state,
                     reason=reason_text(status, locale))
    return _text("workcal.line", locale, state=state, reason=reason_text(status, locale),
                 next=status.next_change.strftime("%Y-%m-%d %H:%M"))


def _text(key: str, locale: str, **params: Any) -> str:
    # The one place that touches the catalog loader, so swapping it is a one-line change.
    return t(key, locale, **params)
