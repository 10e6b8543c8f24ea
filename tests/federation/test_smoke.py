"""The federated stack itself: two Synapses federate by name over TLS; the third is refused."""

from __future__ import annotations

import pytest

from tests.integration.mx import MatrixError, User, wait_for

pytestmark = pytest.mark.integration


async def test_city_a_and_city_b_chat(cities):
    a, b = cities["city-a"], cities["city-b"]
    alice = await User.login(a.hs.url, "alice")
    bob = await User.login(b.hs.url, "bob")
    room = await alice.create_room(invite=[b.user_id("bob")])

    async def invited() -> bool:
        return room in await bob.invited_rooms()

    await wait_for(invited, timeout=20, what="bob's invite over federation")
    await bob.join(room)
    eid = await alice.send_text(room, "こんにちは、城南町の皆さん")

    async def arrived() -> bool:
        try:
            await bob.event(room, eid)
            return True
        except MatrixError:
            return False

    await wait_for(arrived, timeout=20, what="alice's message on city-b")
