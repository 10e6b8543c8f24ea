"""[trust] Inputs: what Yakuba reads from files it does not own must not leak or crash it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from appservice.app.config import load_registration_tokens
from appservice.core.configerror import ConfigError

TOKEN = "as_SECRET_TOKEN_0123456789abcdef"
HS_TOKEN = "hs_SECRET_TOKEN_fedcba9876543210"


BROKEN = {
    # PyYAML's message quotes the line of the error (and of its context), token included.
    "colon": f"id: yakuba\nas_token: {TOKEN}: x\nhs_token: {HS_TOKEN}\n",
    "quote": f"id: yakuba\nhs_token: {HS_TOKEN}\nas_token: \"{TOKEN}\n",
    "alias": f"id: yakuba\nhs_token: {HS_TOKEN}\nas_token: *{TOKEN}\n",
}


def broken_registration(tmp_path: Path, kind: str = "colon") -> Path:
    reg = tmp_path / "registration.yaml"
    reg.write_text(BROKEN[kind], encoding="utf-8")
    return reg


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_registration_syntax_error_names_position_not_the_secret(tmp_path, monkeypatch, kind):
    monkeypatch.delenv("YAKUBA_AS_TOKEN", raising=False)
    monkeypatch.delenv("YAKUBA_HS_TOKEN", raising=False)
    with pytest.raises(ConfigError) as info:
        load_registration_tokens(broken_registration(tmp_path, kind))
    message = str(info.value)
    assert TOKEN not in message and HS_TOKEN not in message
    assert "SECRET" not in message
    assert message.startswith("appservice.registration: not valid YAML")
    assert "line " in message and "column " in message
    if kind == "colon":
        assert "line 2, column 43" in message and "mapping values are not allowed here" in message
    # The YAMLError (which quotes the file) is not chained either: a traceback would print it.
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_yakuba_run_does_not_echo_the_registration(tmp_path):
    broken_registration(tmp_path)
    cfg = tmp_path / "yakuba.yaml"
    cfg.write_text(yaml.safe_dump({"homeserver": {"url": "http://127.0.0.1:9", "server_name": "city-a.localhost"},
                                   "appservice": {"registration": "registration.yaml"}, "data_dir": "."}))
    env = {k: v for k, v in os.environ.items() if k not in ("YAKUBA_AS_TOKEN", "YAKUBA_HS_TOKEN")}
    out = subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(cfg), "run"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2, out.stderr
    assert "appservice.registration: not valid YAML" in out.stderr
    assert "SECRET" not in out.stderr and "SECRET" not in out.stdout
