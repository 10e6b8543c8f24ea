"""The usage report, pure: periods, the numbers per group (after merging small departments),
the trend, and the report as text messages and as CSV. Counts in, numbers out — no I/O.

Extension point — broadcasts and their read rates (not in this report): [broadcast] landed
while this was built. Its `broadcast_sent` audit rows carry the recipients (details.users) and can
be harvested like the warnings (runtime.WARNING_ACTIONS → a `broadcasts`/`broadcast_recipients`
counter in tables.COUNTERS); its reads live in its own table (broadcast_deliveries), which no other
feature may read, so it must first record reads through a core contract (an audit row per read
confirmation, or read counts in an audit row when a broadcast closes). Then `Row`/`TrendPoint`
gain the fields, `METRICS` the columns, and the read rate is reads ÷ recipients, computed here
like `adoption`.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from appservice.core.decisions import Message
from appservice.features.usage.groups import OTHER, UNREGISTERED, group_of, merge
from appservice.features.usage.tables import COUNTERS, ROOM, USER
from appservice.lib.archive.export import guard_cell

WEEK, MONTH = "week", "month"
TREND = {WEEK: 8, MONTH: 6}   # how many periods the trend shows, the report's own included
# The counters of a row and a trend point, in report order (tables.COUNTERS).
METRICS = COUNTERS


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date      # inclusive
    kind: str = WEEK

    @classmethod
    def containing(cls, kind: str, day: date) -> Period:
        if kind == WEEK:
            start = day - timedelta(days=day.weekday())
            return cls(start, start + timedelta(days=6), WEEK)
        start = day.replace(day=1)
        nxt = (start + timedelta(days=32)).replace(day=1)
        return cls(start, nxt - timedelta(days=1), MONTH)

    def previous(self) -> Period:
        return Period.containing(self.kind, self.start - timedelta(days=1))

    def back(self, n: int) -> list[Period]:
        """The n periods ending with this one, oldest first."""
        out = [self]
        while len(out) < n:
            out.append(out[-1].previous())
        return out[::-1]

    def days(self) -> Iterable[date]:
        d = self.start
        while d <= self.end:
            yield d
            d += timedelta(days=1)

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m") if self.kind == MONTH else f"{self.start:%m/%d}〜"


@dataclass
class Row:
    group: str
    staff: int = 0
    active: int = 0
    rooms: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    never_logged_in: int | None = None
    inactive: int | None = None

    @property
    def adoption(self) -> float | None:
        """Active staff in the period per head, in %."""
        return 100.0 * self.active / self.staff if self.staff else None

    @property
    def off_share(self) -> float | None:
        m = self.counts["messages"]
        return 100.0 * self.counts["off_hours"] / m if m else None


@dataclass(frozen=True)
class TrendPoint:
    period: Period
    counts: Mapping[str, int]


@dataclass
class Report:
    period: Period
    generated: datetime
    rows: list[Row]
    total: Row | None             # None when the report is about one group
    trend: list[TrendPoint]
    merged: list[str]             # departments shown within 「その他」
    min_group_size: int
    accounts: bool                # whether the Synapse account numbers are in
    group: str | None = None      # the one group asked for


class UnknownGroup(LookupError):
    def __init__(self, asked: str, groups: Sequence[str], merged_into_other: bool) -> None:
        super().__init__(asked)
        self.asked, self.groups, self.merged_into_other = asked, list(groups), merged_into_other


def find_group(asked: str, groups: Sequence[str], other_label: Sequence[str], merged: Sequence[str]) -> str:
    """The group an admin typed: exact name, 「その他」/Other, or a unique part of a name."""
    if asked in groups:
        return asked
    if asked in other_label and OTHER in groups:
        return OTHER
    named = [g for g in groups if g != OTHER]
    partial = [g for g in named if asked in g]
    if len(partial) == 1:
        return partial[0]
    raise UnknownGroup(asked, named, any(asked in m for m in merged))


def account_stats(staff: Mapping[str, str], accounts: Mapping[str, int | None], now_ms: int,
                  inactive_days: int) -> dict[str, tuple[int, int]]:
    """Per department: (never logged in, not seen for `inactive_days`) among `staff` (user id →
    department). `accounts`: user id → last seen (ms) or None, for the local accounts that are
    not deactivated; someone of the staff without an account has never logged in."""
    cut = now_ms - inactive_days * 86_400_000
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for user, dept in staff.items():
        seen = accounts.get(user)
        if seen is None:
            out[dept][0] += 1
        elif seen < cut:
            out[dept][1] += 1
    return {d: (v[0], v[1]) for d, v in out.items()}


def build(period: Period, *, daily: Iterable[tuple[str, str, Mapping[str, int]]],
          seen: Iterable[tuple[str, str, str]], headcounts: Mapping[str, int], min_group_size: int,
          generated: datetime, accounts: Mapping[str, tuple[int, int]] | None = None,
          group: str | None = None, other_names: Sequence[str] = ("その他",)) -> Report:
    """The report of `period`. `daily`: (ISO day, department, counters) of the trend's days;
    `seen`: (kind, pseudonym, department) active in the period; `headcounts`: department →
    people in the staff directory; `accounts`: department → (never logged in, inactive)."""
    trend_periods = period.back(TREND[period.kind])
    daily = list(daily)
    seen = list(seen)
    lo, hi = period.start.isoformat(), period.end.isoformat()
    in_period = [(d, dept, c) for d, dept, c in daily if lo <= d <= hi]

    unlisted = {ref for kind, ref, dept in seen if kind == USER and not headcounts.get(dept)}
    active_depts = {dept for _, dept, c in in_period if any(c.values())} | {dept for _, _, dept in seen}
    mapping = merge(headcounts, min_group_size, active_departments=active_depts, unlisted_people=len(unlisted))

    rows: dict[str, Row] = {}

    def row(g: str) -> Row:
        if g not in rows:
            rows[g] = Row(g)
        return rows[g]

    for dept, n in headcounts.items():
        row(group_of(mapping, dept)).staff += n
    if unlisted:
        row(OTHER).staff += len(unlisted)
    for _, dept, counts in in_period:
        r = row(group_of(mapping, dept))
        for k in METRICS:
            r.counts[k] += counts.get(k, 0)
    people: dict[str, set[str]] = defaultdict(set)
    rooms: dict[str, set[str]] = defaultdict(set)
    for kind, ref, dept in seen:
        (people if kind == USER else rooms)[group_of(mapping, dept)].add(ref)
    for g, refs in people.items():
        row(g).active = len(refs)
    for g, refs in rooms.items():
        row(g).rooms = len(refs)
    if accounts is not None:
        for r in rows.values():
            r.never_logged_in, r.inactive = 0, 0
        for dept, (never, inactive) in accounts.items():
            r = row(group_of(mapping, dept))
            r.never_logged_in = (r.never_logged_in or 0) + never
            r.inactive = (r.inactive or 0) + inactive
    if OTHER in rows and not (rows[OTHER].staff or rows[OTHER].active or any(rows[OTHER].counts.values())):
        del rows[OTHER]

    names = sorted(rows, key=lambda g: (g == OTHER, g))
    chosen = find_group(group, names, other_names, [d for d, g in mapping.items() if g == OTHER]) \
        if group is not None else None

    total = None
    if chosen is None:
        total = Row("", staff=sum(r.staff for r in rows.values()),
                    active=len({ref for kind, ref, _ in seen if kind == USER}),
                    rooms=len({ref for kind, ref, _ in seen if kind == ROOM}),
                    counts={k: sum(r.counts[k] for r in rows.values()) for k in METRICS})
        if accounts is not None:
            total.never_logged_in = sum(r.never_logged_in or 0 for r in rows.values())
            total.inactive = sum(r.inactive or 0 for r in rows.values())

    trend = []
    for p in trend_periods:
        a, b = p.start.isoformat(), p.end.isoformat()
        sums = dict.fromkeys(METRICS, 0)
        for d, dept, counts in daily:
            if a <= d <= b and (chosen is None or group_of(mapping, dept) == chosen):
                for k in METRICS:
                    sums[k] += counts.get(k, 0)
        trend.append(TrendPoint(p, sums))

    merged = sorted(d for d, g in mapping.items() if g == OTHER and d != UNREGISTERED)
    return Report(period=period, generated=generated,
                  rows=[rows[chosen]] if chosen is not None else [rows[g] for g in names],
                  total=total, trend=trend, merged=merged, min_group_size=min_group_size,
                  accounts=accounts is not None, group=chosen)


# -- as text ----------------------------------------------------------------------------------

def number(n: int) -> str:
    return f"{n:,}"


def percent(p: float | None) -> str:
    return "—" if p is None else f"{p:.0f}%"


def group_name(group: str) -> Message | str:
    return Message("usage.other") if group == OTHER else group


def _row_message(key: str, r: Row, accounts: bool, days: int) -> Message:
    c = r.counts
    params: dict[str, object] = {
        "group": group_name(r.group), "staff": number(r.staff), "active": number(r.active),
        "adoption": percent(r.adoption), "messages": number(c["messages"]), "off_hours": number(c["off_hours"]),
        "off_share": percent(r.off_share), "rooms": number(r.rooms), "pii": number(c["pii"]),
        "screenshots": number(c["screenshots"]), "reminders": number(c["reminders"]),
    }
    if accounts:
        params["accounts"] = Message("usage.text.accounts", {"never": number(r.never_logged_in or 0),
                                                             "inactive": number(r.inactive or 0), "days": days})
    else:
        params["accounts"] = Message("usage.text.accounts_unknown")
    return Message(key, params)


def period_message(period: Period) -> Message:
    return Message(f"usage.period.{period.kind}", {"start": period.start.isoformat(), "end": period.end.isoformat()})


def messages(report: Report, *, inactive_days: int, weekly: bool = False) -> list[Message]:
    """The numbers as text (the chart and the CSV carry the same numbers)."""
    out = [Message("usage.text.title_weekly" if weekly else "usage.text.title",
                   {"period": period_message(report.period)})]
    if report.total is not None:
        out.append(_row_message("usage.text.total", report.total, report.accounts, inactive_days))
    out.append(Message("usage.text.departments"))
    out += [_row_message("usage.text.row", r, report.accounts, inactive_days) for r in report.rows]
    if len(report.trend) >= 2:
        now, before = report.trend[-1].counts, report.trend[-2].counts
        out.append(Message("usage.text.trend", {
            "messages": change(now["messages"], before["messages"]),
            "off_hours": change(now["off_hours"], before["off_hours"]),
            "warnings": change(now["pii"] + now["screenshots"], before["pii"] + before["screenshots"]),
            "reminders": change(now["reminders"], before["reminders"])}))
    out.append(Message("usage.text.privacy", {"n": report.min_group_size}))
    if report.merged:
        out.append(Message("usage.text.merged", {"departments": report.merged}))
    return out


def change(now: int, before: int) -> str:
    if before == 0:
        return "—" if now == 0 else f"+{number(now)}"
    return f"{100.0 * (now - before) / before:+.0f}%"


# -- as CSV -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CsvLabels:
    """The locale's words in the CSV: the header line and a few cell values."""

    header: Sequence[str]
    week: str
    month: str
    total: str
    other: str


def csv_bytes(report: Report, labels: CsvLabels) -> bytes:
    """UTF-8 with BOM, CRLF, formula-guarded (the archive export's guard), for Excel: one row per
    group of the period (and the total), then one row per earlier period of the trend (for the
    one group asked for, or the whole), whose per-person columns stay empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(labels.header)

    def cell(v: object) -> str:
        if v is None:
            return ""
        return f"{v:.1f}" if isinstance(v, float) else guard_cell(str(v))

    def name(group: str | None) -> str:
        return labels.total if group is None else labels.other if group == OTHER else group

    def line(p: Period, group: str | None, r: Row, full: bool) -> None:
        people = (r.staff, r.active, r.adoption) if full else (None, None, None)
        accounts = (r.rooms, r.never_logged_in, r.inactive) if full else (None, None, None)
        w.writerow([cell(x) for x in (
            labels.week if p.kind == WEEK else labels.month, p.start.isoformat(), p.end.isoformat(),
            name(group), *people, *(r.counts[k] for k in METRICS), r.off_share, *accounts)])

    for r in report.rows:
        line(report.period, r.group, r, True)
    if report.total is not None:
        line(report.period, None, report.total, True)
    for point in report.trend:
        if point.period != report.period:
            line(point.period, report.group, Row("", counts=dict(point.counts)), False)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
