"""通報 (reports) on the real Synapse: reports filed through the client API's `/report` endpoint
(as Element's "Report" button does) reach the admin room — masked — the reporter is thanked,
the room's moderators told; duplicates and second reporters join one case; delete, warn,
suspend (through offboarding's command) with ✅, dismiss; deleted messages; encrypted rooms."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest

from tests.integration.admin_room import admin_client, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import MatrixError, User, q, wait_for

pytestmark = pytest.mark.integration

SERVER = "city-a.localhost"
BOT = f"@_yakuba:{SERVER}"
MY_NUMBER = "123456789018"  # a valid check digit
_names = itertools.count()


def fresh(homeserver, prefix: str) -> str:
    name = f"{prefix}{next(_names)}_{uuid.uuid4().hex[:6]}"
    homeserver.register(name)
    return name


async def report(user: User, room: str, event_id: str, reason: str) -> None:
    await user.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/report/{q(event_id)}",
                    {"reason": reason, "score": -100})


def report_ids(yakuba, event_id: str) -> list[int]:
    return [r[0] for r in yakuba.query("SELECT id FROM reports WHERE event_id = ? ORDER BY id", (event_id,))]


async def dm_texts(yakuba, user: User) -> list[str]:
    rows = yakuba.query("SELECT room_id FROM dm_rooms WHERE user_id = ?", (user.user_id,))
    if not rows:
        return []
    try:
        events = await user.messages(rows[0][0])
    except MatrixError:
        return []
    return [ev["content"].get("body", "") for ev in events if ev.get("sender") == BOT]


async def dm_with(yakuba, user: User, text: str) -> str | None:
    return next((t for t in await dm_texts(yakuba, user) if text in t), None)


def admin_post(admin: E2EEUser, room: str, text: str) -> str | None:
    return next((t for t in admin.texts_from(BOT, room) if text in t), None)


def confirmation(yakuba, report_id: int, action: str) -> str | None:
    for event_id, detail in yakuba.query("SELECT event_id, detail FROM offers WHERE action = 'reports.act'"):
        d = json.loads(detail)
        if d.get("report") == report_id and d.get("action") == action:
            return event_id
    return None


async def confirm(yakuba, admin: E2EEUser, room: str, report_id: int, action: str) -> None:
    offer = await wait_for(lambda: confirmation(yakuba, report_id, action), timeout=30, what=f"the {action} offer")
    await admin.send(room, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": offer, "key": "✅"}})


async def trio(homeserver) -> tuple[User, User, User, str]:
    """A room made by the reporter (its moderator), with the sender and a second reporter."""
    reporter = await User.login(homeserver.url, fresh(homeserver, "rep"))
    sender = await User.login(homeserver.url, fresh(homeserver, "snd"))
    other = await User.login(homeserver.url, fresh(homeserver, "oth"))
    room = await reporter.create_room(invite=[sender.user_id, other.user_id], name="係の連絡")
    await sender.join(room)
    await other.join(room)
    return reporter, sender, other, room


async def test_reported_message_to_admin_room_case_delete_with_check(homeserver, yakuba):
    admin, admin_room = await admin_client(yakuba, homeserver)
    reporter, sender, other, room = await trio(homeserver)
    try:
        bad = await sender.send_text(room, f"お前のマイナンバーは {MY_NUMBER} だろ、ばらすぞ")
        await report(reporter, room, bad, "脅迫されました")
        ids = await wait_for(lambda: report_ids(yakuba, bad), timeout=30, what="the report picked up")
        rid = ids[0]
        post = await wait_for(lambda: admin_post(admin, admin_room, f"通報 #{rid}"), timeout=30, what="the post")
        for expected in (reporter.user_id, sender.user_id, "脅迫されました", "係の連絡", "個人情報を伏せています",
                         "9018"):
            assert expected in post
        assert MY_NUMBER not in post
        # the link to the reported message points at the organisation's own client (links.permalink)
        assert "https://chat.city-a.example.jp/" in post and bad in post
        ack = await wait_for(lambda: dm_with(yakuba, reporter, "通報を受け付けました"), timeout=30, what="the ack")
        assert f"#{rid}" in ack and sender.user_id not in ack
        # moderators: also — the room's creator (here the reporter) is its moderator.
        mod = await wait_for(lambda: dm_with(yakuba, reporter, "モデレーター"), timeout=30, what="moderator notice")
        assert MY_NUMBER not in mod and "ばらす" not in mod

        # The same reporter again: one case, nobody told twice; a second reporter joins the case.
        await report(reporter, room, bad, "もう一度")
        await report(other, room, bad, "私も見ました")
        await wait_for(lambda: len(report_ids(yakuba, bad)) == 3, timeout=30, what="three reports")
        again = await wait_for(lambda: admin_post(admin, admin_room, f"#{rid} と同じメッセージ"), timeout=30,
                               what="the second reporter's post")
        assert other.user_id in again
        assert len([t for t in admin.texts_from(BOT, admin_room) if f"#{rid}" in t and "もう一度" in t]) == 0
        assert len([t for t in await dm_texts(yakuba, reporter) if "通報を受け付けました" in t]) == 1
        listing = await command(admin, admin_room, "!yakuba reports", expect=f"#{rid}")
        assert "（3 件）" in listing

        # delete: a confirmation first, ✅ acts; both reporters get the outcome.
        await command(admin, admin_room, f"!yakuba report {rid} delete --tell-reporter", expect="✅")
        await confirm(yakuba, admin, admin_room, rid, "delete")
        await wait_for(lambda: admin_post(admin, admin_room, f"通報 #{rid}: メッセージを削除しました"), timeout=30,
                       what="deleted")
        event = await reporter.event(room, bad)
        assert event["content"] == {}
        for who in (reporter, other):
            await wait_for(lambda who=who: dm_with(yakuba, who, "管理者がメッセージを削除しました"), timeout=30,
                           what="the outcome")
        rows = yakuba.query("SELECT actor, details FROM audit WHERE action = 'report_action'")
        assert any(a == admin.user_id and json.loads(d)["action"] == "delete" for a, d in rows)
        assert yakuba.query("SELECT DISTINCT status FROM reports WHERE case_id = ?", (rid,)) == [("handled",)]
    finally:
        await admin.close()


async def test_deleted_messages_warn_suspend_dismiss(homeserver, yakuba):
    admin, admin_room = await admin_client(yakuba, homeserver)
    reporter, sender, _, room = await trio(homeserver)
    try:
        # A report about a message deleted already (Synapse takes it): the post says so, no text.
        gone = await sender.send_text(room, "すぐ消すメッセージ")
        await sender.call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/redact/{q(gone)}/{uuid.uuid4().hex}", {})
        await report(reporter, room, gone, "消される前に見ました")
        (gid,) = await wait_for(lambda: report_ids(yakuba, gone), timeout=30, what="picked up")
        post = await wait_for(lambda: admin_post(admin, admin_room, f"通報 #{gid}"), timeout=30, what="the post")
        assert "すでに削除されています" in post and "すぐ消す" not in post

        # Deleted after the report: the post says so, and delete answers "already".
        msg = await sender.send_text(room, "あとで消すメッセージ")
        await report(reporter, room, msg, "不適切です")
        (rid,) = await wait_for(lambda: report_ids(yakuba, msg), timeout=30, what="picked up")
        await wait_for(lambda: admin_post(admin, admin_room, f"通報 #{rid}"), timeout=30, what="the post")
        await sender.call("PUT", f"/_matrix/client/v3/rooms/{q(room)}/redact/{q(msg)}/{uuid.uuid4().hex}", {})
        shown = await command(admin, admin_room, f"!yakuba report {rid}", expect=f"通報 #{rid}")
        assert "すでに削除されています" in shown and "あとで消す" not in shown
        await command(admin, admin_room, f"!yakuba report {rid} delete", expect="✅")
        await confirm(yakuba, admin, admin_room, rid, "delete")
        await wait_for(lambda: admin_post(admin, admin_room, "すでに削除されていました"), timeout=30, what="already")

        # warn: the sender hears from the admins privately, never who reported them.
        rude = await sender.send_text(room, "うるさいな")
        await report(reporter, room, rude, "暴言")
        (wid,) = await wait_for(lambda: report_ids(yakuba, rude), timeout=30, what="picked up")
        await command(admin, admin_room, f"!yakuba report {wid} warn 言葉遣いに気をつけてください", expect="✅")
        await confirm(yakuba, admin, admin_room, wid, "warn")
        warning = await wait_for(lambda: dm_with(yakuba, sender, "管理者から注意"), timeout=30, what="the warning")
        assert "言葉遣いに気をつけてください" in warning and reporter.user_id not in warning

        # suspend: runs offboarding's `suspend` as the admin who confirmed.
        await command(admin, admin_room, f"!yakuba report {wid} suspend 調査中", expect="✅")
        await confirm(yakuba, admin, admin_room, wid, "suspend")
        await wait_for(lambda: admin_post(admin, admin_room, f"通報 #{wid}: {sender.user_id} の利用停止"),
                       timeout=30, what="suspend done")
        with pytest.raises(MatrixError) as exc:
            await sender.send_text(room, "送れますか")
        assert exc.value.errcode == "M_USER_SUSPENDED"
        assert yakuba.query("SELECT 1 FROM audit WHERE action = 'command:suspend' AND actor = ?", (admin.user_id,))

        # dismiss: closed at once, gone from the open list.
        other_msg = await reporter.send_text(room, "普通の連絡です")
        await report(reporter, room, other_msg, "間違えて通報")
        (did,) = await wait_for(lambda: report_ids(yakuba, other_msg), timeout=30, what="picked up")
        await wait_for(lambda: admin_post(admin, admin_room, f"通報 #{did}"), timeout=30, what="the post")
        await command(admin, admin_room, f"!yakuba report {did} dismiss", expect="対応不要")
        listing = await command(admin, admin_room, "!yakuba reports all", expect=f"#{did}")
        assert "対応不要" in listing
        await command(admin, admin_room, f"!yakuba report {did} warn", expect="閉じられています")
        await command(admin, admin_room, "!yakuba report 999999", expect="見つかりません")
    finally:
        await admin.close()


async def test_an_encrypted_room_shows_the_plaintext_the_bot_holds(homeserver, yakuba):
    admin, admin_room = await admin_client(yakuba, homeserver)
    reporter_name, sender_name = fresh(homeserver, "erep"), fresh(homeserver, "esnd")
    reporter = await E2EEUser(homeserver.url, reporter_name, homeserver.server_name).start()
    sender = await E2EEUser(homeserver.url, sender_name, homeserver.server_name).start()
    try:
        room = await reporter.create_encrypted_room([sender.user_id, BOT], name="暗号化された係")
        await sender.join(room)
        await reporter.wait_member(room, BOT)
        await sender.wait_member(room, BOT)
        bad = await sender.send_text(room, "暗号化された暴言です")
        await wait_for(lambda: yakuba.query("SELECT 1 FROM inbox WHERE event_id = ? AND decrypted = 1 "
                                            "AND status = 'done'", (bad,)), timeout=30, what="decrypted and processed")
        plain_reporter = await User.login(homeserver.url, reporter_name)
        await report(plain_reporter, room, bad, "暴言です")
        (rid,) = await wait_for(lambda: report_ids(yakuba, bad), timeout=30, what="picked up")
        post = await wait_for(lambda: admin_post(admin, admin_room, f"通報 #{rid}"), timeout=30, what="the post")
        assert "暗号化された暴言です" in post, post  # the megolm session the bot still holds
    finally:
        await reporter.close()
        await sender.close()
        await admin.close()
