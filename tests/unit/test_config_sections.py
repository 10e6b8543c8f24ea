"""Every section of yakuba.yaml is validated the same way (appservice/core/schema.py): unknown
keys and wrong types are errors whose message starts with the full key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from appservice.app.assembly import DEFAULT_FEATURES, validate
from appservice.app.config import CORE_SECTIONS, config_from_dict
from appservice.core.configerror import ConfigError
from appservice.core.schema import Bool, Int, List, Number, Raw, Schema, Str

ROOM = "!r:city-a.localhost"
FEATURE_SECTIONS = tuple(f.section for f in DEFAULT_FEATURES if f.section)


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    path = tmp_path / "registration.yaml"
    path.write_text(yaml.safe_dump({"as_token": "a" * 20, "hs_token": "h" * 20}))
    return path


def base(reg: Path, **extra: Any) -> dict[str, Any]:
    return {"homeserver": {"url": "http://127.0.0.1:8008/", "server_name": "city-a.localhost"},
            "appservice": {"registration": str(reg)}, **extra}


def merged(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key, value in patch.items():
        out[key] = {**out[key], **value} if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def check(reg: Path, tmp_path: Path, patch: dict[str, Any]) -> dict[str, Any]:
    """Load the core sections, then validate every feature's section through its declaration."""
    config = config_from_dict(merged(base(reg), patch), tmp_path / "y.yaml")
    return validate(DEFAULT_FEATURES, config)


def error(reg: Path, tmp_path: Path, patch: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        check(reg, tmp_path, patch)
    return exc.value


# -- unknown keys --------------------------------------------------------------------------

TYPOS = [
    ({"homeserver": {"urll": "http://x"}}, "homeserver.urll"),
    ({"appservice": {"prot": 9009}}, "appservice.prot"),
    ({"admin_room": {"encryptd": True}}, "admin_room.encryptd"),
    ({"logging": {"levle": "debug"}}, "logging.levle"),
    ({"testing": {"clockfile": "clock"}}, "testing.clockfile"),
    ({"federation": {"partner": []}}, "federation.partner"),
    ({"broadcast": {"max_char": 10}}, "broadcast.max_char"),
    ({"pii": {"min_confidance": 0.9}}, "pii.min_confidance"),
    ({"pii": {"kinds": {"my_numbr": "redact"}}}, "pii.kinds.my_numbr"),
    ({"pii": {"rooms": {ROOM: {"acton": "off"}}}}, f"pii.rooms.{ROOM}.acton"),
    ({"pii": {"rooms": {ROOM: {"kinds": {"fone": "off"}}}}}, f"pii.rooms.{ROOM}.kinds.fone"),
    ({"screenshots": {"treshold": 0.7}}, "screenshots.treshold"),
    ({"screenshots": {"kinds": {"photo": "warn"}}}, "screenshots.kinds.photo"),
    ({"quiet_hours": {"enabld": True}}, "quiet_hours.enabld"),
    ({"quiet_hours": {"reminders": {"shedule": "default"}}}, "quiet_hours.reminders.shedule"),
    ({"offboarding": {"four_eye": True}}, "offboarding.four_eye"),
    ({"away": {"presense": True}}, "away.presense"),
    ({"reports": {"poll_second": 5}}, "reports.poll_second"),
    ({"retention": {"bakend": "s3"}}, "retention.bakend"),
    ({"retention": {"s3": {"bucket": "b", "secret_access_key": "x"}}}, "retention.s3.secret_access_key"),
    ({"bots": {"enable": False}}, "bots.enable"),
    ({"housekeeping": {"audit_days": 400}}, "housekeeping.audit_days"),
    ({"usage": {"min_group": 5}}, "usage.min_group"),
    ({"usage": {"weekly": {"dya": "mon"}}}, "usage.weekly.dya"),
    ({"links": {"permalinks": "https://chat.example/"}}, "links.permalinks"),
    ({"bot": {"displayname": "役場"}}, "bot.displayname"),
    ({"quiet_hourz": {}}, "quiet_hourz"),
]


@pytest.mark.parametrize(("patch", "path"), TYPOS, ids=[p for _, p in TYPOS])
def test_a_typo_key_is_an_error_naming_its_path(reg, tmp_path, patch, path):
    err = error(reg, tmp_path, patch)
    assert str(err).startswith(f"{path}: unknown"), err
    assert err.path == path


@pytest.mark.parametrize("section", [*(s for s in CORE_SECTIONS if s not in ("data_dir", "locale", "admins")),
                                     *FEATURE_SECTIONS])
def test_every_section_rejects_unknown_keys(reg, tmp_path, section):
    err = error(reg, tmp_path, {section: {"no_such_key": 1}})
    assert str(err).startswith(f"{section}.no_such_key: unknown key"), err


def test_the_typos_cover_every_section():
    covered = {path.split(".")[0] for _, path in TYPOS}
    sections = {s for s in CORE_SECTIONS if s not in ("data_dir", "locale", "admins")} | set(FEATURE_SECTIONS)
    assert sections <= covered


# -- wrong types ---------------------------------------------------------------------------

WRONG = [
    ({"homeserver": {"server_name": 5}}, "homeserver.server_name", "non-empty string"),
    ({"appservice": {"port": "9009"}}, "appservice.port", "integer 1..65535"),
    ({"data_dir": 5}, "data_dir", "string"),
    ({"locale": 1}, "locale", "one of ja, en"),
    ({"admins": "@a:city-a.localhost"}, "admins", "list"),
    ({"admin_room": {"encrypted": "yes"}}, "admin_room.encrypted", "true or false"),
    ({"admin_room": ["encrypted"]}, "admin_room", "mapping"),
    ({"logging": {"level": 3}}, "logging.level", "one of debug, info, warning, error"),
    ({"logging": {"format": True}}, "logging.format", "one of console, json"),
    ({"testing": {"clock_file": 5}}, "testing.clock_file", "string"),
    ({"pii": {"min_confidence": "high"}}, "pii.min_confidence", "number 0..1"),
    ({"pii": {"max_chars": 10}}, "pii.max_chars", "integer 1000.."),
    ({"pii": {"enabled": "no"}}, "pii.enabled", "true or false"),
    ({"pii": {"action": "delete"}}, "pii.action", "one of warn, redact, off"),
    ({"pii": {"rooms": {ROOM: {"action": "delete"}}}}, f"pii.rooms.{ROOM}.action", "one of warn"),
    ({"pii": {"rooms": []}}, "pii.rooms", "mapping"),
    ({"screenshots": {"ocr": "yes"}}, "screenshots.ocr", "true or false"),
    ({"screenshots": {"threshold": 0}}, "screenshots.threshold", "number > 0"),
    ({"screenshots": {"max_megabytes": 500}}, "screenshots.max_megabytes", "number"),
    ({"quiet_hours": {"allow_opt_out": 1}}, "quiet_hours.allow_opt_out", "true or false"),
    ({"quiet_hours": {"emergency_markers": []}}, "quiet_hours.emergency_markers", "non-empty list"),
    ({"offboarding": {"four_eyes": "yes"}}, "offboarding.four_eyes", "true or false"),
    ({"offboarding": {"concurrency": 2.5}}, "offboarding.concurrency", "integer 1..64"),
    ({"retention": {"enabled": "yes"}}, "retention.enabled", "true or false"),
    ({"retention": {"s3": {"lock_mode": "STRICT"}}}, "retention.s3.lock_mode", "COMPLIANCE"),
    ({"bots": {"enabled": "no"}}, "bots.enabled", "true or false"),
    ({"bots": {"sync_timeout_ms": "30s"}}, "bots.sync_timeout_ms", "integer"),
    ({"bots": {"auto_join": "all"}}, "bots.auto_join", "one of local, none"),
    ({"usage": {"min_group_size": 1}}, "usage.min_group_size", "integer 2..1000"),
    ({"usage": {"weekly": {"time": "9時"}}}, "usage.weekly.time", "HH:MM"),
    ({"usage": {"weekly": {"day": "monday"}}}, "usage.weekly.day", "one of mon"),
    ({"links": {"permalink": "https://matrix.to/#/"}}, "links.permalink", "outside service"),
    ({"links": {"permalink": "chat.example"}}, "links.permalink", "http:// or https://"),
    ({"links": {"permalink": "https://c.example/#/{room}"}}, "links.permalink", "unknown placeholder"),
    ({"bot": {"display_name": ""}}, "bot.display_name", "display name"),
    ({"bot": {"avatar": "no/such.png"}}, "bot.avatar", "no such image file"),
]


@pytest.mark.parametrize(("patch", "path", "fragment"), WRONG, ids=[p for _, p, _ in WRONG])
def test_a_wrong_type_is_an_error_naming_the_key(reg, tmp_path, patch, path, fragment):
    err = error(reg, tmp_path, patch)
    assert str(err).startswith(f"{path}: "), err
    assert err.path == path and fragment in err.message, err


def test_missing_sections_and_keys(reg, tmp_path):
    data = base(reg)
    del data["homeserver"]
    with pytest.raises(ConfigError, match=r"^homeserver: missing section"):
        config_from_dict(data, tmp_path / "y.yaml")
    data = base(reg)
    del data["appservice"]
    with pytest.raises(ConfigError, match=r"^appservice: missing section"):
        config_from_dict(data, tmp_path / "y.yaml")
    with pytest.raises(ConfigError, match=r"^homeserver\.url: missing"):
        config_from_dict(merged(base(reg), {"homeserver": {"url": None}}), tmp_path / "y.yaml")


# -- defaults and the meaning of keys are unchanged ----------------------------------------

def test_defaults_of_every_section(reg, tmp_path):
    cfg = config_from_dict(base(reg), tmp_path / "y.yaml")
    assert (cfg.locale, cfg.admins, cfg.admin_room_encrypted) == ("ja", (), True)
    assert (cfg.log_format, cfg.log_level, cfg.clock_file) == ("console", "info", None)
    assert cfg.data_dir == tmp_path and cfg.appservice.bind == "127.0.0.1"
    assert (cfg.appservice.id, cfg.appservice.bot_localpart) == ("yakuba", "_yakuba")
    assert set(cfg.features) == set(FEATURE_SECTIONS) and all(v == {} for v in cfg.features.values())
    s = validate(DEFAULT_FEATURES, cfg)
    pii, shots = s["pii"], s["screenshots"]
    assert pii.enabled and pii.min_confidence == 0.5 and pii.max_chars == 100_000 and pii.notify_admins
    assert pii.actions.action_for("my_number", ROOM) == "warn" and pii.actions.action_for("email", ROOM) == "off"
    assert shots.enabled and not shots.ocr and shots.threshold == 0.5 and shots.max_bytes == 20 * 1024 * 1024
    assert not s["quiet_hours"].enabled and s["offboarding"].concurrency == 8
    assert not s["retention"].enabled and s["retention"].root == tmp_path / "archive"
    assert s["bots"] == {"enabled": True, "auto_join": "local", "sync_timeout_ms": 30_000,
                         "plaintext_grace_seconds": 60.0}


def test_null_sections_and_keys_take_the_defaults(reg, tmp_path):
    cfg = config_from_dict(base(reg, logging=None, admin_room={"encrypted": None}, admins=None, pii=None),
                           tmp_path / "y.yaml")
    assert cfg.log_level == "info" and cfg.admin_room_encrypted and cfg.admins == ()
    assert validate(DEFAULT_FEATURES, cfg)["pii"].enabled


def test_values_are_read_as_before(reg, tmp_path):
    cfg = config_from_dict(base(reg, logging={"format": "json", "level": "debug"},
                                admin_room={"encrypted": False}, testing={"clock_file": "clock"},
                                admins=["@it:city-a.localhost"], locale="en", data_dir="var"),
                           tmp_path / "y.yaml")
    assert (cfg.log_format, cfg.log_level, cfg.admin_room_encrypted) == ("json", "debug", False)
    assert cfg.clock_file == tmp_path / "clock" and cfg.data_dir == tmp_path / "var"
    assert cfg.admins == ("@it:city-a.localhost",) and cfg.locale == "en"
    s = check(reg, tmp_path, {
        "pii": {"action": "redact", "kinds": {"phone": "off"}, "min_confidence": 1,
                "rooms": {ROOM: {"kinds": {"phone": "warn"}}, "!b:x": {"action": "off"}}},
        "screenshots": {"ocr": True, "threshold": 1, "max_megabytes": 1.5,
                        "kinds": {"screenshot": "off"}},
        "bots": {"enabled": False}})
    pii = s["pii"]
    assert pii.min_confidence == 1.0 and pii.actions.action_for("my_number", "!other:x") == "redact"
    assert pii.actions.action_for("phone", "!other:x") == "off" and pii.actions.action_for("phone", ROOM) == "warn"
    assert pii.actions.action_for("my_number", "!b:x") == "off"
    assert pii.actions.rooms[ROOM].action is None
    shots = s["screenshots"]
    assert shots.ocr and shots.max_bytes == int(1.5 * 1024 * 1024)
    assert shots.actions.action_for("screenshot", ROOM) == "off"
    assert shots.actions.action_for("pii_in_image", ROOM) == "warn"
    assert s["bots"]["enabled"] is False


def test_shipped_configs_are_valid(tmp_path, monkeypatch):
    from appservice.app.devstack.setup import ensure_yakuba_config

    monkeypatch.setenv("YAKUBA_AS_TOKEN", "env-as-token-123")
    monkeypatch.setenv("YAKUBA_HS_TOKEN", "env-hs-token-123")
    example = Path(__file__).resolve().parents[2] / "deploy" / "yakuba.example.yaml"
    cfg = config_from_dict(yaml.safe_load(example.read_text(encoding="utf-8")), example)
    validate(DEFAULT_FEATURES, cfg)
    path = tmp_path / "yakuba.yaml"
    ensure_yakuba_config(path, server_name="city-a.localhost", hs_url="http://127.0.0.1:8008", as_port=9009,
                         registration=tmp_path / "reg.yaml", data_dir=tmp_path / "data",
                         admins=["@admin:city-a.localhost"])
    cfg = config_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), path)
    assert validate(DEFAULT_FEATURES, cfg)["quiet_hours"].enabled


# -- the schema additions ------------------------------------------------------------------

def test_schema_additions():
    s = Schema("x", {
        "threshold": Number(0.5, gt=0, hi=1),
        "items": List(Int(), list, nonempty=True),
        "inner": Schema("inner", {"flag": Bool(True)}, required=True),
        "raw": Raw(),
        "name": Str(None),
    })
    v = s.validate({"inner": {}})
    assert v == {"threshold": 0.5, "items": [], "inner": {"flag": True}, "raw": {}, "name": None}
    assert s.validate({"inner": {}, "raw": {"any": [1]}, "threshold": 1})["raw"] == {"any": [1]}
    for raw, message in [({}, "x.inner: missing section"),
                         ({"inner": None}, "x.inner: missing section"),
                         ({"inner": {}, "threshold": 0}, "x.threshold: expected a number > 0 and ≤ 1, got 0"),
                         ({"inner": {}, "threshold": 1.5}, "x.threshold: expected a number > 0 and ≤ 1"),
                         ({"inner": {}, "items": []}, "x.items: expected a non-empty list, got []"),
                         ({"inner": {}, "items": [1, "2"]}, "x.items[1]: expected an integer"),
                         ({"inner": {}, "raw": [1]}, "x.raw: expected a mapping, got [1]"),
                         ({"inner": {"flg": 1}}, "x.inner.flg: unknown key (known: flag)")]:
        with pytest.raises(ConfigError) as exc:
            s.validate(raw)
        assert str(exc.value).startswith(message), exc.value
    with pytest.raises(ConfigError, match=r"^x\.threshold: expected a number"):
        s.validate({"inner": {}, "threshold": float("nan")})
