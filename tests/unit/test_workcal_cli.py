"""Reason texts (ja/en), the catalogs, and `yakuba calendar check`."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

import appservice.core.i18n
from appservice.lib.workcal import (
    CalendarConfig,
    Status,
    WorkCalendar,
    calendar_check_main,
    calendar_config_from_dict,
    reason_key,
    reason_text,
    status_line,
)

JST = ZoneInfo("Asia/Tokyo")
I18N = Path(appservice.core.i18n.__file__).parents[2] / "lib" / "workcal" / "i18n"
CONFIG = calendar_config_from_dict({
    "closed_days": {"2027-05-06": "庁舎点検", "2027-05-07": None},
    "schedules": {"24h": {"always": True}},
})


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar(CONFIG)


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=JST)


@pytest.mark.parametrize(("when", "schedule", "ja", "en"), [
    (jst(2027, 1, 1, 10), None, "元日", "New Year's Day"),
    (jst(2025, 2, 24, 10), None, "振替休日", "Substitute Holiday"),
    (jst(2027, 1, 2, 10), None, "年末年始", "year-end holidays"),
    (jst(2027, 1, 9, 10), None, "土曜日", "Saturday"),
    (jst(2027, 1, 10, 10), None, "日曜日", "Sunday"),
    (jst(2027, 1, 5, 18), None, "17:15 以降", "after 17:15"),
    (jst(2027, 1, 5, 7), None, "08:30 より前", "before 08:30"),
    (jst(2027, 1, 5, 10), None, "17:15 まで", "until 17:15"),
    (jst(2027, 5, 6, 10), None, "庁舎点検", "庁舎点検"),
    (jst(2027, 5, 7, 10), None, "休庁日", "office closed"),
    (jst(2027, 1, 1, 10), "24h", "常時対応", "always staffed"),
])
def test_reason_text(cal: WorkCalendar, when: datetime, schedule: str | None, ja: str,
                     en: str) -> None:
    st = cal.status(when, schedule)
    assert reason_text(st) == ja
    assert reason_text(st, "ja") == ja
    assert reason_text(st, "en") == en


def test_break_text() -> None:
    st = Status(False, "break", {"since": "12:00", "time": "13:00"}, jst(2027, 1, 5, 13))
    assert reason_text(st) == "休憩時間（13:00 まで）"
    assert reason_text(st, "en") == "break (until 13:00)"


def test_unknown_locale_falls_back_to_japanese(cal: WorkCalendar) -> None:
    assert reason_text(cal.status(jst(2027, 1, 1, 10)), "fr") == "元日"


def test_reason_key_renders_through_the_generic_catalog(cal: WorkCalendar) -> None:
    # What a policy puts into a Message(key, params) for the executor to render.
    st = cal.status(jst(2027, 1, 9, 10))
    assert reason_key(st) == "workcal.reason.weekend.sat"
    assert appservice.core.i18n.t(reason_key(st), "en", **st.reason_params) == "Saturday"


def test_status_line() -> None:
    cal = WorkCalendar(CalendarConfig())
    assert status_line(cal.status(jst(2027, 1, 2, 10))) == (
        "執務時間外: 年末年始 (次の切り替え: 2027-01-04 08:30)")
    assert status_line(cal.status(jst(2027, 1, 4, 9)), "en") == (
        "Working hours: until 17:15 (next change: 2027-01-04 17:15)")


def test_catalogs_have_the_same_keys_and_cover_every_reason() -> None:
    ja = yaml.safe_load((I18N / "workcal.ja.yaml").read_text(encoding="utf-8"))
    en = yaml.safe_load((I18N / "workcal.en.yaml").read_text(encoding="utf-8"))
    assert set(ja) == set(en)
    assert all(key.startswith("workcal.") and isinstance(v, str) for key, v in ja.items())
    for reason in ("working_hours", "always", "before_hours", "after_hours", "break",
                   "holiday", "year_end", "closed_day"):
        assert f"workcal.reason.{reason}" in ja
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        assert f"workcal.reason.weekend.{day}" in ja


# --- CLI --------------------------------------------------------------------------------------

def run(*argv: str, clock: datetime | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = calendar_check_main(list(argv), CONFIG, out, err,
                               clock=(lambda: clock) if clock else None)
    return code, out.getvalue(), err.getvalue()


def test_cli_off_hours_line() -> None:
    assert run("2027-01-02 10:00") == (
        1, "執務時間外: 年末年始 (次の切り替え: 2027-01-04 08:30)\n", "")


def test_cli_working_line_in_english() -> None:
    code, out, err = run("2027-01-04 08:30", "--lang", "en")
    assert (code, err) == (0, "")
    assert out == "Working hours: until 17:15 (next change: 2027-01-04 17:15)\n"


def test_cli_json() -> None:
    code, out, _ = run("2027-01-01 10:00", "--json")
    assert code == 1
    assert json.loads(out) == {
        "working": False,
        "reason": "holiday",
        "reason_params": {"name": "元日", "name_en": "New Year's Day", "date": "2027-01-01"},
        "reason_text": "元日",
        "next_change": "2027-01-04T08:30:00+09:00",
    }
    assert "元日" in out  # not \\u escapes


def test_cli_json_for_always_schedule() -> None:
    code, out, _ = run("2027-01-01 03:00", "--schedule", "24h", "--json", "--lang", "en")
    assert code == 0
    assert json.loads(out)["next_change"] is None
    assert json.loads(out)["reason_text"] == "always staffed"
    code, out, _ = run("2027-01-01 03:00", "--schedule", "24h")
    assert out == "執務時間内: 常時対応 (切り替えなし)\n"


def test_cli_aware_input_is_converted() -> None:
    code, out, _ = run("2027-01-03T23:30:00+00:00", "--json")  # 2027-01-04 08:30 JST
    assert code == 0
    assert json.loads(out)["next_change"] == "2027-01-04T17:15:00+09:00"


def test_cli_defaults_to_now_from_the_clock() -> None:
    code, out, _ = run("--json", clock=jst(2027, 1, 9, 10))
    assert (code, json.loads(out)["reason"]) == (1, "weekend")


@pytest.mark.parametrize(("argv", "fragment"), [
    (["2027-13-02 10:00"], "expected a time like"),
    (["tomorrow"], "expected a time like"),
    (["2027-01-02 10:00", "--schedule", "nope"],
     "--schedule: unknown schedule 'nope' (known: default, 24h)"),
    (["2027-01-02 10:00", "--lang", "fr"], "--lang: expected one of ja, en"),
    (["2027-01-02 10:00", "--verbose"], "unrecognized arguments: --verbose"),
    (["2027-01-02 10:00", "--schedule"], "expected one argument"),
    (["a", "b"], "unrecognized arguments: b"),
])
def test_cli_bad_arguments_exit_2_on_stderr(argv: list[str], fragment: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    assert err.startswith("yakuba calendar check: error: ")
    assert fragment in err


def test_cli_help_goes_to_stdout() -> None:
    code, out, err = run("--help")
    assert (code, err) == (0, "")
    assert "usage: yakuba calendar check" in out
    assert "--schedule" in out
