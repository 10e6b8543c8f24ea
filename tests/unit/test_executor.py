"""Executor without Synapse: a real yakuba.db in tmp_path, a fake client and a fake sender that
record what would have been sent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appservice.core.clock import Clock
from appservice.core.commands import CommandTable, Invocation, Reply
from appservice.core.db import Database
from appservice.core.decisions import Audit, Decision, Effect, Message, Notice, RunCommand
from appservice.core.events import Event
from appservice.core.executor import Executor, buffered_audits, render
from appservice.core.feature import Command
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.services import Services
from appservice.core.state import StateStore
from tests.unit.support import SERVER, make_config

ALICE = f"@alice:{SERVER}"
ADMIN = f"@admin:{SERVER}"
ROOM = f"!room:{SERVER}"
BROKEN = f"!broken:{SERVER}"
ADMIN_ROOM = f"!admin:{SERVER}"


class FakeSender:
    """Stands in for appservice.matrix.sender.Sender: records sends; rooms in `failing` raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self.failing: set[str] = set()

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, *,
                   as_user: str | None = None, event_type: str = "m.room.message") -> str:
        if room_id in self.failing:
            raise RuntimeError("homeserver said no")
        self.sent.append((room_id, content, txn_id))
        return f"$sent{len(self.sent)}"

    def bodies(self, room_id: str | None = None) -> list[str]:
        return [c["body"] for r, c, _ in self.sent if room_id is None or r == room_id]


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def redact(self, room_id: str, event_id: str, txn_id: str, reason: str | None = None,
                     as_user: str | None = None) -> str:
        self.calls.append(("redact", room_id, event_id, reason, as_user))
        return "$redaction"


@dataclass
class Rig:
    executor: Executor
    sender: FakeSender
    client: FakeClient
    state: StateStore
    db: Database

    async def audit_actions(self) -> list[str]:
        return [r["action"] for r in await self.db.fetchall("SELECT action FROM audit ORDER BY id")]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = make_config(tmp_path, data_dir=str(tmp_path / "data"), admins=[ADMIN])
    db = Database(config.db_path)
    await db.open()
    state = StateStore(db)
    await state.set("admin_room", ADMIN_ROOM)
    sender, client = FakeSender(), FakeClient()
    services = Services(config, Clock(), client, state, Inbox(db, config.bot_user_ids), Metrics(),  # type: ignore[arg-type]
                        sender)  # type: ignore[arg-type]
    yield Rig(Executor(services), sender, client, state, db)
    db.close()


def event(event_id: str = "$e1") -> Event:
    return Event(event_id=event_id, room_id=ROOM, sender=ALICE, type="m.room.message", origin_server_ts=0,
                 content={"msgtype": "m.text", "body": "hi"})


def notice(text: str, room: str = ROOM, once_key: str | None = None) -> Notice:
    return Notice(room_id=room, message=Message("core.raw_text", {"text": text}), once_key=once_key)


async def test_a_claimed_once_key_skips_the_second_perform(rig: Rig) -> None:
    d = notice("once", once_key="remind:alice:1")
    assert await rig.executor.perform([d], event("$e1"), "p") == 0
    assert await rig.executor.perform([d], event("$e2"), "p") == 0
    assert rig.sender.bodies() == ["once"]
    assert await rig.state.once_done("remind:alice:1")


async def test_a_failing_decision_releases_its_key_and_the_next_ones_still_run(rig: Rig) -> None:
    rig.sender.failing.add(BROKEN)
    decisions = [notice("first", BROKEN, once_key="k:broken"), notice("second", once_key="k:fine"),
                 notice("third")]
    assert await rig.executor.perform(decisions, event(), "p") == 1
    assert rig.sender.bodies() == ["second", "third"]
    assert not await rig.state.once_done("k:broken")  # released: a retry may run it
    assert await rig.state.once_done("k:fine")

    rig.sender.failing.clear()
    assert await rig.executor.perform(decisions, event(), "p") == 0
    assert rig.sender.bodies() == ["second", "third", "first", "third"]  # "second" was done already
    assert await rig.state.once_done("k:broken")


async def test_audits_are_buffered_inside_an_event_and_written_at_once_after_close(rig: Rig) -> None:
    with buffered_audits() as buffer:
        await rig.executor.perform([Audit(action="inside", actor=ALICE)], event(), "p")
        assert [a.action for a in buffer.rows] == ["inside"]
        assert await rig.audit_actions() == []  # rides on the event's done mark (Inbox.mark_done)
        rows = buffer.close()
        assert [a.action for a in rows] == ["inside"]
        # A task that outlived its event: the buffer is closed, so the row is written now.
        await rig.executor.perform([Audit(action="after_close")], event(), "p")
        assert [a.action for a in buffer.rows] == ["inside"]
        assert await rig.audit_actions() == ["after_close"]
    # Outside any event there is no buffer at all.
    await rig.executor.perform([Audit(action="outside")], event(), "p")
    assert await rig.audit_actions() == ["after_close", "outside"]


async def test_an_audit_with_a_once_key_is_written_once(rig: Rig) -> None:
    row = Audit(action="once", once_key="audit:once")
    await rig.executor.perform([row], event(), "p")
    await rig.executor.perform([row], event(), "p")
    assert await rig.audit_actions() == ["once"]


async def test_an_effect_handlers_follow_up_decisions_are_performed(rig: Rig) -> None:
    seen: list[dict[str, Any]] = []

    async def handler(effect: Effect, ev: Event, svc: Services) -> Sequence[Decision] | None:
        seen.append(effect.payload)
        return [notice(f"follow-up for {effect.payload['n']}"), Audit(action="toy_effect")]

    rig.executor.on_effect("toy", handler)
    failures = await rig.executor.perform([Effect(kind="toy", payload={"n": 7})], event(), "p")
    assert failures == 0
    assert seen == [{"n": 7}]
    assert rig.sender.bodies() == ["follow-up for 7"]
    assert await rig.audit_actions() == ["toy_effect"]


async def test_an_effect_kind_with_two_handlers_is_refused(rig: Rig) -> None:
    async def handler(effect: Effect, ev: Event, svc: Services) -> None:
        return None

    rig.executor.on_effect("toy", handler)
    with pytest.raises(ValueError, match="two handlers"):
        rig.executor.on_effect("toy", handler)


async def test_an_unknown_effect_kind_is_a_failure_not_an_exception(rig: Rig) -> None:
    decisions = [Effect(kind="nobody_handles_this", once_key="eff:1"), notice("still sent")]
    assert await rig.executor.perform(decisions, event(), "p") == 1
    assert rig.sender.bodies() == ["still sent"]
    assert not await rig.state.once_done("eff:1")


def _command_table(calls: list[Invocation], *, enabled: bool) -> CommandTable:
    async def handler(inv: Invocation) -> Reply:
        calls.append(inv)
        return Reply(messages=[Message("core.raw_text", {"text": "toy ran"})])

    table = CommandTable()
    table.add(Command(name="toy", usage="toy", summary_key="core.raw_text", handler=handler), "toyfeature",
              enabled)
    return table


def _run(name: str = "toy") -> RunCommand:
    return RunCommand(name=name, args=(), sender=ADMIN, room_id=ADMIN_ROOM, event_id="$cmd", scope="admin",
                      once_key="cmd:$cmd")


async def test_run_command_of_a_feature_that_is_off_answers_feature_off(rig: Rig) -> None:
    calls: list[Invocation] = []
    rig.executor.commands = _command_table(calls, enabled=False)
    assert await rig.executor.perform([_run()], event("$cmd"), "admin_commands") == 0
    assert calls == []
    expected = render(Message("core.feature_off", {"feature": "toyfeature", "command": "toy"}),
                      rig.executor.locale)
    assert rig.sender.bodies(ADMIN_ROOM) == [expected]
    assert "toyfeature" in expected
    rows = await rig.db.fetchall("SELECT action, result FROM audit")
    assert [(r["action"], r["result"]) for r in rows] == [("command:toy", "feature_off")]


async def test_run_command_of_a_feature_that_is_on_runs_its_handler(rig: Rig) -> None:
    calls: list[Invocation] = []
    rig.executor.commands = _command_table(calls, enabled=True)
    rig.executor.components["toyfeature"] = component = object()
    assert await rig.executor.perform([_run()], event("$cmd"), "admin_commands") == 0
    assert [c.feature for c in calls] == [component]
    assert rig.sender.bodies(ADMIN_ROOM) == ["toy ran"]


async def test_run_command_that_does_not_exist_is_a_failure(rig: Rig) -> None:
    assert await rig.executor.perform([_run("nope")], event("$cmd"), "admin_commands") == 1
    assert not await rig.state.once_done("cmd:$cmd")


class Transient(Exception):
    """Like a MatrixError 502 after the client's retries, or the E2EE bot not ready."""

    transient = True


async def test_a_transient_failure_stops_the_rest_of_the_list_and_is_noted_for_a_replay(rig: Rig) -> None:
    async def flaky(effect: Effect, ev: Event, svc: Services) -> None:
        raise Transient("502")

    rig.executor.on_effect("flaky", flaky)
    decisions = [notice("before"), Effect(kind="flaky", once_key="eff:flaky"), notice("tells of it")]
    with buffered_audits() as buffer:
        assert await rig.executor.perform(decisions, event(), "p") == 1
    assert rig.sender.bodies() == ["before"]       # what came after waits for the replay
    assert buffer.transient == ["p:Effect"]
    assert not await rig.state.once_done("eff:flaky") and await rig.state.claims() == []


async def test_a_failed_follow_up_fails_its_effect_and_releases_its_key(rig: Rig) -> None:
    rig.sender.failing.add(BROKEN)
    runs: list[int] = []

    async def handler(effect: Effect, ev: Event, svc: Services) -> Sequence[Decision]:
        runs.append(1)
        return [notice("follow-up", BROKEN)]

    rig.executor.on_effect("two_stage", handler)
    d = Effect(kind="two_stage", once_key="eff:two")
    assert await rig.executor.perform([d], event(), "p") == 1
    assert not await rig.state.once_done("eff:two")  # not done: its second stage did not happen
    rig.sender.failing.clear()
    assert await rig.executor.perform([d], event(), "p") == 0
    assert await rig.state.once_done("eff:two") and rig.sender.bodies() == ["follow-up"]
    assert await rig.executor.perform([d], event(), "p") == 0
    assert runs == [1, 1]


async def test_steps_stop_at_the_first_failure_even_a_lasting_one(rig: Rig) -> None:
    from appservice.core.executor import Steps

    rig.sender.failing.add(BROKEN)

    async def handler(effect: Effect, ev: Event, svc: Services) -> Sequence[Decision]:
        return Steps([notice("the action", BROKEN), Audit(action="it_happened"), notice("done!")])

    rig.executor.on_effect("stepwise", handler)
    assert await rig.executor.perform([Effect(kind="stepwise")], event(), "p") == 1
    assert rig.sender.bodies() == [] and await rig.audit_actions() == []


async def test_an_effect_interrupted_after_its_claim_happens_on_the_replay(rig: Rig) -> None:
    # A claim left by a process that died between claim and effect (no such pid).
    await rig.db.execute("INSERT INTO once_claims (key, claimed_at, owner) VALUES (?, ?, ?)",
                         ("remind:alice:1", time.time(), "999999999:crashed"))
    assert await rig.executor.perform([notice("once", once_key="remind:alice:1")], event(), "p") == 0
    assert rig.sender.bodies() == ["once"]
    assert await rig.state.once_done("remind:alice:1") and await rig.state.claims() == []
