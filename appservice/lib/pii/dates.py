"""Dates that may be birth dates: Western (1985年4月1日, 1985/04/01) and era (昭和60年4月1日,
S60.4.1) forms. The scanner reports one only where a birth keyword claims it."""

from __future__ import annotations

import re
from bisect import bisect_right

from .detectors import Candidate
from .shapes import Option

_SP = r"[ ]?"
_WESTERN = re.compile(
    rf"(?<![0-9])(1[89][0-9]{{2}}|20[0-9]{{2}}){_SP}年{_SP}([0-9]{{1,2}}){_SP}月{_SP}"
    rf"([0-9]{{1,2}}){_SP}日?"
    r"|(?<![0-9.])(1[89][0-9]{2}|20[0-9]{2})([/.\-])([0-9]{1,2})\5([0-9]{1,2})(?![0-9])"
    r"|(?<![0-9])(19[0-9]{2}|20[0-9]{2})(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])(?![0-9])"
)
_ERA = re.compile(
    rf"(?:明治|大正|昭和|平成|令和){_SP}([0-9]{{1,2}}|元){_SP}年{_SP}([0-9]{{1,2}}){_SP}月"
    rf"{_SP}([0-9]{{1,2}}){_SP}日?"
    r"|(?<![A-Za-z])[MTSHRmtshr]\.?([0-9]{1,2})([/.\-])([0-9]{1,2})\5([0-9]{1,2})(?![0-9])"
)


def _valid_md(month: str, day: str) -> bool:
    return 1 <= int(month) <= 12 and 1 <= int(day) <= 31


# Month and day without a year: not reported (a birthday alone identifies little), but a
# candidate all the same, so that 「誕生日会は8月9日」 does not claim another sentence's date.
_YEARLESS = re.compile(r"(?<![0-9年/.\-])([0-9]{1,2}) ?月 ?([0-9]{1,2}) ?日")
YEARLESS = Option("birth_date", 0.0, 0.0)


def birth_dates(text: str) -> list[Candidate]:
    """Dates in Western or era form, and yearless ones that do not overlap them, sorted by
    start. Only called when a birth keyword is in the text."""
    opt = (Option("birth_date", 0.0, 0.9),)
    full: list[Candidate] = []
    for m in _WESTERN.finditer(text):
        g = m.groups()
        month, day = (g[1], g[2]) if g[0] else ((g[5], g[6]) if g[3] else (g[8], g[9]))
        if _valid_md(month, day):
            full.append(Candidate(m.start(), m.end(), opt, False))
    for m in _ERA.finditer(text):
        g = m.groups()
        month, day = (g[1], g[2]) if g[0] else (g[5], g[6])
        if _valid_md(month, day):
            full.append(Candidate(m.start(), m.end(), opt, False))
    full.sort(key=lambda c: c.start)
    starts = [c.start for c in full]
    out = list(full)
    for m in _YEARLESS.finditer(text):
        i = bisect_right(starts, m.start()) - 1
        inside = i >= 0 and full[i].end > m.start()
        if not inside and _valid_md(m.group(1), m.group(2)):
            out.append(Candidate(m.start(), m.end(), (YEARLESS,), False))
    out.sort(key=lambda c: c.start)
    return out
