"""Forged events inside encryption: a decrypted megolm payload is message content, never state,
a redaction or another type. Crafted plaintexts through the bot's conversion (nio's own
parsing included), the inbox's guard, and the admin-room notice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from nio import Event as NioEvent

from appservice.core.db import Database
from appservice.core.decisions import AdminNotice, Message
from appservice.core.forged import FORGED_TYPE, ForgedEventPolicy, from_decrypted, is_incident
from appservice.core.inbox import Inbox
from bots.runtime import decrypted_for_inbox

ROOM = "!enc:city-a.localhost"
ALICE = "@alice:city-a.localhost"
BOT = "@_yakuba:city-a.localhost"
BOTS = (BOT, "@_yakuba_archive:city-a.localhost")
ENVELOPE_KEYS = {"event_id", "sender", "origin_server_ts", "room_id", "type", "content"}


def nio_decrypted(plaintext: dict[str, Any], event_id: str = "$ev") -> Any:
    """What nio hands the bot's callback: the plaintext with event_id, sender and ts overwritten
    from the server's m.room.encrypted event (olm_machine.decrypt_megolm_event), all else kept."""
    parsed = json.loads(json.dumps(plaintext))
    parsed.update({"event_id": event_id, "sender": ALICE, "origin_server_ts": 1234})
    event = NioEvent.parse_decrypted_event(parsed)
    event.decrypted = True
    return event


FORGERIES = [
    ("m.room.redaction", {"type": "m.room.redaction", "redacts": "$real", "content": {"redacts": "$real"}},
     ["redacts"]),
    ("m.room.member", {"type": "m.room.member", "state_key": BOT, "content": {"membership": "leave"}},
     ["state_key"]),
    ("m.room.member", {"type": "m.room.member", "state_key": "@bob:city-a.localhost",
                       "content": {"membership": "join", "displayname": "偽の名前"}}, ["state_key"]),
    ("m.room.name", {"type": "m.room.name", "state_key": "", "content": {"name": "乗っ取り"}}, ["state_key"]),
    ("m.room.power_levels", {"type": "m.room.power_levels", "content": {"users": {ALICE: 100}}}, None),
    ("jp.yakuba.archive", {"type": "jp.yakuba.archive", "state_key": "", "content": {"active": False}},
     ["state_key"]),
    ("m.room.message", {"type": "m.room.message", "state_key": "", "content": {"msgtype": "m.text", "body": "x"}},
     ["state_key"]),
    ("m.room.message", {"type": "m.room.message", "redacts": "$real", "content": {"msgtype": "m.text", "body": "x"}},
     ["redacts"]),
    ("jp.yakuba.forged", {"type": "jp.yakuba.forged", "content": {"claimed_type": "m.room.message"}}, None),
    ("m.room.encrypted", {"type": "m.room.encrypted", "content": {}}, None),
]


@pytest.mark.parametrize(("claimed", "plaintext", "claims"), FORGERIES)
def test_forged_payload_becomes_an_incident_without_its_content(claimed, plaintext, claims):
    out = decrypted_for_inbox(ROOM, nio_decrypted(plaintext))
    want = {"claimed_type": claimed} | ({"claims": claims} if claims else {})
    assert out == {"event_id": "$ev", "sender": ALICE, "origin_server_ts": 1234, "room_id": ROOM,
                   "type": FORGED_TYPE, "content": want}
    assert is_incident(out)


@pytest.mark.parametrize("plaintext", [
    {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "こんにちは"}},
    {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "* 直した",
                                           "m.new_content": {"msgtype": "m.text", "body": "直した"},
                                           "m.relates_to": {"rel_type": "m.replace", "event_id": "$real"}}},
    {"type": "m.room.message", "content": {"msgtype": "m.text", "body": "返信",
                                           "m.relates_to": {"m.in_reply_to": {"event_id": "$real"}}}},
    {"type": "m.reaction", "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$r", "key": "✅"}}},
    {"type": "m.sticker", "content": {"body": "s", "url": "mxc://x/y", "info": {}}},
])
def test_message_like_payload_keeps_type_and_content_under_the_servers_envelope(plaintext):
    forged_envelope = {**plaintext, "room_id": "!other:evil", "unsigned": {"redacted_because": None},
                       "origin_server_ts": 1, "extra": {"state_key": "x"}}
    out = decrypted_for_inbox(ROOM, nio_decrypted(forged_envelope))
    assert set(out) == ENVELOPE_KEYS
    assert (out["event_id"], out["sender"], out["origin_server_ts"], out["room_id"]) == ("$ev", ALICE, 1234, ROOM)
    assert out["type"] == plaintext["type"] and out["content"] == plaintext["content"]
    assert not is_incident(out)


def test_claimed_type_is_made_safe_to_show():
    out = from_decrypted({"event_id": "$e", "sender": ALICE, "origin_server_ts": 1, "room_id": ROOM},
                         {"type": "m.room.name\n<b>管理者</b>" + "x" * 300, "content": {}})
    assert out["content"] == {"claimed_type": "(invalid)"}


def raw(event_id: str, etype: str, room: str = ROOM, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "room_id": room, "type": etype, "sender": ALICE,
            "origin_server_ts": 1, "content": extra.pop("content", {}), **extra}


async def test_inbox_never_takes_state_or_redactions_from_a_plaintext(tmp_path):
    """Defence in depth: even a caller that skips the bot's conversion cannot write state."""
    db = Database(tmp_path / "y.db")
    await db.open()
    inbox = Inbox(db, BOTS)
    stream = [raw("$n", "m.room.name", state_key="", content={"name": "本物"}),
              raw("$m", "m.room.member", state_key=BOT, sender=BOT, content={"membership": "join"}),
              raw("$real", "m.room.message", content={"msgtype": "m.text", "body": "hi"}),
              raw("$f1", "m.room.encrypted"), raw("$f2", "m.room.encrypted")]
    await inbox.put_transaction("1", stream)
    assert await inbox.put_decrypted(raw("$f1", "m.room.name", state_key="", content={"name": "乗っ取り"}))
    assert await inbox.put_decrypted(raw("$f2", "m.room.member", state_key=BOT, content={"membership": "leave"}))
    assert await inbox.put_decrypted(raw("$f3", "m.room.redaction", redacts="$real"))
    assert not await inbox.put_decrypted(raw("$f3", "m.room.redaction", redacts="$real"))  # once

    assert (await db.fetchone("SELECT name FROM rooms WHERE room_id = ?", (ROOM,)))["name"] == "本物"
    assert (await db.fetchone("SELECT membership FROM bot_memberships WHERE user_id = ?", (BOT,)))[0] == "join"
    rows = {r["event_id"]: r for r in await db.fetchall("SELECT event_id, type, decrypted, json FROM inbox")}
    for event_id, claimed in (("$f1", "m.room.name"), ("$f2", "m.room.member"), ("$f3", "m.room.redaction")):
        assert rows[event_id]["type"] == FORGED_TYPE and rows[event_id]["decrypted"] == 1
        assert json.loads(rows[event_id]["json"])["content"]["claimed_type"] == claimed
    audits = await db.fetchall("SELECT actor, room_id, event_id, result, details FROM audit "
                               "WHERE action = 'forged_event' ORDER BY event_id")
    assert [(a["event_id"], a["actor"], a["room_id"]) for a in audits] == [
        ("$f1", ALICE, ROOM), ("$f2", ALICE, ROOM), ("$f3", ALICE, ROOM)]
    assert json.loads(audits[0]["details"]) == {"claimed_type": "m.room.name", "claims": ["state_key"]}
    assert all("乗っ取り" not in a["details"] for a in audits)
    # The pipeline sees an incident, not a redaction.
    batch = {i.event.event_id: i.event for i in await inbox.next_batch()}
    assert batch["$f3"].type == FORGED_TYPE and batch["$f3"].redacts is None
    assert batch["$f1"].state_key is None
    db.close()


class FakeState:
    async def room_name(self, room_id):
        return "総務課"


class Ctx:
    now = datetime(2027, 4, 1, 9, tzinfo=UTC)
    state = FakeState()


async def test_policy_tells_the_admin_room_once_a_day_per_sender_and_room():
    from appservice.core.events import parse_event

    policy = ForgedEventPolicy()
    incident = parse_event(raw("$f", FORGED_TYPE, content={"claimed_type": "m.room.member", "claims": ["state_key"]}),
                           decrypted=True)
    [notice] = await policy.evaluate(incident, Ctx())
    assert isinstance(notice, AdminNotice)
    assert notice.message == Message("core.forged_event", {
        "room": f"総務課 ({ROOM})", "sender": ALICE, "claimed_type": "m.room.member"})
    assert notice.once_key == f"forged_notice:{ROOM}:{ALICE}:2027-04-01"
    # A plain event of that type from the server's stream is someone's custom event: no incident.
    assert await policy.evaluate(parse_event(raw("$p", FORGED_TYPE, content={"claimed_type": "x"})), Ctx()) == []
    assert await policy.evaluate(parse_event(raw("$m", "m.room.message"), decrypted=True), Ctx()) == []
