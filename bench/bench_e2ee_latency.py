"""Send → in-pipeline latency: encrypted messages (read by the E2EE bot) beside unencrypted ones
(Synapse's transaction stream), on a real Synapse, in one run.

Latency = the inbox row's processed_at minus the moment the client's send call returned the
event id (same machine, same clock). Run: .venv/bin/python bench/bench_e2ee_latency.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User
from tests.stack import start_homeserver, start_yakuba

BOT = "@_yakuba:city-a.localhost"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(yakuba, send, n: int) -> list[float]:
    sent: dict[str, float] = {}
    for i in range(n):
        event_id = await send(f"計測メッセージ {i}")
        sent[event_id] = time.time()
    deadline = time.monotonic() + 120
    lat: dict[str, float] = {}
    while len(lat) < n and time.monotonic() < deadline:
        for event_id, t0 in sent.items():
            if event_id in lat:
                continue
            rows = yakuba.query("SELECT processed_at FROM inbox WHERE event_id = ? AND status = 'done'",
                                (event_id,))
            if rows and rows[0][0]:
                lat[event_id] = (rows[0][0] - t0) * 1000
        await asyncio.sleep(0.05)
    if len(lat) < n:
        print(f"warning: only {len(lat)} of {n} reached the pipeline")
    return list(lat.values())


async def main(n: int) -> None:
    hs = await asyncio.to_thread(start_homeserver)
    yakuba = await asyncio.to_thread(start_yakuba, hs)
    alice = None
    try:
        plain_user = await User.login(hs.url, "alice")
        plain_room = await plain_user.create_room(name="bench plain")
        alice = await E2EEUser(hs.url, "alice", hs.server_name).start()
        enc_room = await alice.create_encrypted_room([BOT], name="bench encrypted")
        await alice.wait_member(enc_room, BOT)
        await alice.send_text(enc_room, "warm-up")  # first message shares the room key
        await asyncio.sleep(1)

        plain = await measure(yakuba, lambda body: plain_user.send_text(plain_room, body), n)
        enc = await measure(yakuba, lambda body: alice.send_text(enc_room, body), n)
        print(f"messages per kind: {n} (sent one after another)")
        for name, values in (("unencrypted (transaction stream)", plain), ("encrypted (E2EE bot)", enc)):
            print(f"{name:34s} p50 {pct(values, 50):7.1f} ms   p99 {pct(values, 99):7.1f} ms   "
                  f"mean {statistics.mean(values):7.1f} ms")
        print(f"ratio encrypted/unencrypted p50: {pct(enc, 50) / pct(plain, 50):.2f}")
    finally:
        if alice:
            await alice.close()
        yakuba.stop()
        hs.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
