"""Usage reports: what counting costs the pipeline, and how long a big report takes.

1. Pipeline throughput with usage counting on and off, same run, same events (a busy hour: 400
   of 5,000 staff in 300 rooms), YakubaService without the bots and without Synapse, the default
   policies. Counting reads the core's event log (one audit row per event, written anyway) and
   adds nothing to an event's path; its cost is the harvest that folds the rows into the counts
   every few seconds, timed here as part of the run. Measured twice: as bench_pipeline /
   bench_retention measure the pipeline (Synapse-style transactions to the real endpoint, the
   fsync'd inbox, the pipeline) — the target, counting adds ≤ 5 % — and `Pipeline.drain()`
   alone (events put into the inbox first), where nothing dilutes the difference. Rounds
   alternate off/on. The verdict uses the CPU time of the process (database thread included,
   median round): on a shared machine other processes make wall-clock rounds vary by ±50 %;
   the best wall-clock round of each is printed too.
2. A report for 5,000 staff (80 departments, some below min_group_size) and a year of counts
   (daily counters per department, monthly activity bitmaps per person and room, a year of
   warnings in the audit log), the account numbers from a fake Synapse admin API on loopback
   (5,000 users, paged): harvest + numbers + text + CSV + chart, for a week and for a month.
   Target: under 5 s each.

Run: .venv/bin/python bench/bench_usage.py [EVENTS] [ROUNDS]
"""

from __future__ import annotations

import asyncio
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appservice.app.config import config_from_dict
from appservice.app.service import YakubaService
from appservice.core.clock import FixedClock
from appservice.core.config import Config
from appservice.core.db import Database
from appservice.features.usage.config import UsageSettings
from appservice.features.usage.report import MONTH, WEEK
from appservice.features.usage.runtime import Usage
from appservice.features.usage.tables import TABLES, UsageTables
from appservice.matrix.client import MatrixClient

SERVER = "city-a.localhost"
HS_TOKEN = "h" * 32
EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
STAFF = 5000
DEPARTMENTS = 80
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)   # Wednesday 10:00 in Tokyo
BODIES = ["明日の会議は10時からです。資料を確認してください。", "承知しました。", "窓口の混雑状況を共有します。",
          "議事録を共有フォルダに置きました。", "本日の当番は私です。よろしくお願いします。"]


def user(i: int) -> str:
    return f"@staff{i:05d}:{SERVER}"


def department(i: int) -> str:
    # 80 departments of unequal size; a few are tiny (merged into 「その他」).
    return f"部署{(i * 7919) % DEPARTMENTS:02d}" if i % 97 else f"小部署{i % 3}"


def write_directory(path: Path) -> Path:
    lines = ["user_id,氏名,所属,役職"] + [f"{user(i)},職員{i},{department(i)},主事" for i in range(STAFF)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(root: Path, *, usage: bool, hs_url: str = "http://127.0.0.1:9", port: int = 9) -> Config:
    reg = root / "registration.yaml"
    reg.write_text(f"as_token: aaaaaaaaaaaaaaaa\nhs_token: {HS_TOKEN}\n")
    return config_from_dict({
        "homeserver": {"url": hs_url, "server_name": SERVER},
        "appservice": {"registration": str(reg), "port": port}, "data_dir": str(root), "bots": {"enabled": False},
        "logging": {"level": "warning"},
        "usage": {"enabled": usage, "directory": str(write_directory(root / "staff.csv"))},
    }, root / "yakuba.yaml")


def make_events(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """A busy hour: 400 of the 5,000 staff writing in 300 rooms (a person's first message of the
    day writes an activity row, the next ones only read it)."""
    active = rng.sample(range(STAFF), 400)
    return [{"event_id": f"$bench{i}-{rng.getrandbits(48):x}", "room_id": f"!room{rng.randrange(300)}:{SERVER}",
             "type": "m.room.message", "sender": user(rng.choice(active)), "origin_server_ts": 1,
             "content": {"msgtype": "m.text", "body": rng.choice(BODIES)}} for i in range(n)]


# -- 1. counting overhead ------------------------------------------------------------------------

async def pipeline_seconds(events: list[dict[str, Any]], *, usage: bool, http: bool) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of the whole process, database thread included).
    http: the way bench_pipeline/bench_retention measure the pipeline — Synapse-style
    transactions of 100 events to the real endpoint, the durable (fsync'd) inbox, the pipeline;
    else the events are put into the inbox first and only `Pipeline.drain()` is timed."""
    with tempfile.TemporaryDirectory(prefix="yakuba-bench-usage-") as tmp:
        root = Path(tmp)
        port = free_port()
        svc = YakubaService(config(root, usage=usage, port=port), with_bots=False, clock=FixedClock(NOW))
        batches = [events[i:i + 100] for i in range(0, len(events), 100)]
        if http:
            await svc.start(bootstrap_matrix=False)
            await svc.state.set("admin_room", f"!admin:{SERVER}")
            t0, c0 = time.perf_counter(), time.process_time()
            async with aiohttp.ClientSession() as s:
                for i, batch in enumerate(batches):
                    async with s.put(f"http://127.0.0.1:{port}/_matrix/app/v1/transactions/b{i}",
                                     json={"events": batch}, headers={"Authorization": f"Bearer {HS_TOKEN}"}) as r:
                        assert r.status == 200, r.status
            while (await svc.inbox.counts()).get("done", 0) < len(events):  # noqa: ASYNC110 (polling the DB)
                await asyncio.sleep(0.005)
        else:
            await svc.db.open()
            await svc.state.set("admin_room", f"!admin:{SERVER}")
            if usage:
                await svc.features.components["usage"].begin()   # what the service's start does
            for i, batch in enumerate(batches):
                await svc.inbox.put_transaction(f"t{i}", batch)
            t0, c0 = time.perf_counter(), time.process_time()
            assert await svc.pipeline.drain() == len(events)
        if usage:  # the harvest into the counts is part of the cost (it runs every few seconds)
            await svc.features.components["usage"].harvest()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        if usage:
            row = await svc.db.fetchone("SELECT SUM(messages) AS n FROM usage_daily")
            assert row is not None and row["n"] == len(events), dict(row or {})
        if http:
            await svc.stop()
        else:
            await svc.client.close()
            svc.db.close()
        return elapsed, cpu


async def overhead(events: list[dict[str, Any]], *, http: bool) -> None:
    off: list[tuple[float, float]] = []
    on: list[tuple[float, float]] = []
    for _ in range(ROUNDS):   # alternating, so that a busy moment of the machine hits both alike
        off.append(await pipeline_seconds(events, usage=False, http=http))
        on.append(await pipeline_seconds(events, usage=True, http=http))
    best_off, best_on = min(w for w, _ in off), min(w for w, _ in on)
    added = 100.0 * (best_on - best_off) / best_off
    cpu_off, cpu_on = statistics.median(c for _, c in off), statistics.median(c for _, c in on)
    what = ("transactions → durable inbox → pipeline (as bench_pipeline / bench_retention)" if http
            else "Pipeline.drain() alone (events already in the inbox)")
    print(f"{what}: {EVENTS:,} messages, {ROUNDS} rounds each")
    for label, runs, best in (("counting off", off, best_off), ("counting on ", on, best_on)):
        print(f"  {label}: {EVENTS / best:8.0f} events/s best  (wall {', '.join(f'{w:.2f}' for w, _ in runs)} s; "
              f"CPU {', '.join(f'{c:.2f}' for _, c in runs)} s)")
    cpu_added = 100.0 * (cpu_on - cpu_off) / cpu_off
    print(f"  counting adds {cpu_added:+.1f} % CPU (median round), {added:+.1f} % wall-clock (best round)"
          + (f"; target ≤ 5 % (CPU: the cost of counting whatever else the machine runs; wall-clock "
             f"agrees only on an idle machine): {'met' if cpu_added <= 5.0 else 'MISSED'}" if http else ""))


# -- 2. a year of counts, 5,000 staff ------------------------------------------------------------

def fill_year(db_path: Path, key: bytes, rng: random.Random) -> dict[str, int]:
    """A year of counts straight into the tables (what a year of counting leaves behind)."""
    conn = sqlite3.connect(db_path)
    first = NOW.date() - timedelta(days=365)
    depts = sorted({department(i) for i in range(STAFF)})
    daily, seen, audit = [], [], []
    d = first
    while d <= NOW.date():
        if d.weekday() < 5:
            for dept in depts:
                m = rng.randrange(0, 400)
                daily.append((d.isoformat(), dept, m, m // rng.randrange(5, 30), 0, 0, rng.randrange(0, 4)))
            for _ in range(rng.randrange(0, 12)):   # warnings of the day, in the audit log
                i = rng.randrange(STAFF)
                ts = datetime(d.year, d.month, d.day, 3, tzinfo=UTC).timestamp()
                audit.append((ts, rng.choice(("pii_detected", "screenshot_detected")), user(i)))
        d += timedelta(days=1)
    months = sorted({(first + timedelta(days=k)).isoformat()[:7] for k in range(366)})
    for month in months:
        for i in range(STAFF):
            if rng.random() < 0.85:
                seen.append((month, "user", UsageTables.pseudonym(key, "user", user(i)), department(i),
                             rng.getrandbits(31)))
        for r in range(1500):
            seen.append((month, "room", UsageTables.pseudonym(key, "room", f"!room{r}"), depts[r % len(depts)],
                         rng.getrandbits(31)))
    with conn:
        conn.executemany("INSERT INTO usage_daily (day, department, messages, off_hours, pii, screenshots, "
                         "reminders) VALUES (?, ?, ?, ?, ?, ?, ?)", daily)
        conn.executemany("INSERT OR IGNORE INTO usage_seen (month, kind, ref, department, days) "
                         "VALUES (?, ?, ?, ?, ?)", seen)
        conn.executemany("INSERT INTO audit (ts, action, actor, result, details) VALUES (?, ?, ?, 'ok', '{}')",
                         audit)
    conn.close()
    return {"daily rows": len(daily), "activity rows": len(seen), "audit warnings": len(audit)}


async def fake_synapse(port: int) -> web.AppRunner:
    """GET /_synapse/admin/v2/users, paged like Synapse: the 5,000 staff, most seen lately."""
    now_ms = int(NOW.timestamp() * 1000)
    users = [{"name": user(i), "last_seen_ts": None if i % 50 == 0 else now_ms - (i % 60) * 86_400_000,
              "deactivated": False} for i in range(STAFF)]

    async def list_users(request: web.Request) -> web.Response:
        start, limit = int(request.query.get("from", "0")), int(request.query.get("limit", "100"))
        page = users[start:start + limit]
        body: dict[str, Any] = {"users": page, "total": len(users)}
        if start + limit < len(users):
            body["next_token"] = str(start + limit)
        return web.json_response(body)

    app = web.Application()
    app.add_routes([web.get("/_synapse/admin/v2/users", list_users)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def report_seconds(root: Path) -> list[tuple[str, float, int, int]]:
    port = free_port()
    runner = await fake_synapse(port)
    cfg = config(root, usage=True, hs_url=f"http://127.0.0.1:{port}")
    db = Database(cfg.db_path, (TABLES,))
    await db.open()
    key = await UsageTables(db).pseudonym_key()
    db.close()
    sizes = fill_year(cfg.db_path, key, random.Random(5))
    print("a year of counts: " + ", ".join(f"{v:,} {k}" for k, v in sizes.items()))
    db = Database(cfg.db_path, (TABLES,))
    await db.open()
    client = MatrixClient(cfg.homeserver.url, cfg.appservice.as_token, cfg.sender, as_sender=cfg.as_user_id)
    usage = Usage(cfg, UsageSettings.from_config(cfg), db, FixedClock(NOW), client=client)
    out = []
    try:
        for label, kind in (("first report (harvests the year)", WEEK), ("week", WEEK), ("month", MONTH)):
            t0 = time.perf_counter()
            report = await usage.build_report(kind, date(2026, 11, 25))
            text = usage.text(report)
            csv = usage.csv(report)
            png = await usage.png(report)
            took = time.perf_counter() - t0
            assert png and report.accounts and report.total is not None
            out.append((label, took, len(report.rows), len(text) + len(csv)))
    finally:
        await client.close()
        db.close()
        await runner.cleanup()
    return out


async def main() -> None:
    from appservice.app import logs

    logs.configure("console", "warning")
    events = make_events(EVENTS, random.Random(1))
    await pipeline_seconds(events[:200], usage=True, http=False)   # warm-up (imports, first database)
    await overhead(events, http=True)
    await overhead(events, http=False)
    with tempfile.TemporaryDirectory(prefix="yakuba-bench-usage-") as tmp:
        results = await report_seconds(Path(tmp))
    print(f"report for {STAFF:,} staff in {DEPARTMENTS + 3} departments, a year of counts, accounts from a "
          f"fake Synapse (paged):")
    for label, took, rows, size in results:
        print(f"  {label:<34}: {took:6.2f} s  ({rows} groups, text + CSV {size:,} characters, chart)  "
              f"target < 5 s: {'met' if took < 5.0 else 'MISSED'}")


if __name__ == "__main__":
    asyncio.run(main())
