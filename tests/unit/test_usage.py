"""Usage counting in a real YakubaService (the default features, no Synapse: the database is real,
events go into the inbox and the pipeline drains them, sends are recorded by a fake): a morning
and an evening of messages in three departments and a small one, counted from the event log
exactly once across crashes, plaintext upgrades and restarts, warnings harvested from the audit
log and the quiet-hours reminders, the weekly post, `!yakuba usage` and `yakuba usage --csv`."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog

from appservice.app.assembly import DEFAULT_FEATURES
from appservice.app.config import config_from_dict
from appservice.app.service import YakubaService
from appservice.core.clock import Clock
from appservice.core.config import Config
from appservice.core.configerror import ConfigError
from appservice.core.decisions import DirectNotice
from appservice.core.events import parse_event
from appservice.features.quiet.config import quiet_config_from_dict
from appservice.features.quiet.policy import QuietPolicy
from appservice.features.usage.cli import report_main
from appservice.features.usage.config import UsageSettings
from appservice.features.usage.groups import OTHER
from appservice.features.usage.report import WEEK
from appservice.features.usage.runtime import Usage, quiet_sender
from appservice.lib.workcal import WorkCalendar
from appservice.matrix.client import MatrixError
from tests.unit.support import make_context

SERVER = "city-a.localhost"
ADMIN = f"@admin:{SERVER}"
ADMIN_ROOM = f"!admin:{SERVER}"
JST = ZoneInfo("Asia/Tokyo")
MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=JST)   # a Wednesday, working hours
EVENING = datetime(2026, 11, 25, 19, 0, tzinfo=JST)   # the same day, off hours
STAFF = {"総務課": "soumu", "市民課": "shimin", "企画課": "kikaku", "議会事務局": "gikai", "監査委員事務局": "kansa"}
HEADS = {"総務課": 6, "市民課": 5, "企画課": 5, "議会事務局": 3, "監査委員事務局": 2}


def uid(dept: str, i: int) -> str:
    return f"@{STAFF[dept]}{i}:{SERVER}"


@pytest.fixture(autouse=True)
def fresh_logging() -> None:
    structlog.reset_defaults()


class MovableClock(Clock):
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when


def staff_csv(path: Path) -> Path:
    lines = ["user_id,氏名,所属,役職"]
    lines += [f"{uid(d, i)},職員{i},{d},主事" for d, n in HEADS.items() for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_config(tmp_path: Path, **sections: Any) -> Config:
    reg = tmp_path / "reg.yaml"
    reg.write_text("as_token: aaaaaaaaaaaa\nhs_token: hhhhhhhhhhhh\n")
    data = {"homeserver": {"url": "http://127.0.0.1:9", "server_name": SERVER},
            "appservice": {"registration": str(reg)}, "data_dir": str(tmp_path / "data"),
            "admins": [ADMIN], "usage": {"directory": str(staff_csv(tmp_path / "staff.csv"))}, **sections}
    return config_from_dict(data, tmp_path / "yakuba.yaml")


@dataclass
class Running:
    service: YakubaService
    clock: MovableClock
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)   # what Synapse's admin API lists
    _n: int = 0

    async def fake_send(self, room_id: str, content: dict[str, Any], txn_id: str, *,
                        as_user: str | None = None, event_type: str = "m.room.message") -> str:
        self.sent.append((room_id, content))
        return f"$sent{len(self.sent)}"

    async def fake_upload(self, data: bytes, content_type: str, filename: str) -> str:
        return f"mxc://{SERVER}/{filename}"

    async def fake_request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if path == "/_synapse/admin/v2/users":
            return {"users": self.users}
        raise MatrixError(404, "M_NOT_FOUND", "fake", method, path)

    async def deliver(self, *events: dict[str, Any]) -> int:
        self._n += 1
        await self.service.inbox.put_transaction(f"txn{self._n}", list(events))
        return await self.service.pipeline.drain()

    @property
    def usage(self) -> Usage:
        return self.service.features.components["usage"]

    def bodies(self, room_id: str) -> list[str]:
        return [c.get("body", "") for r, c in self.sent if r == room_id]

    async def close(self) -> None:
        await self.usage.close()
        await self.service.client.close()
        self.service.db.close()


async def running(tmp_path: Path, when: datetime = MORNING, **sections: Any) -> Running:
    clock = MovableClock(when)
    service = YakubaService(make_config(tmp_path, **sections), features=[f for f in DEFAULT_FEATURES
                                                                         if f.name != "bots"], clock=clock)
    await service.db.open()
    await service.state.set("admin_room", ADMIN_ROOM)
    await service.state.note_room(ADMIN_ROOM, encrypted=False)
    run = Running(service, clock)
    service.sender.send = run.fake_send  # type: ignore[method-assign]
    service.client.upload = run.fake_upload  # type: ignore[method-assign]
    service.client.request = run.fake_request  # type: ignore[method-assign]
    await run.usage.begin()   # what the service's start does: counting starts now
    return run


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Running]:
    r = await running(tmp_path)
    yield r
    await r.close()


_ids = iter(range(1_000_000))


def message(sender: str, room: str, body: str = "おはようございます", **content: Any) -> dict[str, Any]:
    return {"event_id": f"$ev{next(_ids)}", "room_id": room, "sender": sender, "type": "m.room.message",
            "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body, **content}}


async def morning_and_evening(run: Running) -> None:
    """The day the tests count: a morning and an evening across three departments and a small one.
    Each is harvested before the clock moves on, as the service does within seconds (a row is
    dated by the time it was recorded, on the service clock)."""
    run.clock.when = MORNING
    await run.deliver(
        *(message(uid("総務課", i), "!soumu:x") for i in range(3) for _ in range(2)),   # 6, 3 people
        message(uid("市民課", 0), "!shimin:x"),
        message(uid("企画課", 0), "!kikaku:x"), message(uid("企画課", 1), "!kikaku2:x"),
    )
    await run.usage.harvest()
    run.clock.when = EVENING
    await run.deliver(
        message(uid("総務課", 0), "!soumu:x"),
        message(uid("市民課", 0), "!shimin:x"), message(uid("市民課", 1), "!shimin:x"),
        message(uid("議会事務局", 0), "!gikai:x"),
    )
    await run.usage.harvest()


async def report_rows(run: Running) -> dict[str, tuple[int, ...]]:
    rep = await run.usage.build_report(WEEK, with_accounts=False)
    out = {r.group: (r.staff, r.active, r.rooms, r.counts["messages"], r.counts["off_hours"], r.counts["pii"],
                     r.counts["screenshots"], r.counts["reminders"]) for r in rep.rows}
    assert rep.total is not None
    t = rep.total
    out["total"] = (t.staff, t.active, t.rooms, t.counts["messages"], t.counts["off_hours"], t.counts["pii"],
                    t.counts["screenshots"], t.counts["reminders"])
    return out


EXPECTED = {
    # staff, active, rooms, messages, off hours, pii, screenshots, reminders
    "企画課": (5, 2, 2, 2, 0, 0, 0, 0),
    "市民課": (5, 2, 1, 3, 2, 0, 0, 0),
    "総務課": (6, 3, 1, 7, 1, 0, 0, 0),
    OTHER: (5, 1, 1, 1, 1, 0, 0, 0),      # 議会事務局 (3) and 監査委員事務局 (2)
    "total": (21, 8, 5, 13, 4, 0, 0, 0),
}


async def test_a_morning_and_an_evening_are_counted_per_department(run: Running) -> None:
    await morning_and_evening(run)
    assert await report_rows(run) == EXPECTED
    assert await run.usage.harvest() == 0   # counted once: the watermark moved with the counts
    rows = await run.service.db.fetchall("SELECT day, department, messages, off_hours FROM usage_daily ORDER BY 2")
    assert [tuple(r) for r in rows] == [("2026-11-25", "企画課", 2, 0), ("2026-11-25", "市民課", 3, 2),
                                        ("2026-11-25", "総務課", 7, 1), ("2026-11-25", "議会事務局", 1, 1)]


async def test_only_what_staff_write_is_counted(run: Running) -> None:
    s = uid("総務課", 0)
    target = message(s, "!soumu:x")
    await run.deliver(
        target,
        {**message(s, "!soumu:x", "* 訂正"), "content": {"msgtype": "m.text", "body": "* 訂正", "m.relates_to": {
            "rel_type": "m.replace", "event_id": target["event_id"]}}},                      # an edit
        {"event_id": "$r1", "room_id": "!soumu:x", "sender": s, "type": "m.reaction", "origin_server_ts": 1,
         "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target["event_id"], "key": "👍"}}},
        message(s, "!soumu:x", msgtype="m.notice"),                                         # a notice
        message(s, "!soumu:x", "!yakuba quiet off"),                                       # a command
        message(ADMIN, ADMIN_ROOM, "!yakuba status"),                                      # the admin room
        message(f"@_yakuba:{SERVER}", "!soumu:x"),                                         # a bot
        message("@someone:city-b.example", "!soumu:x"),                                    # a remote user
        {"event_id": "$name", "room_id": "!soumu:x", "sender": s, "type": "m.room.name", "state_key": "",
         "origin_server_ts": 1, "content": {"name": "総務課"}},
        {"event_id": "$enc", "room_id": "!soumu:x", "sender": uid("総務課", 1), "type": "m.room.encrypted",
         "origin_server_ts": 1, "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}},
        {"event_id": "$file", "room_id": "!soumu:x", "sender": uid("総務課", 2), "type": "m.room.message",
         "origin_server_ts": 1, "content": {"msgtype": "m.file", "body": "資料.pdf", "url": "mxc://x/y"}},
    )
    rows = await report_rows(run)
    assert rows["総務課"][:5] == (6, 3, 1, 3, 0)  # the message, the ciphertext, the file


async def test_exactly_once_across_crashes_plaintext_upgrades_and_restarts(tmp_path: Path) -> None:
    run = await running(tmp_path)
    try:
        # A crash before the done mark: nothing of the event was committed, its counts neither;
        # the replay counts it once.
        real_mark_done = run.service.inbox.mark_done

        async def crash(*args: Any, **kwargs: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        run.service.inbox.mark_done = crash  # type: ignore[method-assign]
        with pytest.raises(sqlite3.OperationalError):
            await run.deliver(message(uid("総務課", 0), "!soumu:x"))
        run.service.inbox.mark_done = real_mark_done  # type: ignore[method-assign]
        assert await run.service.pipeline.drain() == 1
        await morning_and_evening(run)
        # Ciphertext taken as it is (no plaintext in time), then its plaintext: one message —
        # also when the harvest runs between the two (the ciphertext leaves a dedupe row).
        cipher = {"event_id": "$late", "room_id": "!soumu:x", "sender": uid("総務課", 1), "type": "m.room.encrypted",
                  "origin_server_ts": 1, "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "x"}}
        await run.deliver(cipher)
        await run.usage.harvest()
        plain = {**cipher, "type": "m.room.message", "content": {"msgtype": "m.text", "body": "遅れて届いた鍵"}}
        assert await run.service.inbox.put_decrypted(plain)
        assert await run.service.pipeline.drain() == 1
        await run.usage.harvest()
        # The plaintext first (the bot decrypted it), Synapse's ciphertext copy after: one message.
        first = {**plain, "event_id": "$early", "sender": uid("総務課", 2)}
        assert await run.service.inbox.put_decrypted(first)
        await run.service.pipeline.drain()
        await run.deliver({**cipher, "event_id": "$early", "sender": uid("総務課", 2)})
        # And both rows of an upgrade in one harvest batch.
        both = {**cipher, "event_id": "$both"}
        await run.deliver(both)
        assert await run.service.inbox.put_decrypted({**plain, "event_id": "$both"})
        assert await run.service.pipeline.drain() == 1
        # One more in the morning (the crash), three in the evening (the encrypted ones).
        expected = {**EXPECTED, "総務課": (6, 3, 1, 11, 4, 0, 0, 0), "total": (21, 8, 5, 17, 7, 0, 0, 0)}
        assert await report_rows(run) == expected
        assert await run.service.db.fetchall("SELECT key FROM usage_counted") == []  # the rows went
    finally:
        await run.close()
    again = await running(tmp_path, EVENING)   # a restart: the counts are in the database
    try:
        assert await again.service.pipeline.drain() == 0
        assert await report_rows(again) == expected
    finally:
        await again.close()


async def test_warnings_and_reminders_are_harvested_once(run: Running) -> None:
    state = run.service.state
    await state.audit("pii_detected", actor=uid("総務課", 0), room_id="!soumu:x", event_id="$p1")
    await state.audit("pii_detected", actor=uid("総務課", 1), room_id="!soumu:x", event_id="$p2")
    await state.audit("screenshot_detected", actor=uid("市民課", 0), room_id="!shimin:x", event_id="$s1")
    await state.audit("pii_detected", actor="@someone:city-b.example", room_id="!soumu:x")   # not staff here
    await state.audit("pii_scan_truncated", actor=uid("総務課", 0))                             # not a warning
    await state.claim_once(f"quiet:{uid('企画課', 0)}:2026-11-25T17:15:00+09:00")
    await state.claim_once(f"quiet:{uid('企画課', 1)}:2026-11-25T17:15:00+09:00")
    await state.claim_once("quiet:alert:$e1")
    await morning_and_evening(run)
    rows = await report_rows(run)
    assert rows["総務課"][5:] == (2, 0, 0)
    assert rows["市民課"][5:] == (0, 1, 0)
    assert rows["企画課"][5:] == (0, 0, 2)
    assert rows["total"][5:] == (2, 1, 2)
    assert await run.usage.harvest() == 0                     # nothing new
    await state.audit("pii_detected", actor=uid("市民課", 1))
    assert await run.usage.harvest() == 1
    assert (await report_rows(run))["市民課"][5:] == (1, 1, 0)


async def test_the_reminder_key_is_the_one_quiet_hours_sends_under(run: Running) -> None:
    """The harvest reads the quiet-hours rule's once-keys: this pins the format it relies on."""
    cfg = quiet_config_from_dict({"enabled": True})
    policy = QuietPolicy(cfg, WorkCalendar(cfg.calendar))
    sender = uid("企画課", 0)
    ev = parse_event(message(sender, "!kikaku:x"))
    ctx = make_context(run.service.config, run.service.state, now=EVENING)
    [reminder] = [d for d in await policy.evaluate(ev, ctx) if isinstance(d, DirectNotice)]
    assert reminder.once_key is not None and quiet_sender(reminder.once_key) == sender


async def test_harvested_warnings_are_dated_by_the_service_clock(run: Running) -> None:
    """With a test clock, a warning recorded now (wall time) lands on the clock's day."""
    run.clock.when = datetime(2027, 2, 3, 10, 0, tzinfo=JST)
    await run.service.state.audit("pii_detected", actor=uid("総務課", 0))
    await run.usage.harvest()
    rows = await run.service.db.fetchall("SELECT day, pii FROM usage_daily WHERE pii > 0")
    assert [tuple(r) for r in rows] == [("2027-02-03", 1)]


async def test_accounts_never_logged_in_and_not_seen(run: Running) -> None:
    now_ms = int(MORNING.timestamp() * 1000)
    run.users = [
        {"name": uid("総務課", 0), "last_seen_ts": now_ms - 3_600_000},
        {"name": uid("総務課", 1), "last_seen_ts": None},                    # never used
        {"name": uid("総務課", 2), "last_seen_ts": now_ms - 40 * 86_400_000},  # not seen for 40 days
        {"name": uid("総務課", 3), "last_seen_ts": now_ms, "deactivated": True},
        {"name": f"@_yakuba:{SERVER}", "last_seen_ts": None},
        *({"name": uid(d, i), "last_seen_ts": now_ms} for d, n in HEADS.items() if d != "総務課" for i in range(n)),
    ]
    rep = await run.usage.build_report(WEEK)
    rows = {r.group: (r.never_logged_in, r.inactive) for r in rep.rows}
    # 総務課: @1 never, @3 deactivated and @4, @5 without an account count as never logged in.
    assert rows == {"企画課": (0, 0), "市民課": (0, 0), "総務課": (4, 1), OTHER: (0, 0)} and rep.accounts
    assert rep.total is not None and (rep.total.never_logged_in, rep.total.inactive) == (4, 1)
    run.users = []
    run.service.client.request = _unreachable  # type: ignore[method-assign]
    rep = await run.usage.build_report(WEEK)
    assert not rep.accounts and rep.rows[0].never_logged_in is None


async def _unreachable(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    raise MatrixError(0, "M_CONNECTION", "unreachable", method, path)


async def test_the_weekly_report_is_posted_once_on_monday_morning(run: Running) -> None:
    await morning_and_evening(run)
    assert not await run.usage.weekly_tick()           # the first start only notes the week
    assert await run.usage.tables.get_meta("weekly_last") == "2026-11-16"
    run.clock.when = datetime(2026, 11, 30, 8, 59, tzinfo=JST)
    assert not await run.usage.weekly_tick()
    run.clock.when = datetime(2026, 11, 30, 9, 0, 5, tzinfo=JST)
    assert await run.usage.weekly_tick()
    assert not await run.usage.weekly_tick()
    contents = [c for r, c in run.sent if r == ADMIN_ROOM]
    assert [c["msgtype"] for c in contents] == ["m.notice", "m.image", "m.file"]
    text = contents[0]["body"]
    assert text.startswith("📊 週間利用状況レポート（週 2026-11-23〜2026-11-29）")
    assert "• 総務課: 職員 6 人中 3 人（50%）、メッセージ 7 件（時間外 1 件・14%）" in text
    assert contents[1]["info"]["mimetype"] == "image/png" and contents[1]["info"]["w"] > 600
    assert contents[2]["body"] == "usage-week-2026-11-23.csv" and contents[2]["url"].startswith("mxc://")
    audits = await run.service.db.fetchall("SELECT details FROM audit WHERE action = 'usage_report'")
    assert len(audits) == 1


async def test_the_admin_command_posts_the_report(run: Running) -> None:
    await morning_and_evening(run)
    await run.deliver(message(ADMIN, ADMIN_ROOM, "!yakuba usage week 市民課"))
    await run.usage.jobs_idle()
    bodies = run.bodies(ADMIN_ROOM)
    assert bodies[0] == "利用状況レポート（週 2026-11-23〜2026-11-29）を作成しています。"
    assert bodies[1].startswith("📊 利用状況レポート（週 2026-11-23〜2026-11-29）")
    assert "• 市民課: 職員 5 人中 2 人（40%）、メッセージ 3 件（時間外 2 件・67%）" in bodies[1]
    assert "総務課" not in bodies[1]
    assert bodies[2:] == ["usage-week-2026-11-23-dept.png", "usage-week-2026-11-23-dept.csv"]
    run.sent.clear()
    await run.deliver(message(ADMIN, ADMIN_ROOM, "!yakuba usage 議会事務局"))
    await run.usage.jobs_idle()
    assert "「議会事務局」は 5 人未満の部署のため「その他」にまとめています" in run.bodies(ADMIN_ROOM)[-1]
    run.sent.clear()
    await run.deliver(message(ADMIN, ADMIN_ROOM, "!yakuba usage --pdf"))
    assert "--pdf" in run.bodies(ADMIN_ROOM)[-1]
    run.sent.clear()
    await run.deliver(message(uid("総務課", 0), ADMIN_ROOM, "!yakuba usage"))     # not an admin
    assert len(run.usage._jobs) == 0 and len(run.bodies(ADMIN_ROOM)) == 1


async def test_counters_are_pruned_after_keep_days(run: Running) -> None:
    await morning_and_evening(run)
    run.clock.when = datetime(2028, 1, 5, 12, 0, tzinfo=JST)   # 400 days after the end of that month
    await run.usage.prune_daily()
    for table in ("usage_daily", "usage_seen", "usage_counted"):
        assert (await run.service.db.fetchone(f"SELECT COUNT(*) AS n FROM {table}"))["n"] == 0, table


def test_the_shell_command_writes_the_csv(tmp_path: Path) -> None:
    async def prepare() -> Config:
        r = await running(tmp_path)
        try:
            await morning_and_evening(r)
            return r.service.config
        finally:
            await r.close()

    config = asyncio.run(prepare())
    out = tmp_path / "usage.csv"
    assert report_main(["--date", "2026-11-25", "--csv", "--no-accounts", "-o", str(out)], config) == 0
    text = out.read_bytes().decode("utf-8-sig")
    assert "\r\n週,2026-11-23,2026-11-29,総務課,6,3,50.0,7,1,0,0,0,14.3,1,,\r\n" in text
    assert "\r\n週,2026-11-23,2026-11-29,全体,21,8,38.1,13,4,0,0,0,30.8,5,,\r\n" in text
    printed = io.StringIO()
    assert report_main(["--date", "2026-11-25", "--no-accounts", "--department", "企画"], config,
                       stdout=printed) == 0
    assert "• 企画課: 職員 5 人中 2 人（40%）" in printed.getvalue()
    errors = io.StringIO()
    assert report_main(["--date", "2026-11-25", "--no-accounts", "--department", "人事課"], config,
                       stderr=errors) == 1
    assert "「人事課」という部署は見つかりません" in errors.getvalue()


def test_settings(tmp_path: Path) -> None:
    staff = staff_csv(tmp_path / "staff.csv")
    s = UsageSettings.parse({}, retention_directory=str(staff))
    assert s.enabled and s.directory == staff and s.min_group_size == 5 and s.weekly.weekday == 0
    s = UsageSettings.parse({"schedules": {"消防本部": "24h"}, "weekly": {"day": "fri", "time": "17:30"}},
                            quiet_hours={"enabled": True, "schedules": {"24h": {"always": True}}})
    assert s.schedule_of("消防本部") == "24h" and s.schedule_of("総務課") is None and s.weekly.weekday == 4
    with pytest.raises(ConfigError, match=r"^usage\.schedules\.消防本部: unknown schedule"):
        UsageSettings.parse({"schedules": {"消防本部": "night"}})
    with pytest.raises(ConfigError, match=r"^usage\.directory: staff directory file not found"):
        UsageSettings.parse({"directory": str(tmp_path / "nope.csv")})
    with pytest.raises(ConfigError, match=r"^usage\.weekly\.time: expected a time HH:MM"):
        UsageSettings.parse({"weekly": {"time": "25:00"}})


async def test_an_event_log_row_it_cannot_read_is_skipped(run: Running) -> None:
    await run.service.state.audit("event", actor=uid("総務課", 0), room_id="!soumu:x", event_id="$x")
    await run.service.db.execute("UPDATE audit SET details = 'not json' WHERE event_id = '$x'")
    await run.deliver(message(uid("総務課", 1), "!soumu:x"))
    assert (await report_rows(run))["総務課"][:4] == (6, 1, 1, 1)


async def test_two_harvesters_at_once_count_once(run: Running) -> None:
    """The service's loop, a report job and `yakuba usage` may harvest at the same moment."""
    from appservice.core.db import Database
    from appservice.features.usage.tables import TABLES

    cfg = run.service.config
    other_db = Database(cfg.db_path, (TABLES,))
    await other_db.open()
    try:
        other = Usage(cfg, UsageSettings.from_config(cfg), other_db, run.clock)   # like the CLI
        run.clock.when = MORNING
        await run.deliver(*(message(uid("総務課", i % 6), "!soumu:x") for i in range(30)))
        await run.service.state.audit("pii_detected", actor=uid("総務課", 0))
        await asyncio.gather(run.usage.harvest(), other.harvest(), run.usage.harvest())
        assert (await report_rows(run))["総務課"][3:6] == (30, 0, 1)
    finally:
        other_db.close()
