"""Usage reports at run time: the harvest into the counts, the report (numbers, chart, CSV) and
the weekly post. One `Usage` object serves the service (with the executor: posts, files and
audit rows go through it) and `yakuba usage` (no executor: it prints).

Where the numbers come from (docs/usage-reports.md), all read without importing another feature
and folded into this feature's tables by `harvest` — every few seconds and before each report,
each batch in one transaction with its watermark (exactly once, also across restarts):
- messages, off-hours messages, active staff and rooms: the core's event log (one audit row per
  event, written with the event's done mark; counting.py says which rows are messages);
- warnings: the audit rows the features write (`pii_detected`, `screenshot_detected`; local
  senders only); quiet-hours reminders: the once-keys they are sent under
  (`quiet:<sender>:<off period>`);
- never logged in / not seen for N days: Synapse's admin API (`last_seen_ts`), at report time.
Rows are dated by the time recorded, on the service clock (shifted by a test clock's offset when
one is set, so tests that move the clock harvest before moving it), and attributed to the
sender's department in the staff directory at harvest time (seconds after the event).
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import struct
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any

import structlog

from appservice.core.clock import Clock
from appservice.core.config import Config
from appservice.core.db import Database, transaction
from appservice.core.decisions import Message
from appservice.core.executor import render
from appservice.core.i18n import LOCALES, t
from appservice.core.jobs import Jobs
from appservice.features.usage import chart
from appservice.features.usage.config import UsageSettings
from appservice.features.usage.counting import MESSAGE_TYPES, dedupe_of, is_message
from appservice.features.usage.groups import OTHER, UNREGISTERED
from appservice.features.usage.report import (
    MONTH,
    TREND,
    WEEK,
    CsvLabels,
    Period,
    Report,
    UnknownGroup,
    account_stats,
    build,
    csv_bytes,
    messages,
    period_message,
)
from appservice.features.usage.tables import (
    ROOM,
    USER,
    Hit,
    Posted,
    UsageTables,
    add_posts,
    count_hit,
    get_meta,
    set_meta,
)
from appservice.lib.archive import Affiliation, Directory
from appservice.lib.workcal import WorkCalendar
from appservice.matrix.admin import SynapseAdmin
from appservice.matrix.client import MatrixClient, MatrixError

if TYPE_CHECKING:
    from appservice.core.executor import Executor

log = structlog.get_logger(__name__)

# Audit actions that are a warning, and the counter each adds to.
WARNING_ACTIONS = {"pii_detected": "pii", "screenshot_detected": "screenshots"}
# The once-key of a quiet-hours reminder: quiet:<sender>:<start of the off period, ISO, or none>.
QUIET_KEY = re.compile(r"^quiet:(@[^:\s]+:\S+?):(?:\d{4}-\d{2}-\d{2}T\S+|none)$")
QUIET_RANGE = ("quiet:@", "quiet:A")   # the keys that start with "quiet:@" ('A' follows '@')
HARVEST_BATCH = 5000
MESSAGE_TYPE_MARKS = tuple(f'"{t}"' for t in MESSAGE_TYPES)
QUIET_LOOKBACK_S = 3600.0
POLL_S = 5.0

CHART_LABEL_KEYS = ("adoption", "adoption_axis", "off_trend", "off_hours", "off_share", "count_axis",
                    "share_axis", "warnings_trend", "pii", "screenshots", "reminders")


def _details(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def quiet_sender(once_key: str) -> str | None:
    m = QUIET_KEY.match(once_key)
    return m.group(1) if m else None


def png_size(data: bytes) -> dict[str, int]:
    """Width and height from a PNG's header (for the m.image event's info)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return {}
    w, h = struct.unpack(">II", data[16:24])
    return {"w": w, "h": h}


def due_week(now: datetime, weekday: int, at: dt_time) -> date:
    """The Monday of the last complete week before the latest weekly due instant ≤ now (local)."""
    monday = now.date() - timedelta(days=now.weekday())
    due = datetime.combine(monday + timedelta(days=weekday), at, tzinfo=now.tzinfo)
    if due > now:
        due -= timedelta(days=7)
    due_monday = due.date() - timedelta(days=due.weekday())
    return due_monday - timedelta(days=7)


class Usage:
    def __init__(self, config: Config, settings: UsageSettings, db: Database, clock: Clock, *,
                 client: MatrixClient | None = None, executor: Executor | None = None,
                 directory: Directory | None = None) -> None:
        self.config = config
        self.settings = settings
        self.tables = UsageTables(db)
        self.db = db
        self.clock = clock
        self.client = client
        self.executor = executor
        self.calendar = WorkCalendar(settings.calendar, clock=clock.now)
        self.tz = self.calendar.tz
        if directory is None and settings.directory is not None:
            directory = Directory.load(settings.directory)
        self.directory = directory
        self._jobs = Jobs("usage")
        self._pruned: date | None = None
        # Per-message work kept small (bench/bench_usage.py): the directory is looked at once a
        # second (it reloads itself when its file changes), off hours once per schedule and
        # minute, pseudonyms once per user or room.
        self._staff: Mapping[str, Affiliation] = {}
        self._staff_checked = -1.0
        self._off: dict[tuple[str | None, int], bool] = {}
        self._refs: dict[tuple[str, str], str] = {}

    @property
    def locale(self) -> str:
        return self.config.locale

    def today(self) -> date:
        return self.clock.now().astimezone(self.tz).date()

    def department_of(self, user_id: str) -> str:
        if self.directory is None:
            return UNREGISTERED
        now = time.monotonic()
        if now - self._staff_checked >= 1.0:
            self._staff, self._staff_checked = self.directory.entries(), now
        entry = self._staff.get(user_id)
        return entry.department if entry is not None and entry.department else UNREGISTERED

    def off_hours(self, at: datetime, department: str) -> bool:
        schedule = self.settings.schedule_of(department)
        key = (schedule, int(at.timestamp()) // 60)
        off = self._off.get(key)
        if off is None:
            if len(self._off) > 10_000:
                self._off.clear()
            off = self._off[key] = not self.calendar.is_working(at, schedule)
        return off

    def _ref(self, secret: bytes, kind: str, ident: str) -> str:
        ref = self._refs.get((kind, ident))
        if ref is None:
            if len(self._refs) > 100_000:
                self._refs.clear()
            ref = self._refs[(kind, ident)] = UsageTables.pseudonym(secret, kind, ident)
        return ref

    # -- harvesting the warnings -----------------------------------------------------------------

    def _counts_for(self, user_id: str) -> bool:
        return self.config.is_local(user_id) and user_id not in self.config.bot_user_ids

    async def begin(self) -> None:
        """On the first start ever, counting starts now: older event-log rows (from before this
        feature, without the kind of event) are not counted."""
        await self.db.execute("INSERT OR IGNORE INTO usage_meta (key, value) "
                              "SELECT 'event_mark', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM audit")

    async def harvest(self) -> int:
        """Fold new messages (event log), warnings (audit rows) and reminders (once-keys) into
        the counts; returns how many were counted. Each step reads its watermark, its rows, and
        writes the counts and the new watermark in one transaction (BEGIN IMMEDIATE): exactly
        once, also with two harvesters at a time (a report job and the loop, the service and
        `yakuba usage`)."""
        await self.begin()
        offset = self.clock.now().timestamp() - time.time()
        secret = await self.tables.pseudonym_key()
        counted = 0
        steps: tuple[Callable[[sqlite3.Connection, float, bytes], tuple[int, bool]], ...] = (
            self._messages, self._warnings)
        for step in steps:
            more = True
            while more:
                def batch(c: sqlite3.Connection, step: Any = step) -> tuple[int, bool]:
                    return transaction(c, lambda c: step(c, offset, secret))

                n, more = await self.db.run(batch)
                counted += n
        counted += await self.db.run(lambda c: transaction(c, lambda c: self._reminders(c, offset, secret)))
        return counted

    # The steps run on the database thread, inside the harvest's transactions.

    def _messages(self, c: sqlite3.Connection, offset: float, secret: bytes) -> tuple[int, bool]:
        mark = int(get_meta(c, "event_mark") or 0)
        rows = c.execute("SELECT id, ts, actor, room_id, event_id, details FROM audit "
                         "WHERE action = 'event' AND id > ? ORDER BY id LIMIT ?", (mark, HARVEST_BATCH)).fetchall()
        if not rows:
            return 0, False
        room_row = c.execute("SELECT value FROM kv WHERE key = 'admin_room'").fetchone()
        admin_room = room_row[0] if room_row else None
        bots = frozenset(self.config.bot_user_ids)
        posts = []
        days: dict[int, tuple[datetime, date]] = {}
        for _, ts, sender, room, event_id, text in rows:
            # Most events of a busy room are messages; the rest (members, state…) skip the parse.
            if not isinstance(text, str) or not any(t in text for t in MESSAGE_TYPE_MARKS):
                continue
            details = _details(text)
            if details is None or not isinstance(sender, str) or not isinstance(room, str) or not is_message(
                    details, sender=sender, room_id=room, admin_room=admin_room, bots=bots):
                continue
            minute = int((float(ts) + offset) // 60)
            if minute not in days:
                at = datetime.fromtimestamp(minute * 60, self.tz)
                days[minute] = (at, at.date())
            at, day = days[minute]
            dept = self.department_of(sender)
            posts.append(Posted(str(event_id), day, dept, self.off_hours(at, dept),
                                self._ref(secret, USER, sender), self._ref(secret, ROOM, room), dedupe_of(details)))
        n = add_posts(c, posts)
        set_meta(c, "event_mark", str(rows[-1][0]))
        return n, len(rows) == HARVEST_BATCH

    def _warnings(self, c: sqlite3.Connection, offset: float, secret: bytes) -> tuple[int, bool]:
        mark = int(get_meta(c, "audit_mark") or 0)
        rows = c.execute(f"SELECT id, ts, action, actor FROM audit WHERE id > ? AND action IN "
                         f"({', '.join('?' for _ in WARNING_ACTIONS)}) ORDER BY id LIMIT ?",
                         (mark, *WARNING_ACTIONS, HARVEST_BATCH)).fetchall()
        if not rows:
            return 0, False
        n = sum(count_hit(c, Hit(f"audit:{r['id']}", self._day(float(r["ts"]) + offset),
                                 self.department_of(r["actor"]), WARNING_ACTIONS[r["action"]]))
                for r in rows if isinstance(r["actor"], str) and self._counts_for(r["actor"]))
        set_meta(c, "audit_mark", str(rows[-1]["id"]))
        return n, len(rows) == HARVEST_BATCH

    def _reminders(self, c: sqlite3.Connection, offset: float, secret: bytes) -> int:
        """Once-keys have no id to keep a watermark on: the keys done since the last look (an
        hour's margin) are looked at, and a dedupe row per key keeps each counted once."""
        started = time.time()
        since = float(get_meta(c, "quiet_mark") or 0) - QUIET_LOOKBACK_S
        n = 0
        for key, done_at in c.execute("SELECT key, done_at FROM once_keys WHERE key >= ? AND key < ? "
                                      "AND done_at >= ?", (*QUIET_RANGE, since)).fetchall():
            sender = quiet_sender(key)
            if sender is not None and self._counts_for(sender):
                n += count_hit(c, Hit(f"quiet:{UsageTables.pseudonym(secret, 'once', key)}",
                                      self._day(float(done_at) + offset), self.department_of(sender), "reminders"))
        set_meta(c, "quiet_mark", repr(started))
        return n

    def _day(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self.tz).date()

    # -- the report --------------------------------------------------------------------------------

    def headcounts(self) -> Counter[str]:
        if self.directory is None:
            return Counter()
        return Counter(a.department or UNREGISTERED for a in self.directory.entries().values())

    async def accounts(self) -> dict[str, tuple[int, int]] | None:
        """Per department: (never logged in, not seen for inactive_days), from Synapse; None if
        Synapse could not be asked."""
        if self.client is None:
            return None
        try:
            users = await SynapseAdmin(self.client).list_users(limit=1000)
        except MatrixError as exc:
            log.warning("usage_accounts_unavailable", error=exc.errcode, status=exc.status)
            return None
        seen: dict[str, int | None] = {}
        for u in users:
            name, last = u.get("name"), u.get("last_seen_ts")
            if isinstance(name, str) and self._counts_for(name) and not u.get("deactivated"):
                seen[name] = int(last) if isinstance(last, int | float) and not isinstance(last, bool) else None
        if self.directory is not None:
            staff = {uid: a.department or UNREGISTERED for uid, a in self.directory.entries().items()}
        else:
            staff = dict.fromkeys(seen, UNREGISTERED)
        now_ms = int(self.clock.now().timestamp() * 1000)
        return account_stats(staff, seen, now_ms, self.settings.inactive_days)

    async def build_report(self, kind: str, day: date | None = None, group: str | None = None, *,
                           with_accounts: bool = True) -> Report:
        """The report of the week or month containing `day` (default: today), for everyone or
        for one group (report.UnknownGroup if there is no such group)."""
        await self.harvest()
        period = Period.containing(kind, day or self.today())
        first = period.back(TREND[kind])[0]
        daily = await self.tables.daily(first.start, period.end)
        seen = await self.tables.seen(period.start, period.end)
        accounts = await self.accounts() if with_accounts else None
        return build(period, daily=daily, seen=seen, headcounts=self.headcounts(),
                     min_group_size=self.settings.min_group_size, generated=self.clock.now(),
                     accounts=accounts, group=group, other_names=[t("usage.other", loc) for loc in LOCALES])

    def text(self, report: Report, *, weekly: bool = False) -> str:
        return "\n".join(render(m, self.locale) for m in messages(report, inactive_days=self.settings.inactive_days,
                                                                   weekly=weekly))

    def csv(self, report: Report) -> bytes:
        loc = self.locale
        header = t("usage.csv.header", loc, days=self.settings.inactive_days).split(",")
        return csv_bytes(report, CsvLabels(header=header,
                                           week=t("usage.csv.week", loc), month=t("usage.csv.month", loc),
                                           total=t("usage.csv.total", loc), other=t("usage.other", loc)))

    def chart_labels(self, report: Report) -> dict[str, str]:
        loc = self.locale
        title = render(Message("usage.chart.title", {"period": period_message(report.period)}), loc)
        if report.group is not None:
            title += f" — {t('usage.other', loc) if report.group == OTHER else report.group}"
        return {"title": title, "other": t("usage.other", loc),
                **{k: t(f"usage.chart.{k}", loc) for k in CHART_LABEL_KEYS}}

    async def png(self, report: Report) -> bytes | None:
        """The chart, drawn in a worker thread; None if no CJK font is at hand."""
        try:
            return await asyncio.to_thread(chart.render, report, self.chart_labels(report))
        except chart.ChartUnavailable as exc:
            log.warning("usage_chart_unavailable", detail=str(exc))
            return None

    @staticmethod
    def file_stem(report: Report) -> str:
        p = report.period
        return f"usage-{p.kind}-{p.start.isoformat()}" + ("-dept" if report.group is not None else "")

    # -- posting (the service) ---------------------------------------------------------------------

    async def post(self, room_id: str, report: Report, key: tuple[str, ...], *, weekly: bool = False,
                   reply_to: str | None = None) -> None:
        """The numbers as text, the chart (inline image) and the CSV, through the executor
        (encrypted in the encrypted admin room); `key` makes the sends idempotent."""
        assert self.executor is not None, "posting needs the service's executor"
        text = self.text(report, weekly=weekly)
        png = await self.png(report)
        if png is None:
            text += "\n" + t("usage.text.no_chart", self.locale)
        stem = self.file_stem(report)
        await self.executor.post(room_id, text, (*key, "text"), reply_to=reply_to)
        if png is not None:
            await self.executor.send_file(room_id, png, f"{stem}.png", "image/png", (*key, "png"),
                                          msgtype="m.image", info=png_size(png))
        await self.executor.send_file(room_id, self.csv(report), f"{stem}.csv", "text/csv; charset=utf-8",
                                      (*key, "csv"))

    async def report_job(self, room_id: str, kind: str, day: date | None, group: str | None,
                         sender: str, event_id: str) -> None:
        """`!yakuba usage …` in the background: the report, or why there is none."""
        assert self.executor is not None
        try:
            report = await self.build_report(kind, day, group)
        except UnknownGroup as exc:
            key = "usage.report.merged_group" if exc.merged_into_other else "usage.report.unknown_group"
            text = render(Message(key, {"asked": exc.asked, "groups": exc.groups or ["—"],
                                        "n": self.settings.min_group_size}), self.locale)
            await self.executor.post(room_id, text, (event_id, "usage_report", "unknown"), reply_to=event_id)
            return
        except Exception as exc:
            error_id = uuid.uuid4().hex[:8]
            log.error("usage_report_failed", error_id=error_id, error=type(exc).__name__, detail=str(exc)[:300])
            await self.executor.post(room_id, render(Message("core.command_failed", {"error_id": error_id}),
                                                     self.locale), (event_id, "usage_report", "failed"),
                                     reply_to=event_id)
            return
        await self.post(room_id, report, (event_id, "usage_report"), reply_to=event_id)
        await self.executor.audit("usage_report", actor=sender, room_id=room_id, event_id=event_id,
                                  details={"kind": kind, "start": report.period.start.isoformat(),
                                           "department": report.group is not None})

    def start_job(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Reports are made beside the pipeline, never on its worker (cancelled by `close`)."""
        return self._jobs.start(name, work)

    async def jobs_idle(self) -> None:
        await self._jobs.idle()

    async def close(self) -> None:
        await self._jobs.cancel()

    # -- the weekly report and housekeeping ------------------------------------------------------

    async def weekly_tick(self) -> bool:
        """Post the weekly report once its time has come (configured day and time, the calendar's
        time zone); True if one was posted. The first run only notes the week (a new install does
        not post a report of the week before it); one missed while the service was down is posted
        at the next start; a failed post is tried again on the next tick."""
        weekly = self.settings.weekly
        if not weekly.enabled or self.executor is None:
            return False
        week = due_week(self.clock.now().astimezone(self.tz), weekly.weekday, weekly.at)
        last = await self.tables.get_meta("weekly_last")
        if last is None:
            await self.tables.set_meta("weekly_last", week.isoformat())
            return False
        if week.isoformat() <= last:
            return False
        room = await self.executor.svc.state.admin_room()
        if not room:
            return False
        report = await self.build_report(WEEK, week)
        await self.post(room, report, ("usage", "weekly", week.isoformat()), weekly=True)
        await self.tables.set_meta("weekly_last", week.isoformat())
        await self.executor.audit("usage_report", room_id=room, details={"kind": WEEK, "start": week.isoformat(),
                                                                        "weekly": True})
        return True

    async def prune_daily(self) -> None:
        today = self.today()
        if self._pruned != today:
            counts = await self.tables.prune(today, self.settings.keep_days)
            self._pruned = today
            if any(counts.values()):
                log.info("usage_pruned", **counts)

    async def run(self) -> None:
        """Background task: harvest, the weekly report, pruning — every few seconds."""
        await self.begin()
        bots = self.executor.svc.bots if self.executor is not None else {}
        bot = bots.get(self.config.sender)
        for _ in range(300):  # the weekly report goes to the encrypted admin room: wait for the bot
            if bot is None or bot.is_ready():
                break
            await asyncio.sleep(0.1)
        while True:
            try:
                await self.harvest()
                await self.weekly_tick()
                await self.prune_daily()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next tick tries again
                log.error("usage_tick_failed", error=type(exc).__name__, detail=str(exc)[:300])
            await asyncio.sleep(POLL_S)


def parse_report_args(args: Sequence[str], today: date) -> tuple[str, date | None, str | None]:
    """`[week|month] [YYYY-MM-DD|YYYY-MM] [department…]` in any order → (kind, day, department).
    ValueError with a reason for anything else."""
    kind: str | None = None
    day: date | None = None
    words: list[str] = []
    for arg in args:
        low = arg.lower()
        if low in ("week", "weekly", "週", "週間") and kind is None:
            kind = WEEK
        elif low in ("month", "monthly", "月", "月間") and kind is None:
            kind = MONTH
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", arg) and day is None:
            day = date.fromisoformat(arg)
        elif re.fullmatch(r"\d{4}-\d{2}", arg) and day is None:
            day = date.fromisoformat(arg + "-01")
            kind = kind or MONTH
        elif arg.startswith("--"):
            raise ValueError(f"unknown option {arg}")
        else:
            words.append(arg)
    if day is not None and day > today:
        raise ValueError(f"{day.isoformat()} is in the future")
    return kind or WEEK, day, " ".join(words) or None
