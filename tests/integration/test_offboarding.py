"""Offboarding on the real Synapse, driven through the ENCRYPTED admin room (matrix-nio).

Every test makes its own users (`ob_*`, `csv_*`, `cli_*`): the shared alice/bob/carol/admin
are never locked or deactivated. Scheduled jobs move the service clock and put it back.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from nio.crypto.attachments import decrypt_attachment, encrypt_attachment

from appservice.matrix.admin import SynapseAdmin
from appservice.matrix.client import MatrixClient
from tests.conftest import WORKING_TIME
from tests.integration.admin_room import BOT, admin_client, command
from tests.integration.mx import MatrixError, User, wait_for

pytestmark = pytest.mark.integration
S = "city-a.localhost"
REPO = Path(__file__).resolve().parents[2]


def uid(name: str) -> str:
    return f"@{name}:{S}"


def q(v: str) -> str:
    return quote(v, safe="")


def job_status(yakuba, user_id: str) -> str | None:
    rows = yakuba.query("SELECT status FROM offboarding_jobs WHERE user_id = ? ORDER BY id DESC LIMIT 1", (user_id,))
    return rows[0][0] if rows else None


def latest_plan(yakuba, user_or_marker: str) -> tuple[str, str, list[dict]]:
    rows = yakuba.query("SELECT code, message_event_id, entries FROM offboarding_plans WHERE entries LIKE ? "
                        "ORDER BY created_at DESC LIMIT 1", (f"%{user_or_marker}%",))
    assert rows, f"no plan mentioning {user_or_marker}"
    code, message_id, entries = rows[0]
    return code, message_id, json.loads(entries)


def audit(yakuba, action: str, target: str) -> list[tuple]:
    return yakuba.query("SELECT result, details, actor FROM audit WHERE action = ? AND target = ? ORDER BY id",
                        (action, target))


async def login_error(hs_url: str, name: str) -> MatrixError:
    with pytest.raises(MatrixError) as exc:
        await User.login(hs_url, name)
    return exc.value


async def whoami_error(user: User) -> MatrixError:
    with pytest.raises(MatrixError) as exc:
        await user.call("GET", "/_matrix/client/v3/account/whoami")
    return exc.value


def synapse_admin(homeserver) -> SynapseAdmin:
    return SynapseAdmin(MatrixClient(homeserver.url, homeserver.as_token, BOT,
                                     as_sender=f"@_yakuba_appservice:{S}"))


async def power(user: User, room: str) -> dict:
    return (await user.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.power_levels"))["users"]


# -- lost phones --------------------------------------------------------------------------------

async def test_lock_blocks_every_session_and_unlock_needs_a_new_login(yakuba, homeserver):
    homeserver.register("ob_lost")
    phone = await User.login(homeserver.url, "ob_lost")
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba lock {uid('ob_lost')} 端末紛失（電車内）", expect=uid("ob_lost"))
        err = await whoami_error(phone)
        assert (err.status, err.errcode) == (401, "M_USER_LOCKED")
        assert (await login_error(homeserver.url, "ob_lost")).errcode == "M_USER_LOCKED"
        rows = audit(yakuba, "lock", uid("ob_lost"))
        assert rows[-1][0] == "ok" and json.loads(rows[-1][1])["reason"] == "端末紛失（電車内）"
        assert rows[-1][2] == uid("admin")

        await command(admin, room, f"!yakuba unlock {uid('ob_lost')}", expect=uid("ob_lost"))
        again = await User.login(homeserver.url, "ob_lost")
        assert (await again.call("GET", "/_matrix/client/v3/account/whoami"))["user_id"] == uid("ob_lost")
        # The lost phone's session does not come back with the account.
        assert (await whoami_error(phone)).errcode == "M_UNKNOWN_TOKEN"
        assert audit(yakuba, "unlock.logout", uid("ob_lost")) and audit(yakuba, "unlock", uid("ob_lost"))
    finally:
        await admin.close()


async def test_logout_ends_all_sessions_but_a_new_login_works(yakuba, homeserver):
    homeserver.register("ob_phone")
    phone = await User.login(homeserver.url, "ob_phone")
    laptop = await User.login(homeserver.url, "ob_phone")
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba logout {uid('ob_phone')}", expect=uid("ob_phone"))
        for old in (phone, laptop):
            assert (await whoami_error(old)).status == 401
        fresh = await User.login(homeserver.url, "ob_phone")
        assert (await fresh.call("GET", "/_matrix/client/v3/account/whoami"))["user_id"] == uid("ob_phone")
        assert json.loads(audit(yakuba, "logout", uid("ob_phone"))[-1][1])["devices"] >= 2  # + registration
    finally:
        await admin.close()


async def test_suspend_can_read_cannot_send(yakuba, homeserver):
    homeserver.register("ob_susp")
    user = await User.login(homeserver.url, "ob_susp")
    r = await user.create_room(name="調査対象")
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba suspend {uid('ob_susp')} 調査中", expect=uid("ob_susp"))
        with pytest.raises(MatrixError) as exc:
            await user.send_text(r, "送れないはず")
        assert exc.value.errcode == "M_USER_SUSPENDED"
        assert await user.messages(r)  # reading still works
        await command(admin, room, f"!yakuba unsuspend {uid('ob_susp')}", expect=uid("ob_susp"))
        assert await user.send_text(r, "また送れる")
    finally:
        await admin.close()


async def test_refusals_are_clear_and_audited(yakuba, homeserver):
    homeserver.register("ob_gone")
    sa = synapse_admin(homeserver)
    await sa.deactivate(uid("ob_gone"))
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, "!yakuba lock @boss:city-b.localhost 紛失", expect="他のサーバー")
        await command(admin, room, f"!yakuba offboard {BOT}", expect="Yakuba 自身")
        await command(admin, room, f"!yakuba logout {uid('ob_nobody')}", expect="いません")
        await command(admin, room, f"!yakuba lock {uid('admin')} テスト", expect="最後のサーバー管理者")
        await command(admin, room, f"!yakuba offboard {uid('ob_gone')}", expect="すでに無効化")
        await command(admin, room, f"!yakuba lock {uid('ob_gone')} 紛失", expect="すでに無効化")
        await command(admin, room, "!yakuba lock @ob_x", expect="理由を書いてください")
        await command(admin, room, "!yakuba offboard ob_gone", expect="ユーザー ID ではありません")
        await command(admin, room, "!yakuba offboard @a --at yesterday", expect="日時として読めません")
        await command(admin, room, "!yakuba confirm ZZZZZZ", expect="見つかりません")
        info = await sa.user_info(uid("admin"))
        assert info and not info["locked"]
        assert audit(yakuba, "lock", uid("admin"))[-1][0] == "refused"
        assert yakuba.query("SELECT 1 FROM audit WHERE action = 'offboard.plan' AND result = 'refused' "
                            "AND target = ?", (BOT,))
    finally:
        info = await sa.user_info(uid("admin"))
        if info and info.get("locked"):  # never leave the shared admin locked
            await sa.set_locked(uid("admin"), False)
        await sa.client.close()
        await admin.close()


# -- leavers ----------------------------------------------------------------------------------------

async def test_offboard_hands_over_rooms_then_deactivates(yakuba, homeserver):
    for name in ("ob_leaver", "ob_succ", "ob_other", "ob_founder"):
        homeserver.register(name)
    leaver = await User.login(homeserver.url, "ob_leaver")
    other = await User.login(homeserver.url, "ob_other")
    founder = await User.login(homeserver.url, "ob_founder")
    succ = await User.login(homeserver.url, "ob_succ")
    # 1. created by the leaver (room v12: creator power, not in power_levels.users)
    created = await leaver.create_room(name="税務課", invite=[uid("ob_other")], room_version="12")
    await other.join(created)
    note = await leaver.send_text(created, "引き継ぎメモ: 書類は棚 3 にあります")
    # 2. the leaver is the only admin left (the founder gave them 100 and left)
    only = await founder.create_room(name="防災連絡", invite=[uid("ob_leaver"), uid("ob_other")],
                                     room_version="12",
                                     power_level_content_override={"users": {uid("ob_leaver"): 100}})
    await leaver.join(only)
    await other.join(only)
    await founder.call("POST", f"/_matrix/client/v3/rooms/{q(only)}/leave", {})
    # 3. someone else's room: nothing to hand over
    theirs = await other.create_room(name="雑談", invite=[uid("ob_leaver")])
    await leaver.join(theirs)
    assert "creator" not in json.dumps(await power(leaver, created))

    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba offboard {uid('ob_leaver')} --successor {uid('ob_succ')}",
                      expect="!yakuba confirm")
        code, _, entries = latest_plan(yakuba, uid("ob_leaver"))
        assert entries[0]["rooms"] == 3
        handed = {h["room"]: h for h in entries[0]["handovers"]}
        assert set(handed) == {created, only} and handed[created]["creator"]
        assert job_status(yakuba, uid("ob_leaver")) is None  # a dry run changes nothing
        await command(admin, room, f"!yakuba confirm {code}", expect=code)
        await wait_for(lambda: job_status(yakuba, uid("ob_leaver")) == "done", timeout=60, what="offboarding")
        await command(admin, room, "!yakuba status", expect="Synapse")  # (the report follows in the room)
        await wait_for(lambda: any(uid("ob_leaver") in t and "完了" in t for t in admin.texts_from(BOT, room)),
                       timeout=30, what="final report")
    finally:
        await admin.close()

    assert (await login_error(homeserver.url, "ob_leaver")).status in (401, 403)
    bodies = {e["event_id"]: e.get("content", {}).get("body") for e in await other.messages(created)}
    assert bodies.get(note) == "引き継ぎメモ: 書類は棚 3 にあります"
    for r in (created, only):
        assert (await power(other, r)).get(uid("ob_succ")) == 100
        assert r in await succ.joined_rooms()
    assert uid("ob_succ") not in await power(other, theirs)
    assert {r[0] for r in audit(yakuba, "offboard.handover.power", uid("ob_succ"))} == {"ok"}
    assert audit(yakuba, "offboard.deactivate", uid("ob_leaver"))[-1][0] == "ok"
    confirm = yakuba.query("SELECT actor, details FROM audit WHERE action = 'offboard.confirm' AND details LIKE ?",
                           (f"%{code}%",))
    assert confirm[-1][0] == uid("admin") and json.loads(confirm[-1][1])["requested_by"] == uid("admin")


async def test_scheduled_offboarding_fires_at_its_time_confirmed_by_reaction(yakuba, homeserver):
    homeserver.register("ob_sched")
    yakuba.set_clock(WORKING_TIME)
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba offboard {uid('ob_sched')} --at 2026-11-25T12:00",
                      expect="!yakuba confirm")
        _, plan_event, entries = latest_plan(yakuba, uid("ob_sched"))
        assert entries[0]["due"] is not None
        await admin.send(room, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": plan_event, "key": "✅"}})
        await wait_for(lambda: job_status(yakuba, uid("ob_sched")) == "scheduled", timeout=30, what="scheduled")
        await asyncio.sleep(2)  # several scheduler polls: not due yet
        assert job_status(yakuba, uid("ob_sched")) == "scheduled"
        await User.login(homeserver.url, "ob_sched")
        yakuba.set_clock("2026-11-25T12:00:05+09:00")
        await wait_for(lambda: job_status(yakuba, uid("ob_sched")) == "done", timeout=30, what="fired")
        await login_error(homeserver.url, "ob_sched")
        assert audit(yakuba, "offboard.start", uid("ob_sched"))
    finally:
        yakuba.set_clock(WORKING_TIME)
        await admin.close()


async def test_scheduled_offboarding_runs_after_a_restart_across_its_time(yakuba, homeserver):
    homeserver.register("ob_restart")
    yakuba.set_clock(WORKING_TIME)
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba offboard {uid('ob_restart')} --at 2026-11-25T13:00",
                      expect="!yakuba confirm")
        code, _, _ = latest_plan(yakuba, uid("ob_restart"))
        await command(admin, room, f"!yakuba confirm {code}", expect=code)
        await wait_for(lambda: job_status(yakuba, uid("ob_restart")) == "scheduled", timeout=30)
    finally:
        await admin.close()
    try:
        yakuba.stop()
        yakuba.set_clock("2026-11-25T13:05:00+09:00")
        await User.login(homeserver.url, "ob_restart")  # still active while the service is down
        yakuba.start()
        await wait_for(lambda: job_status(yakuba, uid("ob_restart")) == "done", timeout=60, what="run on start")
        await login_error(homeserver.url, "ob_restart")
    finally:
        yakuba.set_clock(WORKING_TIME)


# -- bulk -------------------------------------------------------------------------------------------

async def upload_csv(admin, room: str, data: bytes, name: str) -> str:
    """An encrypted m.file, as Element sends it into an encrypted room."""
    cipher, keys = encrypt_attachment(data)
    resp, _ = await admin.client.upload(lambda *_: cipher, content_type="application/octet-stream",
                                        filename=name, filesize=len(cipher))
    return await admin.send(room, "m.room.message", {
        "msgtype": "m.file", "body": name, "filename": name, "info": {"mimetype": "text/csv", "size": len(data)},
        "file": {"url": resp.content_uri, "mimetype": "text/csv", **keys}})


async def test_bulk_csv_mixes_valid_unknown_and_deactivated_users(yakuba, homeserver):
    for name in ("csv_a", "csv_b", "csv_s", "csv_gone"):
        homeserver.register(name)
    sa = synapse_admin(homeserver)
    await sa.deactivate(uid("csv_gone"))
    a = await User.login(homeserver.url, "csv_a")
    team = await a.create_room(name="会計課")
    text = ("ユーザー,退職日時,後任\n"
            f"{uid('csv_a')},2026-03-31 17:15,{uid('csv_s')}\n"   # in the past: right away
            "csv_b,,\n"
            f"{uid('csv_nobody')},,\n"
            f"{uid('csv_gone')},,\n"
            "not a user!,,\n")
    admin, room = await admin_client(yakuba, homeserver)
    try:
        # csv_b lost their phone before leaving: a locked account is offboarded without unlocking.
        await command(admin, room, f"!yakuba lock {uid('csv_b')} 紛失", expect=uid("csv_b"))
        ev = await upload_csv(admin, room, text.encode("cp932"), "3月末退職者.csv")
        await wait_for(lambda: yakuba.query("SELECT 1 FROM offboarding_uploads WHERE event_id = ?", (ev,)),
                       timeout=30, what="upload noticed")
        await command(admin, room, "!yakuba offboard --csv", expect="!yakuba confirm")
        code, _, entries = latest_plan(yakuba, uid("csv_nobody"))
        assert [e["status"] for e in entries] == ["ok", "ok", "refused", "skip", "refused"]
        await command(admin, room, f"!yakuba confirm {code}", expect=code)
        await wait_for(lambda: yakuba.query("SELECT COUNT(*) FROM offboarding_jobs WHERE code = ? AND status IN "
                                            "('done','failed','skipped')", (code,))[0][0] == 5, timeout=60)
        status = dict(yakuba.query("SELECT user_id, status FROM offboarding_jobs WHERE code = ?", (code,)))
        assert status[uid("csv_a")] == status[uid("csv_b")] == "done"
        assert status[uid("csv_nobody")] == "failed" and status[uid("csv_gone")] == "skipped"
        assert status["line:6"] == "failed"
        await wait_for(lambda: any(code in t and "完了 2" in t for t in admin.texts_from(BOT, room)),
                       timeout=30, what="bulk report")
        s = await User.login(homeserver.url, "csv_s")
        assert (await power(s, team)).get(uid("csv_s")) == 100
        assert (await sa.user_info(uid("csv_b")))["deactivated"]
        assert not audit(yakuba, "unlock", uid("csv_b"))

        # Re-running the same file is safe: the done users are skipped with a note.
        ev = await upload_csv(admin, room, text.encode("utf-8-sig"), "3月末退職者.csv")
        await wait_for(lambda: yakuba.query("SELECT 1 FROM offboarding_uploads WHERE event_id = ?", (ev,)),
                       timeout=30)
        await command(admin, room, "!yakuba offboard --csv", expect="スキップ")
        code2, _, entries2 = latest_plan(yakuba, uid("csv_nobody"))
        assert code2 != code
        assert [e["status"] for e in entries2] == ["skip", "skip", "refused", "skip", "refused"]
    finally:
        await sa.client.close()
        await admin.close()


async def test_cli_bulk_and_audit_export(yakuba, homeserver, tmp_path):
    for name in ("cli_a", "cli_s"):
        homeserver.register(name)
    a = await User.login(homeserver.url, "cli_a")
    team = await a.create_room(name="CLI の部屋")
    path = tmp_path / "leavers.csv"
    path.write_bytes("user,leaving,successor\r\ncli_a,,cli_s\r\ncli_nobody,,\r\n".encode("utf-8-sig"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(yakuba.config_path),
                               "offboard", *args], cwd=REPO, capture_output=True, text=True, timeout=120)

    dry = cli("--csv", str(path))
    assert dry.returncode == 0, dry.stderr
    assert "yakuba offboard confirm" in dry.stdout
    assert job_status(yakuba, uid("cli_a")) is None
    run = cli("--csv", str(path), "--yes")
    assert run.returncode == 1, run.stderr  # one line failed (unknown user)
    assert job_status(yakuba, uid("cli_a")) == "done"
    assert uid("cli_nobody") in run.stdout
    s = await User.login(homeserver.url, "cli_s")
    assert (await power(s, team)).get(uid("cli_s")) == 100
    await login_error(homeserver.url, "cli_a")

    out = tmp_path / "audit.csv"
    exp = cli("audit", "--user", uid("cli_a"), "-o", str(out))
    assert exp.returncode == 0, exp.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id,time,action,actor,target")
    assert "offboard.deactivate" in text and "offboard.start" in text


async def test_audit_in_chat_and_export_as_encrypted_file(yakuba, homeserver):
    homeserver.register("ob_audited")
    admin, room = await admin_client(yakuba, homeserver)
    try:
        await command(admin, room, f"!yakuba logout {uid('ob_audited')}", expect=uid("ob_audited"))
        reply = await command(admin, room, f"!yakuba audit {uid('ob_audited')}", expect="logout")
        assert uid("admin") in reply
        before = len([e for r, e in admin.received if r == room and e.sender == BOT])
        await command(admin, room, "!yakuba audit export", expect="CSV")

        def exported():
            files = [e for r, e in admin.received if r == room and e.sender == BOT
                     and e.source.get("content", {}).get("msgtype") == "m.file"]
            return files[-1] if len([e for r, e in admin.received if r == room and e.sender == BOT]) > before \
                and files else None

        ev = await wait_for(exported, timeout=30, what="exported file")
        file = ev.source["content"]["file"]
        server, media = file["url"][len("mxc://"):].split("/", 1)
        async with aiohttp.ClientSession() as s, s.get(
                f"{homeserver.url}/_matrix/client/v1/media/download/{server}/{media}",
                headers={"Authorization": f"Bearer {admin.client.access_token}"}) as r:
            assert r.status == 200
            cipher = await r.read()
        plain = decrypt_attachment(cipher, file["key"]["k"], file["hashes"]["sha256"], file["iv"])
        csv_text = plain.decode("utf-8-sig")
        assert "logout" in csv_text and uid("ob_audited") in csv_text
    finally:
        await admin.close()
