"""Planning: who is a room's admin (v12 creators included) and what leaving does to each room."""

from __future__ import annotations

from appservice.features.offboarding.plan import (
    HANDOVER,
    NOTHING,
    ORPHANED,
    confirm_refusal,
    creator_power_version,
    is_yakuba_bot,
    local_admins,
    plan_room,
    refusal,
    room_facts,
)

S = "city-a.localhost"
LEAVER, SUCC, OTHER, REMOTE = f"@leaver:{S}", f"@succ:{S}", f"@other:{S}", "@boss:city-b.localhost"
BOT = f"@_yakuba:{S}"


def is_local(u: str) -> bool:
    return u.endswith(":" + S)


def state(*, version="12", creator=LEAVER, additional=(), users=None, members=None, pl=True, name=None):
    events = [{"type": "m.room.create", "state_key": "", "sender": creator,
               "content": {"room_version": version, **({"additional_creators": list(additional)}
                                                        if additional else {})}}]
    if pl:
        events.append({"type": "m.room.power_levels", "state_key": "", "sender": creator,
                       "content": {"users": users or {}, "users_default": 0}})
    for user, membership in (members or {}).items():
        events.append({"type": "m.room.member", "state_key": user, "sender": user,
                       "content": {"membership": membership}})
    if name:
        events.append({"type": "m.room.name", "state_key": "", "sender": creator, "content": {"name": name}})
    return events


def test_v12_creator_is_admin_without_being_in_power_levels():
    f = room_facts("!r", state(members={LEAVER: "join", OTHER: "join"}, users={OTHER: 50}))
    assert f.creators == (LEAVER,)
    assert f.is_admin(LEAVER) and not f.is_admin(OTHER)
    assert local_admins(f, is_local) == [LEAVER]
    p = plan_room(f, LEAVER, SUCC, is_local)
    assert p.action == HANDOVER and p.leaver_creator and p.successor_needs_join and p.successor_needs_power


def test_additional_creators_count_as_other_admins():
    f = room_facts("!r", state(additional=[OTHER], members={LEAVER: "join", OTHER: "join"}))
    assert set(f.creators) == {LEAVER, OTHER}
    assert plan_room(f, LEAVER, SUCC, is_local).action == NOTHING


def test_additional_creator_who_left_does_not_count():
    f = room_facts("!r", state(additional=[OTHER], members={LEAVER: "join", OTHER: "leave"}))
    assert plan_room(f, LEAVER, SUCC, is_local).action == HANDOVER


def test_only_pl100_admin_in_a_room_someone_else_created_and_left():
    f = room_facts("!r", state(creator=OTHER, users={LEAVER: 100},
                               members={OTHER: "leave", LEAVER: "join", SUCC: "join"}))
    p = plan_room(f, LEAVER, SUCC, is_local)
    assert p.action == HANDOVER and not p.leaver_creator and not p.successor_needs_join


def test_pre_v12_creator_is_in_power_levels_and_not_special():
    f = room_facts("!r", state(version="11", creator=OTHER, users={OTHER: 100, LEAVER: 100},
                               members={OTHER: "join", LEAVER: "join"}))
    assert f.creators == ()
    assert plan_room(f, LEAVER, SUCC, is_local).action == NOTHING
    f2 = room_facts("!r", state(version="10", creator=OTHER, users={LEAVER: 100},
                                members={OTHER: "join", LEAVER: "join"}))
    assert not f2.is_admin(OTHER)  # v10: the creator has no creator power
    assert plan_room(f2, LEAVER, SUCC, is_local).action == HANDOVER


def test_pre_v12_room_without_power_levels_gives_creator_100():
    f = room_facts("!r", state(version="9", creator=LEAVER, pl=False, members={LEAVER: "join"}))
    assert f.is_admin(LEAVER)
    assert plan_room(f, LEAVER, None, is_local).action == ORPHANED


def test_remote_bot_and_leaving_admins_do_not_count():
    users = {REMOTE: 100, BOT: 100, OTHER: 100}
    f = room_facts("!r", state(users=users, members={LEAVER: "join", REMOTE: "join", BOT: "join", OTHER: "join"}))
    assert plan_room(f, LEAVER, SUCC, is_local).action == NOTHING  # OTHER stays
    assert plan_room(f, LEAVER, SUCC, is_local, not_admins={BOT, OTHER}).action == HANDOVER


def test_leaver_not_admin_means_nothing_to_do():
    f = room_facts("!r", state(creator=OTHER, members={LEAVER: "join"}))  # OTHER never joined
    assert plan_room(f, LEAVER, SUCC, is_local).action == NOTHING


def test_successor_already_admin_means_nothing_to_hand_over():
    f = room_facts("!r", state(users={SUCC: 100}, members={LEAVER: "join", SUCC: "join"}))
    assert plan_room(f, LEAVER, SUCC, is_local).action == NOTHING


def test_no_successor_leaves_room_orphaned():
    f = room_facts("!r", state(members={LEAVER: "join"}, name="総務課"))
    p = plan_room(f, LEAVER, None, is_local)
    assert p.action == ORPHANED and p.label == "総務課"


def test_string_power_levels_and_junk_are_tolerated():
    events = state(members={LEAVER: "join", OTHER: "join"})
    events[1]["content"]["users"] = {OTHER: "100", LEAVER: True}
    events.append({"type": "m.room.member", "state_key": None, "content": {}})
    f = room_facts("!r", events)
    assert f.power(OTHER) == 100
    assert plan_room(f, LEAVER, SUCC, is_local).action == NOTHING


def test_room_versions_with_creator_power():
    assert creator_power_version("12") and creator_power_version("13")
    assert creator_power_version("org.matrix.hydra.11")
    assert not creator_power_version("11") and not creator_power_version("1")


def test_refusals():
    info = {"admin": False, "deactivated": False}
    assert refusal(REMOTE, info, server_name=S, is_bot=False, other_usable_admins=None,
                   action="lock")[0] == "offboarding.refused.remote"
    assert refusal(BOT, info, server_name=S, is_bot=True, other_usable_admins=None,
                   action="offboard")[0] == "offboarding.refused.bot"
    assert refusal(LEAVER, None, server_name=S, is_bot=False, other_usable_admins=None,
                   action="logout")[0] == "offboarding.refused.unknown"
    gone = {"deactivated": True}
    assert refusal(LEAVER, gone, server_name=S, is_bot=False, other_usable_admins=None,
                   action="offboard") == (None, "offboarding.skip.deactivated")
    assert refusal(LEAVER, gone, server_name=S, is_bot=False, other_usable_admins=None,
                   action="lock")[0] == "offboarding.refused.deactivated"
    admin = {"admin": True}
    for action in ("offboard", "lock", "suspend"):
        assert refusal(LEAVER, admin, server_name=S, is_bot=False, other_usable_admins=0,
                       action=action)[0] == "offboarding.refused.last_admin"
    assert refusal(LEAVER, admin, server_name=S, is_bot=False, other_usable_admins=1,
                   action="offboard") == (None, None)
    assert refusal(LEAVER, admin, server_name=S, is_bot=False, other_usable_admins=0,
                   action="unlock") == (None, None)


def test_bot_namespace():
    assert is_yakuba_bot(BOT, (), "_yakuba")
    assert is_yakuba_bot(f"@_yakuba_archive:{S}", (), "_yakuba")
    assert not is_yakuba_bot(LEAVER, (), "_yakuba")


def test_confirm_rules():
    base = {"status": "pending", "requester": OTHER, "now_ts": 10.0, "expires_at": 20.0}
    assert confirm_refusal(confirmer=OTHER, four_eyes=False, **base) is None
    assert confirm_refusal(confirmer=OTHER, four_eyes=True, **base) == "offboarding.confirm.four_eyes"
    assert confirm_refusal(confirmer=SUCC, four_eyes=True, **base) is None
    assert confirm_refusal(confirmer=SUCC, four_eyes=False, **{**base, "now_ts": 30.0}) == \
        "offboarding.confirm.expired"
    assert confirm_refusal(confirmer=SUCC, four_eyes=False, **{**base, "status": "confirmed"}) == \
        "offboarding.confirm.already"
    assert confirm_refusal(confirmer=SUCC, four_eyes=False, **{**base, "status": "cancelled"}) == \
        "offboarding.confirm.cancelled"
