"""A feature defined only here, plugged into a real YakubaService next to the default features:
its policy runs, its effect runs and its follow-up notice is sent, its command runs with its own
component, `help` lists it, its table exists, an offer it makes is accepted with ✅, and a
switched-off toy answers that it is off. No Synapse: the database is real (tmp_path), the events
go into the service's inbox and the pipeline drains them; sends are recorded by a fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from appservice.app.assembly import DEFAULT_FEATURES
from appservice.app.config import config_from_dict
from appservice.app.service import YakubaService
from appservice.core.clock import FixedClock
from appservice.core.commands import CommandTable, Invocation, Reply
from appservice.core.config import Config
from appservice.core.decisions import Decision, Effect, Message, Notice, Offer
from appservice.core.events import Event
from appservice.core.executor import render
from appservice.core.feature import Command, Feature, Parts, Runtime
from appservice.core.policy import PolicyContext
from appservice.core.services import Services
from appservice.core.state import OfferRow

SERVER = "city-a.localhost"
ADMIN = f"@admin:{SERVER}"
ALICE = f"@alice:{SERVER}"
ROOM = f"!room:{SERVER}"
ADMIN_ROOM = f"!admin:{SERVER}"
# A Wednesday, 10:00 in Japan: working hours, so the quiet rules stay silent.
WORKING_TIME = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_logging() -> None:
    structlog.reset_defaults()


# -- the toy feature ------------------------------------------------------------------------------

TOY_TABLES = "CREATE TABLE IF NOT EXISTS toy_pokes (event_id TEXT PRIMARY KEY, note TEXT NOT NULL);"


def raw_text(text: str) -> Message:
    return Message("core.raw_text", {"text": text})


@dataclass
class ToyComponent:
    """The toy's running object (handed to its command handler as `inv.feature`)."""

    runtime: Runtime
    settings: Mapping[str, Any]
    policy_saw: list[str] = field(default_factory=list)
    effects_ran: list[str] = field(default_factory=list)
    commands_ran: list[Invocation] = field(default_factory=list)
    offers_accepted: list[OfferRow] = field(default_factory=list)


class ToyPolicy:
    name = "toy"

    def __init__(self, toy: ToyComponent) -> None:
        self.toy = toy

    async def evaluate(self, event: Event, ctx: PolicyContext) -> Sequence[Decision]:
        if event.type != "m.room.message" or event.content.get("body") != "toy me":
            return []
        self.toy.policy_saw.append(event.event_id)
        return [
            Effect(kind="toy.poke", payload={"note": "poked"}, once_key=f"toy_poke:{event.event_id}"),
            Notice(room_id=event.room_id, message=raw_text("toy offers"), reply_to=event.event_id,
                   offer=Offer(action="toy.accept", user_id=event.sender, room_id=event.room_id,
                               event_id=event.event_id, detail={"why": "toy"})),
        ]


def toy_setup(runtime: Runtime, settings: Mapping[str, Any]) -> Parts:
    toy = ToyComponent(runtime, settings)

    async def poke(effect: Effect, event: Event, svc: Services) -> Sequence[Decision]:
        toy.effects_ran.append(event.event_id)
        await svc.state.db.execute("INSERT INTO toy_pokes (event_id, note) VALUES (?, ?)",
                                   (event.event_id, effect.payload["note"]))
        return [Notice(room_id=event.room_id, message=raw_text("toy follow-up"))]

    async def accept(offer: OfferRow, event: Event, svc: Services) -> Sequence[Decision]:
        toy.offers_accepted.append(offer)
        return [Notice(room_id=offer.room_id, message=raw_text("toy offer accepted"))]

    return Parts(component=toy, policies=[ToyPolicy(toy)], effects={"toy.poke": poke},
                 offer_actions={"toy.accept": accept})


async def toy_command(inv: Invocation) -> Reply:
    inv.feature.commands_ran.append(inv)
    return Reply(messages=[raw_text(f"toy command {' '.join(inv.args)}".strip())])


def toy_settings(raw: Mapping[str, Any], config: Config) -> dict[str, Any]:
    return {"enabled": bool(raw.get("enabled", True))}


TOY = Feature(
    name="toy",
    description="a feature that exists only in this test",
    setup=toy_setup,
    section="toy",
    settings=toy_settings,
    enabled=lambda s: s["enabled"],
    commands=(Command("toy", usage="toy [words]", summary_key="toy.help.summary", handler=toy_command),),
    tables=(TOY_TABLES,),
)

WITHOUT_BOTS = [f for f in DEFAULT_FEATURES if f.name != "bots"]


# -- harness ------------------------------------------------------------------------------------

def make_config(tmp_path: Path, **sections: Any) -> Config:
    reg = tmp_path / "reg.yaml"
    reg.write_text("as_token: aaaaaaaaaaaa\nhs_token: hhhhhhhhhhhh\n")
    data = {"homeserver": {"url": "http://127.0.0.1:9", "server_name": SERVER},
            "appservice": {"registration": str(reg)}, "data_dir": str(tmp_path / "data"),
            "admins": [ADMIN], **sections}
    known = [f.section for f in (*DEFAULT_FEATURES, TOY) if f.section]
    return config_from_dict(data, tmp_path / "yakuba.yaml", sections=known)


@dataclass
class Running:
    service: YakubaService
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _n: int = 0

    async def fake_send(self, room_id: str, content: dict[str, Any], txn_id: str, *,
                        as_user: str | None = None, event_type: str = "m.room.message") -> str:
        self.sent.append((room_id, content))
        return f"$sent{len(self.sent)}"

    def bodies(self, room_id: str | None = None) -> list[str]:
        return [c["body"] for r, c in self.sent if room_id is None or r == room_id]

    async def deliver(self, *events: dict[str, Any]) -> int:
        self._n += 1
        await self.service.inbox.put_transaction(f"txn{self._n}", list(events))
        return await self.service.pipeline.drain()

    @property
    def toy(self) -> ToyComponent:
        return self.service.features.components["toy"]


async def running(tmp_path: Path, features: Sequence[Feature], **sections: Any) -> Running:
    service = YakubaService(make_config(tmp_path, **sections), features=features,
                            clock=FixedClock(WORKING_TIME))
    await service.db.open()
    await service.state.set("admin_room", ADMIN_ROOM)
    await service.state.note_room(ADMIN_ROOM, encrypted=False)
    await service.state.note_room(ROOM, encrypted=False)
    run = Running(service)
    service.sender.send = run.fake_send  # type: ignore[method-assign]
    return run


@pytest.fixture
async def toy_service(tmp_path: Path) -> AsyncIterator[Running]:
    run = await running(tmp_path, [*WITHOUT_BOTS, TOY])
    yield run
    await run.service.client.close()
    run.service.db.close()


def message(event_id: str, body: str, *, sender: str = ALICE, room: str = ROOM) -> dict[str, Any]:
    return {"event_id": event_id, "room_id": room, "sender": sender, "type": "m.room.message",
            "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body}}


def reaction(event_id: str, target: str, *, sender: str = ALICE, room: str = ROOM) -> dict[str, Any]:
    return {"event_id": event_id, "room_id": room, "sender": sender, "type": "m.reaction",
            "origin_server_ts": 2,
            "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "✅"}}}


# -- tests ----------------------------------------------------------------------------------------

async def test_the_toy_is_assembled_after_the_default_features(toy_service: Running) -> None:
    service = toy_service.service
    names = [p.name for p in service.policies]
    assert names[:4] == ["event_log", "forged_events", "admin_commands", "offers"]  # the core policies
    assert names[-1] == "toy"
    assert service.features.enabled["toy"] is True
    assert "toy.poke" in service.executor.effect_handlers
    assert "toy.accept" in service.executor.offer_actions
    assert service.executor.commands.owner("toy") == "toy"


async def test_the_toy_policy_runs_and_its_effect_follow_up_is_sent(toy_service: Running) -> None:
    assert await toy_service.deliver(message("$m1", "toy me"), message("$m2", "just chatting")) == 2
    toy = toy_service.toy
    assert toy.policy_saw == ["$m1"]
    assert toy.effects_ran == ["$m1"]
    assert toy_service.bodies(ROOM) == ["toy follow-up", "toy offers"]
    rows = await toy_service.service.db.fetchall("SELECT event_id, note FROM toy_pokes")
    assert [(r["event_id"], r["note"]) for r in rows] == [("$m1", "poked")]


async def test_the_toys_table_exists(toy_service: Running) -> None:
    row = await toy_service.service.db.fetchone(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'toy_pokes'")
    assert row is not None


async def test_a_check_mark_on_the_toys_offer_runs_its_offer_action(toy_service: Running) -> None:
    await toy_service.deliver(message("$m1", "toy me"))
    offer_id = next(f"$sent{i + 1}" for i, (_, c) in enumerate(toy_service.sent) if c["body"] == "toy offers")
    await toy_service.deliver(reaction("$r1", offer_id))
    await toy_service.deliver(reaction("$r2", offer_id))  # a second ✅ does nothing
    accepted = toy_service.toy.offers_accepted
    assert [(o.action, o.target_event_id, o.detail) for o in accepted] == [("toy.accept", "$m1", {"why": "toy"})]
    assert toy_service.bodies(ROOM).count("toy offer accepted") == 1


async def test_the_toy_command_runs_with_the_toys_component(toy_service: Running) -> None:
    await toy_service.deliver(message("$c1", "!yakuba toy hello world", sender=ADMIN, room=ADMIN_ROOM))
    toy = toy_service.toy
    assert [(inv.name, inv.args, inv.sender) for inv in toy.commands_ran] == [("toy", ("hello", "world"), ADMIN)]
    assert toy.commands_ran[0].feature is toy
    assert toy_service.bodies(ADMIN_ROOM) == ["toy command hello world"]


async def test_the_toy_command_is_refused_to_non_admins(toy_service: Running) -> None:
    await toy_service.deliver(message("$c1", "!yakuba toy", sender=ALICE, room=ADMIN_ROOM))
    assert toy_service.toy.commands_ran == []
    locale = toy_service.service.config.locale
    assert toy_service.bodies(ADMIN_ROOM) == [render(Message("core.refused"), locale)]


async def test_help_lists_the_toy_command(toy_service: Running) -> None:
    await toy_service.deliver(message("$h1", "!yakuba help", sender=ADMIN, room=ADMIN_ROOM))
    [text] = toy_service.bodies(ADMIN_ROOM)
    assert "toy [words]" in text
    assert "help" in text


async def test_a_switched_off_toy_answers_that_it_is_off(tmp_path: Path) -> None:
    run = await running(tmp_path, [*WITHOUT_BOTS, TOY], toy={"enabled": False})
    try:
        service = run.service
        assert service.features.enabled["toy"] is False
        assert "toy" not in service.features.components
        assert "toy" not in [p.name for p in service.policies]
        assert "toy.poke" not in service.executor.effect_handlers
        # Switched off, its table is still there (switching it on later finds its data).
        assert await service.db.fetchone("SELECT name FROM sqlite_master WHERE name = 'toy_pokes'")

        await run.deliver(message("$m1", "toy me"),
                          message("$c1", "!yakuba toy", sender=ADMIN, room=ADMIN_ROOM))
        expected = render(Message("core.feature_off", {"feature": "toy", "command": "toy"}), service.config.locale)
        assert run.bodies(ADMIN_ROOM) == [expected]
        assert run.bodies(ROOM) == []
    finally:
        await run.service.client.close()
        run.service.db.close()


async def test_importing_registers_nothing_each_service_has_its_own_tables(tmp_path: Path) -> None:
    assert list(CommandTable()) == []
    assert TOY not in DEFAULT_FEATURES
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with_toy = await running(tmp_path / "a", [*WITHOUT_BOTS, TOY])
    without = await running(tmp_path / "b", WITHOUT_BOTS)
    try:
        a, b = with_toy.service, without.service
        assert a.executor.commands is not b.executor.commands
        assert "toy" in a.executor.commands
        assert "toy" not in b.executor.commands
        assert set(a.executor.commands) - set(b.executor.commands) == {"toy"}
        assert "toy.poke" in a.executor.effect_handlers and "toy.poke" not in b.executor.effect_handlers
        assert "toy.accept" in a.executor.offer_actions and "toy.accept" not in b.executor.offer_actions
        assert "toy_pokes" not in " ".join(b.db.tables)

        # In the service without the toy, `!yakuba toy` is just an unknown command.
        await without.deliver(message("$c1", "!yakuba toy", sender=ADMIN, room=ADMIN_ROOM))
        assert without.bodies(ADMIN_ROOM) == [render(Message("core.unknown_command", {"name": "toy"}),
                                                     b.config.locale)]
    finally:
        for run in (with_toy, without):
            await run.service.client.close()
            run.service.db.close()
