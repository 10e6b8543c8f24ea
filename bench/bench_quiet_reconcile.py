"""Quiet-hours reconcile time for 1,000 and 5,000 local users against a real Synapse.

    .venv/bin/python bench/bench_quiet_reconcile.py

Starts its own Synapse (SQLite, temp dir, free ports; tests/stack.py), creates the users with
the admin API (no password, so no bcrypt), then times, for each size, the reconciler exactly as
the service runs it (admin-API user list, `GET /pushrules/` per user, plan, PUT/DELETE):

- baseline: a bare `GET /pushrules/` per user with the same concurrency — the floor;
- first run: every user gets the two always-on rules (working hours);
- verify: a forced run with nothing to repair (what runs every reconcile_interval_seconds);
- boundary → off hours: the silencer added for everyone (non-forced run, as at 17:15);
- boundary → working: the silencer removed again (as at 08:30).

Prints a table (total, per user, ratio to the baseline). Target: 5,000 users in < 60 s.
Asserts nothing about time. Takes about two minutes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import aiohttp

from appservice.app import logs
from appservice.app.devstack import setup
from appservice.core.clock import FixedClock
from appservice.core.config import AppserviceConfig, Config, HomeserverConfig
from appservice.core.db import Database
from appservice.core.executor import Executor
from appservice.features.quiet.config import quiet_config_from_dict
from appservice.features.quiet.reconcile import Reconciler
from appservice.features.quiet.store import TABLES as QUIET_TABLES
from appservice.features.quiet.store import QuietStore
from appservice.lib.workcal import WorkCalendar
from appservice.matrix.client import MatrixClient, q
from tests.stack import PASSWORD, SERVER_NAME, Homeserver, start_homeserver

SIZES = (1000, 5000)
CONCURRENCY = 32
JST = ZoneInfo("Asia/Tokyo")
WORKING = datetime(2026, 11, 25, 10, 0, tzinfo=JST)
OFF = datetime(2026, 11, 25, 20, 0, tzinfo=JST)


async def create_users(hs_url: str, admin_token: str, start: int, stop: int) -> float:
    sem = asyncio.Semaphore(CONCURRENCY)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        async def one(i: int) -> None:
            uid = f"@staff{i:05d}:{SERVER_NAME}"
            async with sem, s.put(f"{hs_url}/_synapse/admin/v2/users/{q(uid)}", json={"displayname": f"職員{i}"},
                                  headers={"Authorization": f"Bearer {admin_token}"}) as r:
                if r.status not in (200, 201):
                    raise RuntimeError(f"create {uid}: {r.status}")

        await asyncio.gather(*(one(i) for i in range(start, stop)))
    return time.perf_counter() - t0


async def baseline(client: MatrixClient, users: list[str]) -> float:
    sem = asyncio.Semaphore(CONCURRENCY)
    t0 = time.perf_counter()

    async def one(u: str) -> None:
        async with sem:
            await client.request("GET", "/_matrix/client/v3/pushrules/", as_user=u)

    await asyncio.gather(*(one(u) for u in users))
    return time.perf_counter() - t0


async def bench(hs: Homeserver) -> list[tuple[int, str, float, float | None, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="yakuba-bench-quiet-"))
    db = Database(tmp / "yakuba.db", (QUIET_TABLES,))
    await db.open()
    client = MatrixClient(hs.url, hs.as_token, f"@_yakuba:{SERVER_NAME}",
                          as_sender=f"@_yakuba_appservice:{SERVER_NAME}")
    rows: list[tuple[int, str, float, float | None, str]] = []
    try:
        admin_token = await setup.login(hs.url, "admin", PASSWORD)
        clock = FixedClock(WORKING)
        cfg = quiet_config_from_dict({"enabled": True, "concurrency": CONCURRENCY}, server_name=SERVER_NAME)
        svc = SimpleNamespace(config=_config(), client=client, clock=clock)
        store = QuietStore(db)
        rec = Reconciler(cfg, WorkCalendar(cfg.calendar), store, Executor(svc))  # type: ignore[arg-type]
        off = Reconciler(quiet_config_from_dict({"enabled": False}), WorkCalendar(cfg.calendar), store,
                         Executor(svc))  # type: ignore[arg-type]
        created = 0
        for size in SIZES:
            secs = await create_users(hs.url, admin_token, created, size)
            print(f"created {size - created} users in {secs:.1f} s", flush=True)
            created = size
            await off.run("cleanup", force=True)  # every size starts from users without our rules
            users = await rec.list_users()
            base = await baseline(client, users)
            rows.append((len(users), "baseline: GET /pushrules/ per user", base, None, ""))
            clock.when = WORKING
            for label, trigger, force, when in (
                    ("first run (2 rules per user)", "start", False, WORKING),
                    ("verify, nothing to repair", "periodic", True, WORKING),
                    ("boundary → off hours (+silencer)", "boundary", False, OFF),
                    ("boundary → working (−silencer)", "boundary", False, WORKING)):
                clock.when = when
                s = await rec.run(trigger, force=force)
                note = f"checked {s.checked}, changed {s.changed}, calls {s.ops}, errors {s.errors}"
                rows.append((s.users, label, s.duration, s.duration / base, note))
                print(f"{s.users:>6}  {label:<36} {s.duration:7.2f} s  {note}", flush=True)
    finally:
        await client.close()
        db.close()
    return rows


def main() -> int:
    logs.configure("console", "warning")
    print("starting Synapse …", flush=True)
    hs = start_homeserver()
    try:
        rows = asyncio.run(bench(hs))
    finally:
        hs.close()
    print()
    print(f"{'users':>6}  {'run':<36} {'total':>8} {'per user':>9} {'× base':>7}  notes")
    for n, label, secs, ratio, note in rows:
        r = f"{ratio:6.2f}x" if ratio is not None else "      -"
        print(f"{n:>6}  {label:<36} {secs:7.2f}s {secs / n * 1000:7.2f}ms {r}  {note}")
    print(f"\ntarget: {SIZES[-1]} users reconciled in < 60 s (concurrency {CONCURRENCY}, Synapse on SQLite, "
          f"same machine)")
    return 0


def _config() -> Config:
    """Just what the reconciler reads: the server name and the bots' ids."""
    return Config(path=None, homeserver=HomeserverConfig(url="", server_name=SERVER_NAME),
                  appservice=AppserviceConfig(id="yakuba", bind="127.0.0.1", port=0, registration=Path("-"),
                                              sender_localpart="_yakuba_appservice", bot_localpart="_yakuba",
                                              archive_localpart="_yakuba_archive", as_token="", hs_token=""),
                  data_dir=Path("."), locale="ja", admins=(), admin_room_encrypted=True, log_format="console",
                  log_level="warning", clock_file=None, features={})


if __name__ == "__main__":
    sys.exit(main())
