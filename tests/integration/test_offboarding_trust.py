"""[trust] on the real Synapse, in the ENCRYPTED admin room with two admins: locking or logging
out ANOTHER Yakuba admin waits for a second admin (the requester's own `confirm` and ✅ do not
count); a mention pill whose text poses as a different user id is refused."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.admin_room import BOT, admin_client, command
from tests.integration.e2ee import E2EEUser
from tests.integration.mx import MatrixError, User, wait_for
from tests.integration.test_bot_lifecycle import yakuba_cli

pytestmark = pytest.mark.integration
S = "city-a.localhost"


def uid(name: str) -> str:
    return f"@{name}:{S}"


def plan_for(yakuba, user: str) -> tuple[str, str, str]:
    rows = yakuba.query("SELECT code, message_event_id, status FROM offboarding_plans WHERE kind = 'account' "
                        "AND entries LIKE ? ORDER BY created_at DESC LIMIT 1", (f"%{user}%",))
    assert rows, f"no account plan for {user}"
    return rows[0]


async def whoami_status(user: User) -> int:
    try:
        await user.call("GET", "/_matrix/client/v3/account/whoami")
    except MatrixError as exc:
        return exc.status
    return 200


async def test_another_admin_needs_a_second_admin_and_pills_cannot_pose(yakuba, homeserver):
    target, kacho_id = uid("tr_target"), uid("tr_kacho")
    for name in ("tr_target", "tr_kacho"):
        homeserver.register(name)
    for user in (target, kacho_id):
        added = yakuba_cli(yakuba, "admin", "add", user)
        assert added.returncode == 0, added.stderr
    phone = await User.login(homeserver.url, "tr_target")
    admin, room = await admin_client(yakuba, homeserver)
    kacho = await E2EEUser(homeserver.url, "tr_kacho", homeserver.server_name).start()
    try:
        await kacho.join(room)
        await kacho.wait_member(room, BOT)
        await command(kacho, room, "!yakuba status", expect="Synapse")

        # A pill showing "@tr_kacho:…" that links to the target: refused, nobody touched.
        before = len(admin.texts_from(BOT, room))
        await admin.send_text(room, f"!yakuba lock {kacho_id} 紛失", **{
            "format": "org.matrix.custom.html",
            "formatted_body": f'!yakuba lock <a href="https://matrix.to/#/{target}">{kacho_id}</a> 紛失',
            "m.mentions": {"user_ids": [target]}})
        await wait_for(lambda: any(target in t for t in admin.texts_from(BOT, room)[before:]), timeout=30,
                       what="the pill refused")
        assert yakuba.query("SELECT COUNT(*) FROM offboarding_plans WHERE kind = 'account'") == [(0,)]
        assert await whoami_status(phone) == 200

        # logout of another admin: a plan; the requester's ✅ does nothing, the other admin's ✅ acts.
        await command(admin, room, f"!yakuba logout {target}", expect="confirm")
        code, plan_event, status = plan_for(yakuba, target)
        assert status == "pending" and await whoami_status(phone) == 200
        await admin.send(room, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": plan_event, "key": "✅"}})
        await wait_for(lambda: yakuba.query("SELECT COUNT(*) FROM audit WHERE action = 'offboard.confirm' AND "
                                            "result = 'refused' AND details LIKE ?", (f"%{code}%",)) == [(1,)],
                       timeout=30, what="the requester's ✅ refused")
        assert await whoami_status(phone) == 200
        await kacho.send(room, "m.reaction", {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": plan_event, "key": "✅"}})
        await wait_for(lambda: plan_for(yakuba, target)[2] == "confirmed", timeout=30, what="confirmed by ✅")
        await wait_for(lambda: yakuba.query("SELECT actor FROM audit WHERE action = 'logout' AND target = ?",
                                            (target,)) == [(kacho_id,)], timeout=30, what="logged out")
        assert await whoami_status(phone) == 401

        # lock: the requester's `confirm` is refused, the other admin's locks.
        await command(admin, room, f"!yakuba lock {target} 紛失", expect="confirm")
        code, _, _ = plan_for(yakuba, target)
        fresh = await User.login(homeserver.url, "tr_target")
        await command(admin, room, f"!yakuba confirm {code}", expect=uid("admin"))
        assert await whoami_status(fresh) == 200
        done = await command(kacho, room, f"!yakuba confirm {code}", expect="🔒")
        assert target in done and re.search(code, done)
        err = await whoami_status(fresh)
        assert err == 401
        rows = yakuba.query("SELECT action, actor, details FROM audit WHERE target = ? AND action LIKE 'lock%' "
                            "ORDER BY id", (target,))
        actions = [(a, actor) for a, actor, _ in rows]
        assert ("lock.plan", uid("admin")) in actions and ("lock.confirm", kacho_id) in actions
        assert ("lock", kacho_id) in actions
        confirm = next(json.loads(d) for a, _, d in rows if a == "lock.confirm")
        assert confirm["requested_by"] == uid("admin")

        # Locking a non-admin stays immediate.
        homeserver.register("tr_plain")
        await command(admin, room, f"!yakuba lock {uid('tr_plain')} 紛失", expect="🔒")
    finally:
        await kacho.close()
        await admin.close()
        for user in (target, kacho_id):
            yakuba_cli(yakuba, "admin", "remove", user)
