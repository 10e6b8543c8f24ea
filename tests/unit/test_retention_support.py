"""Shared harness for the retention unit tests (no tests here): a real yakuba.db, a real
ArchiveStore in tmp_path, and a fake Matrix client that records what was asked of Synapse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import structlog

from appservice.app.config import config_from_dict
from appservice.core.clock import Clock
from appservice.core.db import Database
from appservice.core.events import Event, parse_event
from appservice.core.executor import Executor
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.services import Services
from appservice.core.state import StateStore
from appservice.features.retention.config import RetentionSettings
from appservice.features.retention.runtime import Retention
from appservice.features.retention.tables import TABLES as RETENTION_TABLES
from appservice.features.retention.tables import RetentionTables
from appservice.lib.archive import Directory, ensure_signing_key
from appservice.matrix.client import MatrixError
from appservice.matrix.sender import Sender


@pytest.fixture(autouse=True)
def fresh_logging():
    """Another test may have pointed structlog at a captured (now closed) stream; start clean."""
    structlog.reset_defaults()
    yield


SERVER = "city-a.localhost"
ALICE = f"@alice:{SERVER}"
BOB = f"@bob:{SERVER}"
ADMIN = f"@admin:{SERVER}"
BOT = f"@_yakuba:{SERVER}"
ARCHIVE_BOT = f"@_yakuba_archive:{SERVER}"
ROOM = f"!room:{SERVER}"
ADMIN_ROOM = f"!admin:{SERVER}"
TS = 1_763_700_000_000


def room_state(room: str = ROOM, *, members: dict[str, str] | None = None, pl_users: dict[str, int] | None = None,
               creator: str = ALICE, encrypted: bool = False, name: str | None = "総務課連絡",
               version: str = "10") -> list[dict[str, Any]]:
    members = members if members is not None else {ALICE: "有栖", BOB: "坊"}
    state: list[dict[str, Any]] = [
        {"type": "m.room.create", "state_key": "", "sender": creator, "content": {"room_version": version}},
        {"type": "m.room.power_levels", "state_key": "", "sender": creator,
         "content": {"users": pl_users if pl_users is not None else {creator: 100}, "state_default": 50,
                     "invite": 0}},
    ]
    if name:
        state.append({"type": "m.room.name", "state_key": "", "sender": creator, "content": {"name": name}})
    if encrypted:
        state.append({"type": "m.room.encryption", "state_key": "", "sender": creator,
                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
    for user, display in members.items():
        state.append({"type": "m.room.member", "state_key": user, "sender": user,
                      "content": {"membership": "join", "displayname": display}})
    return state


class FakeClient:
    def __init__(self) -> None:
        self.sender = BOT
        self.as_sender = f"@_yakuba_appservice:{SERVER}"
        self.calls: list[tuple[Any, ...]] = []
        self.states: dict[str, list[dict[str, Any]]] = {}
        self.fail_state = False
        self._n = 0

    def _id(self, prefix: str = "$") -> str:
        self._n += 1
        return f"{prefix}fake{self._n}"

    async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("request", method, path))
        if path.startswith("/_synapse/admin/v1/rooms/") and path.endswith("/state"):
            room = unquote(path.split("/")[5])
            if room not in self.states:
                raise MatrixError(404, "M_NOT_FOUND", "no room", method, path)
            return {"state": self.states[room]}
        if path.startswith("/_matrix/client/v3/directory/room/"):
            return {"room_id": ROOM}
        raise MatrixError(404, "M_UNRECOGNIZED", "fake", method, path)

    async def put_state(self, room_id: str, event_type: str, content: dict[str, Any], state_key: str = "",
                        as_user: str | None = None) -> str:
        if self.fail_state:
            raise MatrixError(403, "M_FORBIDDEN", "no power", "PUT", "/state")
        self.calls.append(("put_state", room_id, event_type, dict(content), as_user))
        return self._id()

    async def invite(self, room_id: str, user_id: str, as_user: str | None = None) -> None:
        self.calls.append(("invite", room_id, user_id, as_user))

    async def join(self, room_id: str, as_user: str | None = None) -> None:
        self.calls.append(("join", room_id, as_user))

    async def leave(self, room_id: str, as_user: str | None = None) -> None:
        self.calls.append(("leave", room_id, as_user))

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str,
                   as_user: str | None = None) -> str:
        self.calls.append(("send", room_id, event_type, dict(content), as_user))
        return self._id()

    async def create_room(self, content: dict[str, Any], as_user: str | None = None) -> str:
        self.calls.append(("create_room", content.get("invite")))
        return self._id("!dm")

    def sent(self, room_id: str | None = None) -> list[dict[str, Any]]:
        return [c[3] for c in self.calls if c[0] == "send" and (room_id is None or c[1] == room_id)]

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == kind]


@dataclass
class Harness:
    services: Services
    client: FakeClient
    rt: Retention
    db: Database
    tmp: Path

    async def close(self) -> None:
        await self.rt.close()
        self.db.close()

    def records(self, room: str = ROOM) -> list[dict[str, Any]]:
        return list(self.rt.store.read(room))


def staff_csv(tmp: Path) -> Path:
    path = tmp / "staff.csv"
    path.write_text("user_id,表示名,所属,役職\n"
                    f"{ALICE},有栖 花子,総務部 総務課,主事\n{BOB},坊 太郎,企画部 情報政策課,係長\n",
                    encoding="utf-8")
    return path


async def harness(tmp: Path, **retention: Any) -> Harness:
    reg = tmp / "reg.yaml"
    reg.write_text("as_token: aaaaaaaaaaaa\nhs_token: hhhhhhhhhhhh\n")
    section = {"enabled": True, "directory": str(staff_csv(tmp)), **retention}
    cfg = config_from_dict({"homeserver": {"url": "http://x", "server_name": SERVER},
                            "appservice": {"registration": str(reg)}, "data_dir": str(tmp / "data"),
                            "admins": [ADMIN], "retention": section}, tmp / "yakuba.yaml")
    db = Database(cfg.db_path, (RETENTION_TABLES,))
    await db.open()
    state = StateStore(db)
    await state.set("admin_room", ADMIN_ROOM)
    await state.note_room(ADMIN_ROOM, encrypted=False)
    client = FakeClient()
    sender = Sender(client, state)  # type: ignore[arg-type]
    services = Services(cfg, Clock(), client, state, Inbox(db, cfg.bot_user_ids), Metrics(), sender)  # type: ignore[arg-type]
    settings = RetentionSettings.from_config(cfg)
    ensure_signing_key(settings.key_path)
    rt = Retention(Executor(services), settings, settings.make_store(), RetentionTables(db),
                   Directory.load(settings.directory) if settings.directory else None)
    return Harness(services, client, rt, db, tmp)


def event(etype: str = "m.room.message", content: dict[str, Any] | None = None, *, sender: str = ALICE,
          event_id: str = "$e1", room: str = ROOM, ts: int = TS, decrypted: bool = False,
          **extra: Any) -> Event:
    raw = {"event_id": event_id, "room_id": room, "type": etype, "sender": sender, "origin_server_ts": ts,
           "content": content if content is not None else {"msgtype": "m.text", "body": "本文"}, **extra}
    return parse_event(raw, decrypted=decrypted)


def raw_of(ev: Event) -> dict[str, Any]:
    raw = {"event_id": ev.event_id, "room_id": ev.room_id, "type": ev.type, "sender": ev.sender,
           "origin_server_ts": ev.origin_server_ts, "content": ev.content}
    if ev.state_key is not None:
        raw["state_key"] = ev.state_key
    return raw
