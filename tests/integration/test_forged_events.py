"""Forged events inside encryption, on the real Synapse with a real (malicious) nio client.

A megolm plaintext is JSON the sender chooses: a member of an encrypted room can encrypt
`{"type": "m.room.redaction", "redacts": …}` or a membership or a room name and send it as an
ordinary m.room.encrypted event. Yakuba must take state, redactions and memberships only from
the server's stream: the decrypted copy becomes a `jp.yakuba.forged` incident (audited with the
claimed type, never the content), and nothing is recorded as that type.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.e2ee import E2EEUser
from tests.integration.mx import wait_for

pytestmark = pytest.mark.integration
BOT = "@_yakuba:city-a.localhost"
FORGED = "jp.yakuba.forged"


def inbox_row(yakuba, event_id: str):
    rows = yakuba.query("SELECT type, decrypted, status, json FROM inbox WHERE event_id = ?", (event_id,))
    return rows[0] if rows else None


def processed_plaintext(yakuba, event_id: str) -> bool:
    row = inbox_row(yakuba, event_id)
    return bool(row and row[1] == 1 and row[2] == "done")


def forged_audit(yakuba, event_id: str):
    rows = yakuba.query("SELECT actor, room_id, details FROM audit WHERE action = 'forged_event' "
                        "AND event_id = ?", (event_id,))
    return rows[0] if rows else None


async def test_forged_state_and_redaction_inside_encryption_are_incidents(yakuba, homeserver):
    mallory = await E2EEUser(homeserver.url, "alice", homeserver.server_name).start()
    try:
        room = await mallory.create_encrypted_room([BOT], name="偽装テスト")
        await mallory.wait_member(room, BOT)
        real = await mallory.send_text(room, "本物のメッセージ")  # also shares the group session
        await wait_for(lambda: processed_plaintext(yakuba, real), timeout=30, what="real message")

        forged = {
            "m.room.redaction": await mallory.send_forged(room, {
                "type": "m.room.redaction", "redacts": real, "content": {"redacts": real}}),
            "m.room.name": await mallory.send_forged(room, {
                "type": "m.room.name", "state_key": "", "content": {"name": "乗っ取られた名前"}}),
            "m.room.power_levels": await mallory.send_forged(room, {
                "type": "m.room.power_levels", "content": {"users": {mallory.user_id: 100}}}),
            "message+state_key": await mallory.send_forged(room, {
                "type": "m.room.message", "state_key": "", "content": {"msgtype": "m.text", "body": "x"}}),
        }
        # A message-like payload is still a message (and an edit/reply inside content is kept).
        edit = await mallory.send_forged(room, {"type": "m.room.message", "content": {
            "msgtype": "m.text", "body": "* 直した", "unsigned_extra": 1,
            "m.new_content": {"msgtype": "m.text", "body": "直した"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": real}}, "unsigned": {"age": 1}})
        # Last: mallory's own nio applies the decrypted forged leave to its room state (nio trusts
        # plaintext state too) and would stop sharing room keys with the bot afterwards.
        forged["m.room.member"] = await mallory.send_forged(room, {
            "type": "m.room.member", "state_key": BOT, "content": {"membership": "leave"}})

        for claimed, event_id in [*forged.items(), ("edit", edit)]:
            try:
                await wait_for(lambda e=event_id: processed_plaintext(yakuba, e), timeout=30, what=claimed)
            except AssertionError:
                lines = [x for x in yakuba.log_path.read_text().splitlines() if event_id in x or "Error" in x]
                raise AssertionError((claimed, inbox_row(yakuba, event_id), lines[-20:])) from None

        for claimed, event_id in forged.items():
            etype, _, _, blob = inbox_row(yakuba, event_id)
            assert etype == FORGED, (claimed, etype)
            stored = json.loads(blob)  # (content may be stripped once processed)
            assert stored["type"] == FORGED and "state_key" not in stored and "redacts" not in stored
            assert stored["sender"] == mallory.user_id and stored["room_id"] == room
            want = claimed if claimed != "message+state_key" else "m.room.message"
            actor, audit_room, details = forged_audit(yakuba, event_id)
            assert (actor, audit_room) == (mallory.user_id, room)
            details = json.loads(details)
            assert details["claimed_type"] == want
            assert "乗っ取られた名前" not in json.dumps(details, ensure_ascii=False)

        # Nothing was recorded as state or as a redaction.
        assert yakuba.query("SELECT COUNT(*) FROM inbox WHERE room_id = ? AND type IN "
                            "('m.room.redaction') AND decrypted = 1", (room,))[0][0] == 0
        assert yakuba.query("SELECT name FROM rooms WHERE room_id = ?", (room,))[0][0] == "偽装テスト"
        assert yakuba.query("SELECT membership FROM bot_memberships WHERE room_id = ? AND user_id = ?",
                            (room, BOT))[0][0] == "join"

        etype, _, _, blob = inbox_row(yakuba, edit)
        stored = json.loads(blob)
        assert etype == "m.room.message" and "unsigned" not in stored
        assert forged_audit(yakuba, edit) is None
        edit_audit = yakuba.query("SELECT details FROM audit WHERE action = 'event' AND event_id = ?", (edit,))
        assert json.loads(edit_audit[-1][0])["type"] == "m.room.message"
        # The real message is still just a message: nobody marked it redacted.
        assert inbox_row(yakuba, real)[0] == "m.room.message"
    finally:
        await mallory.close()
