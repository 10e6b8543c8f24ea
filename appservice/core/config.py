"""The configuration as the running service sees it: the core settings, typed, and each
feature's section as the raw mapping that feature validates (its declaration's `settings`).
Loading and validating yakuba.yaml is the application's job: appservice/app/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class HomeserverConfig:
    url: str
    server_name: str


@dataclass(frozen=True)
class AppserviceConfig:
    id: str
    bind: str
    port: int
    registration: Path
    sender_localpart: str   # the registration's sender: technical, never syncs, never in rooms
    bot_localpart: str      # the visible bot (@_yakuba): notices, DMs, admin room, E2EE device
    archive_localpart: str
    as_token: str = field(repr=False)
    hs_token: str = field(repr=False)


@dataclass(frozen=True)
class Config:
    path: Path | None
    homeserver: HomeserverConfig
    appservice: AppserviceConfig
    data_dir: Path
    locale: str
    admins: tuple[str, ...]
    admin_room_encrypted: bool
    log_format: str
    log_level: str
    clock_file: Path | None
    features: dict[str, dict[str, Any]]

    @property
    def sender(self) -> str:
        """The bot that speaks for Yakuba (@_yakuba). Synapse refuses /sync for an appservice's
        own sender user, and an E2EE device needs /sync, so the bot is a namespace user and the
        registration's sender (`as_user_id`) is a separate, silent technical account."""
        return f"@{self.appservice.bot_localpart}:{self.homeserver.server_name}"

    @property
    def as_user_id(self) -> str:
        return f"@{self.appservice.sender_localpart}:{self.homeserver.server_name}"

    @property
    def archive_bot(self) -> str:
        return f"@{self.appservice.archive_localpart}:{self.homeserver.server_name}"

    @property
    def bot_user_ids(self) -> tuple[str, ...]:
        return (self.sender, self.archive_bot, self.as_user_id)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "yakuba.db"

    def is_local(self, user_id: str) -> bool:
        return user_id.endswith(":" + self.homeserver.server_name)

    def feature(self, name: str) -> dict[str, Any]:
        return self.features.get(name) or {}
