"""The `quiet_hours` section: the work calendar's keys plus the quiet-hours rule's own.

    quiet_hours:
      enabled: true
      weekdays: [...]                      # the calendar (docs/work-calendar.md)
      schedules: {24h: {always: true}}
      emergency_markers: ["【緊急】", "緊急"]
      exempt_rooms: ["#saigai:city-a.example.lg.jp", "!abc:city-a.example.lg.jp"]
      departments: departments.csv         # or {"@tanaka:city-a…": fire_shift}
      allow_opt_out: true
      reconcile_interval_seconds: 3600
      announce_room: "#all-staff:city-a.example.lg.jp"
      reminders: {enabled: true, schedule: sender}
      concurrency: 32

Validated once at start; every error names its key (`quiet_hours.departments.@a:b: …`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from appservice.core.configerror import ConfigError
from appservice.lib.workcal import CalendarConfig, calendar_config_from_dict

SECTION = "quiet_hours"
DEFAULT_MARKERS = ("【緊急】", "緊急")
# Keys of the section that belong to the quiet-hours rule, not to the calendar. The CLI's
# `yakuba calendar check` ignores the same keys (appservice/features/quiet/__init__.py).
QUIET_KEYS = ("enabled", "emergency_markers", "exempt_rooms", "departments", "reminders",
              "allow_opt_out", "reconcile_interval_seconds", "announce_room", "concurrency")
REMINDER_KEYS = ("enabled", "schedule")
REMINDER_SENDER = "sender"  # the sender's department schedule (the default schedule otherwise)

_USER_ID = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")
_ROOM_ID = re.compile(r"^![^:\s]+:[A-Za-z0-9.\-:\[\]]+$")
_ALIAS = re.compile(r"^#[^:\s]+:[A-Za-z0-9.\-:\[\]]+$")


@dataclass(frozen=True)
class QuietConfig:
    enabled: bool = False
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    emergency_markers: tuple[str, ...] = DEFAULT_MARKERS
    # Room ids ("!…") or aliases ("#…", resolved by the reconciler at each run).
    exempt_rooms: tuple[str, ...] = ()
    # user id -> schedule name (names checked against the calendar)
    departments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    allow_opt_out: bool = True
    reconcile_interval_seconds: int = 3600
    announce_room: str | None = None
    reminders_enabled: bool = True
    reminder_schedule: str = REMINDER_SENDER
    concurrency: int = 32

    def schedule_of(self, user_id: str) -> str | None:
        """The user's schedule name; None means the top-level (default) rules."""
        return self.departments.get(user_id)

    def schedules_in_use(self) -> tuple[str | None, ...]:
        """The default plus every schedule a department uses (the ones whose boundaries matter)."""
        return (None, *sorted(set(self.departments.values()) - {"default"}))


def quiet_config_from_dict(data: Any, *, base_dir: Path | None = None,
                           server_name: str | None = None) -> QuietConfig:
    """Validate the section; `base_dir` resolves a relative departments file path."""
    path = SECTION
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping, got {type(data).__name__}")
    calendar = calendar_config_from_dict(data, path, ignore_keys=QUIET_KEYS)
    known_schedules = ("default", *calendar.schedules)

    enabled = _bool(data, "enabled", False)
    markers = _markers(data.get("emergency_markers", list(DEFAULT_MARKERS)))
    exempt = _rooms(data.get("exempt_rooms"), f"{path}.exempt_rooms")
    departments = _departments(data.get("departments"), f"{path}.departments", base_dir, known_schedules,
                               server_name)
    allow_opt_out = _bool(data, "allow_opt_out", True)
    interval = _int(data, "reconcile_interval_seconds", 3600, 1, 7 * 86400)
    concurrency = _int(data, "concurrency", 32, 1, 256)
    announce = data.get("announce_room")
    if announce is not None and not (isinstance(announce, str)
                                     and (_ROOM_ID.match(announce) or _ALIAS.match(announce))):
        raise ConfigError(f"{path}.announce_room",
                          f"expected a room id (!…:server) or alias (#…:server), got {announce!r}")

    reminders = data.get("reminders")
    reminders = {} if reminders is None else reminders
    if not isinstance(reminders, dict):
        raise ConfigError(f"{path}.reminders", f"expected a mapping, got {type(reminders).__name__}")
    for key in reminders:
        if key not in REMINDER_KEYS:
            raise ConfigError(f"{path}.reminders.{key}", f"unknown key; known keys: {', '.join(REMINDER_KEYS)}")
    rem_enabled = reminders.get("enabled", True)
    if not isinstance(rem_enabled, bool):
        raise ConfigError(f"{path}.reminders.enabled", f"expected true or false, got {rem_enabled!r}")
    rem_schedule = reminders.get("schedule", REMINDER_SENDER)
    if rem_schedule != REMINDER_SENDER and rem_schedule not in known_schedules:
        raise ConfigError(f"{path}.reminders.schedule",
                          f"expected {REMINDER_SENDER!r} or a schedule name "
                          f"({', '.join(known_schedules)}), got {rem_schedule!r}")

    return QuietConfig(
        enabled=enabled, calendar=calendar, emergency_markers=markers, exempt_rooms=exempt,
        departments=MappingProxyType(departments), allow_opt_out=allow_opt_out,
        reconcile_interval_seconds=interval, announce_room=announce, reminders_enabled=rem_enabled,
        reminder_schedule=str(rem_schedule), concurrency=concurrency)


def _bool(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{SECTION}.{key}", f"expected true or false, got {value!r}")
    return value


def _int(data: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{SECTION}.{key}", f"expected an integer {lo}..{hi}, got {value!r}")
    return value


def _markers(value: Any) -> tuple[str, ...]:
    path = f"{SECTION}.emergency_markers"
    if not isinstance(value, list) or not value:
        raise ConfigError(path, f"expected a non-empty list of strings, got {value!r}")
    out: list[str] = []
    for i, marker in enumerate(value):
        if not isinstance(marker, str) or not marker.strip():
            raise ConfigError(f"{path}[{i}]", f"expected a non-empty string, got {marker!r}")
        # Push-rule patterns are globs without an escape: * and ? cannot be matched literally.
        if "*" in marker or "?" in marker:
            raise ConfigError(f"{path}[{i}]", f"must not contain * or ? (push rules read them as "
                                              f"wildcards), got {marker!r}")
        if len(marker) > 50:
            raise ConfigError(f"{path}[{i}]", "longer than 50 characters")
        if marker.strip() not in out:
            out.append(marker.strip())
    return tuple(out)


def _rooms(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(path, f"expected a list of room ids or aliases, got {value!r}")
    out: list[str] = []
    for i, room in enumerate(value):
        if not isinstance(room, str) or not (_ROOM_ID.match(room) or _ALIAS.match(room)):
            raise ConfigError(f"{path}[{i}]", f"expected a room id (!…:server) or alias (#…:server), "
                                              f"got {room!r}")
        if room not in out:
            out.append(room)
    return tuple(out)


def _check_user(user: Any, schedule: Any, where: str, known: tuple[str, ...],
                server_name: str | None) -> tuple[str, str]:
    if not isinstance(user, str) or not _USER_ID.match(user):
        raise ConfigError(where, f"expected a user id like @name:server, got {user!r}")
    if server_name and not user.endswith(":" + server_name):
        raise ConfigError(where, f"{user} is not a local user of {server_name}")
    if not isinstance(schedule, str) or schedule not in known:
        raise ConfigError(where, f"unknown schedule {schedule!r} (known: {', '.join(known)})")
    return user, schedule


def _departments(value: Any, path: str, base_dir: Path | None, known: tuple[str, ...],
                 server_name: str | None) -> dict[str, str]:
    """An inline mapping `user id: schedule`, or the path of a .csv (`user_id,schedule`) or
    .yaml file holding that mapping. Users not listed follow the default schedule."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(_check_user(u, s, f"{path}.{u}", known, server_name) for u, s in value.items())
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"expected a mapping of user id to schedule, or a file path; got {value!r}")
    file = Path(value)
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    try:
        text = file.read_text(encoding="utf-8-sig")  # Excel writes a BOM
    except OSError as exc:
        raise ConfigError(path, f"cannot read {file}: {exc.strerror or exc}") from None
    if file.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(path, f"{file.name}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(path, f"{file.name}: expected a mapping of user id to schedule")
        return dict(_check_user(u, s, f"{path} ({file.name}: {u})", known, server_name)
                    for u, s in data.items())
    if file.suffix.lower() != ".csv":
        raise ConfigError(path, f"{file.name}: expected a .csv, .yaml or .yml file")
    out: dict[str, str] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if lineno == 1 and cells[0].lower() in ("user_id", "user", "ユーザー", "ユーザーid"):
            continue  # header
        if len(cells) < 2:
            raise ConfigError(f"{path} ({file.name} line {lineno})", "expected user_id,schedule")
        user, schedule = _check_user(cells[0], cells[1], f"{path} ({file.name} line {lineno})", known,
                                     server_name)
        out[user] = schedule
    return out
