"""The quiet_hours section: defaults, departments (inline, CSV, YAML) and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from appservice.core.configerror import ConfigError
from appservice.features.quiet import QUIET_KEYS_NOT_CALENDAR
from appservice.features.quiet.config import DEFAULT_MARKERS, QUIET_KEYS, quiet_config_from_dict

S = "city-a.example"
SCHEDULES = {"schedules": {"24h": {"always": True}, "fire_shift": {"weekdays": ["22:00-06:00"] * 7}}}


def load(data, **kw):
    return quiet_config_from_dict(data, server_name=S, **kw)


def test_defaults():
    cfg = load(None)
    assert not cfg.enabled and cfg.emergency_markers == DEFAULT_MARKERS
    assert cfg.allow_opt_out and cfg.reconcile_interval_seconds == 3600 and cfg.concurrency == 32
    assert cfg.reminders_enabled and cfg.reminder_schedule == "sender"
    assert cfg.exempt_rooms == () and dict(cfg.departments) == {} and cfg.announce_room is None
    assert cfg.schedules_in_use() == (None,)
    assert cfg.calendar.timezone == "Asia/Tokyo"


def test_full_section():
    cfg = load({"enabled": True, "weekdays": ["09:00-17:00"] * 5 + [None, None], **SCHEDULES,
                "emergency_markers": ["至急", " 緊急 ", "至急"], "exempt_rooms": ["!a:x.y", "#saigai:x.y"],
                "departments": {f"@fire1:{S}": "24h", f"@fire2:{S}": "fire_shift", f"@clerk:{S}": "default"},
                "allow_opt_out": False, "reconcile_interval_seconds": 60, "announce_room": "#all:x.y",
                "reminders": {"enabled": False, "schedule": "default"}, "concurrency": 8})
    assert cfg.enabled and cfg.emergency_markers == ("至急", "緊急")
    assert cfg.exempt_rooms == ("!a:x.y", "#saigai:x.y")
    assert cfg.schedule_of(f"@fire2:{S}") == "fire_shift" and cfg.schedule_of(f"@other:{S}") is None
    assert cfg.schedules_in_use() == (None, "24h", "fire_shift")
    assert not cfg.allow_opt_out and cfg.reconcile_interval_seconds == 60 and cfg.concurrency == 8
    assert not cfg.reminders_enabled and cfg.reminder_schedule == "default"


def test_cli_keeps_the_same_key_list():
    assert set(QUIET_KEYS) == set(QUIET_KEYS_NOT_CALENDAR)


@pytest.mark.parametrize(("data", "path", "fragment"), [
    ({"enabld": True}, "quiet_hours.enabld", "unknown key"),
    ({"enabled": "yes"}, "quiet_hours.enabled", "true or false"),
    ({"weekdays": ["9-17"] * 7}, "quiet_hours.weekdays[0]", "HH:MM-HH:MM"),
    ({"emergency_markers": []}, "quiet_hours.emergency_markers", "non-empty list"),
    ({"emergency_markers": ["緊急", ""]}, "quiet_hours.emergency_markers[1]", "non-empty string"),
    ({"emergency_markers": ["*緊急*"]}, "quiet_hours.emergency_markers[0]", "wildcards"),
    ({"exempt_rooms": "!a:b"}, "quiet_hours.exempt_rooms", "list"),
    ({"exempt_rooms": ["saigai"]}, "quiet_hours.exempt_rooms[0]", "room id"),
    ({"departments": {"tanaka": "24h"}, **SCHEDULES}, "quiet_hours.departments.tanaka", "user id"),
    ({"departments": {"@t:other.example": "24h"}, **SCHEDULES}, "quiet_hours.departments.@t:other.example",
     "not a local user"),
    ({"departments": {f"@t:{S}": "night"}, **SCHEDULES}, f"quiet_hours.departments.@t:{S}", "unknown schedule"),
    ({"departments": 3}, "quiet_hours.departments", "mapping"),
    ({"reconcile_interval_seconds": 0}, "quiet_hours.reconcile_interval_seconds", "integer"),
    ({"reconcile_interval_seconds": True}, "quiet_hours.reconcile_interval_seconds", "integer"),
    ({"concurrency": 1000}, "quiet_hours.concurrency", "integer"),
    ({"announce_room": "general"}, "quiet_hours.announce_room", "room id"),
    ({"allow_opt_out": 1}, "quiet_hours.allow_opt_out", "true or false"),
    ({"reminders": []}, "quiet_hours.reminders", "mapping"),
    ({"reminders": {"shedule": "default"}}, "quiet_hours.reminders.shedule", "unknown key"),
    ({"reminders": {"schedule": "night"}}, "quiet_hours.reminders.schedule", "schedule name"),
    ({"reminders": {"enabled": "no"}}, "quiet_hours.reminders.enabled", "true or false"),
    ([1, 2], "quiet_hours", "mapping"),
])
def test_errors_name_the_key(data, path, fragment):
    with pytest.raises(ConfigError) as err:
        load(data)
    assert err.value.path == path, err.value
    assert fragment in str(err.value)


def test_departments_from_csv_with_header_comments_and_bom(tmp_path: Path):
    (tmp_path / "dept.csv").write_text(
        f"\ufeffuser_id,schedule\n# 消防本部\n@fire1:{S},24h\n\n@fire2:{S}, fire_shift\n", encoding="utf-8")
    cfg = load({**SCHEDULES, "departments": "dept.csv"}, base_dir=tmp_path)
    assert dict(cfg.departments) == {f"@fire1:{S}": "24h", f"@fire2:{S}": "fire_shift"}


def test_departments_csv_errors_give_file_and_line(tmp_path: Path):
    (tmp_path / "dept.csv").write_text(f"@fire1:{S},24h\n@fire2:{S},night\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load({**SCHEDULES, "departments": "dept.csv"}, base_dir=tmp_path)
    assert err.value.path == "quiet_hours.departments (dept.csv line 2)"
    assert "unknown schedule 'night'" in str(err.value)
    (tmp_path / "short.csv").write_text(f"@fire1:{S}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected user_id,schedule"):
        load({**SCHEDULES, "departments": "short.csv"}, base_dir=tmp_path)


def test_departments_from_yaml_and_missing_file(tmp_path: Path):
    (tmp_path / "dept.yaml").write_text(f'"@fire1:{S}": 24h\n', encoding="utf-8")
    cfg = load({**SCHEDULES, "departments": str(tmp_path / "dept.yaml")})
    assert dict(cfg.departments) == {f"@fire1:{S}": "24h"}
    with pytest.raises(ConfigError) as err:
        load({**SCHEDULES, "departments": "nope.csv"}, base_dir=tmp_path)
    assert err.value.path == "quiet_hours.departments" and "cannot read" in str(err.value)
    (tmp_path / "dept.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.csv, \.yaml"):
        load({"departments": "dept.txt"}, base_dir=tmp_path)
