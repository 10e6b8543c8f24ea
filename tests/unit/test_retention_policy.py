"""ArchivePolicy is pure: flagged rooms → Effect("archive"); ciphertext → an audit row only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appservice.core.decisions import Audit, Effect
from appservice.core.events import parse_event
from appservice.core.policy import PolicyContext
from appservice.features.retention.policy import ArchivePolicy
from tests.unit.support import make_config, make_context

ROOM = "!flagged:city-a.localhost"
OTHER = "!other:city-a.localhost"


class FakeFlags:
    def __init__(self, rooms: set[str]) -> None:
        self.rooms = rooms
        self.calls = 0

    async def is_flagged(self, room_id: str) -> bool:
        self.calls += 1
        return room_id in self.rooms


class NoState:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the archive policy must not touch ctx.state.{name}")


@pytest.fixture
def ctx(tmp_path: Path) -> PolicyContext:
    return make_context(make_config(tmp_path), NoState())


def ev(etype: str, content: dict[str, Any], room: str = ROOM, *, decrypted: bool = False, **extra: Any):
    return parse_event({"event_id": "$e", "room_id": room, "type": etype, "sender": "@alice:city-a.localhost",
                        "origin_server_ts": 1, "content": content, **extra}, decrypted=decrypted)


async def test_flagged_room_message_becomes_archive_effect(ctx: PolicyContext) -> None:
    policy = ArchivePolicy(FakeFlags({ROOM}))  # type: ignore[arg-type]
    (d,) = await policy.evaluate(ev("m.room.message", {"msgtype": "m.text", "body": "x"}), ctx)
    assert isinstance(d, Effect) and d.kind == "archive"
    assert d.payload == {"room_id": ROOM, "kind": "message"}
    assert d.once_key is None  # a claim before a crash would lose the record; the store de-dups


async def test_unflagged_room_is_ignored(ctx: PolicyContext) -> None:
    policy = ArchivePolicy(FakeFlags({ROOM}))  # type: ignore[arg-type]
    assert await policy.evaluate(ev("m.room.message", {"msgtype": "m.text", "body": "x"}, OTHER), ctx) == []


async def test_ciphertext_is_audited_not_archived(ctx: PolicyContext) -> None:
    policy = ArchivePolicy(FakeFlags({ROOM}))  # type: ignore[arg-type]
    (d,) = await policy.evaluate(ev("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2"}), ctx)
    assert isinstance(d, Audit) and d.action == "archive_ciphertext_skipped"
    assert d.once_key == "archive_ciphertext:$e" and d.result == "skipped"


async def test_decrypted_event_is_archived(ctx: PolicyContext) -> None:
    policy = ArchivePolicy(FakeFlags({ROOM}))  # type: ignore[arg-type]
    (d,) = await policy.evaluate(ev("m.room.message", {"msgtype": "m.image", "body": "a.png"},
                                    decrypted=True), ctx)
    assert isinstance(d, Effect) and d.payload["kind"] == "media"


@pytest.mark.parametrize("etype,content,extra,kind", [
    ("m.room.message", {"msgtype": "m.notice", "body": "n"}, {}, "notice"),
    ("m.room.message", {"body": "* y", "m.new_content": {"body": "y"},
                        "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"}}, {}, "edit"),
    ("m.room.redaction", {"redacts": "$o"}, {}, "redaction"),
    ("m.room.member", {"membership": "join"}, {"state_key": "@bob:city-a.localhost"}, "membership"),
    ("m.reaction", {}, {}, None),
    ("m.room.power_levels", {}, {"state_key": ""}, None),
])
async def test_kinds(ctx: PolicyContext, etype: str, content: dict[str, Any], extra: dict[str, Any],
                     kind: str | None) -> None:
    policy = ArchivePolicy(FakeFlags({ROOM}))  # type: ignore[arg-type]
    out = await policy.evaluate(ev(etype, content, **extra), ctx)
    assert [d.payload["kind"] for d in out] == ([kind] if kind else [])  # type: ignore[attr-defined]
