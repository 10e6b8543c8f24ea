"""Shared builders for unit tests: a valid Config and a PolicyContext without Synapse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appservice.app.config import config_from_dict
from appservice.core.config import Config
from appservice.core.policy import PolicyContext

SERVER = "city-a.localhost"


def make_config(tmp_path: Path, **sections: Any) -> Config:
    reg = tmp_path / "reg.yaml"
    reg.write_text("as_token: aaaaaaaaaaaa\nhs_token: hhhhhhhhhhhh\n")
    data = {"homeserver": {"url": "http://x", "server_name": SERVER},
            "appservice": {"registration": str(reg)}, **sections}
    return config_from_dict(data, tmp_path / "y.yaml")


def make_context(config: Config, state: Any, *, admins: frozenset[str] = frozenset(),
                 admin_room: str | None = "!admin:x", now: datetime | None = None) -> PolicyContext:
    return PolicyContext(config=config, now=now or datetime.now(UTC), admins=admins, admin_room=admin_room,
                         state=state)
