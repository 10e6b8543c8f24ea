"""WorkCalendar: holidays, closures, boundaries, schedules, time zones. Fixed instants only."""

from __future__ import annotations

import time as _time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appservice.lib.workcal import (
    CalendarConfig,
    Status,
    UnknownScheduleError,
    WorkCalendar,
    calendar_config_from_dict,
)

JST = ZoneInfo("Asia/Tokyo")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=JST)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar(CalendarConfig())


def make(data: dict) -> WorkCalendar:
    return WorkCalendar(calendar_config_from_dict(data))


# --- national holidays, substitute holidays, closure --------------------------------------

@pytest.mark.parametrize(("day", "name", "name_en"), [
    (date(2027, 1, 1), "元日", "New Year's Day"),
    (date(2025, 2, 24), "振替休日", "Substitute Holiday"),  # 天皇誕生日 fell on a Sunday
    (date(2026, 5, 6), "振替休日", "Substitute Holiday"),  # 憲法記念日 fell on a Sunday
    (date(2026, 9, 22), "国民の休日", "National Holiday"),  # sandwiched between two holidays
    (date(2025, 11, 24), "振替休日", "Substitute Holiday"),
    (date(2027, 3, 22), "振替休日", "Substitute Holiday"),
])
def test_national_and_substitute_holidays(cal: WorkCalendar, day: date, name: str,
                                          name_en: str) -> None:
    st = cal.status(datetime.combine(day, datetime.min.time()).replace(hour=10))
    assert not st.working
    assert st.reason == "holiday"
    assert st.reason_params["name"] == name
    assert st.reason_params["name_en"] == name_en
    assert st.reason_params["date"] == day.isoformat()


def test_days_around_a_substitute_holiday_are_working(cal: WorkCalendar) -> None:
    assert cal.is_working(jst(2025, 2, 21, 10))  # Fri before
    assert not cal.is_working(jst(2025, 2, 24, 10))
    assert cal.is_working(jst(2025, 2, 25, 10))  # Tue after


@pytest.mark.parametrize(("when", "working", "reason"), [
    (jst(2026, 12, 28, 10), True, "working_hours"),  # Mon: last working day of the year
    (jst(2026, 12, 28, 17, 15), False, "after_hours"),
    (jst(2026, 12, 29, 10), False, "year_end"),  # Tue, otherwise a weekday
    (jst(2026, 12, 31, 23, 59), False, "year_end"),
    (jst(2027, 1, 1, 0, 0), False, "holiday"),  # 元日 keeps its own name
    (jst(2027, 1, 2, 10), False, "year_end"),  # Sat: the closure wins over the weekend
    (jst(2027, 1, 3, 23, 59, 59), False, "year_end"),  # Sun
    (jst(2027, 1, 4, 8, 29), False, "before_hours"),
    (jst(2027, 1, 4, 8, 30), True, "working_hours"),
])
def test_year_end_closure_on_both_sides_of_new_year(cal: WorkCalendar, when: datetime,
                                                     working: bool, reason: str) -> None:
    st = cal.status(when)
    assert (st.working, st.reason) == (working, reason)


def test_year_end_closure_on_weekdays_after_new_year(cal: WorkCalendar) -> None:
    # 2029-01-02 and 01-03 are Tue/Wed: closed only because of the closure.
    assert cal.status(jst(2029, 1, 2, 10)).reason == "year_end"
    assert cal.status(jst(2029, 1, 3, 10)).reason == "year_end"
    assert cal.is_working(jst(2029, 1, 4, 10))


def test_weekends(cal: WorkCalendar) -> None:
    sat = cal.status(jst(2027, 1, 9, 10))
    sun = cal.status(jst(2027, 1, 10, 10))
    assert (sat.working, sat.reason, sat.reason_params) == (False, "weekend", {"weekday": "sat"})
    assert (sun.working, sun.reason, sun.reason_params) == (False, "weekend", {"weekday": "sun"})


# --- boundary minutes -----------------------------------------------------------------------

@pytest.mark.parametrize(("when", "working"), [
    (jst(2027, 1, 5, 0, 0), False),
    (jst(2027, 1, 5, 8, 29), False),
    (jst(2027, 1, 5, 8, 29, 59, 999_999), False),
    (jst(2027, 1, 5, 8, 30), True),
    (jst(2027, 1, 5, 17, 14, 59), True),
    (jst(2027, 1, 5, 17, 14, 59, 999_999), True),
    (jst(2027, 1, 5, 17, 15), False),
    (jst(2027, 1, 5, 23, 59, 59), False),
])
def test_boundary_minutes(cal: WorkCalendar, when: datetime, working: bool) -> None:
    assert cal.is_working(when) is working
    assert cal.status(when).working is working


def test_off_hours_reasons_carry_the_time(cal: WorkCalendar) -> None:
    before = cal.status(jst(2027, 1, 5, 8, 29))
    after = cal.status(jst(2027, 1, 5, 17, 15))
    working = cal.status(jst(2027, 1, 5, 9))
    assert (before.reason, before.reason_params) == ("before_hours", {"time": "08:30"})
    assert (after.reason, after.reason_params) == ("after_hours", {"time": "17:15"})
    assert (working.reason, working.reason_params) == ("working_hours", {"until": "17:15"})


# --- next_change and period_start ---------------------------------------------------------

@pytest.mark.parametrize(("when", "expected"), [
    (jst(2027, 1, 5, 9), jst(2027, 1, 5, 17, 15)),  # working: end of today
    (jst(2027, 1, 5, 8, 0), jst(2027, 1, 5, 8, 30)),  # before hours: today
    (jst(2027, 1, 5, 17, 15), jst(2027, 1, 6, 8, 30)),  # exactly at the end: tomorrow
    (jst(2027, 1, 8, 18), jst(2027, 1, 12, 8, 30)),  # Fri → Tue (1/11 成人の日)
    (jst(2025, 2, 21, 18), jst(2025, 2, 25, 8, 30)),  # weekend + 振替休日
    (jst(2025, 5, 2, 17, 15), jst(2025, 5, 7, 8, 30)),  # Golden Week 2025
    (jst(2026, 5, 1, 17, 15), jst(2026, 5, 7, 8, 30)),  # Golden Week 2026 (5/6 振替休日)
    (jst(2026, 9, 18, 20), jst(2026, 9, 24, 8, 30)),  # Silver Week 2026 (国民の休日)
    (jst(2026, 12, 28, 17, 15), jst(2027, 1, 4, 8, 30)),  # year end → 1/4 (Mon)
    (jst(2025, 12, 26, 17, 15), jst(2026, 1, 5, 8, 30)),  # 1/3 is Sat → 1/5 (Mon)
    (jst(2027, 1, 2, 10), jst(2027, 1, 4, 8, 30)),
])
def test_next_change(cal: WorkCalendar, when: datetime, expected: datetime) -> None:
    assert cal.next_change(when) == expected
    assert cal.status(when).next_change == expected


def test_next_change_is_aware_in_calendar_zone(cal: WorkCalendar) -> None:
    change = cal.next_change(datetime(2027, 1, 5, 0, 0, tzinfo=UTC))
    assert change is not None
    assert change.tzinfo == JST
    assert change == jst(2027, 1, 5, 17, 15)


def test_period_start_is_stable_for_a_whole_off_period(cal: WorkCalendar) -> None:
    # One key for Fri 17:15 .. Tue 08:30, so one reminder per off period.
    start = jst(2027, 1, 8, 17, 15)
    instants = [jst(2027, 1, 8, 17, 15), jst(2027, 1, 8, 23, 59), jst(2027, 1, 9, 0, 0),
                jst(2027, 1, 10, 12), jst(2027, 1, 11, 12), jst(2027, 1, 12, 8, 29, 59)]
    assert {cal.period_start(t) for t in instants} == {start}
    assert cal.period_start(jst(2027, 1, 12, 8, 30)) == jst(2027, 1, 12, 8, 30)
    assert cal.period_start(jst(2027, 1, 12, 17, 14)) == jst(2027, 1, 12, 8, 30)


def test_period_start_across_year_end(cal: WorkCalendar) -> None:
    assert cal.period_start(jst(2027, 1, 3, 12)) == jst(2026, 12, 28, 17, 15)
    assert cal.period_start(jst(2026, 12, 29, 7)) == jst(2026, 12, 28, 17, 15)


# --- split hours, schedules -----------------------------------------------------------------

def test_lunch_break_is_its_own_off_period() -> None:
    c = make({"weekdays": [["08:30-12:00", "13:00-17:15"]] * 5 + [None, None]})
    st = c.status(jst(2027, 1, 5, 12, 30))
    assert (st.working, st.reason) == (False, "break")
    assert st.reason_params == {"since": "12:00", "time": "13:00"}
    assert st.next_change == jst(2027, 1, 5, 13)
    assert c.period_start(jst(2027, 1, 5, 12, 59)) == jst(2027, 1, 5, 12)
    assert c.status(jst(2027, 1, 5, 11)).next_change == jst(2027, 1, 5, 12)
    assert c.status(jst(2027, 1, 5, 17, 20)).reason == "after_hours"


SCHEDULES = {
    "schedules": {
        "24h": {"always": True},
        "fire_shift": {  # 22:00-06:00 every night, holidays included, no closure
            "weekdays": ["22:00-06:00"] * 7,
            "national_holidays": False,
            "year_end_closure": [],
        },
        "clinic": {  # Saturday mornings too; holidays are working days
            "weekdays": ["09:00-18:00"] * 5 + ["09:00-12:00", None],
            "national_holidays": False,
        },
        "shift_weekdays": {"weekdays": ["22:00-06:00"] * 5 + [None, None]},
    }
}


@pytest.fixture(scope="module")
def sched() -> WorkCalendar:
    return make(SCHEDULES)


def test_always_schedule(sched: WorkCalendar) -> None:
    for when in (jst(2027, 1, 1, 3), jst(2027, 1, 9, 12), jst(2026, 5, 5, 23, 59)):
        st = sched.status(when, "24h")
        assert st == Status(True, "always", {}, None)
        assert sched.is_working(when, "24h")
        assert sched.next_change(when, "24h") is None
        assert sched.period_start(when, "24h") is None
    # The default rules are unaffected.
    assert not sched.is_working(jst(2027, 1, 1, 3))


def test_night_shift_crosses_midnight(sched: WorkCalendar) -> None:
    assert sched.is_working(jst(2027, 1, 5, 23), "fire_shift")
    assert sched.is_working(jst(2027, 1, 6, 5, 59), "fire_shift")
    assert not sched.is_working(jst(2027, 1, 6, 6), "fire_shift")
    st = sched.status(jst(2027, 1, 6, 3), "fire_shift")
    assert st.next_change == jst(2027, 1, 6, 6)
    assert st.reason_params == {"until": "06:00"}
    assert sched.period_start(jst(2027, 1, 6, 3), "fire_shift") == jst(2027, 1, 5, 22)
    off = sched.status(jst(2027, 1, 6, 12), "fire_shift")
    assert (off.reason, off.reason_params, off.next_change) == (
        "before_hours", {"time": "22:00"}, jst(2027, 1, 6, 22))


def test_schedule_with_holidays_as_working_days(sched: WorkCalendar) -> None:
    # 元日 and the year-end closure do not stop the fire shift.
    assert sched.is_working(jst(2027, 1, 1, 23), "fire_shift")
    assert sched.is_working(jst(2026, 12, 31, 23, 30), "fire_shift")
    # The clinic works holidays but still observes the inherited year-end closure.
    assert sched.is_working(jst(2026, 5, 6, 10), "clinic")
    assert sched.status(jst(2026, 12, 30, 10), "clinic").reason == "year_end"
    assert sched.is_working(jst(2027, 1, 9, 11, 59), "clinic")  # Saturday morning
    assert sched.status(jst(2027, 1, 9, 12), "clinic").reason == "after_hours"


def test_night_shift_belongs_to_the_day_it_starts(sched: WorkCalendar) -> None:
    # Friday's shift runs into Saturday; Saturday's own shift does not exist.
    assert sched.is_working(jst(2027, 1, 9, 5), "shift_weekdays")  # Sat 05:00
    sat = sched.status(jst(2027, 1, 9, 7), "shift_weekdays")
    assert (sat.working, sat.reason) == (False, "weekend")
    assert sat.next_change == jst(2027, 1, 12, 22)  # 1/11 成人の日 is closed
    assert not sched.is_working(jst(2027, 1, 12, 3), "shift_weekdays")  # no shift from 1/11
    assert not sched.is_working(jst(2027, 1, 11, 5), "shift_weekdays")  # no Sunday shift
    # A holiday's own shift is skipped; the shift from the evening before still runs into it.
    assert sched.is_working(jst(2027, 2, 11, 3), "shift_weekdays")  # Thu 建国記念の日
    assert not sched.is_working(jst(2027, 2, 11, 23), "shift_weekdays")
    assert sched.status(jst(2027, 2, 11, 23), "shift_weekdays").reason == "holiday"
    assert sched.period_start(jst(2027, 1, 9, 7), "shift_weekdays") == jst(2027, 1, 9, 6)


def test_unknown_schedule_and_default_name(sched: WorkCalendar) -> None:
    with pytest.raises(UnknownScheduleError) as info:
        sched.status(jst(2027, 1, 5, 10), "nope")
    assert info.value.name == "nope"
    assert isinstance(info.value, LookupError)
    assert sched.status(jst(2027, 1, 5, 10), "default") == sched.status(jst(2027, 1, 5, 10))


def test_whole_days_merge_across_midnight() -> None:
    c = make({"weekdays": ["00:00-24:00"] * 7})  # closed only on holidays and year end
    st = c.status(jst(2027, 1, 5, 10))
    assert st.working
    assert st.next_change == jst(2027, 1, 11, 0, 0)  # 成人の日, not every midnight
    assert c.period_start(jst(2027, 1, 8, 10)) == jst(2027, 1, 4, 0, 0)


def test_whole_days_without_closures_are_always() -> None:
    c = make({"weekdays": ["00:00-24:00"] * 7, "national_holidays": False,
              "year_end_closure": []})
    assert c.status(jst(2027, 1, 1)).reason == "always"
    assert c.next_change(jst(2027, 1, 1)) is None


def test_never_working_schedule_terminates() -> None:
    c = make({"weekdays": [None] * 7})
    st = c.status(jst(2027, 1, 5, 10))
    assert (st.working, st.reason, st.next_change) == (False, "weekend", None)
    assert c.period_start(jst(2027, 1, 5, 10)) is None


def test_search_is_bounded() -> None:
    # The only working day is two years away: beyond the window, so "no change".
    c = make({"weekdays": [None] * 7, "extra_working_days": {"2029-06-01": "09:00-10:00"}})
    started = _time.perf_counter()
    assert c.next_change(jst(2027, 1, 5, 10)) is None
    assert c.period_start(jst(2027, 1, 5, 10)) is None
    assert _time.perf_counter() - started < 2
    assert c.next_change(jst(2029, 5, 1)) == jst(2029, 6, 1, 9)


# --- extra days -----------------------------------------------------------------------------

def test_closed_days_and_extra_working_days() -> None:
    c = make({
        "closed_days": {"2027-05-06": "庁舎点検", "2027-05-07": None},
        "extra_working_days": ["2027-03-28", "2027-01-01"],  # Sunday; 元日 (an election)
    })
    named = c.status(jst(2027, 5, 6, 10))
    assert (named.reason, named.reason_params) == (
        "closed_day", {"name": "庁舎点検", "date": "2027-05-06"})
    assert c.status(jst(2027, 5, 7, 10)).reason_params["name"] == ""
    assert c.next_change(jst(2027, 5, 6, 10)) == jst(2027, 5, 10, 8, 30)
    assert c.is_working(jst(2027, 3, 28, 8, 30))
    assert not c.is_working(jst(2027, 3, 28, 17, 15))
    assert c.is_working(jst(2027, 1, 1, 10))


def test_extra_working_day_with_explicit_hours() -> None:
    c = make({"extra_working_days": {"2027-03-28": ["07:00-20:00"]}})
    assert c.is_working(jst(2027, 3, 28, 7))
    assert c.status(jst(2027, 3, 28, 19)).next_change == jst(2027, 3, 28, 20)


def test_reason_params_are_not_shared_with_the_cache(cal: WorkCalendar) -> None:
    st = cal.status(jst(2027, 1, 1, 10))
    st.reason_params["name"] = "changed"
    assert cal.status(jst(2027, 1, 1, 10)).reason_params["name"] == "元日"


# --- time zones -----------------------------------------------------------------------------

def test_naive_datetimes_are_calendar_local(cal: WorkCalendar) -> None:
    assert cal.status(datetime(2027, 1, 5, 8, 30)) == cal.status(jst(2027, 1, 5, 8, 30))
    assert not cal.is_working(datetime(2027, 1, 5, 8, 29))


@pytest.mark.parametrize(("utc", "working", "reason"), [
    (datetime(2027, 1, 4, 23, 29, tzinfo=UTC), False, "before_hours"),  # 1/5 08:29 JST
    (datetime(2027, 1, 4, 23, 30, tzinfo=UTC), True, "working_hours"),  # 1/5 08:30 JST
    (datetime(2027, 1, 5, 8, 14, 59, tzinfo=UTC), True, "working_hours"),  # 17:14:59 JST
    (datetime(2027, 1, 5, 8, 15, tzinfo=UTC), False, "after_hours"),
    (datetime(2026, 12, 31, 15, 0, tzinfo=UTC), False, "holiday"),  # 1/1 00:00 JST
    (datetime(2026, 12, 31, 14, 59, tzinfo=UTC), False, "year_end"),  # 12/31 23:59 JST
    (datetime(2027, 1, 3, 23, 30, tzinfo=UTC), True, "working_hours"),  # 1/4 08:30 JST
])
def test_utc_input_is_converted_to_jst(cal: WorkCalendar, utc: datetime, working: bool,
                                       reason: str) -> None:
    st = cal.status(utc)
    assert (st.working, st.reason) == (working, reason)


def test_other_offsets_are_converted(cal: WorkCalendar) -> None:
    plus2 = datetime(2027, 1, 5, 1, 30, tzinfo=ZoneInfo("Europe/Helsinki"))  # 08:30 JST
    assert cal.is_working(plus2)
    assert cal.period_start(plus2) == jst(2027, 1, 5, 8, 30)


def test_dst_zone_shift_over_spring_forward() -> None:
    # JST has no DST; a zone that has one must still give wall-clock answers.
    ny = ZoneInfo("America/New_York")
    c = make({"timezone": "America/New_York", "national_holidays": False,
              "weekdays": ["22:00-06:00"] * 7, "year_end_closure": []})
    start = datetime(2025, 3, 8, 23, tzinfo=ny)  # Sat 23:00 EST
    change = c.next_change(start)
    assert change == datetime(2025, 3, 9, 6, tzinfo=ny)
    assert change.utcoffset() == timedelta(hours=-4)  # EDT after the jump
    # Same-zone subtraction is wall-clock in Python; compare real elapsed time in UTC.
    assert change.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=6)
    assert c.is_working(datetime(2025, 3, 9, 7, 30, tzinfo=UTC))  # 03:30 EDT
    assert not c.is_working(datetime(2025, 3, 9, 10, 0, tzinfo=UTC))  # 06:00 EDT


def test_injected_clock() -> None:
    c = WorkCalendar(CalendarConfig(), clock=lambda: jst(2027, 1, 1, 10))
    assert c.status().reason == "holiday"
    assert not c.is_working()
    assert c.next_change() == jst(2027, 1, 4, 8, 30)


# --- speed ----------------------------------------------------------------------------------

def test_status_is_fast(cal: WorkCalendar) -> None:
    base = jst(2026, 4, 1, 0, 0)
    instants = [base + timedelta(minutes=37 * i) for i in range(5000)]  # ~4 months
    for t in instants:  # warm the per-date cache, as a running service would be
        cal.status(t)
    best = min(_timed(cal, instants) for _ in range(3))
    assert best / len(instants) < 50e-6


def _timed(cal: WorkCalendar, instants: list[datetime]) -> float:
    started = _time.perf_counter()
    for t in instants:
        cal.status(t)
    return _time.perf_counter() - started


def test_naive_times_in_dst_gap_and_fold_do_not_fail() -> None:
    c = make({"timezone": "America/New_York", "weekdays": ["01:00-02:00"] * 7,
              "national_holidays": False, "year_end_closure": []})
    assert not c.is_working(datetime(2025, 3, 9, 2, 30))  # does not exist in New York
    assert c.is_working(datetime(2025, 11, 2, 1, 30))  # exists twice; wall clock decides
    assert c.is_working(datetime(2025, 11, 2, 1, 30, fold=1))


def test_working_run_longer_than_the_window() -> None:
    # Working every minute except one day years away: still "working", with no known change.
    c = make({"weekdays": ["00:00-24:00"] * 7, "national_holidays": False,
              "year_end_closure": [], "closed_days": ["2031-01-01"]})
    st = c.status(jst(2027, 1, 5, 10))
    assert (st.working, st.reason, st.next_change) == (True, "working_hours", None)
    assert st.reason_params == {}
    assert c.is_working(jst(2027, 1, 5, 10))
    assert c.period_start(jst(2027, 1, 5, 10)) is None
    assert c.next_change(jst(2030, 12, 1)) == jst(2031, 1, 1)
    assert c.period_start(jst(2031, 1, 1, 12)) == jst(2031, 1, 1)
    assert c.period_start(jst(2031, 1, 3)) == jst(2031, 1, 2)
