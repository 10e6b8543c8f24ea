"""Bulk offboarding against a real Synapse: 500 leavers, each in 3 rooms.

    .venv/bin/python bench/bench_offboarding.py [--users 500] [--baseline 50] [--concurrency 8]

Starts a throw-away Synapse (temp dir, free ports — the same stack the integration tests use),
creates the users (registered by the appservice, so no password hashing slows the setup) and
rooms in groups of 10: each group has 3 private v12 rooms, each created by one member (who is
then its only admin) with the other 9 joined; every group has a manager who is the successor
and is in none of the rooms. Then it runs the execution code path of a confirmed bulk plan
(`Offboarding.confirm` + `run_due`: per user the checks, joined rooms, room states,
hand-over as the leaver where they are the last admin — power 100, invite, join — and the
deactivation, all audited) and, for comparison in the same run, bare admin-API deactivate calls
for a separate set of users of the same shape. Prints totals, per-user cost and the ratio.
No timing asserts (machines differ). Target: 500 users in under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import structlog

from appservice.app.config import config_from_dict
from appservice.core.clock import Clock
from appservice.core.db import Database
from appservice.core.decisions import Message
from appservice.core.executor import Executor
from appservice.core.state import StateStore
from appservice.features.offboarding.config import load
from appservice.features.offboarding.jobs import TABLES as OFFBOARDING_TABLES
from appservice.features.offboarding.report import entry_from_plan
from appservice.features.offboarding.runtime import Offboarding
from appservice.matrix.admin import SynapseAdmin
from appservice.matrix.client import MatrixClient
from tests.stack import SERVER_NAME, Homeserver, start_homeserver

GROUP = 10
ROOMS_PER_GROUP = 3


async def gather_limited(n: int, coros: list) -> list:
    sem = asyncio.Semaphore(n)

    async def one(c):
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


def uid(localpart: str) -> str:
    return f"@{localpart}:{SERVER_NAME}"


async def build_population(client: MatrixClient, prefix: str, count: int) -> tuple[list[str], dict[str, str]]:
    """`count` users in groups of GROUP, 3 rooms per group; returns (users, user → successor)."""
    users = [uid(f"{prefix}{i:04d}") for i in range(count)]
    groups = [users[i:i + GROUP] for i in range(0, count, GROUP)]
    managers = [uid(f"{prefix}mgr{g:03d}") for g in range(len(groups))]
    await gather_limited(16, [client.register_appservice_user(u[1:].split(":")[0]) for u in users + managers])

    async def group_rooms(members: list[str]) -> None:
        for k in range(min(ROOMS_PER_GROUP, len(members))):
            creator = members[k]
            others = [m for m in members if m != creator]
            room = await client.create_room({"preset": "private_chat", "invite": others,
                                             "name": f"{prefix} room {creator[1:8]}"}, as_user=creator)
            await asyncio.gather(*(client.join(room, as_user=m) for m in others))

    await gather_limited(16, [group_rooms(g) for g in groups])
    successor = {u: managers[i // GROUP] for i, u in enumerate(users)}
    return users, successor


async def wait_parted(admin: SynapseAdmin, users: list[str], limit_s: float = 300) -> float:
    """Deactivation parts users from rooms in the background: how long until it is done."""
    start = time.perf_counter()
    sample = users[-5:]
    while time.perf_counter() - start < limit_s:
        if not any([await admin.joined_rooms(u) for u in sample]):
            break
        await asyncio.sleep(0.5)
    return time.perf_counter() - start


def main(n_users: int, n_base: int, concurrency: int) -> None:
    t0 = time.perf_counter()
    hs = start_homeserver()
    try:
        print(f"Synapse up in {time.perf_counter() - t0:.1f} s ({hs.url})")
        asyncio.run(run(hs, n_users, n_base, concurrency, t0))
    finally:
        hs.close()


async def run(hs: Homeserver, n_users: int, n_base: int, concurrency: int, t0: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="yakuba-bench-"))
    config = config_from_dict({
        "homeserver": {"url": hs.url, "server_name": SERVER_NAME},
        "appservice": {"registration": str(hs.registration)}, "data_dir": str(tmp), "admins": [],
    }, tmp / "yakuba.yaml")
    client = MatrixClient(hs.url, hs.as_token, config.sender, as_sender=config.as_user_id)
    admin = SynapseAdmin(client)

    t = time.perf_counter()
    base_users, _ = await build_population(client, "base", n_base)
    leavers, successor = await build_population(client, "lv", n_users)
    print(f"setup: {n_users + n_base} users + managers, "
          f"{(n_users + n_base) // GROUP * ROOMS_PER_GROUP} rooms, in {time.perf_counter() - t:.1f} s")

    # Baseline: the bare admin call, same concurrency, same room shape.
    t = time.perf_counter()
    await gather_limited(concurrency, [admin.deactivate(u) for u in base_users])
    base_s = time.perf_counter() - t
    parted = await wait_parted(admin, base_users)
    print(f"baseline: {n_base} bare deactivate calls in {base_s:.2f} s "
          f"({base_s / n_base * 1000:.1f} ms/user); Synapse parted their rooms {parted:.1f} s later")

    db = Database(tmp / "yakuba.db", (OFFBOARDING_TABLES,))
    await db.open()
    state = StateStore(db)

    async def notify(room_id: str | None, messages: list[Message], key: str) -> None:
        pass

    executor = Executor(SimpleNamespace(config=config, client=client, clock=Clock(), state=state))  # type: ignore[arg-type]
    ob = Offboarding(config, load({"concurrency": concurrency, "progress_every": 100}), client, state,
                     Clock(), executor, notify, runner="bench")
    t = time.perf_counter()
    plans = await ob.offboarder.inspect_many([(u, successor[u], None) for u in leavers], erase=False,
                                             concurrency=concurrency)
    dry_s = time.perf_counter() - t
    handovers = sum(len(p.handovers) for p in plans)
    print(f"dry run: {n_users} users in {dry_s:.2f} s ({dry_s / n_users * 1000:.1f} ms/user); "
          f"{handovers} rooms to hand over")
    entries = [entry_from_plan(p, i + 1) for i, p in enumerate(plans)]
    code = await ob.create_plan(kind="bulk", requester="bench", room_id=None, command_event_id=None,
                                entries=entries, erase=False)

    t = time.perf_counter()
    await ob.confirm(code, "bench-approver", via="bench")
    ran = await ob.run_due(code=code)
    run_s = time.perf_counter() - t
    rows = await db.fetchall("SELECT status, COUNT(*) AS n FROM offboarding_jobs GROUP BY status")
    counts = {r["status"]: r["n"] for r in rows}
    audit_rows = (await db.fetchone("SELECT COUNT(*) AS n FROM audit"))["n"]
    parted = await wait_parted(admin, leavers)
    print(f"offboarding: {ran} users in {run_s:.2f} s ({run_s / n_users * 1000:.1f} ms/user), "
          f"jobs {counts}, {audit_rows} audit rows; Synapse parted their rooms {parted:.1f} s later")
    print(f"ratio to bare deactivate: {(run_s / n_users) / (base_s / n_base):.1f}x per user (the extra: "
          f"{handovers} hand-overs of 3 state events each, the reads, the audit, and Synapse parting the "
          f"earlier leavers from their rooms in the background meanwhile)")
    print(f"TOTAL offboarding time for {n_users} users: {run_s:.1f} s (target < 60 s); "
          f"whole benchmark {time.perf_counter() - t0:.0f} s")
    await client.close()
    db.close()


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--baseline", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=8)
    a = p.parse_args()
    main(a.users, a.baseline, a.concurrency)
