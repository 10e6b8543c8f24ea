"""Reading and writing the encrypted admin room as the test admin (matrix-nio)."""

from __future__ import annotations

from tests.integration.e2ee import E2EEUser

BOT = "@_yakuba:city-a.localhost"


def admin_room_id(yakuba) -> str:
    return yakuba.query("SELECT value FROM kv WHERE key = 'admin_room'")[0][0]


async def admin_client(yakuba, homeserver) -> tuple[E2EEUser, str]:
    """A fresh E2EE device for @admin in the admin room, known to the bot: a `status` round
    trip proves the bot has seen this device (only then are its notices decryptable here)."""
    room = admin_room_id(yakuba)
    admin = await E2EEUser(homeserver.url, "admin", homeserver.server_name).start()
    if room not in admin.client.rooms:
        await admin.join(room)
    await admin.wait_member(room, BOT)
    await command(admin, room, "!yakuba status", expect="Synapse")
    return admin, room


async def command(admin: E2EEUser, room: str, text: str, expect: str, timeout: float = 30) -> str:
    """Send an admin command and wait for the bot's reply containing `expect`."""
    from tests.integration.mx import wait_for

    before = len(admin.texts_from(BOT, room))
    await admin.send_text(room, text)

    def found() -> str | None:
        for t in admin.texts_from(BOT, room)[before:]:
            if expect in t:
                return t
        return None

    return await wait_for(found, timeout=timeout, what=f"reply to {text!r} containing {expect!r}")
