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
from appservice.core.schema import Bool, Custom, Int, List, Schema
from appservice.lib.workcal import CalendarConfig, calendar_config_from_dict

SECTION = "quiet_hours"
DEFAULT_MARKERS = ("【緊急】", "緊急")
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


def _unique(values: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _marker(marker: Any, path: str) -> str:
    if not isinstance(marker, str) or not marker.strip():
        raise ConfigError(path, f"expected a non-empty string, got {marker!r}")
    # Push-rule patterns are globs without an escape: * and ? cannot be matched literally.
    if "*" in marker or "?" in marker:
        raise ConfigError(path, f"must not contain * or ? (push rules read them as wildcards), got {marker!r}")
    if len(marker) > 50:
        raise ConfigError(path, "longer than 50 characters")
    return marker.strip()


def _room(room: Any, path: str) -> str:
    if not isinstance(room, str) or not (_ROOM_ID.match(room) or _ALIAS.match(room)):
        raise ConfigError(path, f"expected a room id (!…:server) or alias (#…:server), got {room!r}")
    return room


def _schema(known_schedules: tuple[str, ...], base_dir: Path | None, server_name: str | None) -> Schema:
    """The rule's own keys of the section (the calendar's keys are the work calendar's). Built
    per call: departments and reminders.schedule name schedules the calendar declares."""

    def departments(value: Any, path: str) -> dict[str, str]:
        return _departments(value, path, base_dir, known_schedules, server_name)

    def reminder_schedule(value: Any, path: str) -> str:
        if value != REMINDER_SENDER and value not in known_schedules:
            raise ConfigError(path, f"expected {REMINDER_SENDER!r} or a schedule name "
                                    f"({', '.join(known_schedules)}), got {value!r}")
        return str(value)

    return Schema(SECTION, {
        "enabled": Bool(False),
        "emergency_markers": List(Custom(_marker), DEFAULT_MARKERS, nonempty=True),
        "exempt_rooms": List(Custom(_room), tuple),
        "departments": Custom(departments, dict),
        "allow_opt_out": Bool(True),
        "reconcile_interval_seconds": Int(3600, lo=1, hi=7 * 86400),
        "announce_room": Custom(_room, None),
        "reminders": Schema("reminders", {
            "enabled": Bool(True),
            "schedule": Custom(reminder_schedule, REMINDER_SENDER),
        }),
        "concurrency": Int(32, lo=1, hi=256),
    })


# Keys of the section that belong to the quiet-hours rule, not to the calendar. The CLI's
# `yakuba calendar check` ignores the same keys (appservice/features/quiet/__init__.py).
QUIET_KEYS = tuple(_schema(("default",), None, None).fields)


def quiet_config_from_dict(data: Any, *, base_dir: Path | None = None,
                           server_name: str | None = None) -> QuietConfig:
    """Validate the section; `base_dir` resolves a relative departments file path. The work
    calendar validates its keys and refuses keys that neither it nor the rule knows."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(SECTION, f"expected a mapping, got {type(data).__name__}")
    calendar = calendar_config_from_dict(data, SECTION, ignore_keys=QUIET_KEYS)
    schema = _schema(("default", *calendar.schedules), base_dir, server_name)
    v = schema.validate({k: data[k] for k in QUIET_KEYS if k in data})
    return QuietConfig(
        enabled=v["enabled"], calendar=calendar, emergency_markers=_unique(v["emergency_markers"]),
        exempt_rooms=_unique(v["exempt_rooms"]), departments=MappingProxyType(v["departments"]),
        allow_opt_out=v["allow_opt_out"], reconcile_interval_seconds=v["reconcile_interval_seconds"],
        announce_room=v["announce_room"], reminders_enabled=v["reminders"]["enabled"],
        reminder_schedule=v["reminders"]["schedule"], concurrency=v["concurrency"])


def _check_user(user: Any, schedule: Any, where: str, known: tuple[str, ...],
                server_name: str | None) -> tuple[str, str]:
    if not isinstance(user, str) or not _USER_ID.match(user):
        raise ConfigError(where, f"expected a user id like @name:server, got {user!r}")
    if server_name and user.partition(":")[2] != server_name:
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
