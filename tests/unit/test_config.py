"""yakuba.yaml validation: every error names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appservice.app.config import config_from_dict, load_config
from appservice.core.configerror import ConfigError


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    path = tmp_path / "registration.yaml"
    path.write_text(yaml.safe_dump({"as_token": "a" * 20, "hs_token": "h" * 20}))
    return path


def base(reg: Path, **extra) -> dict:
    return {"homeserver": {"url": "http://127.0.0.1:8008/", "server_name": "city-a.localhost"},
            "appservice": {"registration": str(reg)}, **extra}


def test_defaults(reg, tmp_path):
    cfg = config_from_dict(base(reg), tmp_path / "y.yaml")
    assert cfg.homeserver.url == "http://127.0.0.1:8008"
    assert cfg.sender == "@_yakuba:city-a.localhost"
    assert cfg.as_user_id == "@_yakuba_appservice:city-a.localhost"
    assert cfg.appservice.port == 9009 and cfg.locale == "ja" and cfg.admin_room_encrypted
    assert "a" * 20 not in repr(cfg.appservice)  # tokens stay out of reprs (and so out of logs)


@pytest.mark.parametrize(("patch", "message"), [
    ({"homeserver": {"url": "http://x"}}, r"^homeserver\.server_name: missing"),
    ({"locale": "fr"}, r"^locale: expected one of ja, en, got 'fr'"),
    ({"admins": ["alice"]}, r"^admins\[0\]: expected a user id"),
    ({"appservice": {"port": 70000}}, r"^appservice\.port: expected an integer 1\.\.65535"),
    ({"quiet_hourz": {}}, r"^quiet_hourz: unknown key"),
    ({"admin_room": {"encrypted": "yes"}}, r"^admin_room\.encrypted: expected true or false"),
    ({"logging": {"format": "xml"}}, r"^logging\.format: expected one of console, json"),
    ({"pii": []}, r"^pii: expected a mapping"),
])
def test_errors_name_the_key(reg, tmp_path, patch, message):
    data = base(reg)
    for key, value in patch.items():
        data[key] = {**data[key], **value} if key == "appservice" else value
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data, tmp_path / "y.yaml")


def test_missing_registration_and_env_override(reg, tmp_path, monkeypatch):
    data = base(reg)
    data["appservice"]["registration"] = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"^appservice\.registration: file not found"):
        config_from_dict(data, tmp_path / "y.yaml")
    monkeypatch.setenv("YAKUBA_AS_TOKEN", "env-as-token-123")
    monkeypatch.setenv("YAKUBA_HS_TOKEN", "env-hs-token-123")
    cfg = config_from_dict(data, tmp_path / "y.yaml")
    assert cfg.appservice.as_token == "env-as-token-123"


def test_load_config_reports_bad_yaml(tmp_path):
    path = tmp_path / "y.yaml"
    path.write_text("homeserver: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
