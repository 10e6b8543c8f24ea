"""The quiet-hours policy with a fake context: reminders, emergencies, exemptions, disaster mode."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appservice.core.decisions import DirectNotice, Effect, Notice
from appservice.core.events import Event
from appservice.core.executor import render
from appservice.core.policy import PolicyContext
from appservice.core.text import is_emergency, message_text
from appservice.features.quiet.config import quiet_config_from_dict
from appservice.features.quiet.policy import QuietPolicy
from appservice.features.quiet.store import DISASTER_KEY, EXEMPT_KEY
from appservice.lib.workcal import WorkCalendar
from tests.unit.test_quiet_support import BOT, SERVER, FakeState, make_config

JST = ZoneInfo("Asia/Tokyo")
WED_EVENING = datetime(2026, 11, 25, 20, 0, tzinfo=JST)
WED_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=JST)
FRI_EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=JST)
SAT_NOON = datetime(2026, 11, 28, 12, 0, tzinfo=JST)
ALICE = f"@alice:{SERVER}"
FIRE = f"@fire:{SERVER}"
ROOM = f"!room:{SERVER}"
EXEMPT = f"!saigai:{SERVER}"
ADMIN_ROOM = f"!admin:{SERVER}"
DM = f"!dm:{SERVER}"

SECTION = {"enabled": True, "schedules": {"24h": {"always": True}}, "departments": {FIRE: "24h"},
           "exempt_rooms": [EXEMPT, f"#alias:{SERVER}"]}


def policy(**overrides) -> QuietPolicy:
    cfg = quiet_config_from_dict({**SECTION, **overrides}, server_name=SERVER)
    return QuietPolicy(cfg, WorkCalendar(cfg.calendar))


def ctx(now: datetime = WED_EVENING, state: FakeState | None = None) -> PolicyContext:
    return PolicyContext(config=make_config(), now=now, admins=frozenset({f"@admin:{SERVER}"}),
                         admin_room=ADMIN_ROOM, state=state or FakeState(dm_rooms={DM: ALICE}))  # type: ignore[arg-type]


n = 0


def msg(body: str = "明日の資料です", *, sender: str = ALICE, room: str = ROOM, msgtype: str = "m.text",
        decrypted: bool = False, **content) -> Event:
    global n
    n += 1
    return Event(event_id=f"$e{n}", room_id=room, sender=sender, type="m.room.message", origin_server_ts=0,
                 content={"msgtype": msgtype, "body": body, **content}, encrypted=decrypted, decrypted=decrypted)


async def decide(event: Event, c: PolicyContext | None = None, p: QuietPolicy | None = None):
    return list(await (p or policy()).evaluate(event, c or ctx()))


async def test_off_hours_post_gets_one_reminder_keyed_by_the_period():
    [d] = await decide(msg())
    assert isinstance(d, DirectNotice) and d.user_id == ALICE
    assert d.once_key == f"quiet:{ALICE}:2026-11-25T17:15:00+09:00"
    text = render(d.message, "ja")
    assert "11月26日（木）08:30" in text and "「【緊急】」" in text and "17:15 以降" in text
    en = render(d.message, "en")
    assert "Thu 26 Nov 08:30" in en and "after 17:15" in en
    # Later the same evening: the same key, so the executor sends it only once.
    [later] = await decide(msg("もう一件"), ctx(datetime(2026, 11, 25, 23, 30, tzinfo=JST)))
    assert later.once_key == d.once_key


async def test_weekend_is_one_period_from_friday_evening():
    [fri] = await decide(msg(), ctx(FRI_EVENING))
    [sat] = await decide(msg(), ctx(SAT_NOON))
    assert fri.once_key == sat.once_key == f"quiet:{ALICE}:2026-11-27T17:15:00+09:00"
    assert "11月30日（月）08:30" in render(sat.message, "ja") and "土曜日" in render(sat.message, "ja")


async def test_working_hours_no_reminder():
    assert await decide(msg(), ctx(WED_MORNING)) == []


@pytest.mark.parametrize("body", ["【緊急】停電", "緊急: 断水", "  【緊急】先頭の空白",
                                  "> <@b:x> 前の発言\n\n【緊急】返信"])
async def test_emergencies_are_not_reminded(body):
    assert await decide(msg(body)) == []


async def test_marker_must_be_at_the_start():
    assert is_emergency("緊急です", ["緊急"]) and not is_emergency("本日の緊急連絡", ["緊急"])
    assert is_emergency("URGENT: x", ["urgent"])  # case-insensitive, like Synapse
    assert message_text("> quote\n> more\n\n本文") == "本文"
    assert len(await decide(msg("本日の緊急連絡"))) == 1  # not a marker: reminded


@pytest.mark.parametrize(("event", "state"), [
    (msg(room=EXEMPT), None),                                        # exempt room (by id)
    (msg(room="!resolved:x"), FakeState(kv={EXEMPT_KEY: json.dumps(["!resolved:x"])})),  # exempt (alias)
    (msg(room=DM), None),                                            # the user's DM with the bot
    (msg(room=ADMIN_ROOM), None),                                    # the admin room
    (msg(sender=BOT), None),                                         # a bot
    (msg(sender="@remote:other.example"), None),                     # a remote user
    (msg(sender=FIRE), None),                                        # 24h department: working now
    (msg(msgtype="m.notice"), None),                                 # notices
    (msg("!yakuba quiet off"), None),                                # commands
    (msg("* 修正", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}}), None),  # edits
    (msg(), FakeState(kv={DISASTER_KEY: json.dumps({"on": True, "reason": "台風"})})),     # disaster mode
])
async def test_no_reminder(event, state):
    assert await decide(event, ctx(state=state)) == []


async def test_reminders_can_follow_one_schedule_for_everyone():
    p = policy(reminders={"schedule": "default"})
    [d] = await decide(msg(sender=FIRE), p=p)
    assert isinstance(d, DirectNotice) and d.user_id == FIRE
    assert await decide(msg(), p=policy(reminders={"enabled": False})) == []


async def test_disabled_feature_does_nothing():
    assert await decide(msg(), p=policy(enabled=False)) == []


async def test_undecryptable_ciphertext_is_reminded_but_not_reactions():
    cipher = Event(event_id="$c1", room_id=ROOM, sender=ALICE, type="m.room.encrypted", origin_server_ts=0,
                   content={"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "…"}, encrypted=True)
    [d] = await decide(cipher)
    assert isinstance(d, DirectNotice)
    reaction = Event(event_id="$c2", room_id=ROOM, sender=ALICE, type="m.room.encrypted", origin_server_ts=0,
                     content={"ciphertext": "…", "m.relates_to": {"rel_type": "m.annotation", "event_id": "$x"}},
                     encrypted=True)
    assert await decide(reaction) == []


async def test_decrypted_emergency_gets_an_alert_from_the_bot_off_hours_only():
    ev = msg("【緊急】サーバー室で漏水", decrypted=True)
    [alert] = await decide(ev)
    assert isinstance(alert, Notice) and alert.room_id == ROOM and alert.reply_to == ev.event_id
    assert alert.once_key == f"quiet:alert:{ev.event_id}"
    assert ALICE in render(alert.message, "ja") and "漏水" not in render(alert.message, "ja")
    assert await decide(msg("【緊急】漏水", decrypted=True), ctx(WED_MORNING)) == []
    # Plain rooms: the push rule does it; nothing to send.
    assert await decide(msg("【緊急】漏水")) == []


async def test_alert_also_when_only_some_schedules_are_off():
    # Saturday noon: the office is closed though a 24h department works.
    [alert] = await decide(msg("緊急 連絡", decrypted=True, sender=FIRE), ctx(SAT_NOON))
    assert isinstance(alert, Notice)


async def test_membership_in_exempt_rooms_is_reported():
    join = Event(event_id="$m1", room_id=EXEMPT, sender=ALICE, type="m.room.member", origin_server_ts=0,
                 content={"membership": "join"}, state_key=ALICE)
    [eff] = await decide(join)
    assert isinstance(eff, Effect) and eff.kind == "quiet_membership"
    assert eff.payload == {"user_id": ALICE, "room_id": EXEMPT, "membership": "join"}
    other = Event(event_id="$m2", room_id=ROOM, sender=ALICE, type="m.room.member", origin_server_ts=0,
                  content={"membership": "join"}, state_key=ALICE)
    assert await decide(other) == []
    bot = Event(event_id="$m3", room_id=EXEMPT, sender=BOT, type="m.room.member", origin_server_ts=0,
                content={"membership": "join"}, state_key=BOT)
    assert await decide(bot) == []
