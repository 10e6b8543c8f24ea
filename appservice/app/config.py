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

from appservice.app.presentation import PRESENTATION, presentation_from
from appservice.core.config import (
    AppserviceConfig,
    Config,
    FederationConfig,
    HomeserverConfig,
    Partner,
    server_of,
)
from appservice.core.configerror import ConfigError
from appservice.core.schema import Bool, Choice, Custom, Int, List, Raw, Schema, Str

_USER_ID = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")


def _resolve(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else (base / p)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, without the file's text: line/column from the mark, and the problem
    with any quoted fragment longer than a character or two (an alias, a tag: the file's
    words) left out."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    what = " ".join(str(x) for x in (context, problem) if x) or type(exc).__name__
    what = _QUOTED.sub(lambda m: m.group(0) if len(m.group(0)) <= 6 else "'…'", what)
    if mark is None:
        return what
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}"


_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


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
        # Never echo a secrets file: PyYAML's message quotes the lines around the error (the
        # as_token with them), so only the position and the problem are kept, unchained.
        raise ConfigError("appservice.registration", f"not valid YAML: {_yaml_problem(exc)}") from None
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


def _admin(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _USER_ID.match(value):
        raise ConfigError(path, f"expected a user id like @name:server, got {value!r}")
    return value


HOMESERVER = Schema("homeserver", {
    "url": Str(),               # Synapse's client listener as seen from Yakuba
    "server_name": Str(),
}, required=True)

APPSERVICE = Schema("appservice", {
    "id": Str("yakuba"),
    "bind": Str("127.0.0.1"),
    "port": Int(9009, lo=1, hi=65535),
    "registration": Str("registration.yaml"),  # as_token / hs_token are read from this file
    "sender_localpart": Str("_yakuba_appservice"),
    "bot_localpart": Str("_yakuba"),
    "archive_localpart": Str("_yakuba_archive"),
}, required=True)

# A server name as in user ids: host (DNS name, IPv4, [IPv6]) and an optional port.
_SERVER_NAME = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)(:[0-9]{1,5})?$")


def _server_name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not _SERVER_NAME.match(value) or len(value) > 255:
        raise ConfigError(path, f"expected a server name like city-b.example.jp or city-b.example.jp:8448, "
                                f"got {value!r}"[:300])
    return value


def _address(value: Any, path: str) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$", value):
        raise ConfigError(path, f"expected host:port, got {value!r}"[:300])
    return value


PARTNER = Schema("partner", {
    "server": Custom(_server_name),
    "name": Str(),             # how staff know it: 城南町
    "name_en": Str(""),
    "tls_verify": Bool(True),  # false only for a test network with self-signed certificates
    "address": Custom(_address, ""),
    "trust_disaster": Bool(False),
})

FEDERATION = Schema("federation", {
    "partners": List(PARTNER, list),
    "synapse_config": Str(None),
    "ca_file": Str(None),
})

CORE = {
    "homeserver": HOMESERVER,
    "appservice": APPSERVICE,
    "data_dir": Str("."),
    "locale": Choice("ja", ("ja", "en")),
    "admins": List(Custom(_admin), list),
    "admin_room": Schema("admin_room", {"encrypted": Bool(True)}),
    "logging": Schema("logging", {
        "format": Choice("console", ("console", "json")),
        "level": Choice("info", ("debug", "info", "warning", "error")),
    }),
    "federation": FEDERATION,
    **PRESENTATION,
    "testing": Schema("testing", {
        # An ISO datetime in this file is the service's clock (appservice/core/clock.py).
        "clock_file": Str(None),
    }),
}
CORE_SECTIONS = tuple(CORE)


def config_from_dict(data: Any, path: Path | None = None, *,
                     sections: Collection[str] | None = None) -> Config:
    """sections: the feature sections that may appear (default: those of the default features).
    A feature's section is only checked to be a mapping here; the feature validates it."""
    if not isinstance(data, dict):
        raise ConfigError("(top)", "expected a mapping")
    feature_names = tuple(sections) if sections is not None else feature_sections()
    top = Schema("", {**CORE, **{name: Raw() for name in feature_names if name not in CORE}})
    v = top.check(data, "")
    base = path.parent if path else Path.cwd()

    hs, asec = v["homeserver"], v["appservice"]
    registration = _resolve(base, asec["registration"])
    as_token, hs_token = load_registration_tokens(registration)
    appservice = AppserviceConfig(
        id=asec["id"], bind=asec["bind"], port=asec["port"], registration=registration,
        sender_localpart=asec["sender_localpart"], bot_localpart=asec["bot_localpart"],
        archive_localpart=asec["archive_localpart"], as_token=as_token, hs_token=hs_token)
    clock_file = v["testing"]["clock_file"]
    server_name = hs["server_name"]
    for i, admin in enumerate(v["admins"]):
        # Another homeserver is another organisation: its users are never Yakuba admins here.
        if server_of(admin) != server_name:
            raise ConfigError(f"admins[{i}]", f"{admin} is not a user of this homeserver ({server_name})")
    federation = _federation(v["federation"], base, server_name)
    return Config(
        path=path,
        homeserver=HomeserverConfig(url=hs["url"].rstrip("/"), server_name=hs["server_name"]),
        appservice=appservice,
        data_dir=_resolve(base, v["data_dir"]),
        locale=v["locale"],
        admins=tuple(v["admins"]),
        admin_room_encrypted=v["admin_room"]["encrypted"],
        log_format=v["logging"]["format"],
        log_level=v["logging"]["level"],
        clock_file=_resolve(base, clock_file) if clock_file is not None else None,
        features={name: v[name] for name in feature_names if name not in CORE},
        federation=federation,
        presentation=presentation_from(v, base),
    )


def _federation(sec: dict[str, Any], base: Path, own: str) -> FederationConfig:
    partners: list[Partner] = []
    for i, p in enumerate(sec["partners"]):
        if p["server"] == own:
            raise ConfigError(f"federation.partners[{i}].server", f"{own} is this homeserver, not a partner")
        if any(q.server == p["server"] for q in partners):
            raise ConfigError(f"federation.partners[{i}].server", f"{p['server']} is listed twice")
        if not p["name"].strip():
            raise ConfigError(f"federation.partners[{i}].name", "a name staff know the partner by is needed")
        partners.append(Partner(**p))
    return FederationConfig(
        partners=tuple(partners),
        synapse_config=_resolve(base, sec["synapse_config"]) if sec["synapse_config"] else None,
        ca_file=_resolve(base, sec["ca_file"]) if sec["ca_file"] else None)


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
