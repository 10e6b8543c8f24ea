"""The configuration as the running service sees it: the core settings, typed, and each
feature's section as the raw mapping that feature validates (its declaration's `settings`).
Loading and validating yakuba.yaml is the application's job: appservice/app/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appservice.core.formatting import Presentation


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
class Partner:
    """A partner municipality's homeserver (`federation.partners` in yakuba.yaml).

    `server` is the full server name as in user ids (port included when it has one);
    `name` is how staff know it (城南町); `address` is where `yakuba federation check` reaches
    the partner directly when the server name alone does not say it (host:port)."""
    server: str
    name: str
    name_en: str = ""
    tls_verify: bool = True
    address: str = ""
    trust_disaster: bool = False

    def label(self, locale: str = "ja") -> str:
        return (self.name_en or self.name) if locale == "en" else self.name


@dataclass(frozen=True)
class FederationConfig:
    partners: tuple[Partner, ...] = ()
    synapse_config: Path | None = None   # Synapse's homeserver.yaml, for `yakuba federation check`
    ca_file: Path | None = None          # a private CA for partners' certificates (closed networks)

    def partner(self, server: str) -> Partner | None:
        return next((p for p in self.partners if p.server == server), None)

    @property
    def servers(self) -> tuple[str, ...]:
        return tuple(p.server for p in self.partners)


def server_of(user_id: str) -> str:
    """The server part of a user id: everything after the first colon (ports included)."""
    _, _, server = user_id.partition(":")
    return server


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
    federation: FederationConfig = field(default_factory=FederationConfig)
    presentation: Presentation = field(default_factory=Presentation)  # links, bot name (links:, bot:)

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
        # The whole server part must match: "@x:city-a.example:8448" is not local to
        # "city-a.example", and "@x:evil-city-a.example" is not either.
        return server_of(user_id) == self.homeserver.server_name

    def partner_of(self, user_id: str) -> Partner | None:
        """The partner municipality a remote user belongs to (None: local, or not a partner)."""
        return None if self.is_local(user_id) else self.federation.partner(server_of(user_id))

    def feature(self, name: str) -> dict[str, Any]:
        return self.features.get(name) or {}
