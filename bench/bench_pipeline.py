"""Events/s through the real transaction endpoint and pipeline, against a null handler.

Both run in this process on loopback: the null handler checks the hs_token and acks (what a
service that acks first and handles later costs per request); Yakuba stores each transaction
durably (fsync) before acking and then runs every event through the core policies and the
executor. Run: .venv/bin/python bench/bench_pipeline.py
"""

from __future__ import annotations

import asyncio
import hmac
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appservice.app.config import config_from_dict
from appservice.app.service import YakubaService

TXNS = 20
EVENTS_PER_TXN = 100


def make_events(n: int) -> list[dict]:
    return [{"event_id": f"$bench-{uuid.uuid4().hex}", "room_id": "!bench:city-a.localhost",
             "type": "m.room.message", "sender": "@alice:city-a.localhost", "origin_server_ts": 1,
             "content": {"msgtype": "m.text", "body": "明日の会議は10時からです。資料を確認してください。"}}
            for _ in range(n)]


async def post_all(port: int, token: str, batches: list[list[dict]]) -> None:
    async with aiohttp.ClientSession() as s:
        for i, events in enumerate(batches):
            async with s.put(f"http://127.0.0.1:{port}/_matrix/app/v1/transactions/b{i}",
                             json={"events": events}, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200, r.status


async def null_handler(port: int, token: str, batches: list[list[dict]]) -> float:
    async def txn(request: web.Request) -> web.Response:
        got = request.headers.get("Authorization", "")[7:]
        if not hmac.compare_digest(got.encode(), token.encode()):
            return web.json_response({}, status=403)
        await request.json()
        return web.json_response({})

    app = web.Application(client_max_size=32 * 1024 * 1024)
    app.add_routes([web.put("/_matrix/app/v1/transactions/{txn}", txn)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    t0 = time.perf_counter()
    await post_all(port, token, batches)
    elapsed = time.perf_counter() - t0
    await runner.cleanup()
    return elapsed


async def yakuba(port: int, token: str, batches: list[list[dict]], root: Path) -> float:
    reg = root / "registration.yaml"
    reg.write_text(yaml.safe_dump({"as_token": "a" * 32, "hs_token": token}))
    cfg = config_from_dict({
        "homeserver": {"url": "http://127.0.0.1:9", "server_name": "city-a.localhost"},
        "appservice": {"port": port, "registration": str(reg)},
        "data_dir": str(root), "bots": {"enabled": False},
        "logging": {"level": "warning"},
    }, root / "yakuba.yaml")
    from appservice.app import logs

    logs.configure("console", "warning")
    svc = YakubaService(cfg, with_bots=False)
    await svc.start(bootstrap_matrix=False)
    total = sum(len(b) for b in batches)
    t0 = time.perf_counter()
    await post_all(port, token, batches)
    while (await svc.inbox.counts()).get("done", 0) < total:  # noqa: ASYNC110 (polling the DB)
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    await svc.stop()
    return elapsed


async def main() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "h" * 32
    batches = [make_events(EVENTS_PER_TXN) for _ in range(TXNS)]
    total = TXNS * EVENTS_PER_TXN
    base = await null_handler(port, token, batches)
    with tempfile.TemporaryDirectory() as tmp:
        ours = await yakuba(port, token, batches, Path(tmp))
    print(f"transactions: {TXNS} × {EVENTS_PER_TXN} events")
    print(f"null handler (ack only)          : {total / base:10.0f} events/s  ({base:.3f} s)")
    print(f"yakuba (durable inbox + pipeline): {total / ours:10.0f} events/s  ({ours:.3f} s)")
    print(f"ratio yakuba / null               : {base / ours:10.3f}  (throughput {ours / base:.1f}× slower)")


if __name__ == "__main__":
    asyncio.run(main())
