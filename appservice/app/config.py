"""Loading yakuba.yaml: read once at start, validated, every error names its key.

The core sections (homeserver, appservice, data_dir, locale, admins, admin_room, logging,
testing) are validated here; every other top-level key must be the section of a declared
feature (appservice/app/assembly.py) and is validated by that feature. Unknown keys are an
error: a typo must not silently switch a rule off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from appservice.core.config import AppserviceConfig, Config, HomeserverConfig
from appservice.core.configerror import ConfigError

_USER_ID = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")
CORE_SECTIONS = ("homeserver", "appservice", "data_dir", "locale", "admins", "admin_room", "logging", "testing")


# -- small typed getters: each raises ConfigError with the full path -------------------------

def _section(data: dict[str, Any], key: str, path: str, required: bool = True) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{path}{key}", "missing section")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}{key}", f"expected a mapping, got {type(value).__name__}")
    return value


def _str(data: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None:
        raise ConfigError(f"{path}{key}", "missing (a string is required)")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}{key}", f"expected a non-empty string, got {value!r}")
    return value


def _int(data: dict[str, Any], key: str, path: str, default: int, lo: int, hi: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{path}{key}", f"expected an integer {lo}..{hi}, got {value!r}")
    return value


def _bool(data: dict[str, Any], key: str, path: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}{key}", f"expected true or false, got {value!r}")
    return value


def _choice(data: dict[str, Any], key: str, path: str, default: str, options: tuple[str, ...]) -> str:
    value = data.get(key, default)
    if value not in options:
        raise ConfigError(f"{path}{key}", f"expected one of {', '.join(options)}, got {value!r}")
    return value


def _resolve(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p)


def load_registration_tokens(path: Path) -> tuple[str, str]:
    """as_token and hs_token from the registration file Synapse also reads (one source of truth).

    YAKUBA_AS_TOKEN / YAKUBA_HS_TOKEN override it, for deployments that inject secrets."""
    env_as, env_hs = os.environ.get("YAKUBA_AS_TOKEN"), os.environ.get("YAKUBA_HS_TOKEN")
    if env_as and env_hs:
        return env_as, env_hs
    try:
        reg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError("appservice.registration", f"file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError("appservice.registration", f"not valid YAML: {exc}") from exc
    if not isinstance(reg, dict):
        raise ConfigError("appservice.registration", "expected a mapping in the registration file")
    as_token = env_as or reg.get("as_token")
    hs_token = env_hs or reg.get("hs_token")
    if not isinstance(as_token, str) or not isinstance(hs_token, str):
        raise ConfigError("appservice.registration", "as_token and hs_token must be strings")
    return as_token, hs_token


def feature_sections() -> tuple[str, ...]:
    from appservice.app.assembly import DEFAULT_FEATURES

    return tuple(f.section for f in DEFAULT_FEATURES if f.section)


def config_from_dict(data: Any, path: Path | None = None, *,
                     sections: Collection[str] | None = None) -> Config:
    """sections: the feature sections that may appear (default: those of the default features)."""
    if not isinstance(data, dict):
        raise ConfigError("(top)", "expected a mapping")
    feature_names = tuple(sections) if sections is not None else feature_sections()
    known_top = {*CORE_SECTIONS, *feature_names}
    unknown = sorted(set(data) - known_top)
    if unknown:
        raise ConfigError(unknown[0], f"unknown key (known: {', '.join(sorted(known_top))})")
    base = path.parent if path else Path.cwd()

    hs = _section(data, "homeserver", "")
    server_name = _str(hs, "server_name", "homeserver.")
    homeserver = HomeserverConfig(url=_str(hs, "url", "homeserver.").rstrip("/"),
                                  server_name=server_name)

    asec = _section(data, "appservice", "")
    registration = _resolve(base, _str(asec, "registration", "appservice.", "registration.yaml"))
    as_token, hs_token = load_registration_tokens(registration)
    appservice = AppserviceConfig(
        id=_str(asec, "id", "appservice.", "yakuba"),
        bind=_str(asec, "bind", "appservice.", "127.0.0.1"),
        port=_int(asec, "port", "appservice.", 9009, 1, 65535),
        registration=registration,
        sender_localpart=_str(asec, "sender_localpart", "appservice.", "_yakuba_appservice"),
        bot_localpart=_str(asec, "bot_localpart", "appservice.", "_yakuba"),
        archive_localpart=_str(asec, "archive_localpart", "appservice.", "_yakuba_archive"),
        as_token=as_token,
        hs_token=hs_token,
    )

    admins = data.get("admins", []) or []
    if not isinstance(admins, list):
        raise ConfigError("admins", "expected a list of user ids")
    for i, user in enumerate(admins):
        if not isinstance(user, str) or not _USER_ID.match(user):
            raise ConfigError(f"admins[{i}]", f"expected a user id like @name:{server_name}, got {user!r}")

    logging_sec = _section(data, "logging", "", required=False)
    room_sec = _section(data, "admin_room", "", required=False)
    testing = _section(data, "testing", "", required=False)
    clock_file = testing.get("clock_file")

    features: dict[str, dict[str, Any]] = {}
    for name in feature_names:
        features[name] = _section(data, name, "", required=False)

    return Config(
        path=path,
        homeserver=homeserver,
        appservice=appservice,
        data_dir=_resolve(base, _str(data, "data_dir", "", ".")),
        locale=_choice(data, "locale", "", "ja", ("ja", "en")),
        admins=tuple(admins),
        admin_room_encrypted=_bool(room_sec, "encrypted", "admin_room.", True),
        log_format=_choice(logging_sec, "format", "logging.", "console", ("console", "json")),
        log_level=_choice(logging_sec, "level", "logging.", "info",
                          ("debug", "info", "warning", "error")),
        clock_file=_resolve(base, clock_file) if isinstance(clock_file, str) else None,
        features=features,
    )


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "config file not found (run `make run` once to create it)") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not valid YAML: {exc}") from exc
    return config_from_dict(data, path.resolve())
