"""The transaction endpoint and the durable inbox, on the real Synapse."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from tests.integration.mx import User, wait_for

pytestmark = pytest.mark.integration


def fake_event(room: str = "!fake:city-a.localhost", body_type: str = "m.room.message") -> dict:
    return {"event_id": f"$test-{uuid.uuid4().hex}", "room_id": room, "type": body_type,
            "sender": "@alice:city-a.localhost", "origin_server_ts": 1, "content": {"msgtype": "m.text",
                                                                                  "body": "hi"}}


async def put_txn(yakuba, txn_id: str, body, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = body if isinstance(body, bytes) else None
    async with aiohttp.ClientSession() as s, s.put(
            f"{yakuba.url}/_matrix/app/v1/transactions/{txn_id}", headers=headers,
            json=None if data is not None else body, data=data) as r:
        return r.status


def processed(yakuba, event_id: str) -> int:
    rows = yakuba.query("SELECT COUNT(*) FROM audit WHERE action = 'event' AND event_id = ?", (event_id,))
    return rows[0][0] if rows else 0


async def test_wrong_or_missing_hs_token_is_rejected_and_nothing_is_stored(yakuba):
    ev = fake_event()
    assert await put_txn(yakuba, "t-wrong", {"events": [ev]}, "not-the-token") == 403
    assert await put_txn(yakuba, "t-missing", {"events": [ev]}, None) == 401
    assert yakuba.query("SELECT 1 FROM inbox WHERE event_id = ?", (ev["event_id"],)) == []


async def test_same_transaction_twice_is_processed_once(yakuba, homeserver):
    ev = fake_event()
    txn = f"t-dup-{uuid.uuid4().hex}"
    assert await put_txn(yakuba, txn, {"events": [ev]}, homeserver.hs_token) == 200
    assert await put_txn(yakuba, txn, {"events": [ev]}, homeserver.hs_token) == 200
    await wait_for(lambda: processed(yakuba, ev["event_id"]) == 1, what="processing")
    # Give the pipeline a moment to (wrongly) process it again.
    await wait_for(lambda: yakuba.query("SELECT status FROM inbox WHERE event_id = ?",
                                        (ev["event_id"],)) == [("done",)])
    assert processed(yakuba, ev["event_id"]) == 1
    assert yakuba.query("SELECT times_processed FROM inbox WHERE event_id = ?", (ev["event_id"],)) == [(1,)]


async def test_malformed_bodies_get_400_and_the_service_keeps_going(yakuba, homeserver):
    tok = homeserver.hs_token
    assert await put_txn(yakuba, "t-bad1", b"{not json", tok) == 400
    assert await put_txn(yakuba, "t-bad2", {"events": "nope"}, tok) == 400
    assert await put_txn(yakuba, "t-bad3", [1, 2, 3], tok) == 400
    good = fake_event()
    bad_events = [{"event_id": 5}, "string", {"type": "x"}, {**fake_event(), "content": "x"},
                  {**fake_event(), "origin_server_ts": "soon"}]
    assert await put_txn(yakuba, f"t-mixed-{uuid.uuid4().hex}", {"events": [*bad_events, good]}, tok) == 200
    await wait_for(lambda: processed(yakuba, good["event_id"]) == 1, what="good event after bad ones")


async def test_huge_and_odd_events_do_not_stop_the_pipeline(yakuba, homeserver):
    tok = homeserver.hs_token
    huge = fake_event()
    huge["content"]["body"] = "x" * 2_000_000
    odd = fake_event()
    odd["content"]["body"] = "\ud800 lone surrogate \U0001f600 \u202e"
    after = fake_event()
    status = await put_txn(yakuba, f"t-huge-{uuid.uuid4().hex}",
                           {"events": [huge, odd, after]}, tok)
    assert status == 200
    await wait_for(lambda: processed(yakuba, after["event_id"]) == 1, what="event after huge one")
    assert yakuba.query("SELECT 1 FROM inbox WHERE event_id = ?", (huge["event_id"],)) == []


async def test_a_message_in_a_room_without_bots_reaches_the_pipeline(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room(name="no bots here")
    event_id = await alice.send_text(room, "こんにちは")
    await wait_for(lambda: processed(yakuba, event_id) == 1, what="audit row for alice's message")
    row = yakuba.query("SELECT actor, room_id, details FROM audit WHERE event_id = ? AND action = 'event'",
                       (event_id,))[0]
    assert row[0] == alice.user_id and row[1] == room
    assert "こんにちは" not in row[2]  # never the body


async def test_killed_appservice_loses_nothing_and_doubles_nothing(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room(name="restart test")
    before = await alice.send_text(room, "before")
    await wait_for(lambda: processed(yakuba, before) == 1)
    yakuba.kill()  # SIGKILL: no clean shutdown
    sent = [await alice.send_text(room, f"while down {i}") for i in range(10)]
    yakuba.start()  # pings Synapse, which flushes its queue to us
    for ev in sent:
        await wait_for(lambda ev=ev: processed(yakuba, ev) == 1, timeout=60, what=f"{ev} after restart")
    after = await alice.send_text(room, "after restart")
    await wait_for(lambda: processed(yakuba, after) == 1)
    for ev in [before, *sent, after]:
        assert processed(yakuba, ev) == 1
        assert yakuba.query("SELECT times_processed FROM inbox WHERE event_id = ?", (ev,)) == [(1,)]


async def test_health_metrics_and_queries(yakuba, homeserver):
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{yakuba.url}/health") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with s.get(f"{yakuba.url}/metrics") as r:
            text = await r.text()
            assert "yakuba_events_processed_total" in text
            assert homeserver.as_token not in text and homeserver.hs_token not in text
        hdr = {"Authorization": f"Bearer {homeserver.hs_token}"}
        async with s.get(f"{yakuba.url}/_matrix/app/v1/users/@_yakuba:city-a.localhost", headers=hdr) as r:
            assert r.status == 200
        async with s.get(f"{yakuba.url}/_matrix/app/v1/users/@nobody:city-a.localhost", headers=hdr) as r:
            assert r.status == 404
        async with s.get(f"{yakuba.url}/_matrix/app/v1/rooms/%23x:city-a.localhost", headers=hdr) as r:
            assert r.status == 404
        async with s.post(f"{yakuba.url}/_matrix/app/v1/ping", headers=hdr, json={}) as r:
            assert r.status == 200
        async with s.post(f"{yakuba.url}/_matrix/app/v1/ping", json={}) as r:
            assert r.status == 401
    # Synapse's own ping reaches us with the right token.
    admin = await User.login(homeserver.url, "admin")
    async with aiohttp.ClientSession() as s, s.post(
            f"{homeserver.url}/_matrix/client/v1/appservice/yakuba/ping", json={},
            headers={"Authorization": f"Bearer {homeserver.as_token}"}) as r:
        assert r.status == 200, await r.text()
    assert admin.user_id


async def test_secrets_never_reach_the_log(yakuba, homeserver):
    """Runs late in the session (file order), after every feature has logged its share."""
    import json

    text = yakuba.log_path.read_text(errors="replace")
    secrets = [homeserver.as_token, homeserver.hs_token, homeserver.shared_secret]
    for session in (yakuba.data_dir / "bots").glob("*/session.json"):
        data = json.loads(session.read_text())
        secrets += [data["access_token"], data["pickle_key"]]
        assert session.stat().st_mode & 0o077 == 0  # mode 0600
    for secret in secrets:
        assert secret not in text
