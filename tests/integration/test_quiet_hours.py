"""Quiet hours on the real Synapse: push rules, reminders, emergencies, disaster mode.

Synapse's own record of what notified (`GET /_matrix/client/v3/notifications`) is the judge.
Each test registers its own users (a reminder is sent once per user and off-hours period) and
puts the clock back to working time afterwards, waiting until the quiet rules are gone again,
so other features' tests see a normal server.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.conftest import WORKING_TIME
from tests.integration.admin_room import admin_client, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import MatrixError, User, q, wait_for

pytestmark = pytest.mark.integration

SERVER = "city-a.localhost"
BOT = f"@_yakuba:{SERVER}"
OFF_HOURS = "2026-11-25T20:00:00+09:00"  # Wednesday evening
QUIET = "jp.yakuba.quiet"
ALERT = "jp.yakuba.quiet.alert"
_names = itertools.count()


def fresh(homeserver, prefix: str) -> str:
    name = f"{prefix}{next(_names)}_{uuid.uuid4().hex[:6]}"
    homeserver.register(name)
    return name


async def override_rules(user: User) -> dict[str, dict]:
    body = await user.call("GET", "/_matrix/client/v3/pushrules/")
    return {r["rule_id"]: r for r in body["global"]["override"]}


async def quiet_on(user: User) -> bool:
    rule = (await override_rules(user)).get(QUIET)
    return bool(rule and rule["enabled"])


async def quiet_off(user: User) -> bool:
    rules = await override_rules(user)
    return QUIET not in rules and ALERT in rules


async def notified(user: User) -> set[str]:
    body = await user.call("GET", "/_matrix/client/v3/notifications", params={"limit": "100"})
    return {n["event"]["event_id"] for n in body.get("notifications", [])}


async def set_off_hours(yakuba, *users: User) -> None:
    yakuba.set_clock(OFF_HOURS)
    for u in users:
        await wait_for(lambda u=u: quiet_on(u), timeout=30, interval=0.3, what=f"quiet rule for {u.user_id}")


async def set_working(yakuba, *users: User) -> None:
    yakuba.set_clock(WORKING_TIME)
    for u in users:
        await wait_for(lambda u=u: quiet_off(u), timeout=30, interval=0.3, what=f"no quiet rule for {u.user_id}")


def processed(yakuba, event_id: str) -> bool:
    return bool(yakuba.query("SELECT 1 FROM inbox WHERE event_id = ? AND status = 'done'", (event_id,)))


async def bot_texts(admin: User, room_id: str) -> list[str]:
    body = await admin.call("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/messages",
                            params={"dir": "b", "limit": "100"})
    return [ev["content"].get("body", "") for ev in body.get("chunk", [])
            if ev.get("sender") == BOT and ev.get("type") == "m.room.message"]


async def pair(homeserver, yakuba) -> tuple[User, User, str]:
    """A sender and a recipient (joined) in a fresh plain room; the recipient has our rules."""
    a_name, b_name = fresh(homeserver, "qa"), fresh(homeserver, "qb")
    sender = await User.login(homeserver.url, a_name)
    recipient = await User.login(homeserver.url, b_name)
    room = await sender.create_room(invite=[recipient.user_id], name="係の連絡")
    await recipient.join(room)
    await wait_for(lambda: quiet_off(recipient), timeout=30, interval=0.3, what="rules for a new user")
    return sender, recipient, room


@pytest.fixture
async def exempt_room(homeserver, yakuba) -> AsyncIterator[str]:
    """The room behind #quiet-exempt (config), created once per session by the admin."""
    admin = await User.login(homeserver.url, "admin")
    try:
        res = await admin.call("GET", f"/_matrix/client/v3/directory/room/{q('#quiet-exempt:' + SERVER)}")
        room = res["room_id"]
    except MatrixError:
        room = await admin.create_room(name="災害対策本部", room_alias_name="quiet-exempt", preset="public_chat")
    yield room


async def test_plain_rooms_off_hours_emergency_exempt_reminder(homeserver, yakuba, exempt_room):
    sender, recipient, room = await pair(homeserver, yakuba)
    await sender.join(exempt_room)
    await recipient.join(exempt_room)
    try:
        await set_off_hours(yakuba, recipient)
        # Joining the exempt room gave the recipient its exempt rules (effect, or the next run).
        await wait_for(lambda: _has_exempt(recipient), timeout=30, interval=0.3, what="exempt rules")
        normal = await sender.send_text(room, "明日の会議資料を共有します")
        urgent = await sender.send_text(room, "【緊急】庁舎で停電が発生しました")
        exempt = await sender.send_text(exempt_room, "河川の水位情報です")
        got = await wait_for(lambda: _all_in(recipient, {urgent, exempt}), timeout=20, what="emergency + exempt notify")
        assert normal not in got, "a normal message notified off hours"

        # One reminder DM for the whole off-hours period, none for the emergency/exempt posts.
        dm = await wait_for(lambda: _dm_room(yakuba, sender.user_id), timeout=20, what="sender's DM room")
        admin = await User.login(homeserver.url, "admin")
        await wait_for(lambda: _count_reminders(admin, dm, 1), timeout=20, what="one reminder")
        again = await sender.send_text(room, "追加でもう一件")
        await wait_for(lambda: processed(yakuba, again), timeout=20, what="second message processed")
        reminders = [t for t in await bot_texts(admin, dm) if "執務時間外" in t]
        assert len(reminders) == 1, reminders
        assert "11月26日（木）08:30" in reminders[0] and "【緊急】" in reminders[0]
        assert again not in await notified(recipient)
        recipient_dm = yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (recipient.user_id,))
        assert not recipient_dm, "the recipient did not post and must not be reminded"
    finally:
        await set_working(yakuba, recipient)

    # Working hours: a normal message notifies again.
    later = await sender.send_text(room, "おはようございます")
    await wait_for(lambda: _all_in(recipient, {later}), timeout=20, what="working-hours notification")


async def _has_exempt(user: User) -> bool:
    return any(".exempt." in rid for rid in await override_rules(user))


async def _all_in(user: User, wanted: set[str]) -> set[str] | None:
    got = await notified(user)
    return got if wanted <= got else None


def _dm_room(yakuba, user_id: str) -> str | None:
    rows = yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (user_id,))
    return rows[0][0] if rows else None


async def _count_reminders(admin: User, room: str, n: int) -> bool:
    return len([t for t in await bot_texts(admin, room) if "執務時間外" in t]) == n


async def test_hand_edited_rule_is_repaired(homeserver, yakuba):
    _, recipient, _ = await pair(homeserver, yakuba)
    try:
        await set_off_hours(yakuba, recipient)
        base = "/_matrix/client/v3/pushrules/global/override/"
        await recipient.call("PUT", base + QUIET + "/enabled", {"enabled": False})
        await recipient.call("PUT", base + ALERT, {"conditions": [], "actions": ["notify"]})
        await recipient.call("PUT", base + "my.own.rule", {"conditions": [{"kind": "event_match", "key": "type",
                                                                            "pattern": "m.sticker"}], "actions": []})
        # No assertion that the edit "took" here: the reconcile may already have repaired it
        # between the PUT and a GET (CI saw exactly that). The ALERT rule emptied above can only
        # regain its conditions through the repair, so `repaired` below still proves it.

        async def repaired() -> bool:
            rules = await recipient.call("GET", "/_matrix/client/v3/pushrules/")
            override = [r for r in rules["global"]["override"] if not r["rule_id"].startswith(".")]
            ids = [r["rule_id"] for r in override]
            alert = next((r for r in override if r["rule_id"] == ALERT), None)
            return (ids[-1] == "my.own.rule" and ids.index(QUIET) == len(ids) - 2
                    and override[ids.index(QUIET)]["enabled"] and alert is not None
                    and alert["conditions"] != [])

        await wait_for(repaired, timeout=30, interval=0.3, what="hand edits repaired by the reconcile")
        rules = await override_rules(recipient)
        assert rules["my.own.rule"]["actions"] == []  # the user's own rule is untouched
    finally:
        await set_working(yakuba, recipient)
    assert "my.own.rule" in await override_rules(recipient)


async def admin_command(admin: E2EEUser, admin_room: str, text: str, expect: str, timeout: float = 40) -> str:
    return await command(admin, admin_room, text, expect, timeout)


@pytest.fixture
async def e2ee_admin(homeserver, yakuba) -> AsyncIterator[tuple[E2EEUser, str]]:
    admin, admin_room = await admin_client(yakuba, homeserver)
    try:
        yield admin, admin_room
    finally:
        await admin.close()


async def test_disaster_mode_lifts_everything_and_admin_commands(homeserver, yakuba, e2ee_admin):
    admin, admin_room = e2ee_admin
    plain_admin = await User.login(homeserver.url, "admin")
    try:
        res = await plain_admin.call("GET", f"/_matrix/client/v3/directory/room/{q('#quiet-announce:' + SERVER)}")
        announce = res["room_id"]
    except MatrixError:
        announce = await plain_admin.create_room(name="全庁お知らせ", room_alias_name="quiet-announce",
                                                 preset="public_chat")
    sender, recipient, room = await pair(homeserver, yakuba)
    try:
        await set_off_hours(yakuba, recipient)
        status = await admin_command(admin, admin_room, "!yakuba quiet status", "時間外ルール")
        assert "災害モード: オフ" in status and "次の切り替え: 11月26日（木）08:30" in status
        preview = await admin_command(admin, admin_room, "!yakuba quiet preview 2027-01-02 10:00", "年末年始")
        assert "執務時間外" in preview

        await admin_command(admin, admin_room, "!yakuba emergency on 台風10号接近", "災害モードをオンにしました")
        await wait_for(lambda: quiet_off(recipient), timeout=30, interval=0.3, what="quiet lifted by disaster mode")
        msg = await sender.send_text(room, "避難所の開設状況を共有します")
        await wait_for(lambda: _all_in(recipient, {msg}), timeout=20, what="disaster-mode notification")
        await wait_for(lambda: _announced(plain_admin, announce), timeout=20, what="announcement")
        audit = yakuba.query("SELECT actor, details FROM audit WHERE action = 'quiet_disaster_on' ORDER BY id DESC")
        assert audit and audit[0][0] == admin.user_id and json.loads(audit[0][1])["reason"] == "台風10号接近"
        status = await admin_command(admin, admin_room, "!yakuba quiet status", "災害モード: オン")
        assert "台風10号接近" in status
        # No reminder while the whole organisation is on call.
        assert _dm_room(yakuba, sender.user_id) is None

        await admin_command(admin, admin_room, "!yakuba emergency off", "災害モードをオフにしました")
        await wait_for(lambda: quiet_on(recipient), timeout=30, interval=0.3, what="quiet back after disaster mode")
        assert yakuba.query("SELECT 1 FROM audit WHERE action = 'quiet_disaster_off'")
    finally:
        with_disaster = yakuba.query("SELECT value FROM kv WHERE key = 'quiet.disaster'")
        if with_disaster and json.loads(with_disaster[0][0]).get("on"):
            await admin.send_text(admin_room, "!yakuba emergency off")
        await set_working(yakuba, recipient)


async def _announced(admin: User, room: str) -> bool:
    return any("災害モード" in t for t in await bot_texts(admin, room))


async def test_encrypted_room_emergency_alert_notifies(homeserver, yakuba):
    s_name, r_name = fresh(homeserver, "qe"), fresh(homeserver, "qr")
    sender = await E2EEUser(homeserver.url, s_name, homeserver.server_name).start()
    recipient = await User.login(homeserver.url, r_name)
    try:
        room = await sender.create_encrypted_room([BOT, recipient.user_id], name="暗号化された係のルーム")
        await recipient.join(room)
        await sender.wait_member(room, BOT)
        await sender.wait_member(room, recipient.user_id)
        await wait_for(lambda: quiet_off(recipient), timeout=30, interval=0.3, what="rules for a new user")
        await set_off_hours(yakuba, recipient)
        normal = await sender.send_text(room, "明日の予定です")
        urgent = await sender.send_text(room, "【緊急】サーバー室で漏水")
        await wait_for(lambda: processed(yakuba, urgent), timeout=30, what="emergency decrypted and processed")

        async def alert_notified() -> dict | None:
            body = await recipient.call("GET", "/_matrix/client/v3/notifications", params={"limit": "100"})
            for n in body.get("notifications", []):
                if n["room_id"] == room and n["event"]["sender"] == BOT:
                    return n
            return None

        alert = await wait_for(alert_notified, timeout=30, what="the bot's alert notifies off hours")
        assert alert["event"]["type"] == "m.room.encrypted"
        got = await notified(recipient)
        assert normal not in got and urgent not in got  # the server cannot read the marker
        await wait_for(lambda: any("緊急の投稿" in t for t in sender.texts_from(BOT, room)), timeout=20,
                       what="the alert decrypts for room members")
        assert _dm_room(yakuba, sender.user_id), "the normal encrypted message got a reminder"
    finally:
        await sender.close()
        await set_working(yakuba, recipient)


async def test_opt_out_in_dm_and_department_schedule(homeserver, yakuba):
    sender, recipient, room = await pair(homeserver, yakuba)
    homeserver.register("quiet_fire")  # in the 24h department (quiet.config.yaml)
    fire = await User.login(homeserver.url, "quiet_fire")
    await wait_for(lambda: quiet_off(fire), timeout=30, interval=0.3, what="rules for the 24h user")
    try:
        await set_off_hours(yakuba, recipient)
        rules = await override_rules(fire)
        assert QUIET not in rules, "a 24h department is never silenced"
        await sender.send_text(room, "時間外の投稿")
        dm = await wait_for(lambda: _dm_room(yakuba, sender.user_id), timeout=20, what="reminder DM room")
        if dm not in await sender.joined_rooms():
            await sender.join(dm)
        await sender.send_text(dm, "!yakuba quiet off")
        await wait_for(lambda: _no_rules(sender), timeout=20, what="opt-out removes every rule of ours")
        assert yakuba.query("SELECT 1 FROM quiet_optout WHERE user_id = ?", (sender.user_id,))
        await sender.send_text(dm, "!yakuba quiet on")
        await wait_for(lambda: quiet_on(sender), timeout=20, what="opt back in")
    finally:
        await set_working(yakuba, recipient)


async def _no_rules(user: User) -> bool:
    return not any(rid.startswith(QUIET) for rid in await override_rules(user))
