"""Effects that really happen, and say so truthfully — without Synapse, against a small fake
homeserver on a loopback port, through the real MatrixClient, Sender, Executor, offers and
Pipeline:

- Synapse answering 502 during a ✅-delete: the client retries, the message is redacted once,
  and only then is the offer used and `offer_accepted:redact` audited;
- 502 for good: the offer stays usable, no audit says "accepted", the event stays in the inbox
  and its replay (once Synapse is back) performs the redaction exactly once;
- a claim cut off by a crash is taken over on the replay;
- nothing is sent into an encrypted room in plaintext.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from appservice.core.clock import Clock
from appservice.core.db import Database
from appservice.core.executor import Executor
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.offers import ACCEPT_OFFER, accept_offer_handler
from appservice.core.offers_policy import OffersPolicy
from appservice.core.pipeline import Pipeline
from appservice.core.policy import PolicyContext
from appservice.core.services import Services
from appservice.core.state import BUSY, CLAIMED, DONE, StateStore
from appservice.matrix.client import MatrixClient, MatrixError
from appservice.matrix.sender import EncryptionUnavailable, Sender
from tests.unit.support import SERVER, make_config, make_context

ALICE = f"@alice:{SERVER}"
BOT = f"@_yakuba:{SERVER}"
ROOM = f"!room:{SERVER}"
SECRET_ROOM = f"!secret:{SERVER}"
DM = f"!dm:{SERVER}"
WARNING = "$warning"  # the bot's message that offered the deletion
PII = "$pii"          # alice's message with personal data


@dataclass
class FakeHomeserver:
    """What Yakuba calls of Synapse, with failures on demand. Like Synapse, a redaction or a
    send repeated with the same transaction id is one event."""

    redact_failures: int = 0        # answer this many redactions with 502 (-1: for ever)
    redact_calls: int = 0
    redactions: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # txn → (event, user)
    sends: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)   # txn → (room, content)
    send_calls: int = 0
    encrypted: set[str] = field(default_factory=set)
    state_failures: int = 0
    status_plan: list[int] = field(default_factory=list)  # statuses of the next /versions calls

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_put("/_matrix/client/v3/rooms/{room}/redact/{event}/{txn}", self.redact)
        app.router.add_put("/_matrix/client/v3/rooms/{room}/send/{type}/{txn}", self.send)
        app.router.add_get("/_synapse/admin/v1/rooms/{room}/state", self.state)
        app.router.add_get("/_matrix/client/versions", self.versions)
        return app

    async def redact(self, request: web.Request) -> web.Response:
        self.redact_calls += 1
        if self.redact_failures:
            self.redact_failures -= 1 if self.redact_failures > 0 else 0
            return web.json_response({"errcode": "M_UNKNOWN", "error": "Bad Gateway"}, status=502)
        txn = request.match_info["txn"]
        self.redactions.setdefault(txn, (request.match_info["event"], request.query.get("user_id")))
        return web.json_response({"event_id": f"$redaction-{txn}"})

    async def send(self, request: web.Request) -> web.Response:
        self.send_calls += 1
        txn = request.match_info["txn"]
        self.sends.setdefault(txn, (request.match_info["room"], await request.json()))
        return web.json_response({"event_id": f"$sent-{txn}"})

    async def state(self, request: web.Request) -> web.Response:
        if self.state_failures:
            self.state_failures -= 1
            return web.json_response({"errcode": "M_UNKNOWN"}, status=503)
        room = request.match_info["room"]
        state = [{"type": "m.room.encryption", "content": {}}] if room in self.encrypted else []
        return web.json_response({"state": state})

    async def versions(self, request: web.Request) -> web.Response:
        status = self.status_plan.pop(0) if self.status_plan else 200
        body: dict[str, Any] = {"versions": ["v1.11"]}
        if status == 429:
            body = {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 20}
        return web.json_response(body, status=status)

    def redacted(self) -> list[tuple[str, str | None]]:
        return list(self.redactions.values())


@dataclass
class Rig:
    hs: FakeHomeserver
    client: MatrixClient
    state: StateStore
    db: Database
    inbox: Inbox
    executor: Executor
    pipeline: Pipeline
    sender: Sender

    async def audit_actions(self, prefix: str = "") -> list[str]:
        rows = await self.db.fetchall("SELECT action FROM audit WHERE action LIKE ? ORDER BY id", (f"{prefix}%",))
        return [r["action"] for r in rows]

    async def status(self, event_id: str) -> str:
        row = await self.db.fetchone("SELECT status FROM inbox WHERE event_id = ?", (event_id,))
        return row["status"] if row else "missing"

    async def react(self, event_id: str, target: str = WARNING, sender: str = ALICE) -> None:
        raw = {"event_id": event_id, "room_id": DM, "sender": sender, "type": "m.reaction",
               "origin_server_ts": 1,
               "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "✅"}}}
        assert (await self.inbox.put_transaction(f"t{event_id}", [raw])).new == 1


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    hs = FakeHomeserver()
    runner = web.AppRunner(hs.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = make_config(tmp_path, data_dir=str(tmp_path / "data"))
    db = Database(config.db_path)
    await db.open()
    state = StateStore(db)
    client = MatrixClient(f"http://127.0.0.1:{port}", "a" * 12, BOT, retry_base_s=0.01, retry_cap_s=0.05)
    sender = Sender(client, state, bot_wait_s=0.2)
    inbox = Inbox(db, config.bot_user_ids)
    metrics = Metrics()
    services = Services(config, Clock(), client, state, inbox, metrics, sender)
    executor = Executor(services)
    executor.on_effect(ACCEPT_OFFER, accept_offer_handler(executor.offer_actions))

    async def context() -> PolicyContext:
        return make_context(config, state)

    pipeline = Pipeline(inbox, [OffersPolicy()], executor, context, metrics, retry_base_s=0.0)
    await state.add_offer(WARNING, "redact", ALICE, ROOM, PII, {"reason": "personal data (Yakuba)"})
    yield Rig(hs, client, state, db, inbox, executor, pipeline, sender)
    await client.close()
    db.close()
    await runner.cleanup()


async def test_a_502_during_a_check_mark_delete_is_retried_and_the_offer_used_once(rig: Rig) -> None:
    rig.hs.redact_failures = 1
    await rig.react("$r1")
    assert await rig.pipeline.drain() == 1
    assert rig.hs.redact_calls == 2                       # 502, then retried by the client
    assert rig.hs.redacted() == [(PII, ALICE)]            # redacted once, as alice
    offer = await rig.state.offer(WARNING)
    assert offer is not None and offer.used
    assert await rig.audit_actions("offer_accepted") == ["offer_accepted:redact"]
    assert await rig.status("$r1") == "done"
    assert await rig.state.once_done(f"offer:{WARNING}")
    assert await rig.state.claims() == []

    # A second ✅ does nothing more.
    await rig.react("$r2")
    await rig.pipeline.drain()
    assert rig.hs.redact_calls == 2
    assert await rig.audit_actions("offer_accepted") == ["offer_accepted:redact"]


async def test_a_502_for_good_leaves_the_offer_usable_and_nothing_claims_the_delete(rig: Rig) -> None:
    rig.hs.redact_failures = -1
    await rig.react("$r1")
    await rig.pipeline.drain()
    assert rig.hs.redact_calls == 4                       # bounded: four tries
    assert rig.hs.redacted() == []
    offer = await rig.state.offer(WARNING)
    assert offer is not None and not offer.used           # still usable
    assert await rig.audit_actions("offer_accepted") == []
    assert not await rig.state.once_done(f"offer:{WARNING}")  # released
    assert await rig.state.claims() == []
    assert await rig.status("$r1") == "pending"           # left for a replay
    assert rig.pipeline.deferred()

    # Synapse is back: the replay performs the redaction, exactly once.
    rig.hs.redact_failures = 0
    await rig.pipeline.drain()
    assert rig.hs.redacted() == [(PII, ALICE)]
    offer = await rig.state.offer(WARNING)
    assert offer is not None and offer.used
    assert await rig.audit_actions("offer_accepted") == ["offer_accepted:redact"]
    assert await rig.status("$r1") == "done"
    assert rig.pipeline.deferred() == []
    await rig.pipeline.drain()                            # nothing is left to do
    assert len(rig.hs.redacted()) == 1 and rig.hs.redact_calls == 5


async def test_an_event_whose_effect_keeps_failing_is_given_up_on_truthfully(rig: Rig) -> None:
    rig.hs.redact_failures = -1
    rig.pipeline.max_replays = 2
    await rig.react("$r1")
    for _ in range(3):
        await rig.pipeline.drain()
    assert await rig.status("$r1") == "done"
    row = await rig.db.fetchone("SELECT error FROM inbox WHERE event_id = '$r1'")
    assert row is not None and row["error"].startswith("gave_up:")
    assert await rig.audit_actions("offer_accepted") == []
    assert await rig.audit_actions("effects_gave_up") == ["effects_gave_up"]
    offer = await rig.state.offer(WARNING)
    assert offer is not None and not offer.used           # another ✅ later may still delete it


async def test_a_claim_cut_off_by_a_crash_is_taken_over_and_the_effect_happens_on_replay(rig: Rig) -> None:
    # A process claimed the offer's key and died before the redaction (no such pid).
    await rig.db.execute("INSERT INTO once_claims (key, claimed_at, owner) VALUES (?, ?, ?)",
                         (f"offer:{WARNING}", time.time(), "999999999:gone"))
    await rig.react("$r1")
    await rig.pipeline.drain()
    assert rig.hs.redacted() == [(PII, ALICE)]
    assert await rig.audit_actions("offer_accepted") == ["offer_accepted:redact"]
    assert await rig.state.claims() == []


async def test_a_live_claim_of_another_process_is_busy_until_stale(rig: Rig) -> None:
    await rig.db.execute("INSERT INTO once_claims (key, claimed_at, owner) VALUES (?, ?, ?)",
                         ("k:live", time.time(), f"{os.getppid()}:other"))
    assert await rig.state.claim("k:live") == BUSY
    assert await rig.state.claim("k:live", stale_after_s=0.0) == CLAIMED
    await rig.state.finish("k:live")
    assert await rig.state.claim("k:live") == DONE
    assert await rig.state.once_done("k:live")
    # Our own pid with another token: the process before us is gone.
    await rig.db.execute("INSERT INTO once_claims (key, claimed_at, owner) VALUES (?, ?, ?)",
                         ("k:restarted", time.time(), f"{os.getpid()}:before"))
    assert await rig.state.claim("k:restarted") == CLAIMED
    assert await rig.state.claim("k:restarted") == BUSY   # ours now, in progress
    await rig.state.release("k:restarted")
    assert await rig.state.claim("k:restarted") == CLAIMED


async def test_a_busy_claim_leaves_the_event_for_a_replay(rig: Rig) -> None:
    await rig.db.execute("INSERT INTO once_claims (key, claimed_at, owner) VALUES (?, ?, ?)",
                         (f"offer:{WARNING}", time.time(), f"{os.getppid()}:other"))
    await rig.react("$r1")
    await rig.pipeline.drain()
    assert rig.hs.redacted() == []
    assert await rig.status("$r1") == "pending"
    await rig.db.execute("DELETE FROM once_claims")        # the other run gave it back
    await rig.pipeline.drain()
    assert rig.hs.redacted() == [(PII, ALICE)]
    assert await rig.status("$r1") == "done"


# -- the client's retries ---------------------------------------------------------------------

async def test_the_client_retries_5xx_and_429_then_answers(rig: Rig) -> None:
    rig.hs.status_plan = [503, 429, 502]
    assert (await rig.client.request("GET", "/_matrix/client/versions"))["versions"]


async def test_the_client_gives_up_after_four_tries_with_a_transient_error(rig: Rig) -> None:
    rig.hs.status_plan = [502] * 10
    with pytest.raises(MatrixError) as info:
        await rig.client.request("GET", "/_matrix/client/versions")
    assert info.value.status == 502 and info.value.transient
    assert len(rig.hs.status_plan) == 6


async def test_the_client_does_not_retry_a_client_error(rig: Rig) -> None:
    rig.hs.status_plan = [403, 200]
    with pytest.raises(MatrixError) as info:
        await rig.client.request("GET", "/_matrix/client/versions")
    assert info.value.status == 403 and not info.value.transient
    assert rig.hs.status_plan == [200]


async def test_an_unreachable_homeserver_is_a_transient_error(rig: Rig) -> None:
    client = MatrixClient("http://127.0.0.1:9", "a" * 12, BOT, retry_base_s=0.01, retry_cap_s=0.02)
    try:
        with pytest.raises(MatrixError) as info:
            await client.request("GET", "/_matrix/client/versions")
        assert info.value.status == 0 and info.value.transient
    finally:
        await client.close()


# -- never plaintext into an encrypted room -----------------------------------------------------

class SlowBot:
    user_id = BOT

    def __init__(self, ready_after_s: float | None) -> None:
        self.ready_at = None if ready_after_s is None else asyncio.get_running_loop().time() + ready_after_s
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def is_ready(self) -> bool:
        return self.ready_at is not None and asyncio.get_running_loop().time() >= self.ready_at

    async def send_encrypted(self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str) -> str:
        self.sent.append((room_id, content))
        return "$encrypted"


async def test_the_sender_refuses_plaintext_into_an_encrypted_room_without_a_bot(rig: Rig) -> None:
    rig.hs.encrypted.add(SECRET_ROOM)
    with pytest.raises(EncryptionUnavailable) as info:
        await rig.sender.send(SECRET_ROOM, {"msgtype": "m.notice", "body": "x"}, "txn1")
    assert not info.value.transient  # no bot at all: retrying will not help
    assert rig.hs.send_calls == 0
    # A plain room is still sent to as before.
    assert await rig.sender.send(ROOM, {"msgtype": "m.notice", "body": "x"}, "txn2") == "$sent-txn2"


async def test_the_sender_waits_briefly_for_the_bot_then_fails_transiently(rig: Rig) -> None:
    await rig.state.note_room(SECRET_ROOM, encrypted=True)
    bot = SlowBot(ready_after_s=None)
    rig.sender.attach_bot(bot)
    with pytest.raises(EncryptionUnavailable) as info:
        await rig.sender.send(SECRET_ROOM, {"msgtype": "m.notice", "body": "x"}, "txn1")
    assert info.value.transient
    assert rig.hs.send_calls == 0 and bot.sent == []


async def test_the_sender_sends_encrypted_once_the_bot_is_ready(rig: Rig) -> None:
    await rig.state.note_room(SECRET_ROOM, encrypted=True)
    bot = SlowBot(ready_after_s=0.05)
    rig.sender.attach_bot(bot)
    assert await rig.sender.send(SECRET_ROOM, {"msgtype": "m.notice", "body": "x"}, "txn1") == "$encrypted"
    assert rig.hs.send_calls == 0 and len(bot.sent) == 1


async def test_a_room_whose_encryption_is_unknown_is_not_assumed_plain(rig: Rig) -> None:
    rig.hs.state_failures = 10
    with pytest.raises(MatrixError) as info:
        await rig.sender.send(SECRET_ROOM, {"msgtype": "m.notice", "body": "x"}, "txn1")
    assert info.value.transient
    assert rig.hs.send_calls == 0
    assert await rig.state.is_encrypted(SECRET_ROOM) is None  # nothing learned from a failure
