"""Garbage in the admin room: every command gets a clear reply, never an internal error, and the
service carries on."""

from __future__ import annotations

import pytest

from tests.integration.admin_room import BOT, admin_client
from tests.integration.mx import wait_for

pytestmark = pytest.mark.integration

GARBAGE = ["", "--at", "@", "@nobody", "!notaroom", "--years abc", "\u202e\u0000😀", "x" * 300,
           "--csv --csv", "confirm", "--successor", "2027-13-45T99:99"]


def _load_commands() -> list[str]:
    # Every command the default features declare.
    from appservice.app.assembly import DEFAULT_FEATURES

    return sorted(c.name for f in DEFAULT_FEATURES for c in f.commands)


async def test_garbage_arguments_get_clear_replies(yakuba, homeserver):
    names = _load_commands()
    admin, room = await admin_client(yakuba, homeserver)
    try:
        sent = []
        for name in names:
            for junk in GARBAGE[:4] if name in ("help", "status") else GARBAGE:
                sent.append(await admin.send_text(room, f"!yakuba {name} {junk}".strip()))
        # Every command message is answered (a reply notice), none with an internal error.
        await wait_for(lambda: all(yakuba.query("SELECT status FROM inbox WHERE event_id = ?", (ev,)) == [("done",)]
                                   for ev in sent), timeout=120, what="all garbage processed")
        failures = yakuba.query("SELECT details FROM audit WHERE action LIKE 'command:%' AND result = 'error'")
        assert failures == [], failures
        def replied_to() -> set[str]:
            return {((ev.source.get("content") or {}).get("m.relates_to") or {}).get("m.in_reply_to", {})
                    .get("event_id") for rid, ev in admin.received if rid == room and ev.sender == BOT}

        await wait_for(lambda: not (set(sent) - replied_to()), timeout=60, what="a reply to each command")
        assert not any("エラーが発生しました" in t for t in admin.texts_from(BOT, room))
        # Still healthy: a normal command answers.
        before = len(admin.texts_from(BOT, room))
        await admin.send_text(room, "!yakuba status")
        await wait_for(lambda: any("Synapse" in t for t in admin.texts_from(BOT, room)[before:]), timeout=30)
    finally:
        await admin.close()
