"""Synapse goes away and comes back while Yakuba runs: the bots back off and recover, the
appservice keeps its place, and no event is lost."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.e2ee import E2EEUser
from tests.integration.mx import User, wait_for

pytestmark = pytest.mark.integration
BOT = "@_yakuba:city-a.localhost"


def done(yakuba, event_id: str, decrypted: bool) -> bool:
    return yakuba.query("SELECT 1 FROM inbox WHERE event_id = ? AND status = 'done' AND decrypted = ?",
                        (event_id, int(decrypted))) != []


async def test_bots_and_appservice_recover_after_a_synapse_restart(yakuba, homeserver):
    alice = await E2EEUser(homeserver.url, "alice", homeserver.server_name).start()
    plain = await User.login(homeserver.url, "alice")
    try:
        room = await alice.create_encrypted_room([BOT], name="再起動")
        await alice.wait_member(room, BOT)
        first = await alice.send_text(room, "before the restart")
        await wait_for(lambda: done(yakuba, first, True), timeout=20)

        homeserver.process.stop()   # Synapse down: bot syncs fail, Yakuba must not crash
        await asyncio.sleep(3)
        assert yakuba.proc is not None and yakuba.proc.poll() is None, "Yakuba died with Synapse"
        homeserver.process.start()

        plain_room = await plain.create_room(name="再起動・平文")
        plain_ev = await plain.send_text(plain_room, "after the restart (plain)")
        enc_ev = await alice.send_text(room, "after the restart (encrypted)")
        await wait_for(lambda: done(yakuba, plain_ev, False), timeout=60, what="plain event after restart")
        await wait_for(lambda: done(yakuba, enc_ev, True), timeout=90, what="encrypted event after restart")
        assert yakuba.query("SELECT times_processed FROM inbox WHERE event_id = ?", (first,)) == [(1,)]
    finally:
        await alice.close()
