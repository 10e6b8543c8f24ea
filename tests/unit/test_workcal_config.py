"""calendar_config_from_dict: the shapes operators write and errors that name the exact key."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from appservice.core.configerror import ConfigError as LoaderConfigError
from appservice.lib.workcal import CalendarConfig, ConfigError, Schedule, TimeRange
from appservice.lib.workcal import calendar_config_from_dict as parse

OFFICE = (TimeRange(510, 1035),)

FULL = """
quiet_hours:
  timezone: Asia/Tokyo
  weekdays: ["08:30-17:15", "08:30-17:15", ["08:30-12:00", "13:00-17:15"], "8:30〜17:15",
             "08:30-17:15", null, []]
  national_holidays: true
  year_end_closure: ["12-29", "01-03"]
  closed_days: [2027-05-06, "2027-05-07"]
  extra_working_days:
    2027-03-28: null
    2027-04-04: ["09:00-12:00"]
  schedules:
    24h: {always: true}
    fire_shift:
      weekdays: ["22:00-06:00", "22:00-06:00", "22:00-06:00", "22:00-06:00", "22:00-06:00",
                 "22:00-06:00", "22:00-06:00"]
      national_holidays: false
      year_end_closure: []
"""


def test_defaults() -> None:
    for empty in (None, {}):
        cfg = parse(empty)
        assert cfg == CalendarConfig()
    d = CalendarConfig().default
    assert d.weekdays == (OFFICE,) * 5 + ((), ())
    assert d.national_holidays is True
    assert d.year_end_closure == (((12, 29), (1, 3)),)
    assert CalendarConfig().timezone == "Asia/Tokyo"


def test_full_yaml_shape() -> None:
    cfg = parse(yaml.safe_load(FULL)["quiet_hours"])
    assert cfg.default.weekdays[2] == (TimeRange(510, 720), TimeRange(780, 1035))
    assert cfg.default.weekdays[3] == OFFICE  # 8:30〜17:15 is accepted
    assert cfg.default.weekdays[5] == cfg.default.weekdays[6] == ()
    # Unquoted YAML dates arrive as date objects, quoted ones as strings: both work.
    assert set(cfg.default.closed_days) == {date(2027, 5, 6), date(2027, 5, 7)}
    assert cfg.default.extra_working_days[date(2027, 3, 28)] == OFFICE  # regular hours
    assert cfg.default.extra_working_days[date(2027, 4, 4)] == (TimeRange(540, 720),)
    assert cfg.schedules["24h"] == Schedule(always=True)
    fire = cfg.schedules["fire_shift"]
    assert fire.weekdays == ((TimeRange(1320, 360),),) * 7
    assert fire.weekdays[0][0].crosses_midnight
    assert fire.national_holidays is False
    assert fire.year_end_closure == ()
    # Omitted keys are inherited from the top level.
    assert fire.closed_days == cfg.default.closed_days


def test_config_is_frozen() -> None:
    cfg = parse({})
    with pytest.raises(AttributeError):
        cfg.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.schedules["x"] = Schedule()  # type: ignore[index]


def test_year_end_closure_shapes() -> None:
    several = parse({"year_end_closure": [["12-29", "01-03"], ["08-13", "08-15"]]})
    assert several.default.year_end_closure == (((12, 29), (1, 3)), ((8, 13), (8, 15)))
    for off in (None, [], False):
        assert parse({"year_end_closure": off}).default.year_end_closure == ()


def test_ignore_keys_belong_to_other_components() -> None:
    cfg = parse({"message": "x", "weekdays": [None] * 7}, ignore_keys=("message",))
    assert cfg.default.weekdays == ((),) * 7


def test_config_error_shape() -> None:
    err = ConfigError("quiet_hours.timezone", "bad")
    assert str(err) == "quiet_hours.timezone: bad"
    assert (err.path, err.message) == ("quiet_hours.timezone", "bad")
    assert isinstance(err, ValueError)
    assert ConfigError is LoaderConfigError  # one class for the whole config loader


WEEK = ["08:30-17:15"] * 5 + [None, None]


def _week(i: int, value: object) -> list:
    days = list(WEEK)
    days[i] = value
    return days


@pytest.mark.parametrize(("data", "message"), [
    ({"weekdays": _week(2, "9-17")},
     'quiet_hours.weekdays[2]: expected HH:MM-HH:MM, got "9-17"'),
    ({"weekdays": WEEK[:5]},
     "quiet_hours.weekdays: expected a list of 7 entries (Mon..Sun; null = closed), "
     "got 5 entries"),
    ({"weekdays": "08:30-17:15"},
     'quiet_hours.weekdays: expected a list of 7 entries (Mon..Sun; null = closed), '
     'got "08:30-17:15"'),
    ({"weekdays": _week(0, ["08:30-12:00", "11:00-17:15"])},
     "quiet_hours.weekdays[0][1]: 11:00-17:15 overlaps 08:30-12:00"),
    ({"weekdays": _week(1, ["08:30-12:00", 1300])},
     "quiet_hours.weekdays[1][1]: expected HH:MM-HH:MM, got 1300 (int)"),
    ({"weekdays": _week(4, "08:30-25:00")},
     'quiet_hours.weekdays[4]: not a valid time range (00:00..24:00): "08:30-25:00"'),
    ({"weekdays": _week(4, "24:00-08:00")},
     'quiet_hours.weekdays[4]: not a valid time range (00:00..24:00): "24:00-08:00"'),
    ({"weekdays": _week(3, "08:00-08:00")},
     'quiet_hours.weekdays[3]: empty range "08:00-08:00"; use 00:00-24:00 for a whole day'),
    ({"weekdays": _week(6, {"from": "08:00"})},
     "quiet_hours.weekdays[6]: expected HH:MM-HH:MM, a list of them, or null; "
     "got {'from': '08:00'} (dict)"),
    ({"timezone": "Asia/Tokio"}, 'quiet_hours.timezone: unknown time zone "Asia/Tokio"'),
    ({"national_holidays": "no"}, 'quiet_hours.national_holidays: expected true or false, '
                                  'got "no"'),
    ({"year_end_closure": ["12/29", "01/03"]},
     'quiet_hours.year_end_closure[0]: expected MM-DD like 12-29, got "12/29"'),
    ({"year_end_closure": ["12-29", "02-30"]},
     'quiet_hours.year_end_closure[1]: expected MM-DD like 12-29, got "02-30"'),
    ({"year_end_closure": ["12-29"]},
     "quiet_hours.year_end_closure: expected a start and an end (MM-DD), got 1 values"),
    ({"year_end_closure": [["12-29", "01-03"], "08-13"]},
     'quiet_hours.year_end_closure[1]: expected ["MM-DD", "MM-DD"], got "08-13"'),
    ({"closed_days": ["2027-05-06", "2027-13-01"]},
     'quiet_hours.closed_days[1]: expected a date YYYY-MM-DD, got "2027-13-01"'),
    ({"closed_days": "2027-05-06"},
     'quiet_hours.closed_days: expected a list of dates or a mapping of date to name, '
     'got "2027-05-06"'),
    ({"extra_working_days": {"2027-03-28": "9-12"}},
     'quiet_hours.extra_working_days.2027-03-28: expected HH:MM-HH:MM, got "9-12"'),
    ({"weekdays": [None] * 7, "extra_working_days": ["2027-03-28"]},
     "quiet_hours.extra_working_days.2027-03-28: no weekday has hours to copy; "
     "give the hours explicitly"),
    ({"holidays": False},
     "quiet_hours.holidays: unknown key (did you mean national_holidays?); known keys: "
     "timezone, weekdays, national_holidays, year_end_closure, closed_days, "
     "extra_working_days, schedules"),
    ({"schedules": {"fire": {"weekday": WEEK}}},
     "quiet_hours.schedules.fire.weekday: unknown key; known keys: always, weekdays, "
     "national_holidays, year_end_closure, closed_days, extra_working_days"),
    ({"schedules": {"fire": {"weekdays": _week(5, "9:00-17")}}},
     'quiet_hours.schedules.fire.weekdays[5]: expected HH:MM-HH:MM, got "9:00-17"'),
    ({"schedules": {"24h": {"always": True, "national_holidays": False}}},
     "quiet_hours.schedules.24h.national_holidays: cannot be combined with always: true"),
    ({"schedules": {"24h": {"always": "yes"}}},
     'quiet_hours.schedules.24h.always: expected true or false, got "yes"'),
    ({"schedules": {"default": {"always": True}}},
     'quiet_hours.schedules.default: "default" is reserved for the top-level rules'),
    ({"schedules": {24: {"always": True}}},
     "quiet_hours.schedules.24: schedule names must be non-empty strings (quote them)"),
    ({"schedules": {"x": None}}, "quiet_hours.schedules.x: expected a mapping, got None "
                                 "(NoneType)"),
    ({"schedules": ["24h"]},
     "quiet_hours.schedules: expected a mapping of name to schedule, got ['24h'] (list)"),
])
def test_errors_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(data)
    assert str(info.value) == message


def test_custom_path_prefix() -> None:
    with pytest.raises(ConfigError) as info:
        parse({"weekdays": _week(2, "9-17")}, path="departments.fire.hours")
    assert info.value.path == "departments.fire.hours.weekdays[2]"
    assert info.value.message == 'expected HH:MM-HH:MM, got "9-17"'


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError) as info:
        parse(["08:30-17:15"])
    assert str(info.value) == "quiet_hours: expected a mapping, got ['08:30-17:15'] (list)"
