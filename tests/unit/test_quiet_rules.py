"""Push rule building and planning (pure), against a store with Synapse's placement rules."""

from __future__ import annotations

import random

import pytest

from appservice.features.quiet.rules import (
    ALERT_ID,
    QUIET_ID,
    Op,
    RuleBook,
    is_ours,
    marker_patterns,
    plan,
    room_hash,
    signature,
)
from tests.unit.test_quiet_support import BOT, FakePushRules

BOOK = RuleBook.build(["【緊急】", "緊急"], BOT)
ROOM = "!saigai:city-a.example"


def apply(store: FakePushRules, ops: list[Op]) -> None:
    for op in ops:
        if op.kind == "put":
            assert op.body is not None
            store.put(op.rule_id, op.body, after=op.after)
        elif op.kind == "delete":
            store.delete(op.rule_id)
        else:
            store.enable(op.rule_id, True)


def converge(store: FakePushRules, desired) -> list[Op]:
    ops = plan(store.listing(), desired)
    apply(store, ops)
    return ops


# -- building -------------------------------------------------------------------------------

def test_marker_patterns_drop_markers_another_marker_covers():
    assert marker_patterns(["【緊急】", "緊急"]) == ["緊急*"]
    assert marker_patterns(["【緊急】"]) == ["【緊急】*"]
    # 至急 inside a word is not covered by 急: Synapse matches bodies at word boundaries only.
    assert marker_patterns(["至急", "急"]) == ["至急*", "急*"]
    assert marker_patterns(["[URGENT]", "URGENT", "緊急"]) == ["URGENT*", "緊急*"]


def test_layout_and_order():
    quiet = BOOK.for_user(participates=True, quiet=True, exempt_rooms=[ROOM])
    ids = [r.rule_id for r in quiet]
    h = room_hash(ROOM)
    assert ids == ["jp.yakuba.quiet.emergency.0", ALERT_ID, f"jp.yakuba.quiet.exempt.{h}.m",
                   f"jp.yakuba.quiet.exempt.{h}.e", QUIET_ID]
    silencer = quiet[-1].body()
    assert silencer == {"conditions": [], "actions": []}  # every event, no notification
    emergency = quiet[0].body()
    assert {"kind": "event_match", "key": "content.body", "pattern": "緊急*"} in emergency["conditions"]
    assert emergency["actions"][0] == "notify"
    alert = quiet[1].body()
    assert {"kind": "event_match", "key": "sender", "pattern": BOT} in alert["conditions"]
    assert {"kind": "event_match", "key": "type", "pattern": "m.room.encrypted"} in alert["conditions"]
    exempt = quiet[2].body()
    assert {"kind": "event_match", "key": "room_id", "pattern": ROOM} in exempt["conditions"]
    assert all(is_ours(i) for i in ids)


def test_working_hours_keep_only_the_allow_rules_and_opt_out_keeps_none():
    assert [r.rule_id for r in BOOK.for_user(participates=True, quiet=False, exempt_rooms=[ROOM])] == [
        "jp.yakuba.quiet.emergency.0", ALERT_ID]
    assert BOOK.for_user(participates=False, quiet=True) == []


def test_is_ours_is_exact_about_the_prefix():
    assert is_ours("jp.yakuba.quiet") and is_ours("jp.yakuba.quiet.alert")
    assert not is_ours("jp.yakuba.quietish") and not is_ours(".m.rule.master") and not is_ours("mine")


def test_signature_changes_with_the_rules():
    a = BOOK.for_user(participates=True, quiet=True)
    b = BOOK.for_user(participates=True, quiet=False)
    assert signature(a) == signature(list(a)) and signature(a) != signature(b)
    other = RuleBook.build(["至急"], BOT).for_user(participates=True, quiet=True)
    assert signature(other) != signature(a)


# -- planning -------------------------------------------------------------------------------

def test_fresh_user_gets_rules_in_order_then_nothing_to_do():
    store = FakePushRules()
    desired = BOOK.for_user(participates=True, quiet=True, exempt_rooms=[ROOM])
    ops = converge(store, desired)
    assert [o.kind for o in ops] == ["put"] * 5
    assert ops[0].after is None and all(o.after == desired[i].rule_id for i, o in enumerate(ops[1:]))
    assert store.ids() == [r.rule_id for r in desired]
    assert plan(store.listing(), desired) == []  # idempotent


def test_boundary_adds_and_removes_only_the_silencer():
    store = FakePushRules()
    working = BOOK.for_user(participates=True, quiet=False)
    quiet = BOOK.for_user(participates=True, quiet=True)
    converge(store, working)
    ops = converge(store, quiet)
    assert [str(o) for o in ops] == [f"put {QUIET_ID} after {ALERT_ID}"]
    ops = converge(store, working)
    assert [str(o) for o in ops] == [f"delete {QUIET_ID}"]


def test_hand_edits_are_repaired():
    store = FakePushRules()
    desired = BOOK.for_user(participates=True, quiet=True)
    converge(store, desired)
    store.enable(QUIET_ID, False)                       # switched off in a client
    store.put(ALERT_ID, {"conditions": [], "actions": ["notify"]}, after=QUIET_ID)  # rewritten, moved
    ops = converge(store, desired)
    assert {o.kind for o in ops} <= {"put", "enable"} and any(o.kind == "enable" for o in ops)
    assert store.ids() == [r.rule_id for r in desired]
    assert all(r["enabled"] for r in store.rules)
    assert desired[1].same_as(store.rules[1])
    assert plan(store.listing(), desired) == []


def test_deleted_rule_is_recreated_in_place():
    store = FakePushRules()
    desired = BOOK.for_user(participates=True, quiet=True)
    converge(store, desired)
    store.delete(ALERT_ID)
    ops = converge(store, desired)
    assert [str(o) for o in ops] == [f"put {ALERT_ID} after jp.yakuba.quiet.emergency.0"]
    assert store.ids() == [r.rule_id for r in desired]


def test_our_block_is_kept_above_the_users_own_rules_which_are_never_touched():
    store = FakePushRules()
    desired = BOOK.for_user(participates=True, quiet=True)
    converge(store, desired)
    mute = {"conditions": [{"kind": "event_match", "key": "room_id", "pattern": "!chatty:x"}], "actions": []}
    store.put("!chatty:x", mute)  # Element's "mute room" rule: a new rule lands on top
    ops = converge(store, desired)
    assert all(is_ours(o.rule_id) for o in ops)
    assert store.ids() == [*[r.rule_id for r in desired], "!chatty:x"]
    assert store.rules[-1]["actions"] == [] and store.rules[-1]["conditions"] == mute["conditions"]


def test_opt_out_deletes_ours_only():
    store = FakePushRules()
    store.put("mine", {"conditions": [], "actions": ["notify"]})
    converge(store, BOOK.for_user(participates=True, quiet=True, exempt_rooms=[ROOM]))
    ops = converge(store, [])
    assert all(o.kind == "delete" and is_ours(o.rule_id) for o in ops) and len(ops) == 5
    assert store.ids() == ["mine"]


def test_stale_exempt_rules_are_removed_when_the_room_is_no_longer_exempt():
    store = FakePushRules()
    converge(store, BOOK.for_user(participates=True, quiet=True, exempt_rooms=[ROOM]))
    ops = converge(store, BOOK.for_user(participates=True, quiet=True))
    assert sorted(o.rule_id for o in ops if o.kind == "delete") == sorted(
        [f"jp.yakuba.quiet.exempt.{room_hash(ROOM)}.m", f"jp.yakuba.quiet.exempt.{room_hash(ROOM)}.e"])
    assert [o for o in ops if o.kind != "delete"] == []


def test_plan_ignores_garbage_and_base_rules():
    listing = [{"rule_id": ".m.rule.master"}, "junk", {"no_id": 1}, {"rule_id": 7}]
    ops = plan(listing, BOOK.for_user(participates=True, quiet=False))
    assert [o.kind for o in ops] == ["put", "put"]


@pytest.mark.parametrize("seed", range(40))
def test_random_edits_always_converge_in_one_plan(seed):
    rng = random.Random(seed)
    store = FakePushRules()
    rooms = ["!a:x", "!b:x", "!c:x"]
    for _ in range(6):
        desired = BOOK.for_user(participates=rng.random() > 0.1, quiet=rng.random() > 0.5,
                                exempt_rooms=rng.sample(rooms, rng.randint(0, 3)))
        # A user (or a client) meddles: foreign rules, disabled or rewritten or deleted ones of ours.
        for _ in range(rng.randint(0, 4)):
            action = rng.choice(["foreign", "disable", "rewrite", "delete", "move"])
            ours = [i for i in store.ids() if is_ours(i)]
            if action == "foreign":
                rid = f"user.{rng.randint(0, 3)}"
                anchors = [i for i in store.ids() if i != rid]
                store.put(rid, {"conditions": [], "actions": []},
                          after=rng.choice(anchors) if anchors and rng.random() > 0.5 else None)
            elif ours and action == "disable":
                store.enable(rng.choice(ours), False)
            elif ours and action == "rewrite":
                rid = rng.choice(ours)
                anchors = [i for i in store.ids() if i != rid]
                store.put(rid, {"conditions": [], "actions": ["notify"]}, after=anchors[-1] if anchors else None)
            elif ours and action == "delete":
                store.delete(rng.choice(ours))
            elif ours and action == "move":
                rid = rng.choice(ours)
                store.put(rid, {"conditions": store.rules[store.index(rid)]["conditions"],
                                "actions": store.rules[store.index(rid)]["actions"]})
        foreign_before = {r["rule_id"]: r for r in store.rules if not is_ours(r["rule_id"])}
        ops = converge(store, desired)
        assert all(is_ours(o.rule_id) and (o.after is None or is_ours(o.after)) for o in ops)
        assert store.ids()[: len(desired)] == [r.rule_id for r in desired]
        assert not any(is_ours(i) for i in store.ids()[len(desired):])
        assert all(r["enabled"] for r in store.rules[: len(desired)])
        assert all(d.same_as(r) for d, r in zip(desired, store.rules, strict=False))
        assert {r["rule_id"]: r for r in store.rules if not is_ours(r["rule_id"])} == foreign_before
        assert plan(store.listing(), desired) == []
