"""Users of other homeservers, at the policy level: they run no command here and confirm no
offer, whatever they hold; servers Yakuba hears from are noted; an unlisted one is told once."""

from __future__ import annotations

from pathlib import Path

import pytest

from appservice.core.decisions import AdminNotice, Audit, Effect
from appservice.core.events import parse_event
from appservice.core.offers_policy import OffersPolicy
from appservice.features.federation.seen import SEEN, RemoteSeenPolicy
from tests.unit.support import SERVER, make_config, make_context
from tests.unit.test_core import AdminCommandsPolicy, FakeState, text

PARTNER = "city-b.localhost:28448"


@pytest.fixture
def config(tmp_path: Path):
    return make_config(tmp_path, federation={"partners": [{"server": PARTNER, "name": "城南町"}]})


@pytest.mark.parametrize("body", ["!yakuba status", "!yakuba archive here --years 1", "!yakuba leave",
                                  "!yakuba frobnicate"])
async def test_a_remote_user_runs_no_command_even_listed_as_if_admin(config, body):
    remote = f"@boss:{PARTNER}"
    ctx = make_context(config, FakeState(dm_owner=remote), admins=frozenset({remote}),
                       admin_room=f"!admin:{SERVER}")
    out = await AdminCommandsPolicy().evaluate(text(body, sender=remote, room=f"!admin:{SERVER}"), ctx)
    assert len(out) == 1 and isinstance(out[0], Audit)  # silent: their own Yakuba answers them
    assert out[0].action == "command_refused" and out[0].details["reason"] == "remote_sender"


class OfferState:
    async def offer(self, event_id):
        from types import SimpleNamespace

        return SimpleNamespace(event_id=event_id, used=False, user_id=f"@bob:{PARTNER}")


async def test_a_remote_user_confirms_no_offer_even_one_naming_them(config):
    reaction = parse_event({"event_id": "$r", "room_id": "!dm:x", "type": "m.reaction", "sender": f"@bob:{PARTNER}",
                            "origin_server_ts": 1, "content": {"m.relates_to": {
                                "rel_type": "m.annotation", "event_id": "$offer", "key": "✅"}}})
    assert await OffersPolicy().evaluate(reaction, make_context(config, OfferState())) == []


def message(sender: str):
    return parse_event({"event_id": "$m", "room_id": "!shared:x", "type": "m.room.message", "sender": sender,
                        "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "やあ"}})


async def test_events_from_partners_are_noted_and_unlisted_servers_told_once(config):
    ctx = make_context(config, FakeState())
    assert await RemoteSeenPolicy().evaluate(message(f"@alice:{SERVER}"), ctx) == []
    partner = await RemoteSeenPolicy().evaluate(message(f"@bob:{PARTNER}"), ctx)
    assert [type(d) for d in partner] == [Effect] and partner[0].kind == SEEN
    assert partner[0].payload == {"server": PARTNER}
    stranger = await RemoteSeenPolicy().evaluate(message("@eve:city-c.localhost:38448"), ctx)
    assert [type(d) for d in stranger] == [Effect, AdminNotice, Audit]
    assert stranger[1].once_key == "federation.unlisted:city-c.localhost:38448"


async def test_seen_notes_are_batched_and_counted(tmp_path):
    from appservice.core.db import Database
    from appservice.features.federation.seen import TABLES, SeenTable

    db = Database(tmp_path / "y.db", (TABLES,))
    await db.open()
    try:
        table = SeenTable(db)
        for i in range(3):
            await table.note(PARTNER, "!r:x", f"2026-12-02T10:00:0{i}+00:00")
        assert await db.fetchall("SELECT * FROM federation_seen") == []  # not per event
        seen = await table.all()  # a reader sees everything noted so far
        assert seen[PARTNER].events == 3 and seen[PARTNER].last_seen.endswith("02+00:00")
        await table.note(PARTNER, "!r2:x", "2026-12-02T11:00:00+00:00")
        await table.flush()
        assert (await table.all())[PARTNER].events == 4
    finally:
        db.close()
