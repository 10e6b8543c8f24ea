"""Pipeline without Synapse: a real inbox in tmp_path, policies written here, the real Executor
with a fake sender."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appservice.core.clock import Clock
from appservice.core.db import Database
from appservice.core.decisions import Audit, Decision, Message, Notice
from appservice.core.events import Event
from appservice.core.executor import Executor
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.pipeline import Pipeline
from appservice.core.policy import Policy, PolicyContext
from appservice.core.services import Services
from appservice.core.state import StateStore
from tests.unit.support import SERVER, make_config, make_context

ALICE = f"@alice:{SERVER}"
ROOM = f"!room:{SERVER}"


class FakeSender:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, **_: Any) -> str:
        self.bodies.append(content["body"])
        return f"$sent{len(self.bodies)}"


class FnPolicy:
    """A policy from a function (event, ctx) → decisions; records the events it saw."""

    def __init__(self, name: str, fn: Callable[[Event], Sequence[Decision]] | None = None) -> None:
        self.name = name
        self.fn = fn or (lambda ev: [])
        self.seen: list[str] = []

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        self.seen.append(event.event_id)
        return self.fn(event)


class Boom:
    name = "boom"

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        raise RuntimeError("policy bug")


def say(text: str) -> Callable[[Event], Sequence[Decision]]:
    return lambda ev: [Notice(room_id=ev.room_id, message=Message("core.raw_text", {"text": f"{text}:{ev.event_id}"}))]


@dataclass
class Rig:
    db: Database
    inbox: Inbox
    metrics: Metrics
    sender: FakeSender
    executor: Executor
    services: Services

    def pipeline(self, policies: Sequence[Policy]) -> Pipeline:
        async def context() -> PolicyContext:
            return make_context(self.services.config, self.services.state)

        return Pipeline(self.inbox, policies, self.executor, context, self.metrics)

    async def put(self, *event_ids: str, txn: str = "t1") -> None:
        raw = [{"event_id": e, "room_id": ROOM, "sender": ALICE, "type": "m.room.message",
                "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "hi"}} for e in event_ids]
        result = await self.inbox.put_transaction(txn, raw)
        assert result.new == len(event_ids)

    async def status(self) -> dict[str, tuple[str, str | None]]:
        rows = await self.db.fetchall("SELECT event_id, status, error FROM inbox")
        return {r["event_id"]: (r["status"], r["error"]) for r in rows}

    async def audit_actions(self) -> list[str]:
        return [r["action"] for r in await self.db.fetchall("SELECT action FROM audit ORDER BY id")]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = make_config(tmp_path, data_dir=str(tmp_path / "data"))
    db = Database(config.db_path)
    await db.open()
    state = StateStore(db)
    inbox = Inbox(db, config.bot_user_ids)
    metrics = Metrics()
    sender = FakeSender()
    services = Services(config, Clock(), None, state, inbox, metrics, sender)  # type: ignore[arg-type]
    yield Rig(db, inbox, metrics, sender, Executor(services), services)
    db.close()


async def test_a_policy_that_raises_is_counted_the_others_run_and_the_event_is_done(rig: Rig) -> None:
    before, after = FnPolicy("before", say("before")), FnPolicy("after", say("after"))
    await rig.put("$e1")
    assert await rig.pipeline([before, Boom(), after]).drain() == 1
    assert before.seen == after.seen == ["$e1"]
    assert rig.sender.bodies == ["before:$e1", "after:$e1"]
    assert await rig.status() == {"$e1": ("done", "boom")}
    assert rig.metrics.registry.get_sample_value("yakuba_policy_errors_total", {"policy": "boom"}) == 1
    assert rig.metrics.registry.get_sample_value("yakuba_events_processed_total") == 1


async def test_decisions_are_performed_in_policy_order(rig: Rig) -> None:
    policies = [FnPolicy("one", say("one")), FnPolicy("two", say("two")), FnPolicy("three", say("three"))]
    await rig.put("$e1")
    await rig.pipeline(policies).drain()
    assert rig.sender.bodies == ["one:$e1", "two:$e1", "three:$e1"]


async def test_events_are_processed_in_arrival_order(rig: Rig) -> None:
    order = FnPolicy("order", say("x"))
    await rig.put("$c", "$a", "$b", txn="t1")
    await rig.put("$0", txn="t2")
    assert await rig.pipeline([order]).drain() == 4
    assert order.seen == ["$c", "$a", "$b", "$0"]
    assert rig.sender.bodies == ["x:$c", "x:$a", "x:$b", "x:$0"]
    assert {s for s, _ in (await rig.status()).values()} == {"done"}


async def test_audit_rows_of_an_event_commit_with_its_done_mark(rig: Rig) -> None:
    seen_during: list[list[str]] = []

    class Peek:
        name = "peek"

        async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
            seen_during.append(await rig.audit_actions())
            return []

    auditor = FnPolicy("auditor", lambda ev: [Audit(action=f"saw:{ev.event_id}")])
    await rig.put("$e1", "$e2")
    await rig.pipeline([auditor, Peek()]).drain()
    # While an event runs its audit rows are not in the table yet; they land with its done mark.
    assert seen_during == [[], ["saw:$e1"]]
    assert await rig.audit_actions() == ["saw:$e1", "saw:$e2"]


async def test_a_crash_at_the_done_mark_loses_the_audit_rows_and_replays_the_event(rig: Rig) -> None:
    auditor = FnPolicy("auditor", lambda ev: [Audit(action=f"saw:{ev.event_id}")])
    await rig.put("$e1")
    # The done mark fails (as a crash would stop it): the audit rows roll back with it.
    await rig.db.run(lambda c: c.executescript(
        "CREATE TRIGGER crash BEFORE UPDATE OF status ON inbox BEGIN SELECT RAISE(ABORT, 'crash'); END;"))
    pipeline = rig.pipeline([auditor])
    with pytest.raises(Exception, match="crash"):
        await pipeline.drain()
    assert await rig.audit_actions() == []
    assert await rig.status() == {"$e1": ("pending", None)}

    await rig.db.run(lambda c: c.executescript("DROP TRIGGER crash;"))
    assert await pipeline.drain() == 1
    assert auditor.seen == ["$e1", "$e1"]
    assert await rig.audit_actions() == ["saw:$e1"]
    assert await rig.status() == {"$e1": ("done", None)}
