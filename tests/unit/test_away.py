"""不在 (away): reading periods (JST, 和暦, full width), the calendar's end of a whole-day absence,
and the policy — who is told, once, privately, never off hours unless 【緊急】."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from appservice.core.config import AppserviceConfig, Config, HomeserverConfig
from appservice.core.db import Database
from appservice.core.decisions import Audit, DirectNotice, Effect
from appservice.core.events import Event
from appservice.core.executor import render
from appservice.core.policy import PolicyContext
from appservice.features.away import _settings
from appservice.features.away.parse import AwayParseError, Point, parse_away
from appservice.features.away.policy import DISASTER_KEY, LEARN_DM, NOTIFY_REMOTE, AwayPolicy, mentioned
from appservice.features.away.store import TABLES, AwayStore
from appservice.lib.workcal import WorkCalendar

JST = ZoneInfo("Asia/Tokyo")
SERVER = "city-a.example"
TODAY = date(2026, 11, 25)  # a Wednesday
YAMADA = f"@yamada:{SERVER}"
SATO = f"@sato:{SERVER}"
ALICE = f"@alice:{SERVER}"
REMOTE = "@bob:town-b.example"
ROOM = f"!room:{SERVER}"
DM = f"!dm:{SERVER}"
WED_10 = datetime(2026, 11, 25, 10, 0, tzinfo=JST)
WED_20 = datetime(2026, 11, 25, 20, 0, tzinfo=JST)


# -- parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "start", "end", "note"), [
    ("12/24-12/27 年次休暇", Point(date(2026, 12, 24)), Point(date(2026, 12, 27)), "年次休暇"),
    ("12/24 13:00-17:00", Point(date(2026, 12, 24), datetime(1, 1, 1, 13).time()),
     Point(date(2026, 12, 24), datetime(1, 1, 1, 17).time()), ""),
    ("until 12/27", None, Point(date(2026, 12, 27)), ""),
    ("12/27まで 研修", None, Point(date(2026, 12, 27)), "研修"),
    ("〜12/27", None, Point(date(2026, 12, 27)), ""),
    ("令和8年12月24日", Point(date(2026, 12, 24)), Point(date(2026, 12, 24)), ""),
    ("令和8年12月24日〜令和8年12月27日", Point(date(2026, 12, 24)), Point(date(2026, 12, 27)), ""),
    ("令和9年1月5日から1月8日まで", Point(date(2027, 1, 5)), Point(date(2027, 1, 8)), ""),
    ("2026-12-24-2026-12-27", Point(date(2026, 12, 24)), Point(date(2026, 12, 27)), ""),
    ("１２／２４－１２／２７　出張", Point(date(2026, 12, 24)), Point(date(2026, 12, 27)), "出張"),
    ("12月24日（木）〜12月25日（金）", Point(date(2026, 12, 24)), Point(date(2026, 12, 25)), ""),
    ("12/28-1/4", Point(date(2026, 12, 28)), Point(date(2027, 1, 4)), ""),
    ("today", Point(TODAY), Point(TODAY), ""),
    ("明日 通院", Point(date(2026, 11, 26)), Point(date(2026, 11, 26)), "通院"),
    ("17:00まで", None, Point(TODAY, datetime(1, 1, 1, 17).time()), ""),
    ("12/24 13時-17時半", Point(date(2026, 12, 24), datetime(1, 1, 1, 13).time()),
     Point(date(2026, 12, 24), datetime(1, 1, 1, 17, 30).time()), ""),
])
def test_periods_people_type(text, start, end, note):
    spec = parse_away(text, TODAY)
    assert (spec.start, spec.end, spec.note) == (start, end, note)


def test_a_date_without_a_year_is_the_next_one():
    assert parse_away("1/5", date(2026, 12, 20)).end.day == date(2027, 1, 5)
    assert parse_away("11/20", TODAY).end.day == date(2026, 11, 20)  # days ago: this year's (then: past)
    assert parse_away("令和元年5月1日", TODAY).end.day == date(2019, 5, 1)


@pytest.mark.parametrize(("text", "delegate", "note"), [
    ("12/24-12/27 年次休暇 代理 @sato", "@sato", "年次休暇"),
    ("12/24-12/27 代理：@sato:city-a.example 年次休暇", "@sato:city-a.example", "年次休暇"),
    ("12/24 delegate @sato", "@sato", ""),
    ("12/24-12/27 年次休暇、代理人 @sato", "@sato", "年次休暇"),
])
def test_the_delegate_is_taken_out_of_the_note(text, delegate, note):
    spec = parse_away(text, TODAY)
    assert (spec.delegate, spec.note) == (delegate, note)


@pytest.mark.parametrize(("text", "key"), [
    ("来週", "away.err.bad_date"),
    ("2/30", "away.err.bad_date"),
    ("13/1-13/5", "away.err.bad_date"),
    ("令和8年2月30日", "away.err.bad_date"),
    ("12/24-あさって", "away.err.bad_date"),
    ("until そのうち", "away.err.bad_date"),
    ("12/24 25:00-26:00", "away.err.bad_time"),
    ("12/24 13:00-", "away.err.bad_date"),
    ("", "away.err.no_period"),
    ("代理 @sato", "away.err.no_period"),
])
def test_unknown_dates_are_refused_with_a_clear_key(text, key):
    with pytest.raises(AwayParseError) as exc:
        parse_away(text, TODAY)
    assert exc.value.key == key
    assert render_err(exc.value)


def render_err(exc: AwayParseError) -> str:
    from appservice.core.decisions import Message

    text = render(Message(exc.key, dict(exc.params)), "ja")
    assert "{" not in text and text != exc.key
    return text


# -- config and calendar ------------------------------------------------------------------------

def make_config(quiet: dict[str, Any] | None = None, away: dict[str, Any] | None = None) -> Config:
    return Config(
        path=None, homeserver=HomeserverConfig(url="http://127.0.0.1:1", server_name=SERVER),
        appservice=AppserviceConfig(id="yakuba", bind="127.0.0.1", port=9009, registration=Path("reg.yaml"),
                                    sender_localpart="_yakuba_appservice", bot_localpart="_yakuba",
                                    archive_localpart="_yakuba_archive", as_token="x", hs_token="y"),
        data_dir=Path("."), locale="ja", admins=(f"@admin:{SERVER}",), admin_room_encrypted=True,
        log_format="console", log_level="info", clock_file=None,
        features={"quiet_hours": quiet if quiet is not None else {"enabled": True}, "away": away or {}})


def test_settings_read_the_quiet_hours_calendar_and_markers():
    s = _settings({}, make_config({"enabled": True, "emergency_markers": ["至急"],
                                   "schedules": {"24h": {"always": True}}, "departments": {YAMADA: "24h"}}))
    assert s.quiet_enabled and s.markers == ("至急",) and "24h" in s.calendar.schedules
    s = _settings({"schedule": "24h"}, make_config({"schedules": {"24h": {"always": True}}}))
    assert s.schedule == "24h" and not s.quiet_enabled
    from appservice.core.configerror import ConfigError

    with pytest.raises(ConfigError) as exc:
        _settings({"schedule": "night"}, make_config())
    assert exc.value.path == "away.schedule"


async def _away(tmp_path: Path, now: datetime):
    from appservice.features.away.runtime import Away

    class Clock:
        def now(self) -> datetime:
            return now

    class Svc:
        clock = Clock()

    class Exec:
        svc = Svc()

    settings = _settings({}, make_config())
    db = Database(tmp_path / "y.db", (TABLES,))
    await db.open()
    return Away(settings, WorkCalendar(settings.calendar), AwayStore(db), Exec()), db  # type: ignore[arg-type]


async def test_a_whole_day_end_runs_on_to_the_next_working_time(tmp_path):
    away, db = await _away(tmp_path, WED_10)
    try:
        # Thu 12/24 – Fri 12/25: back Monday 12/28 at the office's opening.
        _, ends, shown = away.period(parse_away("12/24-12/25", TODAY), WED_10)
        assert ends == datetime(2026, 12, 28, 8, 30, tzinfo=JST) and shown == datetime(2026, 12, 26, tzinfo=JST)
        # … until Monday 12/28: the year-end closure (12/29–1/3) follows, back on 1/4.
        _, ends, _ = away.period(parse_away("12/24-12/28", TODAY), WED_10)
        assert ends == datetime(2027, 1, 4, 8, 30, tzinfo=JST)
        # A time is taken as written; "until 17:00" starts now.
        start, ends, _ = away.period(parse_away("17:00まで", TODAY), WED_10)
        assert (start, ends) == (WED_10, datetime(2026, 11, 25, 17, 0, tzinfo=JST))
        # "today": until the next working day.
        _, ends, _ = away.period(parse_away("今日", TODAY), WED_10)
        assert ends == datetime(2026, 11, 26, 8, 30, tzinfo=JST)
    finally:
        db.close()


# -- the policy ---------------------------------------------------------------------------------

class FakeState:
    def __init__(self, kv: dict[str, str] | None = None, dm_rooms: dict[str, str] | None = None) -> None:
        self.kv = kv or {}
        self.dm_rooms = dm_rooms or {}

    async def get(self, key: str) -> str | None:
        return self.kv.get(key)

    async def is_dm_room(self, room_id: str) -> str | None:
        return self.dm_rooms.get(room_id)


@pytest.fixture
async def store(tmp_path):
    db = Database(tmp_path / "y.db", (TABLES,))
    await db.open()
    s = AwayStore(db)
    now = WED_10.timestamp()
    # Since 09:00 today, through Friday 11/27 (shown), back Monday 11/30 08:30 (the calendar).
    await s.add(user_id=YAMADA, starts_at=now - 3600, ends_at=datetime(2026, 11, 30, 8, 30, tzinfo=JST).timestamp(),
                end_shown=datetime(2026, 11, 28, tzinfo=JST).timestamp(),
                end_has_time=False, display_name="山田 太郎", delegate=SATO, delegate_name="佐藤 花子",
                note="病気休暇", set_by=YAMADA, now=now, replace=[])
    await s.add_dm_rooms([(DM, YAMADA, ALICE), (DM, ALICE, YAMADA)], "invite")
    yield s
    db.close()


def policy(store: AwayStore, **quiet: Any) -> AwayPolicy:
    s = _settings({}, make_config({"enabled": True, **quiet}))
    return AwayPolicy(s, WorkCalendar(s.calendar), store)


def ctx(now: datetime = WED_10, state: FakeState | None = None) -> PolicyContext:
    return PolicyContext(config=make_config(), now=now, admins=frozenset(), admin_room=f"!admin:{SERVER}",
                         state=state or FakeState())  # type: ignore[arg-type]


n = 0


def msg(body: str = "資料を見てください", *, sender: str = ALICE, room: str = ROOM, etype: str = "m.room.message",
        msgtype: str = "m.text", **content: Any) -> Event:
    global n
    n += 1
    c = {"msgtype": msgtype, "body": body, **content} if etype == "m.room.message" else {"ciphertext": "x"}
    return Event(event_id=f"$a{n}", room_id=room, sender=sender, type=etype, origin_server_ts=0, content=c,
                 encrypted=etype == "m.room.encrypted")


async def test_a_mention_gets_one_private_notice_without_the_message_or_the_note(store):
    event = msg("@yamada 明日の会議の件です", **{"m.mentions": {"user_ids": [YAMADA]}})
    out = await policy(store).evaluate(event, ctx())
    notice = next(d for d in out if isinstance(d, DirectNotice))
    assert notice.user_id == ALICE and notice.once_key and notice.once_key.startswith("away:1:")
    text = render(notice.message, "ja")
    assert "山田 太郎さん" in text and "佐藤 花子さん" in text and SATO in text
    assert "会議" not in text and "病気" not in text
    assert "11月27日（金）まで" in text and "11月30日（月）08:30 から戻る" in text
    assert any(isinstance(d, Audit) and d.action == "away_notice" and d.target == YAMADA for d in out)
    # The same writer again: the same once_key (the executor sends it once).
    again = await policy(store).evaluate(msg("@yamada:city-a.example もう一点"), ctx())
    assert next(d for d in again if isinstance(d, DirectNotice)).once_key == notice.once_key


@pytest.mark.parametrize("content", [
    {"body": "yamada さんへ", "format": "org.matrix.custom.html",
     "formatted_body": f'<a href="https://matrix.to/#/{YAMADA}">山田 太郎</a> さんへ'},
    {"body": f"{YAMADA} 確認お願いします"},
    {"body": "@yamada 確認お願いします"},
    {"body": "確認お願いします", "m.mentions": {"user_ids": [YAMADA]}},
])
def test_what_counts_as_a_mention(content):
    assert mentioned({"msgtype": "m.text", **content}, [YAMADA], SERVER) == [YAMADA]


@pytest.mark.parametrize("content", [
    {"body": "yamada@city-a.example にメールしました"},
    {"body": "@yamadamoto さん"},
    {"body": f"> <{YAMADA}> 前の話\n\n了解です", "format": "org.matrix.custom.html",
     "formatted_body": f'<mx-reply><a href="https://matrix.to/#/{YAMADA}">x</a></mx-reply>了解です'},
])
def test_what_does_not(content):
    assert mentioned({"msgtype": "m.text", **content}, [YAMADA], SERVER) == []


async def test_a_dm_to_the_away_person_counts_even_encrypted_without_a_bot(store):
    out = await policy(store).evaluate(msg(room=DM, etype="m.room.encrypted"), ctx())
    assert [d.user_id for d in out if isinstance(d, DirectNotice)] == [ALICE]
    # … but the away person writing in it, or a third person, is not a DM to them.
    assert await policy(store).evaluate(msg(room=DM, sender=YAMADA), ctx()) == []
    assert await policy(store).evaluate(msg(room=DM, sender=SATO), ctx()) == []


async def test_nothing_for_ordinary_chat_notices_edits_commands_and_bot_dms(store):
    p = policy(store)
    assert await p.evaluate(msg("資料です"), ctx()) == []
    assert await p.evaluate(msg("@yamada", msgtype="m.notice"), ctx()) == []
    edit = msg("@yamada", **{"m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}})
    assert await p.evaluate(edit, ctx()) == []
    assert await p.evaluate(msg("!yakuba away status @yamada"), ctx()) == []
    assert await p.evaluate(msg("@yamada", room="!botdm:x"), ctx(state=FakeState(dm_rooms={"!botdm:x": ALICE}))) == []
    assert await p.evaluate(msg("@yamada", sender=f"@_yakuba:{SERVER}"), ctx()) == []


async def test_quiet_hours_hold_the_notice_unless_emergency_or_disaster(store):
    p = policy(store)
    assert await p.evaluate(msg("@yamada 明日の件"), ctx(WED_20)) == []
    urgent = await p.evaluate(msg("【緊急】@yamada 庁舎で停電"), ctx(WED_20))
    assert any(isinstance(d, DirectNotice) for d in urgent)
    disaster = FakeState(kv={DISASTER_KEY: json.dumps({"on": True})})
    assert any(isinstance(d, DirectNotice) for d in await p.evaluate(msg("@yamada 明日の件"), ctx(WED_20, disaster)))
    # quiet_hours switched off: no quiet hours to respect.
    s = _settings({}, make_config({"enabled": False}))
    off = AwayPolicy(s, WorkCalendar(s.calendar), store)
    assert any(isinstance(d, DirectNotice) for d in await off.evaluate(msg("@yamada 明日の件"), ctx(WED_20)))


async def test_a_remote_writer_goes_through_the_effect_that_tries(store):
    out = await policy(store).evaluate(msg("@yamada:city-a.example hello", sender=REMOTE), ctx())
    assert [type(d) for d in out] == [Effect]
    assert out[0].kind == NOTIFY_REMOTE and out[0].once_key == f"away:1:{REMOTE}"


async def test_before_and_after_the_absence_nothing(store):
    from datetime import timedelta

    assert await policy(store).evaluate(msg("@yamada"), ctx(WED_10 - timedelta(hours=2))) == []
    assert await policy(store).evaluate(msg("@yamada"), ctx(WED_10 + timedelta(days=5))) == []


async def test_an_is_direct_invite_is_learned():
    invite = Event(event_id="$i", room_id="!new:x", sender=ALICE, type="m.room.member", origin_server_ts=0,
                   content={"membership": "invite", "is_direct": True}, state_key=YAMADA)
    settings = _settings({}, make_config())
    p = AwayPolicy(settings, WorkCalendar(settings.calendar), AwayStore(None))  # type: ignore[arg-type]
    out = p._direct_invite(invite, ctx())
    assert [d.kind for d in out] == [LEARN_DM]  # type: ignore[attr-defined]
    plain = Event(event_id="$j", room_id="!new:x", sender=ALICE, type="m.room.member", origin_server_ts=0,
                  content={"membership": "invite"}, state_key=YAMADA)
    assert p._direct_invite(plain, ctx()) == []


async def test_overlaps_and_replacement_in_the_store(store):
    now = WED_10.timestamp()
    old = (await store.open_of(YAMADA))[0]
    assert old.overlaps(now, now + 60) and not old.overlaps(now + 86400 * 5, now + 86400 * 6)
    new = await store.add(user_id=YAMADA, starts_at=now, ends_at=now + 3600, end_shown=now + 3600, end_has_time=True,
                          display_name=None, delegate=None, delegate_name=None, note="", set_by=YAMADA, now=now,
                          replace=[old.id])
    assert [a.id for a in await store.open_of(YAMADA)] == [new]
    assert (await store.get(old.id)).state == "replaced"  # type: ignore[union-attr]
    live = await store.live()
    assert [a.id for a in live.absences[YAMADA]] == [new]


async def test_presence_status_is_set_while_away_and_restored(tmp_path):
    from dataclasses import replace

    from appservice.features.away.runtime import Away

    calls: list[tuple[str, dict[str, Any] | None]] = []

    class Client:
        status = {"presence": "online", "status_msg": "会議中"}  # noqa: RUF012

        async def request(self, method: str, path: str, *, json: Any = None, as_user: str | None = None,
                          **_: Any) -> dict[str, Any]:
            assert as_user == YAMADA and path.endswith("/status")
            calls.append((method, json))
            if method == "PUT":
                self.status = dict(json)
            return dict(self.status)

    class Svc:
        client = Client()
        config = make_config()

    class Exec:
        svc = Svc()

    db = Database(tmp_path / "y.db", (TABLES,))
    await db.open()
    try:
        settings = replace(_settings({"presence": True}, make_config()))
        store = AwayStore(db)
        away = Away(settings, WorkCalendar(settings.calendar), store, Exec())  # type: ignore[arg-type]
        now = WED_10.timestamp()
        aid = await store.add(user_id=YAMADA, starts_at=now, ends_at=now + 3600, end_shown=now + 3600,
                              end_has_time=True, display_name=None, delegate=None, delegate_name=None, note="",
                              set_by=YAMADA, now=now, replace=[])
        a = await store.get(aid)
        assert a is not None
        await away._presence_on(a)
        assert "不在" in Svc.client.status["status_msg"] and Svc.client.status["presence"] == "online"
        await away._presence_off(a)
        assert Svc.client.status["status_msg"] == "会議中"
        assert [m for m, _ in calls] == ["GET", "PUT", "GET", "PUT"]
    finally:
        db.close()
