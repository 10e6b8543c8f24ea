"""The E2EE bot's harder cases on the real Synapse: keys that arrive late, leaving on request,
and admin management from the shell."""

from __future__ import annotations

import subprocess
import sys

import aiohttp
import pytest
from nio.responses import ShareGroupSessionResponse

from tests.integration.admin_room import BOT, admin_client, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, wait_for

pytestmark = pytest.mark.integration


async def test_undecryptable_event_is_recorded_counted_and_retried_when_the_key_arrives(yakuba, homeserver):
    alice = await E2EEUser(homeserver.url, "alice", homeserver.server_name).start()
    try:
        room = await alice.create_encrypted_room([BOT], name="鍵の遅延")
        await alice.wait_member(room, BOT)
        await alice.send_text(room, "warm-up")  # olm sessions with the bot's device exist now
        # A fresh megolm session whose key (the to-device m.room_key) is held back and delivered
        # only after the message: "keys withheld / late".
        client = alice.client
        client.olm.create_outbound_group_session(room)
        session = client.olm.outbound_group_sessions[room]
        held: list[tuple[str, str, str]] = []
        real_send = client._send

        async def hold_to_device(response_class, method, path, data=None, response_data=None, **kw):
            if "/sendToDevice/" in path:
                held.append((method, path, data))
                return ShareGroupSessionResponse.from_dict({}, *response_data)
            return await real_send(response_class, method, path, data, response_data, **kw)

        client._send = hold_to_device
        try:
            event_id = await alice.send_text(room, "遅れて読める")
        finally:
            client._send = real_send
        assert held, "the room key should have been held back"
        row = await wait_for(lambda: yakuba.query(
            "SELECT session_id, resolved_at FROM undecryptable WHERE event_id = ?", (event_id,)),
            timeout=20, what="undecryptable record")
        assert row[0][0] == session.id and row[0][1] is None
        assert yakuba.query("SELECT decrypted FROM inbox WHERE event_id = ?", (event_id,)) == [(0,)]
        # Now the key arrives (to-device m.room_key): the bot retries and the plaintext flows in.
        async with aiohttp.ClientSession() as s:
            for method, path, data in held:
                # nio's path carries the access token as a query parameter already.
                async with s.request(method, homeserver.url + path, data=data) as r:
                    assert r.status == 200
        await wait_for(lambda: yakuba.query(
            "SELECT 1 FROM inbox WHERE event_id = ? AND decrypted = 1 AND status = 'done'", (event_id,)),
            timeout=30, what="decrypted after the key arrived")
        assert yakuba.query("SELECT resolved_at IS NOT NULL FROM undecryptable WHERE event_id = ?",
                            (event_id,)) == [(1,)]
    finally:
        await alice.close()


async def test_moderator_asks_the_bot_to_leave(yakuba, homeserver):
    alice = await E2EEUser(homeserver.url, "alice", homeserver.server_name).start()
    try:
        room = await alice.create_encrypted_room([BOT, "@bob:city-a.localhost"], name="退出テスト")
        await alice.wait_member(room, BOT)
        await alice.send_text(room, "!yakuba leave")
        await wait_for(lambda: any("退出" in t for t in alice.texts_from(BOT, room)), timeout=20)
        await wait_for(lambda: yakuba.query(
            "SELECT membership FROM bot_memberships WHERE room_id = ? AND user_id = ?", (room, BOT))
            == [("leave",)], timeout=20, what="bot left")
    finally:
        await alice.close()


async def test_unknown_command_gets_a_hint_in_the_admin_room(yakuba, homeserver):
    admin, room = await admin_client(yakuba, homeserver)
    try:
        reply = await command(admin, room, "!yakuba frobnicate", expect="frobnicate")
        assert "!yakuba help" in reply
    finally:
        await admin.close()


def yakuba_cli(yakuba, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(yakuba.config_path), *args],
                          capture_output=True, text=True, timeout=60)


async def test_admin_add_list_remove_from_the_shell(yakuba, homeserver):
    homeserver.register("somu")
    uid = homeserver.user_id("somu")
    added = yakuba_cli(yakuba, "admin", "add", uid)
    assert added.returncode == 0, added.stderr
    listed = yakuba_cli(yakuba, "admin", "list")
    assert uid in listed.stdout and "@admin:city-a.localhost" in listed.stdout
    # The new admin is invited to the admin room and may run commands there.
    somu = await User.login(homeserver.url, "somu")
    admin_room = yakuba.query("SELECT value FROM kv WHERE key = 'admin_room'")[0][0]
    await wait_for(lambda: somu.invited_rooms(), what="invite")
    assert admin_room in await somu.invited_rooms()
    bad = yakuba_cli(yakuba, "admin", "add", "not-a-user")
    assert bad.returncode == 2 and "not a Matrix user id" in bad.stderr
    remote = yakuba_cli(yakuba, "admin", "add", "@x:town-b.example")
    assert remote.returncode == 2
    removed = yakuba_cli(yakuba, "admin", "remove", uid)
    assert removed.returncode == 0 and uid not in yakuba_cli(yakuba, "admin", "list").stdout
    assert yakuba.query("SELECT COUNT(*) FROM audit WHERE action IN ('admin_added', 'admin_removed') "
                        "AND target = ?", (uid,)) == [(2,)]
