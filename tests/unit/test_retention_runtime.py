"""The archive effect handler and flagging, against a real db + ArchiveStore and a fake Synapse."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from appservice.core.decisions import Effect
from appservice.features.retention import runtime
from appservice.features.retention.records import FLAG_STATE_TYPE
from appservice.lib.archive import RetentionPolicy
from appservice.matrix.media import Attachment, MediaError

from .test_retention_support import (
    ADMIN,
    ALICE,
    ARCHIVE_BOT,
    BOB,
    ROOM,
    Harness,
    event,
    fresh_logging,  # noqa: F401  (autouse fixture)
    harness,
    raw_of,
    room_state,
)


@pytest.fixture
async def h(tmp_path: Path):
    hs = await harness(tmp_path)
    hs.client.states[ROOM] = room_state()
    yield hs
    await hs.close()


def effect(kind: str) -> Effect:
    return Effect(kind="archive", payload={"room_id": ROOM, "kind": kind})


async def test_message_record_has_display_name_and_affiliation(h: Harness) -> None:
    await h.services.state.note_room(ROOM, name="総務課連絡")
    ev = event(content={"msgtype": "m.text", "body": "会議は15時"}, decrypted=True)
    await h.rt.on_archive(effect("message"), ev, h.services)
    (rec,) = h.records()
    assert rec["body"] == "会議は15時" and rec["encrypted"] is True
    assert rec["display_name"] == "有栖"  # looked up once from the room state
    assert rec["affiliation"] == {"department": "総務部 総務課", "title": "主事"}
    assert rec["room_name"] == "総務課連絡"
    # a second event of the same sender needs no lookup
    lookups = len(h.client.of("request"))
    await h.rt.on_archive(effect("message"), event(event_id="$e2"), h.services)
    assert len(h.client.of("request")) == lookups


async def test_replay_is_not_doubled(h: Harness) -> None:
    ev = event()
    for _ in range(3):
        await h.rt.on_archive(effect("message"), ev, h.services)
    assert [r["event_id"] for r in h.records()] == ["$e1"]


async def test_display_name_at_the_time(h: Harness) -> None:
    await h.rt.on_archive(effect("message"), event(event_id="$a"), h.services)
    rename = event("m.room.member", {"membership": "join", "displayname": "有栖 花子（総務）"},
                   event_id="$m", state_key=ALICE)
    await h.rt.on_archive(effect("membership"), rename, h.services)
    await h.rt.on_archive(effect("message"), event(event_id="$b"), h.services)
    names = [(r["event_id"], r["display_name"]) for r in h.records()]
    assert names == [("$a", "有栖"), ("$m", "有栖 花子（総務）"), ("$b", "有栖 花子（総務）")]


async def test_unknown_sender_without_state_access(h: Harness) -> None:
    h.client.states.clear()  # admin API says 404
    await h.rt.on_archive(effect("message"), event(sender="@carol:city-a.localhost"), h.services)
    (rec,) = h.records()
    assert rec["display_name"] is None and rec["affiliation"] is None


async def test_edit_and_redaction_keep_the_original(h: Harness) -> None:
    await h.rt.on_archive(effect("message"), event(event_id="$o", content={"msgtype": "m.text", "body": "元"}),
                          h.services)
    edit = event(event_id="$ed", content={"msgtype": "m.text", "body": "* 新", "m.new_content": {
        "msgtype": "m.text", "body": "新"}, "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"}})
    await h.rt.on_archive(effect("edit"), edit, h.services)
    red = event("m.room.redaction", {"redacts": "$o"}, event_id="$r", sender=BOB)
    await h.rt.on_archive(effect("redaction"), red, h.services)
    kinds = [(r["event_id"], r["kind"], r["body"]) for r in h.records()]
    assert kinds == [("$o", "message", "元"), ("$ed", "edit", "新"), ("$r", "redaction", None)]
    assert h.rt.store.verify(ROOM).ok


async def test_media_is_stored_by_hash(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\x89PNG fake image bytes"

    async def fake_download(client, ev, *, max_bytes):
        assert max_bytes == h.rt.settings.media_max_bytes
        return Attachment(data, "写真.png", "image/png", {}, True)

    monkeypatch.setattr(runtime, "download", fake_download)
    ev = event(content={"msgtype": "m.image", "body": "写真.png", "info": {"mimetype": "image/png"},
                        "file": {"url": "mxc://x/y"}}, decrypted=True)
    await h.rt.on_archive(effect("media"), ev, h.services)
    (rec,) = h.records()
    sha = hashlib.sha256(data).hexdigest()
    assert rec["media"] == {"sha256": sha, "name": "写真.png", "mimetype": "image/png", "size": len(data)}
    assert h.rt.store.get_media(sha) == data
    assert h.rt.store.verify().ok


async def test_permanent_media_failure_still_records_the_message(h: Harness, monkeypatch) -> None:
    async def gone(client, ev, *, max_bytes):
        raise MediaError("http_404")

    monkeypatch.setattr(runtime, "download", gone)
    ev = event(content={"msgtype": "m.file", "body": "議事録.pdf", "info": {"mimetype": "application/pdf",
                                                                         "size": 10}, "url": "mxc://x/y"})
    await h.rt.on_archive(effect("media"), ev, h.services)
    (rec,) = h.records()
    assert rec["media"] == {"sha256": None, "name": "議事録.pdf", "mimetype": "application/pdf", "size": 10}
    rows = await h.db.fetchall("SELECT action, details FROM audit WHERE action = 'archive_media_failed'")
    assert len(rows) == 1 and "http_404" in rows[0]["details"]


async def test_transient_failure_is_retried_from_the_inbox(h: Harness, monkeypatch) -> None:
    calls = {"n": 0}

    async def flaky(client, ev, *, max_bytes):
        calls["n"] += 1
        if calls["n"] == 1:
            raise MediaError("http_502")
        return Attachment(b"data", "a.bin", "application/octet-stream", {}, False)

    monkeypatch.setattr(runtime, "download", flaky)
    ev = event(content={"msgtype": "m.file", "body": "a.bin", "url": "mxc://x/y"})
    await h.services.inbox.put_transaction("t1", [raw_of(ev)])
    with pytest.raises(MediaError):
        await h.rt.on_archive(effect("media"), ev, h.services)
    assert h.records() == []
    assert await h.rt.tables.retry_count() == 1
    assert await h.rt.retry_due() == 0  # not due yet (backoff)
    await h.db.execute("UPDATE retention_retry SET next_at = 0")
    assert await h.rt.retry_due() == 1
    assert [r["event_id"] for r in h.records()] == ["$e1"]
    assert await h.rt.tables.retry_count() == 0


async def test_store_failure_then_replay_clears_the_retry(h: Harness, monkeypatch) -> None:
    real = h.rt.store.append

    def broken(room, records):
        raise OSError("disk full")

    monkeypatch.setattr(h.rt.store, "append", broken)
    with pytest.raises(OSError):
        await h.rt.on_archive(effect("message"), event(), h.services)
    assert await h.rt.tables.retry_count() == 1
    monkeypatch.setattr(h.rt.store, "append", real)
    await h.rt.on_archive(effect("message"), event(), h.services)  # the pipeline replays it
    assert await h.rt.tables.retry_count() == 0 and len(h.records()) == 1


async def test_flag_sets_policy_state_invites_and_announces(h: Harness) -> None:
    policy = RetentionPolicy(5, "庶務", "総務課")
    out = await h.rt.flag(ROOM, policy, actor=ADMIN, via="admin")
    assert out.state_event and out.bot_joined and out.notice_sent and out.problems == []
    assert await h.rt.tables.is_flagged(ROOM)
    assert h.rt.store.policy(ROOM) == policy
    (put,) = h.client.of("put_state")
    assert put[2] == FLAG_STATE_TYPE and put[4] == ALICE  # masquerading as the room's admin
    assert put[3]["active"] is True and put[3]["retention_years"] == 5 and put[3]["flagged_by"] == ADMIN
    assert h.client.of("invite") == [("invite", ROOM, ARCHIVE_BOT, ALICE)]
    assert h.client.of("join") == [("join", ROOM, ARCHIVE_BOT)]
    (notice,) = [c for c in h.client.of("send") if c[1] == ROOM]
    assert notice[4] == ARCHIVE_BOT and "5年" in notice[3]["body"] and notice[3]["msgtype"] == "m.notice"
    # flagging again with the same policy does not grow the policy history
    await h.rt.flag(ROOM, policy, actor=ADMIN, via="admin")
    assert len(list(h.rt.store.backend.read_log("rooms/_21room_3acity-a.localhost/policy"))) == 1


async def test_flag_without_anyone_with_power(h: Harness) -> None:
    h.client.states[ROOM] = room_state(pl_users={}, members={BOB: "坊"}, creator=ALICE)
    h.client.states[ROOM][1]["content"]["invite"] = 50
    out = await h.rt.flag(ROOM, RetentionPolicy(1), actor=ADMIN, via="admin")
    assert not out.state_event and not out.bot_joined
    assert out.problems == ["retention.problem.state_event", "retention.problem.bot_join"]
    assert await h.rt.tables.is_flagged(ROOM)  # the flag holds; the reply says what is missing


async def test_v12_creator_counts_as_having_power(h: Harness) -> None:
    h.client.states[ROOM] = room_state(pl_users={}, version="12", creator=BOB)
    out = await h.rt.flag(ROOM, RetentionPolicy(3), actor=ADMIN, via="admin")
    assert out.state_event and h.client.of("put_state")[0][4] == BOB


async def test_flag_unknown_room(h: Harness) -> None:
    with pytest.raises(runtime.RoomNotFound):
        await h.rt.flag("!nope:city-a.localhost", RetentionPolicy(1), actor=ADMIN, via="admin")


async def test_unflag_records_the_end_and_leaves(h: Harness) -> None:
    await h.rt.flag(ROOM, RetentionPolicy(1), actor=ADMIN, via="admin")
    flag = await h.rt.unflag(ROOM, actor=ADMIN)
    assert flag is not None and not await h.rt.tables.is_flagged(ROOM)
    assert ("leave", ROOM, ARCHIVE_BOT) in h.client.calls
    last = h.records()[-1]
    assert last["kind"] == "notice" and last["msgtype"] == FLAG_STATE_TYPE and last["body"] == "公文書保存: 終了"
    assert await h.rt.unflag(ROOM, actor=ADMIN) is None


def test_power_helpers() -> None:
    state = room_state(pl_users={ALICE: 100, BOB: 50})
    assert runtime.user_level(state, ALICE) == 100 and runtime.user_level(state, "@x:y") == 0
    assert runtime.level_needed(state, state_type=FLAG_STATE_TYPE) == 50
    assert runtime.level_needed(state) == 0
    pick = runtime.pick_actor(state, 50, prefer=[BOB], is_local=lambda u: True, exclude=())
    assert pick == BOB
    assert runtime.pick_actor(state, 101, prefer=[], is_local=lambda u: True, exclude=()) is None
    no_pl = [e for e in state if e["type"] != "m.room.power_levels"]
    assert runtime.user_level(no_pl, ALICE) == 100 and runtime.level_needed(no_pl, state_type="x") == 0
