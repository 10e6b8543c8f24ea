"""Archive throughput: durable ingest (fs backend) and 100,000-record CSV export.

    python bench/bench_archive.py

Prints numbers only (no asserts).  Targets: ingest ≥ 2,000 records/s, export < 10 s.
The baseline is the same durability without the archive: raw JSON lines, os.write + fsync of
the file per batch (and of the directory once, when the file is created), no validation,
chaining, idempotency or checkpoints.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import structlog

from appservice.lib.archive import ArchiveStore, ensure_signing_key

BASE_MS = 1717200000000  # 2024-06-01T00:00Z
BODY = "本日の窓口対応について共有します。住民票の写しの請求が午前中に集中しています。"


def record(i: int, room: str) -> dict[str, Any]:
    return {
        "event_id": f"$bench{room[-3:]}{i:08d}", "kind": "message", "ts": BASE_MS + i * 1000,
        "sender": f"@staff{i % 50}:city.example.jp", "display_name": f"職員{i % 50}",
        "affiliation": {"department": "市民課", "title": "主事"}, "room_name": "市民課連絡",
        "msgtype": "m.text", "body": f"{BODY}（{i}）",
    }


def baseline(path: Path, n: int, batch: int) -> float:
    path.parent.mkdir(parents=True, exist_ok=True)
    dfd = os.open(path.parent, os.O_RDONLY)
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        lines = b"".join(json.dumps(record(i, "!raw"), ensure_ascii=False).encode() + b"\n"
                         for i in range(start, min(n, start + batch)))
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        os.write(fd, lines)
        os.fsync(fd)
        os.close(fd)
        if created:
            os.fsync(dfd)
    os.close(dfd)
    return n / (time.perf_counter() - t0)


def ingest(store: ArchiveStore, room: str, n: int, batch: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        store.append(room, [record(i, room) for i in range(start, min(n, start + batch))])
    return n / (time.perf_counter() - t0)


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings+
    with tempfile.TemporaryDirectory(prefix="yakuba-bench-") as tmp:
        root = Path(tmp) / "archive"
        ensure_signing_key(root / "keys" / "archive-ed25519.key")
        store = ArchiveStore(root)
        print(f"archive bench in {root} (fs backend, fsync per append batch; directory when a file is new)")
        print(f"{'case':<36}{'archive rec/s':>14}{'baseline rec/s':>16}{'ratio':>8}")
        for batch, n in ((1, 3_000), (50, 30_000)):
            raw = baseline(Path(tmp) / "raw" / f"b{batch}.jsonl", n, batch)
            arc = ingest(store, f"!bench{batch:03d}:city.example.jp", n, batch)
            print(f"{'durable ingest, batch=' + str(batch):<36}{arc:>14,.0f}{raw:>16,.0f}"
                  f"{arc / raw:>8.2f}")

        room = "!export:city.example.jp"
        n = 100_000
        t0 = time.perf_counter()
        ingest(store, room, n, 1000)
        print(f"{'bulk load 100,000 (batch=1000)':<36}{time.perf_counter() - t0:>13.2f}s")
        store.close()

        for fmt in ("csv", "jsonl", "html"):
            # CSV goes to a real file (what an officer gets); the others to memory.
            out: BinaryIO = open(Path(tmp) / "export.csv", "wb") if fmt == "csv" else io.BytesIO()
            with out:
                t0 = time.perf_counter()
                count = store.export(room, date(2024, 1, 1), date(2025, 12, 31), fmt, out)
                took = time.perf_counter() - t0
            print(f"{'export ' + f'{count:,}' + ' records → ' + fmt:<36}{took:>13.2f}s"
                  f"{'   (target < 10 s)' if fmt == 'csv' else ''}")
        t0 = time.perf_counter()
        report = ArchiveStore(root).verify(room)
        print(f"{'verify 100,000 records':<36}{time.perf_counter() - t0:>13.2f}s"
              f"   ok={report.ok}")


if __name__ == "__main__":
    main()
