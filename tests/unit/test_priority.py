"""One slow thing never stalls the rest: the inbox's priority lane (admin room, ✅ reactions,
"!yakuba" messages go first; arrival order otherwise), the drain re-querying when a command
arrives mid-flood, and admin notices aggregated per (room, sender) over a window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from appservice.core.clock import Clock
from appservice.core.db import Database
from appservice.core.decisions import AdminNotice, Decision, Message
from appservice.core.events import Event
from appservice.core.executor import Executor
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.pipeline import Pipeline
from appservice.core.policy import PolicyContext
from appservice.core.services import Services
from appservice.core.state import StateStore
from tests.unit.support import SERVER, make_config, make_context

BOTS = (f"@_yakuba:{SERVER}", f"@_yakuba_archive:{SERVER}")
ALICE = f"@alice:{SERVER}"
BOB = f"@bob:{SERVER}"
ADMIN = f"@admin:{SERVER}"
ROOM = f"!room:{SERVER}"
ADMIN_ROOM = f"!admin:{SERVER}"


def msg(event_id: str, body: str = "明日の会議", room: str = ROOM, sender: str = ALICE) -> dict[str, Any]:
    return {"event_id": event_id, "room_id": room, "type": "m.room.message", "sender": sender,
            "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body}}


def reaction(event_id: str, target: str) -> dict[str, Any]:
    return {"event_id": event_id, "room_id": ROOM, "type": "m.reaction", "sender": ALICE,
            "origin_server_ts": 1,
            "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "✅"}}}


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "y.db")
    await database.open()
    await StateStore(database).set("admin_room", ADMIN_ROOM)
    yield database
    database.close()


async def ids(inbox: Inbox, **kw: Any) -> list[str]:
    return [i.event.event_id for i in await inbox.next_batch(**kw)]


# -- ordering -------------------------------------------------------------------------------

async def test_priority_events_go_before_older_plain_events(db: Database) -> None:
    inbox = Inbox(db, BOTS)
    await inbox.put_transaction("t1", [msg("$a"), msg("$b"), msg("$c")])
    await inbox.put_transaction("t2", [msg("$admin", "こんにちは", room=ADMIN_ROOM), msg("$d"),
                                       reaction("$ok", "$warning"), msg("$cmd", "!yakuba help"),
                                       msg("$e")])
    assert await ids(inbox) == ["$admin", "$ok", "$cmd", "$a", "$b", "$c", "$d", "$e"]
    batch = await inbox.next_batch()
    assert [i.priority for i in batch] == [True] * 3 + [False] * 5
    # The baseline (and plain events among themselves) keep arrival order.
    assert await ids(inbox, priority=False) == ["$a", "$b", "$c", "$admin", "$d", "$ok", "$cmd", "$e"]
    assert await ids(inbox, limit=2) == ["$admin", "$ok"]


async def test_arrival_order_is_kept_without_priority_events(db: Database) -> None:
    inbox = Inbox(db, BOTS)
    await inbox.put_transaction("t1", [msg(f"$m{i}") for i in range(5)])
    await inbox.put_transaction("t2", [msg("$late")])
    assert await ids(inbox) == ["$m0", "$m1", "$m2", "$m3", "$m4", "$late"]
    assert not inbox.priority_waiting  # cleared by next_batch, plain events do not set it
    await inbox.put_transaction("t3", [msg("$x")])
    assert not inbox.priority_waiting
    await inbox.put_transaction("t4", [reaction("$r", "$x")])
    assert inbox.priority_waiting


async def test_a_decrypted_command_in_the_admin_room_jumps_the_queue(db: Database) -> None:
    """The admin room is encrypted: the ciphertext waits for the bot's plaintext (its seq is
    older than the flood), and the plaintext upgrade puts it in the priority lane."""
    inbox = Inbox(db, BOTS)
    join = {"event_id": "$j", "room_id": ADMIN_ROOM, "type": "m.room.member", "state_key": BOTS[0],
            "sender": BOTS[0], "origin_server_ts": 1, "content": {"membership": "join"}}
    cipher = {"event_id": "$c", "room_id": ADMIN_ROOM, "type": "m.room.encrypted", "sender": ADMIN,
              "origin_server_ts": 1, "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}}
    await inbox.put_transaction("t1", [join, cipher])
    assert await ids(inbox) == ["$j"]  # the ciphertext is awaiting_plaintext, not pending
    batch = await inbox.next_batch()
    await inbox.mark_done(batch[0].seq)
    await inbox.put_transaction("t2", [msg(f"$f{i}") for i in range(3)])
    await inbox.next_batch()
    assert not inbox.priority_waiting
    assert await inbox.put_decrypted({**msg("$c", "!yakuba status", room=ADMIN_ROOM, sender=ADMIN)})
    assert inbox.priority_waiting
    first = (await inbox.next_batch())[0]
    assert first.event.event_id == "$c" and first.event.decrypted and first.priority


class Recorder:
    """A policy that records the order events run in; on `trigger` it delivers a command."""

    name = "recorder"

    def __init__(self, inbox: Inbox, trigger: str) -> None:
        self.inbox, self.trigger, self.order = inbox, trigger, list[str]()

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        self.order.append(event.event_id)
        if event.event_id == self.trigger:
            await self.inbox.put_transaction("cmd", [msg("$cmd", "!yakuba status", room=ADMIN_ROOM,
                                                         sender=ADMIN)])
        return []


async def pipeline_with(tmp_path: Path, db: Database, *, lane: bool) -> tuple[Pipeline, Recorder]:
    inbox = Inbox(db, BOTS)
    config = make_config(tmp_path, data_dir=str(tmp_path / "data"))
    services = Services(config, Clock(), None, StateStore(db), inbox, Metrics(), None)  # type: ignore[arg-type]
    recorder = Recorder(inbox, trigger="$f1")

    async def context() -> PolicyContext:
        return make_context(config, StateStore(db), admin_room=ADMIN_ROOM)

    return Pipeline(inbox, [recorder], Executor(services), context, services.metrics,
                    priority_lane=lane), recorder


async def test_a_command_arriving_mid_flood_runs_after_the_event_in_hand(tmp_path: Path, db: Database) -> None:
    pipeline, recorder = await pipeline_with(tmp_path, db, lane=True)
    await pipeline.inbox.put_transaction("flood", [msg(f"$f{i}", "マイナンバー") for i in range(6)])
    assert await pipeline.drain() == 7
    assert recorder.order == ["$f0", "$f1", "$cmd", "$f2", "$f3", "$f4", "$f5"]


async def test_without_the_lane_the_command_waits_behind_the_flood(tmp_path: Path, db: Database) -> None:
    pipeline, recorder = await pipeline_with(tmp_path, db, lane=False)
    await pipeline.inbox.put_transaction("flood", [msg(f"$f{i}") for i in range(6)])
    assert await pipeline.drain() == 7
    assert recorder.order == ["$f0", "$f1", "$f2", "$f3", "$f4", "$f5", "$cmd"]


# -- aggregation of admin notices -----------------------------------------------------------

class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, *,
                   as_user: str | None = None, event_type: str = "m.room.message") -> str:
        self.sent.append((room_id, content["body"]))
        return f"$sent{len(self.sent)}"


class Tick:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(event_id: str, sender: str = ALICE, room: str = ROOM) -> Event:
    return Event(event_id=event_id, room_id=room, sender=sender, type="m.room.message",
                 origin_server_ts=0, content={"msgtype": "m.text", "body": "x"})


def admin_notice(text: str) -> AdminNotice:
    return AdminNotice(message=Message("core.raw_text", {"text": text}))


@pytest.fixture
async def agg(tmp_path: Path, db: Database) -> tuple[Executor, FakeSender, Tick]:
    config = make_config(tmp_path, data_dir=str(tmp_path / "data"))
    sender = FakeSender()
    services = Services(config, Clock(), None, StateStore(db), Inbox(db, BOTS), Metrics(),  # type: ignore[arg-type]
                        sender)  # type: ignore[arg-type]
    executor = Executor(services, notice_window_s=30.0)
    tick = Tick()
    executor.monotonic = tick
    return executor, sender, tick


async def test_three_notices_in_a_window_send_one_and_a_summary(agg: tuple[Executor, FakeSender, Tick]) -> None:
    executor, sender, tick = agg
    for i in range(3):
        await executor.perform([admin_notice(f"n{i}")], event(f"$e{i}"), "pii")
        tick.now += 1
    await executor.perform([admin_notice("n1 again")], event("$e1"), "pii")  # a replay: not counted twice
    assert sender.sent == [(ADMIN_ROOM, "n0")]
    assert await executor.flush_notices() == 0  # the window is still open
    tick.now += 30
    assert await executor.flush_notices() == 1
    assert sender.sent[1:] == [(ADMIN_ROOM, "同じ送信者・ルームからさらに 2 件の通知があります（詳細は監査ログ）")]
    tick.now += 31
    assert await executor.flush_notices() == 0  # nothing held: the window is dropped
    await executor.perform([admin_notice("later")], event("$e9"), "pii")
    assert sender.sent[-1] == (ADMIN_ROOM, "later")


async def test_a_different_sender_or_a_command_is_not_merged(agg: tuple[Executor, FakeSender, Tick]) -> None:
    executor, sender, _ = agg
    await executor.perform([admin_notice("alice")], event("$a1"), "pii")
    await executor.perform([admin_notice("bob")], event("$b1", sender=BOB), "pii")
    await executor.perform([admin_notice("alice elsewhere")], event("$a2", room=f"!other:{SERVER}"), "pii")
    await executor.perform([admin_notice("alice again")], event("$a3"), "pii")
    await executor.perform([admin_notice("reply")], event("$c1"), "command:lock")
    assert [b for _, b in sender.sent] == ["alice", "bob", "alice elsewhere", "reply"]
    assert await executor.flush_notices(force=True) == 1
    assert "1" in sender.sent[-1][1]


async def test_aggregation_off_sends_every_notice(agg: tuple[Executor, FakeSender, Tick]) -> None:
    executor, sender, _ = agg
    executor.aggregate_notices = False
    for i in range(3):
        await executor.perform([admin_notice(f"n{i}")], event(f"$e{i}"), "pii")
    assert [b for _, b in sender.sent] == ["n0", "n1", "n2"]
    assert await executor.flush_notices(force=True) == 0
