"""[trust] Moderators cannot undo what an admin decided; the archive bot's removal from a flagged
room is noticed at once; `!yakuba leave` in a flagged room needs an admin."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from appservice.core.commands import Invocation, Reply
from appservice.core.decisions import AdminNotice, Audit, Effect
from appservice.core.executor import Executor, render
from appservice.core.policy import PolicyContext
from appservice.features.base.component import Base
from appservice.features.base.leave import leave
from appservice.features.retention import FEATURE as RETENTION
from appservice.features.retention.policy import MIRRORED_KIND, UNMIRRORED_KIND, ArchivePolicy
from appservice.lib.archive import RetentionPolicy
from appservice.lib.archive.record import JST
from tests.unit.support import make_context

from .test_retention_support import (
    ADMIN,
    ADMIN_ROOM,
    ALICE,
    ARCHIVE_BOT,
    BOB,
    BOT,
    ROOM,
    TS,
    Harness,
    event,
    fresh_logging,  # noqa: F401  (autouse fixture)
    harness,
    room_state,
)

ARCHIVE = next(c for c in RETENTION.commands if c.name == "archive")


@pytest.fixture
async def h(tmp_path: Path):
    hs = await harness(tmp_path)
    # ALICE (creator, 100) and BOB (50) are both moderators of ROOM; neither is a Yakuba admin.
    hs.client.states[ROOM] = room_state(pl_users={ALICE: 100, BOB: 50})
    yield hs
    await hs.close()


def text(reply: Reply) -> str:
    return "\n".join([render(m, "ja") for m in reply.messages] + reply.text)


async def run(h: Harness, *args: str, sender: str = ADMIN, room: str = ADMIN_ROOM) -> Reply:
    inv = Invocation("archive", tuple(args), sender, room, "$cmd" + "_".join(args)[:20], h.services, feature=h.rt)
    reply = await ARCHIVE.handler(inv)
    if reply.decisions:
        await Executor(h.services).perform(reply.decisions, event("m.room.message", sender=sender, room=room,
                                                                  event_id=inv.event_id), "command:archive")
    return reply


async def here(h: Harness, *args: str, sender: str = ALICE) -> Reply:
    # The Yakuba bot is in the room, so refusals are answered there (not by DM).
    await h.services.state.note_bot_membership(ROOM, h.services.config.sender, "join")
    return await run(h, "here", *args, sender=sender, room=ROOM)


async def admin_flag(h: Harness, years: str = "30", category: str = "例規", dept: str = "法制課") -> None:
    await run(h, "flag", ROOM, "--years", years, "--category", category, "--dept", dept)


async def audits(h: Harness, action: str) -> list[dict[str, Any]]:
    rows = await h.db.fetchall("SELECT actor, details FROM audit WHERE action = ? ORDER BY rowid", (action,))
    return [{"actor": r["actor"], **json.loads(r["details"] or "{}")} for r in rows]


async def assert_unchanged(h: Harness) -> None:
    flag = await h.rt.tables.flag(ROOM)
    assert flag is not None and flag.active
    assert (flag.years, flag.category, flag.department, flag.flagged_by) == (30, "例規", "法制課", ADMIN)
    assert h.rt.store.policy(ROOM) == RetentionPolicy(30, "例規", "法制課")


# -- 1. moderators and an admin's flag --------------------------------------------------------------

async def test_moderator_cannot_shorten_an_admins_flag(h: Harness) -> None:
    await admin_flag(h)
    reply = await here(h, "--years", "1")
    out = text(reply)
    assert "管理者" in out and "30年" in out and "例規" in out and "延ばす" in out
    await assert_unchanged(h)
    (refused,) = await audits(h, "command_refused")
    assert refused["actor"] == ALICE and refused["reason"] == "admin_flag_shorter"
    assert refused["current"]["years"] == 30 and refused["asked"]["years"] == 1


@pytest.mark.parametrize("args,reason", [
    (("--years", "30", "--category", "庶務"), "admin_flag_category"),
    (("--years", "30", "--dept", "総務課"), "admin_flag_department"),
    (("--years", "30", "--category="), "admin_flag_category"),  # wiping it is a change too
])
async def test_moderator_cannot_change_category_or_department_of_an_admins_flag(
        h: Harness, args: tuple[str, ...], reason: str) -> None:
    await admin_flag(h)
    assert "管理者" in text(await here(h, *args))
    await assert_unchanged(h)
    assert (await audits(h, "command_refused"))[0]["reason"] == reason


async def test_moderator_may_lengthen_an_admins_flag_and_it_stays_the_admins(h: Harness) -> None:
    await admin_flag(h, years="10")
    await here(h, "--years", "30")  # no --category/--dept: the admin's values stay
    flag = await h.rt.tables.flag(ROOM)
    assert flag is not None and (flag.years, flag.category, flag.department) == (30, "例規", "法制課")
    assert h.rt.store.policy(ROOM) == RetentionPolicy(30, "例規", "法制課")
    # still an admin's decision: a moderator cannot bring it back down
    assert "管理者" in text(await here(h, "--years", "10", sender=BOB))
    assert (await h.rt.tables.flag(ROOM)).years == 30  # type: ignore[union-attr]


async def test_an_unflagged_admins_flag_still_binds_its_records(h: Harness) -> None:
    await admin_flag(h)
    await run(h, "unflag", ROOM)
    assert "管理者" in text(await here(h, "--years", "1"))
    assert h.rt.store.policy(ROOM) == RetentionPolicy(30, "例規", "法制課")
    assert not await h.rt.tables.is_flagged(ROOM)


async def test_a_policy_set_in_the_archive_by_an_operator_counts_as_an_admins(h: Harness) -> None:
    h.rt.store.set_policy(ROOM, RetentionPolicy(10, "例規", "法制課"), set_by=ADMIN)
    assert "管理者" in text(await here(h, "--years", "3"))
    assert h.rt.store.policy(ROOM) == RetentionPolicy(10, "例規", "法制課")


async def test_moderator_may_flag_an_unflagged_room_and_change_a_moderators_flag(h: Harness) -> None:
    await here(h, "--years", "5", "--category", "庶務")
    await here(h, "--years", "3", "--category", "会議", sender=BOB)
    flag = await h.rt.tables.flag(ROOM)
    assert flag is not None and (flag.years, flag.category, flag.flagged_by) == (3, "会議", BOB)
    assert await audits(h, "command_refused") == []


async def test_an_admin_may_shorten_with_here_or_flag(h: Harness) -> None:
    h.client.states[ROOM] = room_state(pl_users={ALICE: 100, ADMIN: 50},
                                       members={ALICE: "有栖", BOB: "坊", ADMIN: "管理"})
    await admin_flag(h)
    reply = await run(h, "here", "--years", "10", sender=ADMIN, room=ROOM)
    assert "管理者" not in text(reply)
    assert (await h.rt.tables.flag(ROOM)).years == 10  # type: ignore[union-attr]
    await run(h, "flag", ROOM, "--years", "5", "--dept", "総務課")  # --category left out: kept
    flag = await h.rt.tables.flag(ROOM)
    assert flag is not None and (flag.years, flag.category, flag.department) == (5, "例規", "総務課")


async def test_every_change_of_a_flag_is_audited_old_to_new(h: Harness) -> None:
    await admin_flag(h, years="10")
    await here(h, "--years", "30")
    await run(h, "unflag", ROOM)
    first, second = await audits(h, "archive_flag")
    assert first["old"] is None
    assert {k: first["new"][k] for k in ("years", "category", "department", "flagged_by")} == \
        {"years": 10, "category": "例規", "department": "法制課", "flagged_by": ADMIN}
    assert second["actor"] == ALICE
    assert (second["old"]["years"], second["old"]["flagged_by"]) == (10, ADMIN)
    assert (second["new"]["years"], second["new"]["category"], second["new"]["department"],
            second["new"]["flagged_by"], second["new"]["admin_by"]) == (30, "例規", "法制課", ALICE, ADMIN)
    (unflag,) = await audits(h, "archive_unflag")
    assert unflag["old"]["active"] is True and unflag["old"]["years"] == 30
    assert unflag["new"]["active"] is False


# -- 2a. the archive bot out of a flagged room -------------------------------------------------------

class Names:
    async def room_name(self, room_id: str) -> str | None:
        return "例規 検討"


def ctx(h: Harness) -> PolicyContext:
    return make_context(h.services.config, Names(), admin_room=ADMIN_ROOM)


def member(membership: str, *, sender: str, event_id: str = "$m") -> Any:
    return event("m.room.member", {"membership": membership}, sender=sender, event_id=event_id,
                 state_key=ARCHIVE_BOT)


@pytest.mark.parametrize("membership,sender,how", [
    ("leave", ALICE, "kick"), ("ban", ALICE, "ban"), ("leave", ARCHIVE_BOT, "leave")])
async def test_archive_bot_removed_from_a_flagged_room(h: Harness, membership: str, sender: str,
                                                       how: str) -> None:
    await admin_flag(h)
    policy = ArchivePolicy(h.rt.tables)
    out = await policy.evaluate(member(membership, sender=sender), ctx(h))
    archive = [d for d in out if isinstance(d, Effect) and d.kind == "archive"]
    assert archive and archive[0].payload["kind"] == "membership"  # still archived as a record
    (notice,) = [d for d in out if isinstance(d, AdminNotice)]
    assert notice.message.key == f"retention.admin.bot_removed.{how}"
    rendered = render(notice.message, "ja")
    assert ROOM in rendered and sender in rendered and "例規 検討" in rendered and "ミラーされていません" in rendered
    (audit,) = [d for d in out if isinstance(d, Audit)]
    assert audit.action == "archive_bot_removed" and audit.actor == sender and audit.details["how"] == how
    (mark,) = [d for d in out if isinstance(d, Effect) and d.kind == UNMIRRORED_KIND]
    assert mark.payload["since"] == TS / 1000 and mark.payload["by"] == sender

    await h.rt.on_unmirrored(mark, member(membership, sender=sender), h.services)
    gap = await h.rt.tables.unmirrored(ROOM)
    assert gap is not None and gap.since == TS / 1000 and gap.by == sender and gap.how == how
    listing = text(await run(h, "list"))
    since = datetime.fromtimestamp(TS / 1000, JST).strftime("%Y-%m-%d %H:%M")
    assert "以降ミラーされていません" in listing and since in listing and sender in listing
    en = "\n".join(render(m, "en") for m in (await run(h, "list")).messages)
    assert "not mirrored since" in en


async def test_rejoining_clears_not_mirrored(h: Harness) -> None:
    await admin_flag(h)
    policy = ArchivePolicy(h.rt.tables)
    kick = member("leave", sender=ALICE, event_id="$kick")
    for d in await policy.evaluate(kick, ctx(h)):
        if isinstance(d, Effect) and d.kind == UNMIRRORED_KIND:
            await h.rt.on_unmirrored(d, kick, h.services)
    join = member("join", sender=ARCHIVE_BOT, event_id="$join")
    out = await policy.evaluate(join, ctx(h))
    (clear,) = [d for d in out if isinstance(d, Effect) and d.kind == MIRRORED_KIND]
    assert [d.message.key for d in out if isinstance(d, AdminNotice)] == ["retention.admin.bot_rejoined"]
    await h.rt.on_mirrored(clear, join, h.services)
    assert await h.rt.tables.unmirrored(ROOM) is None
    assert "ミラーされていません" not in text(await run(h, "list"))
    # a join with nothing to clear is just a record
    out = await policy.evaluate(member("join", sender=ARCHIVE_BOT, event_id="$join2"), ctx(h))
    assert [type(d).__name__ for d in out] == ["Effect"] and out[0].kind == "archive"  # type: ignore[attr-defined]


async def test_no_alarm_outside_flagged_rooms_or_for_others_or_forged(h: Harness) -> None:
    policy = ArchivePolicy(h.rt.tables)
    assert await policy.evaluate(member("leave", sender=ALICE), ctx(h)) == []  # not flagged
    await admin_flag(h)
    bob_left = event("m.room.member", {"membership": "leave"}, sender=BOB, state_key=BOB)
    assert [d.kind for d in await policy.evaluate(bob_left, ctx(h))] == ["archive"]  # type: ignore[attr-defined]
    forged = event("m.room.member", {"membership": "leave"}, sender=ALICE, state_key=ARCHIVE_BOT, decrypted=True)
    assert not [d for d in await policy.evaluate(forged, ctx(h)) if isinstance(d, AdminNotice)]


async def test_an_admins_unflag_ends_the_flag_before_the_bot_leaves(h: Harness) -> None:
    await admin_flag(h)
    await run(h, "unflag", ROOM)
    out = await ArchivePolicy(h.rt.tables).evaluate(member("leave", sender=ARCHIVE_BOT), ctx(h))
    assert out == []


# -- 2b. `!yakuba leave` in a flagged room -----------------------------------------------------------

async def run_leave(h: Harness, sender: str) -> Reply:
    for bot in (BOT, ARCHIVE_BOT):
        await h.services.state.note_bot_membership(ROOM, bot, "join")
    inv = Invocation("leave", (), sender, ROOM, f"$leave{sender[1:4]}", h.services,
                     feature=Base(Executor(h.services)))
    return await leave(inv)


async def test_leave_in_a_flagged_room_needs_an_admin(h: Harness) -> None:
    await admin_flag(h)
    before = len(h.client.of("leave"))
    reply = await run_leave(h, ALICE)  # a moderator of the room, not a Yakuba admin
    assert "管理者" in text(reply)
    assert len(h.client.of("leave")) == before  # nobody left
    refused = [a for a in await audits(h, "command_refused") if a.get("command") == "leave"]
    assert refused and refused[0]["actor"] == ALICE and refused[0]["reason"] == "archived_room"


async def test_leave_in_a_flagged_room_by_an_admin_and_elsewhere_by_a_moderator(h: Harness) -> None:
    h.client.states[ROOM] = room_state(pl_users={ALICE: 100, ADMIN: 50},
                                       members={ALICE: "有栖", BOB: "坊", ADMIN: "管理"})
    await admin_flag(h)
    assert (await run_leave(h, ADMIN)).messages == []
    assert {c[2] for c in h.client.of("leave") if c[1] == ROOM} == {BOT, ARCHIVE_BOT}
    await run(h, "unflag", ROOM)
    assert (await run_leave(h, ALICE)).messages == []  # no longer flagged: a moderator may
