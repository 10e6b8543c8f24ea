"""Effects really happen, exactly once, even when Yakuba dies between claiming an effect and
performing it — on the real Synapse, with the Yakuba process killed at that very point.

The kill uses the test-only hook YAKUBA_TEST_CRASH_AFTER_CLAIM=<once_key prefix> (see
appservice/core/executor.py): the process exits with 137 right after claiming a matching key.
The restarted Yakuba (without the hook) replays the event, takes the dead process's claim over
and performs the effect.
"""

from __future__ import annotations

import os

import pytest

from appservice.core.executor import CRASH_AFTER_CLAIM
from tests.integration.mx import User, wait_for
from tests.integration.test_pii import MY_NUMBER, bot_notices, dm_room, is_redacted, warning_for

pytestmark = pytest.mark.integration


def start_with_crash_hook(yakuba, prefix: str) -> None:
    yakuba.kill()
    os.environ[CRASH_AFTER_CLAIM] = prefix
    try:
        yakuba.start()
    finally:
        del os.environ[CRASH_AFTER_CLAIM]  # the process has its copy of the environment


async def crashed(yakuba) -> int:
    await wait_for(lambda: yakuba.proc.poll() is not None, timeout=30, what="the crash after the claim")
    return yakuba.proc.returncode


def claimed(yakuba, key: str) -> bool:
    return bool(yakuba.query("SELECT 1 FROM once_claims WHERE key = ?", (key,)))


def done(yakuba, key: str) -> bool:
    return bool(yakuba.query("SELECT 1 FROM once_keys WHERE key = ?", (key,)))


def audits(yakuba, action: str, event_id: str) -> int:
    return yakuba.query("SELECT COUNT(*) FROM audit WHERE action = ? AND event_id = ?", (action, event_id))[0][0]


def inbox_status(yakuba, event_id: str) -> str | None:
    rows = yakuba.query("SELECT status FROM inbox WHERE event_id = ?", (event_id,))
    return rows[0][0] if rows else None


async def test_a_crash_between_claim_and_effect_does_not_lose_the_effect(yakuba, homeserver):
    alice = await User.login(homeserver.url, "alice")
    room = await alice.create_room(name="クラッシュ試験")
    try:
        # 1. The PII warning DM: Yakuba dies right after claiming it.
        start_with_crash_hook(yakuba, "pii_dm:")
        ev = await alice.send_text(room, f"マイナンバーは{MY_NUMBER}です")
        assert await crashed(yakuba) == 137
        assert claimed(yakuba, f"pii_dm:{ev}") and not done(yakuba, f"pii_dm:{ev}")
        assert inbox_status(yakuba, ev) == "pending"  # not marked done: it will be replayed
        assert audits(yakuba, "pii_detected", ev) == 0

        yakuba.start()
        warning = await warning_for(yakuba, alice, ev)  # the effect happened after the restart
        # (its admin notice may wait for the E2EE bot to come up: the event is replayed until it did)
        await wait_for(lambda: inbox_status(yakuba, ev) == "done", timeout=90, what="event done after the replay")
        notices = [e for e in await bot_notices(alice, dm_room(yakuba, alice.user_id))
                   if ev in e["content"].get("body", "")]
        assert len(notices) == 1  # exactly once
        assert done(yakuba, f"pii_dm:{ev}") and not claimed(yakuba, f"pii_dm:{ev}")
        assert audits(yakuba, "pii_detected", ev) == 1

        # 2. ✅ on the warning: Yakuba dies right after claiming the offer; the message stays, the
        #    offer stays usable and no audit row says it was accepted — until the replay deletes it.
        start_with_crash_hook(yakuba, "offer:")
        await alice.react(dm_room(yakuba, alice.user_id), warning["event_id"], "✅")
        assert await crashed(yakuba) == 137
        assert claimed(yakuba, f"offer:{warning['event_id']}")
        assert not await is_redacted(alice, room, ev)
        assert yakuba.query("SELECT used_at FROM offers WHERE event_id = ?", (warning["event_id"],)) == [(None,)]
        assert audits(yakuba, "offer_accepted:redact", ev) == 0

        yakuba.start()
        await wait_for(lambda: is_redacted(alice, room, ev), timeout=30, what="redaction after the restart")
        await wait_for(lambda: audits(yakuba, "offer_accepted:redact", ev) == 1, timeout=30,
                       what="offer_accepted audit")
        used = yakuba.query("SELECT used_at FROM offers WHERE event_id = ?", (warning["event_id"],))
        assert used and used[0][0] is not None
        assert done(yakuba, f"offer:{warning['event_id']}")
    finally:
        if yakuba.proc is None or yakuba.proc.poll() is not None:
            yakuba.start()  # the session's other tests need it running
