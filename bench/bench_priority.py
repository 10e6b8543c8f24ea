"""One slow thing never stalls the rest: `!yakuba status` during a flood of PII messages.

No Synapse: the real inbox, pipeline, executor and default policies (YakubaService without the
bots, like bench_pipeline.py), with a fake sender that sleeps SEND_S per send to model a Synapse
round trip. FLOOD messages with a My Number from one user in one room go into the inbox, then
`!yakuba status` from an admin in the admin room. Printed for the priority lane + admin-notice
aggregation ON and OFF (the baseline, same run): seconds until the command's reply is sent, how
long the flood took, and how many notices reached the admin room.
Run: .venv/bin/python bench/bench_priority.py [FLOOD]
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appservice.app.config import config_from_dict
from appservice.app.service import YakubaService

SERVER = "city-a.localhost"
ROOM = f"!flood:{SERVER}"
ADMIN_ROOM = f"!admin:{SERVER}"
ALICE = f"@alice:{SERVER}"
ADMIN = f"@admin:{SERVER}"
MY_NUMBER = "1234 5678 9018"  # valid check digit
SEND_S = 0.05
FLOOD = int(sys.argv[1]) if len(sys.argv) > 1 else 400
TXN_SIZE = 50


class SlowSender:
    """Stands in for matrix/sender.py: every send costs one Synapse round trip (SEND_S)."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, str]] = []  # (when, room, body)

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, *,
                   as_user: str | None = None, event_type: str = "m.room.message") -> str:
        await asyncio.sleep(SEND_S)
        self.sent.append((time.perf_counter(), room_id, str(content.get("body", ""))))
        return f"$sent-{uuid.uuid4().hex[:12]}"

    async def is_encrypted(self, room_id: str) -> bool:
        return False


def message(sender: str, room: str, body: str) -> dict[str, Any]:
    return {"event_id": f"$b-{uuid.uuid4().hex}", "room_id": room, "type": "m.room.message",
            "sender": sender, "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body}}


async def run(root: Path, *, on: bool) -> dict[str, float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reg = root / "registration.yaml"
    reg.write_text(yaml.safe_dump({"as_token": "a" * 32, "hs_token": "h" * 32}))
    cfg = config_from_dict({
        "homeserver": {"url": "http://127.0.0.1:9", "server_name": SERVER},
        "appservice": {"port": port, "registration": str(reg)},
        "data_dir": str(root), "bots": {"enabled": False}, "admins": [ADMIN],
        "logging": {"level": "warning"},
    }, root / "yakuba.yaml")
    svc = YakubaService(cfg, with_bots=False, priority_lane=on, aggregate_notices=on)
    sender = SlowSender()
    svc.sender = svc.services.sender = sender  # type: ignore[assignment]

    async def server_version() -> str:
        await asyncio.sleep(SEND_S)
        return "fake"

    async def redact(*args: Any, **kwargs: Any) -> str:
        await asyncio.sleep(SEND_S)
        return "$redaction"

    svc.client.server_version = server_version  # type: ignore[method-assign]
    svc.client.redact = redact  # type: ignore[method-assign]
    await svc.start(bootstrap_matrix=False)
    await svc.state.set("admin_room", ADMIN_ROOM)
    await svc.state.set_dm_room(ALICE, f"!dm-alice:{SERVER}")

    flood = [message(ALICE, ROOM, f"お客様のマイナンバーは {MY_NUMBER} です（{i}）") for i in range(FLOOD)]
    t0 = time.perf_counter()
    for i in range(0, FLOOD, TXN_SIZE):
        await svc.inbox.put_transaction(f"flood{i}", flood[i:i + TXN_SIZE])
    await asyncio.sleep(0.2)  # the flood is being processed when the command comes
    t_cmd = time.perf_counter()
    await svc.inbox.put_transaction("cmd", [message(ADMIN, ADMIN_ROOM, "!yakuba status")])
    total = FLOOD + 1
    reply_at = None
    while True:
        if reply_at is None:
            reply_at = next((t for t, r, b in sender.sent if r == ADMIN_ROOM and "稼働状況" in b), None)
        if reply_at is not None and (await svc.inbox.counts()).get("done", 0) >= total:
            break
        await asyncio.sleep(0.02)
    flood_s = time.perf_counter() - t0
    await svc.stop()  # posts the summaries of the open aggregation windows
    admin = [b for _, r, b in sender.sent if r == ADMIN_ROOM and "稼働状況" not in b]
    summaries = [b for b in admin if "さらに" in b]
    audits = await count_audits(root)
    return {"command_s": reply_at - t_cmd, "flood_s": flood_s, "admin_notices": len(admin),
            "summaries": len(summaries), "sends": len(sender.sent), "audited": audits}


async def count_audits(root: Path) -> int:
    import sqlite3

    with sqlite3.connect(root / "yakuba.db") as c:
        return c.execute("SELECT COUNT(*) FROM audit WHERE action = 'pii_detected'").fetchone()[0]


async def main() -> None:
    from appservice.app import logs

    logs.configure("console", "warning")
    results = {}
    for on in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            results[on] = await run(Path(tmp), on=on)
    print(f"flood: {FLOOD} PII messages from one user in one room; each send sleeps {SEND_S * 1000:.0f} ms")
    for on, label in ((True, "priority lane + aggregation ON "), (False, "baseline (both OFF)          ")):
        r = results[on]
        print(f"{label}: `!yakuba status` answered after {r['command_s']:6.2f} s; flood done in "
              f"{r['flood_s']:6.2f} s; admin-room notices {r['admin_notices']:4d} "
              f"(summaries {r['summaries']}); sends {r['sends']}; pii_detected audit rows {r['audited']}")
    ok = results[True]["command_s"] <= 2.0
    print(f"target (command within 2 s while the flood is processed): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    asyncio.run(main())
