"""Size of yakuba.db after 100,000 events: content kept (the behaviour before stripping, as a
baseline in the same run) vs stripped at mark_done, and after a housekeeping pass once the rows
are older than inbox_days. No Synapse: events go straight into an Inbox and are marked done,
as the pipeline does (docs/data-kept.md). Run: .venv/bin/python bench/bench_at_rest.py [N]
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appservice.core.db import Database
from appservice.core.housekeeping import DAY_S, Limits, run_once
from appservice.core.inbox import Inbox

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PER_TXN = 100
BOTS = ("@_yakuba:city-a.localhost", "@_yakuba_archive:city-a.localhost")
MY_NUMBER = b"1234 5678 9018"  # in one body in five; no event id contains it
BODIES = [
    "明日の会議は10時からです。資料を確認してください。",
    "住民票の写しの交付申請について、窓口の受付時間を教えてください。午前中は混み合います。",
    "了解しました。",
    "私のマイナンバーは 1234 5678 9018 です。手続きをお願いします。",
    "防災訓練の案内を各課に回覧します。参加者の名簿は金曜日までに提出してください。" * 2,
]


class KeepingInbox(Inbox):
    """The inbox as it was: every event's JSON kept as it came."""

    def _strip(self, c: sqlite3.Connection, row: sqlite3.Row) -> bool:
        return False


def events(start: int, n: int) -> list[dict]:
    return [{"event_id": f"$bench{i:08d}:city-a.localhost", "room_id": f"!room{i % 50}:city-a.localhost",
             "type": "m.room.message", "sender": f"@user{i % 300}:city-a.localhost",
             "origin_server_ts": 1_760_000_000_000 + i,
             "content": {"msgtype": "m.text", "body": BODIES[i % len(BODIES)],
                         "m.mentions": {}}} for i in range(start, start + n)]


def raw_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


async def run(kind: str, inbox_cls: type[Inbox], tmp: Path) -> dict[str, float]:
    path = tmp / kind / "yakuba.db"
    db = Database(path)
    await db.open()
    inbox = inbox_cls(db, BOTS)
    t0 = time.perf_counter()
    for start in range(0, N, PER_TXN):
        await inbox.put_transaction(f"t{start}", events(start, PER_TXN))
        for item in await inbox.next_batch(PER_TXN):
            await inbox.mark_done(item.seq)
    elapsed = time.perf_counter() - t0
    await db.checkpoint()
    out = {"seconds": elapsed, "size": on_disk(path), "body_on_disk": float(MY_NUMBER in raw_bytes(path))}
    # A week and a day later: the housekeeping pass deletes the processed rows.
    await db.execute("UPDATE inbox SET received_at = received_at - ?", (8 * DAY_S,))
    await db.execute("UPDATE inbox_txns SET received_at = received_at - ?", (8 * DAY_S,))
    t1 = time.perf_counter()
    counts = await run_once(db, inbox, Limits())
    out["hk_seconds"] = time.perf_counter() - t1
    out["hk_deleted"] = counts["inbox"]
    out["after_hk"] = on_disk(path)
    out["body_after_hk"] = float(MY_NUMBER in raw_bytes(path))
    db.close()
    return out


def mb(n: float) -> str:
    return f"{n / 1e6:7.1f} MB"


async def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        kept = await run("kept", KeepingInbox, tmp)
        stripped = await run("stripped", Inbox, tmp)
    print(f"{N:,} events, {PER_TXN} per transaction")
    print(f"{'':24}{'content kept':>16}{'stripped':>16}")
    print(f"{'ingest + mark_done':24}{kept['seconds']:14.1f} s{stripped['seconds']:14.1f} s")
    print(f"{'events/s':24}{N / kept['seconds']:16,.0f}{N / stripped['seconds']:16,.0f}")
    print(f"{'database on disk':24}{mb(kept['size']):>16}{mb(stripped['size']):>16}")
    print(f"{'  per event':24}{kept['size'] / N:14.0f} B{stripped['size'] / N:14.0f} B")
    print(f"{'after housekeeping':24}{mb(kept['after_hk']):>16}{mb(stripped['after_hk']):>16}"
          f"   ({int(stripped['hk_deleted']):,} rows deleted in {stripped['hk_seconds']:.1f} s)")
    for label, key in (("My Number in the file", "body_on_disk"), ("  after housekeeping", "body_after_hk")):
        print(f"{label:24}{'yes' if kept[key] else 'no':>16}{'yes' if stripped[key] else 'no':>16}")


if __name__ == "__main__":
    asyncio.run(main())
