"""The retention bot on the real Synapse: flagged rooms mirrored into the archive.

The session Yakuba is shared, so each test uses its own rooms, and tampering happens on a copy
of the archive directory.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nio.crypto.attachments import decrypt_attachment, encrypt_attachment
from PIL import Image

from appservice.lib.archive import ArchiveStore
from appservice.lib.archive.cli import archive_main
from appservice.lib.archive.export import KIND_LABELS, affiliation_text, body_text, jst_text
from tests.integration.admin_room import BOT, admin_client, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, wait_for

pytestmark = pytest.mark.integration
ARCHIVE = "@_yakuba_archive:city-a.localhost"


def open_store(yakuba, root: Path | None = None) -> ArchiveStore:
    root = root or yakuba.data_dir / "archive"
    return ArchiveStore(root, signing_key=root / "keys" / "archive-ed25519.key")


def records(yakuba, room: str) -> list[dict[str, Any]]:
    return list(open_store(yakuba).read(room))


def by_event(yakuba, room: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in records(yakuba, room):
        out.setdefault(rec["event_id"], []).append(rec)
    return out


async def wait_records(yakuba, room: str, event_ids: list[str], timeout: float = 60) -> dict[str, list]:
    def check():
        got = by_event(yakuba, room)
        return got if all(e in got for e in event_ids) else None
    return await wait_for(check, timeout=timeout, what=f"{len(event_ids)} archived events")


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


async def upload_as(user: E2EEUser, data: bytes) -> str:
    async with aiohttp.ClientSession() as s, s.post(
            f"{user.client.homeserver}/_matrix/media/v3/upload", data=data,
            headers={"Authorization": f"Bearer {user.client.access_token}",
                     "Content-Type": "application/octet-stream"}) as r:
        body = await r.json()
        assert r.status == 200, body
        return body["content_uri"]


async def download_as(user: E2EEUser, mxc: str) -> bytes:
    server, media_id = mxc[len("mxc://"):].split("/", 1)
    async with aiohttp.ClientSession() as s, s.get(
            f"{user.client.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}",
            headers={"Authorization": f"Bearer {user.client.access_token}"}) as r:
        assert r.status == 200
        return await r.read()


async def send_encrypted_image(user: E2EEUser, room: str, data: bytes) -> str:
    ciphertext, keys = encrypt_attachment(data)
    mxc = await upload_as(user, ciphertext)
    return await user.send(room, "m.room.message", {
        "msgtype": "m.image", "body": "現場写真.png", "info": {"mimetype": "image/png", "size": len(data)},
        "file": {"url": mxc, **keys}})


async def exported_file(admin: E2EEUser, room: str, text: str, ext: str) -> bytes:
    """Run an export command in the encrypted admin room; return the decrypted file."""
    before = len(admin.received)
    await command(admin, room, text, expect="出力しました", timeout=60)

    def file_event():
        for rid, ev in admin.received[before:]:
            if rid == room and ev.sender == BOT and getattr(ev, "url", None) \
                    and str(getattr(ev, "body", "")).endswith("." + ext):
                return ev
        return None
    ev = await wait_for(file_event, timeout=30, what=f"{ext} export file")
    assert ev.source["content"]["file"]["url"] == ev.url  # an encrypted attachment, not a plain url
    assert "url" not in ev.source["content"]
    blob = await download_as(admin, ev.url)
    return decrypt_attachment(blob, ev.key["k"], ev.hashes["sha256"], ev.iv)


async def flag_from_admin_room(admin: E2EEUser, admin_room: str, room: str, extra: str = "") -> str:
    return await command(admin, admin_room, f"!yakuba archive flag {room} --years 5 --category 庶務 "
                                            f"--dept 総務課 {extra}".strip(), expect="保存対象に指定", timeout=60)


async def encrypted_room_with_alice_and_bob(homeserver, name: str) -> tuple[E2EEUser, E2EEUser, str]:
    alice = await E2EEUser(homeserver.url, "alice", homeserver.server_name).start()
    bob = await E2EEUser(homeserver.url, "bob", homeserver.server_name).start()
    room = await alice.create_encrypted_room([bob.user_id], name=name)
    await bob.join(room)
    await alice.wait_member(room, bob.user_id)
    return alice, bob, room


async def wait_archive_bot(yakuba, users: list[E2EEUser], room: str) -> None:
    for user in users:
        await user.wait_member(room, ARCHIVE, timeout=30)
    await wait_for(lambda: any(ev.sender == ARCHIVE for rid, ev in users[0].received if rid == room),
                   timeout=30, what="the archive bot's notice")
    # The bot's device must be known to the senders before they encrypt for it.
    for user in users:
        await wait_for(lambda u=user: ARCHIVE in u.client.device_store.users, timeout=20,
                       what="archive bot device keys")


async def test_encrypted_flagged_room_is_archived_in_plaintext(yakuba, homeserver):
    admin, admin_room = await admin_client(yakuba, homeserver)
    alice, bob, room = await encrypted_room_with_alice_and_bob(homeserver, "総務課 連絡（暗号化）")
    try:
        reply = await flag_from_admin_room(admin, admin_room, room)
        assert room in reply and "5年" in reply
        await wait_archive_bot(yakuba, [alice, bob], room)
        notice = next(ev for rid, ev in alice.received if rid == room and ev.sender == ARCHIVE)
        assert "公文書として保存" in notice.body and "5年" in notice.body and notice.decrypted
        plain_alice = await User.login(homeserver.url, "alice")
        flag_state = await plain_alice.call(
            "GET", f"/_matrix/client/v3/rooms/{room}/state/jp.yakuba.archive/")
        assert flag_state["active"] is True and flag_state["retention_years"] == 5
        assert flag_state["category"] == "庶務" and flag_state["department"] == "総務課"

        first = await alice.send_text(room, "明日の会議は10時からです")
        reply_ev = await bob.send(room, "m.room.message", {
            "msgtype": "m.text", "body": "承知しました",
            "m.relates_to": {"m.in_reply_to": {"event_id": first}}})
        edit = await alice.send(room, "m.room.message", {
            "msgtype": "m.text", "body": "* 明日の会議は11時からです",
            "m.new_content": {"msgtype": "m.text", "body": "明日の会議は11時からです"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": first}})
        oops = await bob.send_text(room, "誤送信しました")
        redaction = (await bob.client.room_redact(room, oops, reason="誤送信")).event_id
        image = png_bytes()
        image_ev = await send_encrypted_image(alice, room, image)

        got = await wait_records(yakuba, room, [first, reply_ev, edit, oops, redaction, image_ev])
        for ev_id in (first, reply_ev, edit, oops, redaction, image_ev):
            assert len(got[ev_id]) == 1, ev_id  # once, though it came as ciphertext and plaintext
        msg = got[first][0]
        assert msg["kind"] == "message" and msg["body"] == "明日の会議は10時からです"
        assert msg["encrypted"] is True and msg["sender"] == alice.user_id
        assert msg["affiliation"] == {"department": "総務部 総務課", "title": "主事"}
        assert msg["room_name"] == "総務課 連絡（暗号化）" and msg["display_name"] == "alice"
        assert msg["ts_jst"].endswith("+09:00") and msg["ts_utc"].endswith("+00:00")
        assert got[reply_ev][0]["affiliation"]["department"] == "企画部 情報政策課"
        assert got[reply_ev][0]["relates_to"]["in_reply_to"] == first
        assert got[edit][0]["kind"] == "edit" and got[edit][0]["body"] == "明日の会議は11時からです"
        assert got[edit][0]["relates_to"]["event_id"] == first
        assert got[oops][0]["body"] == "誤送信しました"  # the original stays archived …
        # … and so does its deletion
        assert got[redaction][0]["kind"] == "redaction" and got[redaction][0]["redacts"] == oops
        media = got[image_ev][0]["media"]
        assert got[image_ev][0]["kind"] == "media" and media["mimetype"] == "image/png"
        assert media["sha256"] == hashlib.sha256(image).hexdigest() and media["size"] == len(image)
        store = open_store(yakuba)
        assert store.get_media(media["sha256"]) == image  # decrypted, stored by hash
        report = store.verify(room)
        assert report.ok, [str(p) for p in report.problems]
        assert not any(r["event_id"] in (first, edit) and r["kind"] == "message" and r["body"] is None
                       for r in records(yakuba, room))
        assert "明日の会議" not in yakuba.log_tail(5000)  # bodies never reach the log

        listing = await command(admin, admin_room, "!yakuba archive list", expect=room)
        assert "5年" in listing and "庶務" in listing

        # Exports from the encrypted admin room: the file itself is an encrypted attachment.
        csv_bytes = await exported_file(admin, admin_room, f"!yakuba archive export {room} --format csv", "csv")
        snapshot = records(yakuba, room)
        assert csv_bytes.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
        assert rows[0] == ["日時", "発信者", "表示名", "所属", "本文", "種別", "編集/削除"]
        assert len(rows) - 1 == len(snapshot)
        for row, rec in zip(rows[1:], snapshot, strict=True):
            assert row[0] == jst_text(rec) and row[1] == "'" + rec["sender"]
            assert row[2] == (rec["display_name"] or "") and row[3] == affiliation_text(rec)
            assert row[4] == body_text(rec) and row[5] == KIND_LABELS[rec["kind"]]
        first_row = rows[1 + [r["event_id"] for r in snapshot].index(first)]
        assert "編集あり" in first_row[6]
        assert "削除済み" in rows[1 + [r["event_id"] for r in snapshot].index(oops)][6]

        jsonl = await exported_file(admin, admin_room, f"!yakuba archive export {room} --format jsonl", "jsonl")
        assert [json.loads(line) for line in jsonl.decode().splitlines()] == [r.thaw() for r in snapshot]

        html = (await exported_file(admin, admin_room,
                                    f"!yakuba archive export {room} --format html --from 2000-01-01",
                                    "html")).decode()
        for rec in snapshot:
            assert f'data-event-id="{rec["event_id"]}"' in html
        assert base64.b64encode(image).decode() in html and "明日の会議は11時からです" in html
    finally:
        for user in (admin, alice, bob):
            await user.close()


async def test_moderator_flags_here_and_tampering_is_named(yakuba, homeserver, tmp_path):
    alice = await User.login(homeserver.url, "alice")
    bob = await User.login(homeserver.url, "bob")
    room = await alice.create_room(invite=[bob.user_id], name="例規 検討")
    await bob.join(room)
    # bob has no power in alice's room: refused (privately), nothing flagged
    await bob.send_text(room, "!yakuba archive here --years 5")
    await wait_for(lambda: yakuba.query("SELECT 1 FROM audit WHERE action = 'command_refused' AND actor = ? "
                                        "AND details LIKE '%archive here%'", (bob.user_id,)), timeout=20)
    assert not yakuba.query("SELECT 1 FROM retention_flags WHERE room_id = ?", (room,))
    await alice.send_text(room, "!yakuba archive here --years 30 --category 例規")
    await wait_for(lambda: yakuba.query("SELECT years, via, flagged_by FROM retention_flags "
                                        "WHERE room_id = ? AND active = 1", (room,)), timeout=30)
    assert yakuba.query("SELECT years, via, flagged_by FROM retention_flags WHERE room_id = ?",
                        (room,)) == [(30, "room", alice.user_id)]
    await wait_for(lambda: _joined(alice, room, ARCHIVE), timeout=30, what="archive bot joined")
    state = await alice.call("GET", f"/_matrix/client/v3/rooms/{room}/state/jp.yakuba.archive/")
    assert state["retention_years"] == 30 and state["flagged_by"] == alice.user_id
    sent = [await alice.send_text(room, f"第{i}条の改正案") for i in range(3)]
    got = await wait_records(yakuba, room, sent)
    assert all(got[e][0]["encrypted"] is False for e in sent)
    assert open_store(yakuba).policy(room).years == 30

    # Tamper with a COPY: flip one byte inside the second message's body.
    copy = tmp_path / "archive"
    shutil.copytree(yakuba.data_dir / "archive", copy)
    store = open_store(yakuba, copy)
    seg = next(copy.joinpath(n) for n in (line.location for line in store.iter_lines(room)))
    raw = seg.read_bytes()
    needle = "第1条".encode()
    pos = raw.index(needle) + 1
    seg.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0x01]) + raw[pos + 1:])
    report = open_store(yakuba, copy).verify(room)
    assert not report.ok
    assert any(p.event_id == sent[1] and p.code == "modified" for p in report.problems), \
        [str(p) for p in report.problems]
    out, err = io.StringIO(), io.StringIO()
    assert archive_main(["verify", "--room", room], root=copy, stdout=out, stderr=err,
                        signing_key=copy / "keys" / "archive-ed25519.key") == 1
    assert sent[1] in out.getvalue()
    assert open_store(yakuba).verify(room).ok  # the live archive is untouched


async def _joined(user: User, room: str, member: str) -> bool:
    try:
        ev = await user.call("GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{member}")
    except Exception:
        return False
    return ev.get("membership") == "join"


async def test_unflag_stops_mirroring_and_bad_years_are_refused(yakuba, homeserver):
    admin, admin_room = await admin_client(yakuba, homeserver)
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room(name="一時的な保存")
    try:
        err = await command(admin, admin_room, f"!yakuba archive flag {room} --years 2", expect="--years")
        assert "1, 3, 5, 10, 30" in err
        await flag_from_admin_room(admin, admin_room, room)
        await wait_for(lambda: _joined(alice, room, ARCHIVE), timeout=30, what="archive bot joined")
        kept = await alice.send_text(room, "保存される")
        await wait_records(yakuba, room, [kept])
        await command(admin, admin_room, f"!yakuba archive unflag {room}", expect="保存を終了")
        later = await alice.send_text(room, "保存されない")
        marker = await alice.send_text(room, "marker")
        await wait_for(lambda: yakuba.query("SELECT status FROM inbox WHERE event_id = ?", (marker,))
                       == [("done",)], timeout=30)
        got = by_event(yakuba, room)
        assert kept in got and later not in got and marker not in got
        assert records(yakuba, room)[-1]["body"] == "公文書保存: 終了"
        assert not await _joined(alice, room, ARCHIVE)
        listing = await command(admin, admin_room, "!yakuba archive list", expect="保存")
        assert room not in listing
    finally:
        await admin.close()


async def test_kill_mid_stream_loses_and_doubles_nothing(yakuba, homeserver):
    admin, admin_room = await admin_client(yakuba, homeserver)
    alice, bob, room = await encrypted_room_with_alice_and_bob(homeserver, "停止試験")
    sent: list[str] = []
    try:
        await flag_from_admin_room(admin, admin_room, room)
        await wait_archive_bot(yakuba, [alice, bob], room)
        await admin.close()

        async def stream(n: int) -> None:
            for _ in range(n):
                sent.append(await alice.send_text(room, f"連番メッセージ {len(sent)}"))
                await asyncio.sleep(0.05)

        await stream(15)
        yakuba.kill()  # SIGKILL while events are in flight
        await stream(15)  # sent while Yakuba is down
        yakuba.start()
        await stream(10)
        got = await wait_records(yakuba, room, sent, timeout=120)
        for ev_id in sent:
            assert len(got[ev_id]) == 1, f"{ev_id} archived {len(got[ev_id])} times"
            assert got[ev_id][0]["body"].startswith("連番メッセージ")
        all_ids = [r["event_id"] for r in records(yakuba, room)]
        assert len(all_ids) == len(set(all_ids))  # no duplicate anywhere in the room's chain
        seqs = [r["seq"] for r in records(yakuba, room)]
        assert seqs == list(range(1, len(seqs) + 1))
        report = open_store(yakuba).verify(room)
        assert report.ok, [str(p) for p in report.problems]
    finally:
        if yakuba.proc is None or yakuba.proc.poll() is not None:
            yakuba.start()
        for user in (alice, bob):
            await user.close()


async def test_backfill_plain_history_and_refuse_encrypted(yakuba, homeserver):
    from datetime import datetime

    from appservice.lib.archive.record import JST

    admin, admin_room = await admin_client(yakuba, homeserver)
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room(name="過去の記録")
    secret = await alice.create_room(name="過去の記録（暗号化）", encrypted=True)
    today = datetime.now(JST).date().isoformat()
    try:
        before = [await alice.send_text(room, f"指定前のメッセージ {i}") for i in range(3)]
        marker = await alice.send_text(room, "marker")
        await wait_for(lambda: yakuba.query("SELECT status FROM inbox WHERE event_id = ?", (marker,))
                       == [("done",)], timeout=30)
        assert not any(e in by_event(yakuba, room) for e in before)  # not flagged yet

        reply = await command(admin, admin_room, f"!yakuba archive flag {room} --years 5 --category 庶務 "
                                                 f"--backfill-from {today}", expect="さかのぼって保存", timeout=60)
        assert today in reply
        got = await wait_records(yakuba, room, [*before, marker])
        for ev_id in (*before, marker):
            assert len(got[ev_id]) == 1, ev_id
        ids = [r["event_id"] for r in records(yakuba, room)]
        assert [ids.index(e) for e in (*before, marker)] == sorted(ids.index(e) for e in (*before, marker))
        assert [got[e][0]["body"] for e in before] == [f"指定前のメッセージ {i}" for i in range(3)]
        assert len(ids) == len(set((r["event_id"], r["kind"]) for r in records(yakuba, room)))
        assert yakuba.query("SELECT result FROM audit WHERE action = 'archive_backfill' AND target = ?",
                            (room,)) == [("ok",)]
        assert open_store(yakuba).verify(room).ok

        refused = await command(admin, admin_room, f"!yakuba archive flag {secret} --years 5 "
                                                   f"--backfill-from {today}", expect="暗号化ルーム")
        assert "復号できません" in refused
        assert not yakuba.query("SELECT 1 FROM retention_flags WHERE room_id = ?", (secret,))
        err = await command(admin, admin_room, f"!yakuba archive flag {room} --years 5 --backfill-from 2025/01/01",
                            expect="--backfill-from")
        assert "YYYY-MM-DD" in err
    finally:
        await admin.close()
