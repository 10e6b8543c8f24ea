"""End-to-end archive ingest: Synapse-style transactions → durable inbox → pipeline (all
policies) → ArchivePolicy → record built (display name, affiliation) → ArchiveStore.append
(fsync per event, as in production) — events/s with the room flagged vs. not flagged.

    .venv/bin/python bench/bench_retention.py

No Synapse: the service runs in this process without bots; the room's flag and display names
are seeded in yakuba.db. bench/bench_archive.py measures the store alone (≥ 2,000 records/s
and the 100,000-record CSV export). Prints numbers only.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appservice.app.config import config_from_dict
from appservice.app.service import YakubaService

ROOM = "!bench:city-a.localhost"
TXNS = 20
EVENTS_PER_TXN = 100
USERS = [f"@staff{i}:city-a.localhost" for i in range(20)]


def make_events(n: int, offset: int) -> list[dict]:
    return [{"event_id": f"$bench-{uuid.uuid4().hex}", "room_id": ROOM, "type": "m.room.message",
             "sender": USERS[(offset + i) % len(USERS)], "origin_server_ts": 1_763_700_000_000 + offset + i,
             "content": {"msgtype": "m.text", "body": "明日の会議は10時からです。資料を確認してください。"}}
            for i in range(n)]


async def run(port: int, root: Path, batches: list[list[dict]], *, flagged: bool) -> tuple[float, int]:
    token = "h" * 32
    reg = root / "registration.yaml"
    reg.write_text(yaml.safe_dump({"as_token": "a" * 32, "hs_token": token}))
    staff = root / "staff.csv"
    staff.write_text("user_id,所属,役職\n" + "".join(f"{u},市民課,主事\n" for u in USERS), encoding="utf-8")
    cfg = config_from_dict({
        "homeserver": {"url": "http://127.0.0.1:9", "server_name": "city-a.localhost"},
        "appservice": {"port": port, "registration": str(reg)},
        "data_dir": str(root), "bots": {"enabled": False}, "logging": {"level": "warning"},
        "retention": {"enabled": True, "directory": str(staff)},
    }, root / "yakuba.yaml")
    from appservice.app import logs

    logs.configure("console", "warning")
    svc = YakubaService(cfg, with_bots=False)
    await svc.start(bootstrap_matrix=False)
    rt = svc.features.components["retention"]
    await svc.state.note_room(ROOM, name="市民課連絡")
    await rt.tables.snapshot_members(ROOM, {u: f"職員{i}" for i, u in enumerate(USERS)})
    if flagged:
        await rt.tables.set_flag(ROOM, years=5, category="庶務", department="市民課",
                                 flagged_by="@admin:city-a.localhost", flagged_at=time.time(), via="admin")
    total = sum(len(b) for b in batches)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        for i, events in enumerate(batches):
            async with s.put(f"http://127.0.0.1:{port}/_matrix/app/v1/transactions/b{i}",
                             json={"events": events}, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200, r.status
    while (await svc.inbox.counts()).get("done", 0) < total:  # noqa: ASYNC110 (polling the DB)
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    archived = sum(1 for _ in rt.store.read(ROOM)) if flagged else 0
    await svc.stop()
    return elapsed, archived


async def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    total = TXNS * EVENTS_PER_TXN
    results = {}
    for flagged in (False, True):
        batches = [make_events(EVENTS_PER_TXN, i * EVENTS_PER_TXN) for i in range(TXNS)]
        with tempfile.TemporaryDirectory(prefix="yakuba-bench-ret-") as tmp:
            results[flagged] = await run(port, Path(tmp), batches, flagged=flagged)
    plain, _ = results[False]
    archived_s, archived = results[True]
    print(f"transactions: {TXNS} × {EVENTS_PER_TXN} events, all policies, fs archive, fsync per event")
    print(f"room not flagged (pipeline only)   : {total / plain:8.0f} events/s  ({plain:.2f} s)")
    print(f"room flagged (pipeline → archive)  : {total / archived_s:8.0f} events/s  ({archived_s:.2f} s, "
          f"{archived} records)")


if __name__ == "__main__":
    asyncio.run(main())
