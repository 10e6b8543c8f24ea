"""Usage reports, the pure parts: merging small departments, the report's numbers, periods, the
text, the CSV and the chart (Japanese glyphs, no tofu)."""

from __future__ import annotations

import io
import logging
import warnings
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from appservice.core.executor import render
from appservice.features.usage import chart
from appservice.features.usage.groups import OTHER, UNREGISTERED, merge
from appservice.features.usage.report import (
    MONTH,
    WEEK,
    CsvLabels,
    Period,
    UnknownGroup,
    account_stats,
    build,
    csv_bytes,
    messages,
)
from appservice.features.usage.runtime import due_week, parse_report_args, png_size, quiet_sender

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK_OF = Period.containing(WEEK, date(2026, 11, 25))
LABELS = CsvLabels(header=[f"c{i}" for i in range(16)], week="週", month="月", total="全体", other="その他")


def counts(messages: int = 0, off_hours: int = 0, pii: int = 0, screenshots: int = 0, reminders: int = 0
           ) -> dict[str, int]:
    return {"messages": messages, "off_hours": off_hours, "pii": pii, "screenshots": screenshots,
            "reminders": reminders}


# -- merging ----------------------------------------------------------------------------------

def test_small_departments_are_merged_into_other() -> None:
    heads = {"総務課": 12, "市民課": 8, "議会事務局": 3, "監査委員事務局": 2}
    mapping = merge(heads, 5)
    assert mapping == {"総務課": "総務課", "市民課": "市民課", "議会事務局": OTHER, "監査委員事務局": OTHER}


def test_other_smaller_than_the_threshold_takes_the_smallest_department() -> None:
    # 議会事務局 (3) alone would be a group of three: 市民課 (the smallest shown) joins it.
    heads = {"総務課": 12, "市民課": 8, "会計課": 9, "議会事務局": 3}
    assert merge(heads, 5) == {"総務課": "総務課", "会計課": "会計課", "市民課": OTHER, "議会事務局": OTHER}


def test_nobody_small_means_no_other_group() -> None:
    heads = {"総務課": 5, "市民課": 6}
    assert merge(heads, 5) == {"総務課": "総務課", "市民課": "市民課"}


def test_activity_of_people_not_in_the_directory_makes_other_large_enough() -> None:
    heads = {"総務課": 5, "市民課": 6, "会計課": 7}
    # Two people not in the directory posted: 「その他」 would be about two people.
    assert merge(heads, 5, unlisted_people=2) == {"総務課": OTHER, "市民課": "市民課", "会計課": "会計課"}
    # Activity of a department that left the directory (size unknown) also needs company.
    assert merge(heads, 5, active_departments=["旧 企画課"])["総務課"] == OTHER
    assert merge(heads, 5, active_departments=["総務課"]) == {d: d for d in heads}


def test_a_tiny_organisation_is_one_group() -> None:
    assert set(merge({"総務課": 2, UNREGISTERED: 1}, 5).values()) == {OTHER}


# -- the report's numbers ---------------------------------------------------------------------

def seen_rows(**people: int) -> list[tuple[str, str, str]]:
    return [("user", f"{dept}-{i}", dept) for dept, n in people.items() for i in range(n)]


def sample(group: str | None = None) -> object:
    heads = {"総務課": 6, "市民課": 10, "企画課": 5, "議会事務局": 3, "監査委員事務局": 2}
    daily = [
        ("2026-11-24", "総務課", counts(10, 2, pii=1)),
        ("2026-11-25", "総務課", counts(5, 0)),
        ("2026-11-25", "市民課", counts(20, 5, screenshots=1, reminders=2)),
        ("2026-11-25", "企画課", counts(3, 3, reminders=1)),
        ("2026-11-25", "議会事務局", counts(4, 1)),
        ("2026-11-26", "監査委員事務局", counts(2, 0, pii=1)),
        ("2026-11-26", UNREGISTERED, counts(7, 7)),
        ("2026-11-18", "総務課", counts(100, 50)),          # the week before: trend only
        ("2026-09-28", "市民課", counts(1000, 0)),          # before the trend: ignored
    ]
    seen = [*seen_rows(総務課=4, 市民課=10, 企画課=1, 議会事務局=2, 監査委員事務局=1),
            ("user", "not-in-directory", UNREGISTERED),
            ("room", "r1", "総務課"), ("room", "r2", "総務課"), ("room", "r1", "市民課"), ("room", "r3", "企画課")]
    return build(WEEK_OF, daily=daily, seen=seen, headcounts=heads, min_group_size=5, generated=NOW,
                 accounts={"総務課": (1, 0), "議会事務局": (1, 1)}, group=group)


def test_numbers_per_group_and_total() -> None:
    rep = sample()
    rows = {r.group: r for r in rep.rows}
    assert list(rows) == ["企画課", "市民課", "総務課", OTHER]
    g = rows["総務課"]
    assert (g.staff, g.active, g.rooms, g.counts["messages"], g.counts["off_hours"], g.counts["pii"]) == \
        (6, 4, 2, 15, 2, 1)
    assert g.adoption == pytest.approx(400 / 6) and g.off_share == pytest.approx(200 / 15)
    assert (g.never_logged_in, g.inactive) == (1, 0)
    c = rows["市民課"]
    assert (c.active, c.counts["messages"], c.counts["screenshots"], c.counts["reminders"]) == (10, 20, 1, 2)
    other = rows[OTHER]  # 議会事務局 3 + 監査委員事務局 2 + one person not in the directory
    assert (other.staff, other.active, other.counts["messages"], other.counts["off_hours"], other.counts["pii"]) \
        == (6, 4, 13, 8, 1)
    assert (other.never_logged_in, other.inactive) == (1, 1)
    assert rep.merged == ["監査委員事務局", "議会事務局"]
    t = rep.total
    assert t is not None
    assert (t.staff, t.active, t.rooms, t.counts["messages"], t.counts["off_hours"]) == (27, 19, 3, 51, 18)
    assert (t.never_logged_in, t.inactive) == (2, 1)
    assert [p.period.start for p in rep.trend][-2:] == [date(2026, 11, 16), date(2026, 11, 23)]
    assert len(rep.trend) == 8
    assert rep.trend[-2].counts["messages"] == 100 and rep.trend[-1].counts["messages"] == 51
    assert all(p.counts["messages"] == 0 for p in rep.trend[:-2])


def test_one_department() -> None:
    rep = sample("市民課")
    assert [r.group for r in rep.rows] == ["市民課"] and rep.total is None
    assert [p.counts["messages"] for p in rep.trend][-2:] == [0, 20]
    assert sample("総務").rows[0].group == "総務課"      # a unique part of the name
    assert sample("その他").rows[0].group == OTHER
    with pytest.raises(UnknownGroup) as exc:
        sample("議会事務局")
    assert exc.value.merged_into_other
    with pytest.raises(UnknownGroup) as exc:
        sample("課")                                     # not unique
    assert not exc.value.merged_into_other and "市民課" in exc.value.groups


def test_accounts_never_logged_in_and_not_seen() -> None:
    now_ms = int(NOW.timestamp() * 1000)
    day = 86_400_000
    staff = {"@a:x": "総務課", "@b:x": "総務課", "@c:x": "総務課", "@d:x": "市民課"}
    accounts: dict[str, int | None] = {"@a:x": now_ms - 2 * day, "@b:x": None, "@d:x": now_ms - 31 * day,
                                       "@stranger:x": None}
    # @b never used the account, @c has none, @d was last seen 31 days ago.
    assert account_stats(staff, accounts, now_ms, 30) == {"総務課": (2, 0), "市民課": (0, 1)}


# -- text and CSV -----------------------------------------------------------------------------

def test_text_has_the_numbers_and_the_privacy_note() -> None:
    rep = sample()
    ja = "\n".join(render(m, "ja") for m in messages(rep, inactive_days=30))
    assert "週 2026-11-23〜2026-11-29" in ja
    assert "職員 27 人のうち投稿した人 19 人（70%）、メッセージ 51 件（うち時間外 18 件・35%）" in ja
    assert "• 総務課: 職員 6 人中 4 人（67%）、メッセージ 15 件（時間外 2 件・13%）、ルーム 2" in ja
    assert "• その他: 職員 6 人中 4 人" in ja and "「その他」に含めた部署: 監査委員事務局、議会事務局" in ja
    assert "5 人未満の部署は「その他」" in ja and "未ログイン 1 人・30 日以上未利用 0 人" in ja
    assert "前の期間との比較: メッセージ -49%" in ja
    en = "\n".join(render(m, "en") for m in messages(rep, inactive_days=30))
    assert "All: 19 of 27 staff posted (70%), 51 messages (18 off hours, 35%)" in en
    assert "• Other: 4 of 6 staff" in en


def test_csv_is_excel_friendly_and_guards_formulas() -> None:
    heads = {"=HYPERLINK(\"http://x\")": 5, "市民課": 5}
    rep = build(WEEK_OF, daily=[("2026-11-25", "市民課", counts(3, 1))], seen=seen_rows(市民課=2),
                headcounts=heads, min_group_size=5, generated=NOW)
    data = csv_bytes(rep, LABELS)
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[0] == ",".join(LABELS.header)
    assert lines[1].startswith("週,2026-11-23,2026-11-29,\"'=HYPERLINK(\"\"http://x\"\")\",5,0,0.0,0,")
    assert lines[2] == "週,2026-11-23,2026-11-29,市民課,5,2,40.0,3,1,0,0,0,33.3,0,,"
    assert lines[3].startswith("週,2026-11-23,2026-11-29,全体,10,2,20.0,3,1,")
    assert lines[4] == "週,2026-10-05,2026-10-11,全体,,,,0,0,0,0,0,,,,"   # the trend, oldest first
    assert len([ln for ln in lines if ln]) == 1 + 3 + 7


# -- periods and arguments ----------------------------------------------------------------------

def test_periods() -> None:
    assert Period.containing(WEEK, date(2026, 11, 29)) == Period(date(2026, 11, 23), date(2026, 11, 29), WEEK)
    assert Period.containing(MONTH, date(2026, 2, 10)) == Period(date(2026, 2, 1), date(2026, 2, 28), MONTH)
    assert Period.containing(MONTH, date(2026, 12, 31)).previous().start == date(2026, 11, 1)
    months = Period.containing(MONTH, date(2026, 3, 5)).back(6)
    assert [p.start.month for p in months] == [10, 11, 12, 1, 2, 3] and months[0].start.year == 2025


def test_the_weekly_report_is_due_on_the_configured_day_and_time() -> None:
    at = time(9, 0)
    # Before Monday 09:00 the due report is still the one of two weeks ago.
    assert due_week(datetime(2026, 11, 30, 8, 59, tzinfo=JST), 0, at) == date(2026, 11, 16)
    assert due_week(datetime(2026, 11, 30, 9, 0, tzinfo=JST), 0, at) == date(2026, 11, 23)
    assert due_week(datetime(2026, 12, 2, 15, 0, tzinfo=JST), 0, at) == date(2026, 11, 23)
    assert due_week(datetime(2026, 12, 6, 23, 0, tzinfo=JST), 4, time(17, 0)) == date(2026, 11, 23)  # Fridays


def test_command_arguments() -> None:
    today = date(2026, 11, 25)
    assert parse_report_args([], today) == (WEEK, None, None)
    assert parse_report_args(["month"], today) == (MONTH, None, None)
    assert parse_report_args(["2026-10"], today) == (MONTH, date(2026, 10, 1), None)
    assert parse_report_args(["週", "2026-11-02", "総務部", "総務課"], today) == \
        (WEEK, date(2026, 11, 2), "総務部 総務課")
    for bad in (["--csv"], ["2026-12-01"], ["2026-13-01"]):
        with pytest.raises(ValueError):
            parse_report_args(bad, today)


def test_quiet_reminder_keys() -> None:
    assert quiet_sender("quiet:@a:city-a.localhost:2026-11-25T17:15:00+09:00") == "@a:city-a.localhost"
    assert quiet_sender("quiet:@a:city-a.example:8448:2026-11-25T17:15:00+09:00") == "@a:city-a.example:8448"
    assert quiet_sender("quiet:@a:city-a.localhost:none") == "@a:city-a.localhost"
    assert quiet_sender("quiet:alert:$event") is None


# -- the chart --------------------------------------------------------------------------------

def test_the_chart_draws_japanese_with_a_cjk_font(caplog: pytest.LogCaptureFixture) -> None:
    labels = {"title": "利用状況 週 2026-11-23〜2026-11-29", "other": "その他", "adoption": "部署別の利用率",
              "adoption_axis": "利用率（%）", "off_trend": "時間外メッセージの推移", "off_hours": "時間外",
              "off_share": "時間外の割合", "count_axis": "件数", "share_axis": "割合", "warnings_trend": "警告の推移",
              "pii": "個人情報", "screenshots": "スクリーンショット", "reminders": "時間外の注意"}
    rep = sample()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        png = chart.render(rep, labels)
    problems = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not [p for p in problems if "missing" in p.lower() or "findfont" in p.lower()], problems
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 600 and image.height > 600
    assert png_size(png) == {"w": image.width, "h": image.height}
    font = chart.bundled_font()
    assert font is not None
    from matplotlib.ft2font import FT2Font

    face = FT2Font(str(font))
    assert all(face.get_char_index(ord(ch)) for ch in "利用状況部署別時間外警告推移その他総務課")


def test_no_cjk_font_is_said_not_drawn(tmp_path) -> None:
    with pytest.raises(chart.ChartUnavailable):
        chart.render(sample(), {}, font=tmp_path / "missing.ttf")


def test_month_report_trend_has_six_months() -> None:
    period = Period.containing(MONTH, date(2026, 11, 25))
    rep = build(period, daily=[("2026-06-30", "a", counts(1)), ("2026-07-01", "a", counts(2))], seen=[],
                headcounts={"a": 5}, min_group_size=5, generated=NOW)
    assert [p.period.start for p in rep.trend] == [date(2026, m, 1) for m in range(6, 12)]
    assert [p.counts["messages"] for p in rep.trend] == [1, 2, 0, 0, 0, 0]
