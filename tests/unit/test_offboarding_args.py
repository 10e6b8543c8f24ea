"""Argument parsing and refusal of malformed commands (no Synapse needed)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from appservice.core.i18n import t
from appservice.features.offboarding.config import load
from appservice.features.offboarding.plan import ArgError, normalize_user, parse_offboard_args, parse_target, parse_when

S = "city-a.localhost"
TZ = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)


def parse(*args: str):
    return parse_offboard_args(args, server_name=S, tz=TZ, now=NOW, default_time=time(18, 0))


def err(fn, *a, **kw) -> str:
    with pytest.raises(ArgError) as exc:
        fn(*a, **kw)
    return exc.value.key


def test_full_offboard_command():
    a = parse("@tanaka:city-a.localhost", "--successor", "@suzuki", "--at", "2027-03-31T17:15", "--erase")
    assert a.user == f"@tanaka:{S}" and a.successor == f"@suzuki:{S}" and a.erase and not a.csv
    assert a.at == datetime(2027, 3, 31, 17, 15, tzinfo=TZ)
    assert a.at.astimezone(UTC).hour == 8


def test_equals_form_and_csv():
    a = parse("@tanaka", "--successor=@suzuki", "--at=2027-03-31T17:15")
    assert a.successor == f"@suzuki:{S}"
    assert parse("--csv").csv and parse("--csv", "--erase").erase


@pytest.mark.parametrize(("args", "key"), [
    ((), "offboarding.err.missing_user"),
    (("tanaka",), "offboarding.err.bad_user"),
    (("@tanaka", "@sato"), "offboarding.err.extra_argument"),
    (("@tanaka", "--successor"), "offboarding.err.missing_value"),
    (("@tanaka", "--successor", "--erase"), "offboarding.err.missing_value"),
    (("@tanaka", "--at", "tomorrow"), "offboarding.err.bad_time"),
    (("@tanaka", "--at", "2027-02-30T10:00"), "offboarding.err.bad_time"),
    (("@tanaka", "--at", "2026-11-24T10:00"), "offboarding.err.past"),
    (("@tanaka", "--force"), "offboarding.err.unknown_option"),
    (("@tanaka", "--successor", "@tanaka"), "offboarding.err.successor_is_user"),
    (("@tanaka", "--successor", "@a", "--successor", "@b"), "offboarding.err.repeated"),
    (("--csv", "@tanaka"), "offboarding.err.csv_alone"),
    (("@bad user:x",), "offboarding.err.bad_user"),
])
def test_malformed_offboard_commands_are_refused(args, key):
    assert err(parse, *args) == key


def test_every_error_key_has_both_catalog_texts():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "appservice"
    used = set()
    for path in (root / "offboarding").glob("*.py"):
        used |= set(re.findall(r'"(offboarding\.(?:err|refused|skip|result|confirm|lock|unlock|logout|'
                               r'plan|bulk|batch|job|csv|audit|list|cancel|help)\.[a-z_.]+)"', path.read_text()))
    used |= {"offboarding.suspend.done", "offboarding.unsuspend.done", "offboarding.result.cancelled"}
    for key in sorted(used):
        for locale in ("ja", "en"):
            assert t(key, locale) != key, f"{key} missing in {locale}"


def test_remote_user_is_parsed_then_refused_by_the_rules():
    assert normalize_user("@boss:city-b.localhost", S) == "@boss:city-b.localhost"


def test_full_width_and_bare_localparts():
    assert normalize_user("＠ｔａｎａｋａ", S) == f"@tanaka:{S}"
    assert normalize_user("tanaka", S, allow_bare=True) == f"@tanaka:{S}"
    assert err(normalize_user, "tanaka", S) == "offboarding.err.bad_user"
    assert normalize_user("@x:host.example:8448", S) == "@x:host.example:8448"


@pytest.mark.parametrize(("text", "expected"), [
    ("2027-03-31T17:15", datetime(2027, 3, 31, 17, 15, tzinfo=TZ)),
    ("2027-03-31 17:15", datetime(2027, 3, 31, 17, 15, tzinfo=TZ)),
    ("2027/3/31 9:05", datetime(2027, 3, 31, 9, 5, tzinfo=TZ)),
    ("2027/03/31 17:15:30", datetime(2027, 3, 31, 17, 15, 30, tzinfo=TZ)),
    ("2027年3月31日 17:15", datetime(2027, 3, 31, 17, 15, tzinfo=TZ)),
    ("２０２７－０３－３１", datetime(2027, 3, 31, 18, 0, tzinfo=TZ)),
    ("2027-03-31", datetime(2027, 3, 31, 18, 0, tzinfo=TZ)),
    ("2027-03-31T08:15Z", datetime(2027, 3, 31, 17, 15, tzinfo=TZ)),
    ("2027-03-31T17:15+09:00", datetime(2027, 3, 31, 17, 15, tzinfo=TZ)),
])
def test_dates(text, expected):
    assert parse_when(text, TZ, time(18, 0)) == expected


def test_targets_and_reasons():
    assert parse_target(["@a", "端末", "紛失"], server_name=S, reason="required") == (f"@a:{S}", "端末 紛失", set())
    assert err(parse_target, ["@a"], server_name=S, reason="required") == "offboarding.err.missing_reason"
    assert err(parse_target, ["@a", "x"], server_name=S) == "offboarding.err.extra_argument"
    assert parse_target(["@a", "--keep-sessions"], server_name=S, flags=("--keep-sessions",))[2] == \
        {"--keep-sessions"}
    assert err(parse_target, [], server_name=S) == "offboarding.err.missing_user"
    assert err(parse_target, ["@a", "--nope"], server_name=S) == "offboarding.err.unknown_option"
    assert parse_target(["@a"], server_name=S, reason="optional")[1] == ""


def test_config_validation():
    from appservice.core.configerror import ConfigError

    assert load(None).four_eyes is False
    c = load({"four_eyes": True, "timezone": "UTC", "default_leave_time": "17:30", "poll_seconds": 1})
    assert c.four_eyes and c.default_leave_time == time(17, 30) and c.poll_seconds == 1
    for bad, key in [({"four_eyes": "yes"}, "four_eyes"), ({"timezone": "Mars/Olympus"}, "timezone"),
                     ({"default_leave_time": "25:00"}, "default_leave_time"), ({"concurrency": 0}, "concurrency"),
                     ({"typo": 1}, "typo")]:
        with pytest.raises(ConfigError) as exc:
            load(bad)
        assert exc.value.path == f"offboarding.{key}"
