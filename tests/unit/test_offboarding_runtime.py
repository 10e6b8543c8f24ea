"""Execution and scheduling against a fake Synapse: hand-over paths, the safety stops, plans →
confirmation → jobs, four-eyes, due times, leases, reports. The real thing is in
tests/integration/test_offboarding.py; these cover the branches Synapse rarely takes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from appservice.app.config import config_from_dict
from appservice.core.clock import FixedClock
from appservice.core.commands import Invocation
from appservice.core.db import Database
from appservice.core.decisions import Message
from appservice.core.executor import Executor, render
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.services import Services
from appservice.core.state import StateStore
from appservice.features.offboarding import commands
from appservice.features.offboarding.config import load
from appservice.features.offboarding.jobs import TABLES as OFFBOARDING_TABLES
from appservice.features.offboarding.jobs import JobStore
from appservice.features.offboarding.report import entry_from_plan
from appservice.features.offboarding.runtime import Offboarding
from appservice.matrix.client import MatrixError
from appservice.matrix.sender import Sender

S = "city.example.jp"
ADMIN, OTHER_ADMIN = f"@admin:{S}", f"@kacho:{S}"


def u(name: str) -> str:
    return f"@{name}:{S}"


def create(room_creator: str, version: str = "12") -> dict[str, Any]:
    return {"type": "m.room.create", "state_key": "", "sender": room_creator, "content": {"room_version": version}}


def member(user: str, membership: str = "join") -> dict[str, Any]:
    return {"type": "m.room.member", "state_key": user, "sender": user, "content": {"membership": membership}}


def pl(users: dict[str, int]) -> dict[str, Any]:
    return {"type": "m.room.power_levels", "state_key": "", "sender": "x", "content": {"users": dict(users)}}


class FakeSynapse:
    """Both the admin API (SynapseAdmin's methods) and the client calls Offboarder makes."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.rooms: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, ...]] = []
        self.refuse_put_state = False
        self.refuse_make_room_admin = False
        self.can_list_admins = False
        self.sender = f"@_yakuba:{S}"
        self.sent: list[tuple[str, dict[str, Any]]] = []

    # what the executor posts (plans) and the account actions
    async def send(self, room: str, etype: str, content: dict[str, Any], txn: str, as_user: str | None = None) -> str:
        self.sent.append((room, content))
        return f"$sent{len(self.sent)}"

    async def set_locked(self, user: str, locked: bool) -> None:
        self.calls.append(("set_locked", user, str(locked)))
        self.users[user]["locked"] = locked

    async def remove_pushers(self, user: str) -> int:
        return 0

    async def logout_all(self, user: str) -> int:
        self.calls.append(("logout_all", user))
        return 1

    async def set_suspended(self, user: str, suspended: bool) -> None:
        self.calls.append(("set_suspended", user, str(suspended)))

    def add_user(self, user: str, **info: Any) -> None:
        self.users[user] = {"name": user, "admin": False, "deactivated": False, "locked": False, **info}

    def _find(self, room: str, etype: str, key: str = "") -> dict[str, Any] | None:
        return next((e for e in self.rooms[room] if e["type"] == etype and e["state_key"] == key), None)

    def _set(self, room: str, ev: dict[str, Any]) -> None:
        old = self._find(room, ev["type"], ev["state_key"])
        if old is not None:
            self.rooms[room].remove(old)
        self.rooms[room].append(ev)

    # admin API
    async def user_info(self, user: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.users.get(user))

    async def list_users(self, *, admins: bool | None = None) -> list[dict[str, Any]]:
        if not self.can_list_admins:
            raise MatrixError(403, "M_FORBIDDEN", "not admin", "GET", "/users")
        return [dict(v) for v in self.users.values() if v["admin"] and not v["deactivated"]]

    async def joined_rooms(self, user: str) -> list[str]:
        return [r for r, evs in self.rooms.items()
                if any(e["type"] == "m.room.member" and e["state_key"] == user
                       and e["content"]["membership"] == "join" for e in evs)]

    async def room_state(self, room: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.rooms[room])

    async def make_room_admin(self, room: str, user: str) -> None:
        self.calls.append(("make_room_admin", room, user))
        if self.refuse_make_room_admin:
            raise MatrixError(400, "M_UNKNOWN", "no admin", "POST", "/make_room_admin")
        ev = self._find(room, "m.room.power_levels")
        users = dict(ev["content"]["users"]) if ev else {}
        users[user] = 100
        self._set(room, pl(users))
        if not self._find(room, "m.room.member", user):
            self._set(room, member(user, "invite"))

    async def join_user(self, room: str, user: str) -> None:
        self.calls.append(("admin_join", room, user))
        self._set(room, member(user))

    async def deactivate(self, user: str, *, erase: bool = False) -> None:
        self.calls.append(("deactivate", user, str(erase)))
        self.users[user]["deactivated"] = True
        for room in await self.joined_rooms(user):
            self._set(room, member(user, "leave"))

    # client API (masquerading)
    async def state(self, room: str, etype: str, key: str = "", as_user: str | None = None) -> dict | None:
        ev = self._find(room, etype, key)
        return copy.deepcopy(ev["content"]) if ev else None

    async def put_state(self, room: str, etype: str, content: dict, key: str = "", as_user: str | None = None) -> str:
        self.calls.append(("put_state", room, str(as_user)))
        if self.refuse_put_state:
            raise MatrixError(403, "M_FORBIDDEN", "power", "PUT", "/state")
        self._set(room, {"type": etype, "state_key": key, "sender": as_user, "content": content})
        return "$ev"

    async def invite(self, room: str, user: str, as_user: str | None = None) -> None:
        self.calls.append(("invite", room, user, str(as_user)))
        self._set(room, member(user, "invite"))

    async def join(self, room: str, as_user: str | None = None) -> None:
        assert as_user is not None
        self.calls.append(("join", room, as_user))
        self._set(room, member(as_user))

    def power(self, room: str, user: str) -> int | None:
        ev = self._find(room, "m.room.power_levels")
        return ev["content"]["users"].get(user) if ev else None

    def membership(self, room: str, user: str) -> str | None:
        ev = self._find(room, "m.room.member", user)
        return ev["content"]["membership"] if ev else None


@pytest.fixture
async def env(tmp_path: Path):
    reg = tmp_path / "registration.yaml"
    reg.write_text(yaml.safe_dump({"as_token": "a", "hs_token": "h"}))
    config = config_from_dict({"homeserver": {"url": "http://127.0.0.1:1", "server_name": S},
                               "appservice": {"registration": str(reg)}, "data_dir": str(tmp_path),
                               "admins": [ADMIN]}, tmp_path / "yakuba.yaml")
    db = Database(tmp_path / "yakuba.db", (OFFBOARDING_TABLES,))
    await db.open()
    state = StateStore(db)
    fake = FakeSynapse()
    clock = FixedClock(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    notes: list[tuple[str, str]] = []

    async def notify(room_id: str | None, messages: list[Message], key: str) -> None:
        notes.append((key, "\n".join(render(m, "en") for m in messages)))

    sender = Sender(fake, state)  # type: ignore[arg-type]
    services = Services(config, clock, fake, state, Inbox(db, config.bot_user_ids), Metrics(),  # type: ignore[arg-type]
                        sender)
    executor = Executor(services)
    await state.note_room("!admin", encrypted=False)

    def make(**cfg: Any) -> Offboarding:
        ob = Offboarding(config, load({"concurrency": 2, **cfg}), fake, state, clock, executor,  # type: ignore[arg-type]
                         notify, runner="test")
        ob.offboarder.admin = fake  # type: ignore[assignment]
        return ob

    for name in ("leaver", "succ", "other", "leaver2", "succ2"):
        fake.add_user(u(name))
    fake.add_user(ADMIN, admin=True)
    yield {"fake": fake, "make": make, "clock": clock, "notes": notes, "state": state, "db": db,
           "services": services}
    db.close()


async def plan_and_confirm(ob: Offboarding, users: list[tuple[str, str | None, datetime | None]],
                           requester: str = ADMIN, confirmer: str = ADMIN) -> tuple[str, list[Message]]:
    plans = await ob.offboarder.inspect_many(users, erase=False)
    entries = [entry_from_plan(p, i + 1) for i, p in enumerate(plans)]
    code = await ob.create_plan(kind="bulk" if len(users) > 1 else "single", requester=requester,
                                room_id="!admin", command_event_id="$cmd", entries=entries, erase=False)
    return code, await ob.confirm(code.lower(), confirmer, via="test")


async def test_handover_as_the_leaver_then_deactivate(env):
    fake = env["fake"]
    fake.rooms["!created"] = [create(u("leaver")), pl({}), member(u("leaver")), member(u("other"))]
    fake.rooms["!only"] = [create(u("gone")), pl({u("leaver"): 100}), member(u("gone"), "leave"),
                           member(u("leaver")), member(u("succ"))]
    fake.rooms["!shared"] = [create(u("other")), pl({}), member(u("other")), member(u("leaver"))]
    ob = env["make"]()
    code, msgs = await plan_and_confirm(ob, [(u("leaver"), u("succ"), None)])
    assert msgs[0].key == "offboarding.confirm.now"
    assert await ob.run_due() == 1
    assert fake.power("!created", u("succ")) == 100 and fake.membership("!created", u("succ")) == "join"
    assert fake.power("!only", u("succ")) == 100
    assert fake.power("!shared", u("succ")) is None
    assert ("invite", "!created", u("succ"), u("leaver")) in fake.calls
    assert ("put_state", "!only", u("leaver")) in fake.calls
    assert fake.users[u("leaver")]["deactivated"]
    assert not any(c[0] == "make_room_admin" for c in fake.calls)
    key, text = env["notes"][-1]
    assert key.startswith(f"offboard_report:{code}") and "is offboarded" in text and "2 handed over" in text


async def test_make_room_admin_when_the_leaver_cannot_and_stop_when_nothing_works(env):
    fake = env["fake"]
    fake.rooms["!r"] = [create(u("leaver")), pl({}), member(u("leaver"))]
    fake.refuse_put_state = True
    ob = env["make"]()
    await plan_and_confirm(ob, [(u("leaver"), u("succ"), None)])
    await ob.run_due()
    assert ("make_room_admin", "!r", u("succ")) in fake.calls
    assert fake.power("!r", u("succ")) == 100 and fake.membership("!r", u("succ")) == "join"
    assert fake.users[u("leaver")]["deactivated"]

    fake.rooms["!r2"] = [create(u("leaver2")), pl({}), member(u("leaver2"))]
    fake.refuse_make_room_admin = True
    await plan_and_confirm(ob, [(u("leaver2"), u("succ2"), None)])
    await ob.run_due()
    assert not fake.users[u("leaver2")]["deactivated"]  # no room is left without an admin
    rows = await env["db"].fetchall("SELECT status, result FROM offboarding_jobs WHERE user_id = ?", (u("leaver2"),))
    assert [tuple(r) for r in rows] == [("failed", "offboarding.result.handover_failed")]
    assert "could not be handed over" in env["notes"][-1][1]


async def test_two_leavers_of_one_room_both_hand_over(env):
    fake = env["fake"]
    fake.rooms["!team"] = [create(u("other")), pl({u("leaver"): 100, u("leaver2"): 100}), member(u("other"), "leave"),
                           member(u("leaver")), member(u("leaver2"))]
    ob = env["make"]()
    plans = await ob.offboarder.inspect_many([(u("leaver"), u("succ"), None), (u("leaver2"), u("succ2"), None)],
                                             erase=False)
    assert [len(p.handovers) for p in plans] == [1, 1]  # neither counts on the other
    await plan_and_confirm(ob, [(u("leaver"), u("succ"), None), (u("leaver2"), u("succ2"), None)])
    assert await ob.run_due() == 2
    assert fake.power("!team", u("succ")) == 100 and fake.power("!team", u("succ2")) == 100  # no lost update


async def test_scheduled_jobs_wait_for_their_time_and_can_be_cancelled(env):
    fake, clock = env["fake"], env["clock"]
    ob = env["make"]()
    later = clock.now() + timedelta(hours=2)
    code, msgs = await plan_and_confirm(ob, [(u("leaver"), None, later), (u("leaver2"), None, None)])
    assert msgs[0].key == "offboarding.confirm.scheduled" and msgs[0].params["now"] == 1
    assert await ob.run_due() == 1
    assert fake.users[u("leaver2")]["deactivated"] and not fake.users[u("leaver")]["deactivated"]
    # A second plan for someone already scheduled: skipped with the code.
    plan = await ob.offboarder.inspect(u("leaver"), None, None, False)
    assert plan.skip == "offboarding.skip.scheduled" and plan.params["code"] == code
    clock.when = later + timedelta(seconds=1)
    assert await ob.run_due() == 1
    assert fake.users[u("leaver")]["deactivated"]

    code2, _ = await plan_and_confirm(ob, [(u("other"), None, later + timedelta(days=1))])
    assert (await ob.cancel(code2, ADMIN))[0].key == "offboarding.cancel.done"
    clock.when = later + timedelta(days=2)
    assert await ob.run_due() == 0 and not fake.users[u("other")]["deactivated"]
    assert (await ob.cancel(code2, ADMIN))[0].key == "offboarding.cancel.nothing"


async def test_four_eyes_and_confirmation_rules(env):
    ob = env["make"](four_eyes=True)
    code, msgs = await plan_and_confirm(ob, [(u("leaver"), None, None)])
    assert msgs[0].key == "offboarding.confirm.four_eyes"
    assert await ob.run_due() == 0
    assert (await ob.confirm(code, OTHER_ADMIN, via="test"))[0].key == "offboarding.confirm.now"
    assert (await ob.confirm(code, OTHER_ADMIN, via="test"))[0].key == "offboarding.confirm.already"
    assert (await ob.confirm("NOPE99", OTHER_ADMIN, via="test"))[0].key == "offboarding.confirm.unknown"
    rows = await env["db"].fetchall("SELECT requested_by, approved_by FROM offboarding_jobs")
    assert [tuple(r) for r in rows] == [(ADMIN, OTHER_ADMIN)]
    audit = await env["db"].fetchall("SELECT actor, result FROM audit WHERE action = 'offboard.confirm' ORDER BY id")
    assert [tuple(r) for r in audit][:2] == [(ADMIN, "refused"), (OTHER_ADMIN, "ok")]


async def test_rerun_skips_done_users_and_reports_refusals(env):
    fake = env["fake"]
    ob = env["make"]()
    await plan_and_confirm(ob, [(u("leaver"), None, None)])
    await ob.run_due()
    code, msgs = await plan_and_confirm(ob, [(u("leaver"), None, None), (u("nobody"), None, None)])
    assert msgs[0].key == "offboarding.confirm.done"  # nothing runnable: the report comes at once
    text = "\n".join(render(m, "en") for m in msgs)
    assert "deactivated already" in text and "There is no user @nobody" in text
    assert fake.calls.count(("deactivate", u("leaver"), "False")) == 1
    assert code


async def test_expired_lease_is_claimed_again(env):
    ob = env["make"]()
    await plan_and_confirm(ob, [(u("leaver"), None, None)])
    jobs: JobStore = ob.jobs
    job = await jobs.claim(env["clock"].now().timestamp(), "dead-cli")
    assert job is not None and await jobs.claim(env["clock"].now().timestamp(), "test") is None
    await env["db"].execute("UPDATE offboarding_jobs SET lease_until = 0")
    assert await ob.run_due() == 1
    assert env["fake"].users[u("leaver")]["deactivated"]


async def test_last_admin_fallback_and_exact_list(env):
    fake = env["fake"]
    ob = env["make"]()
    ref, _, _ = await ob.offboarder.check(ADMIN, "lock")
    assert ref == "offboarding.refused.last_admin"  # listing refused: only Yakuba admins are checked
    fake.add_user(OTHER_ADMIN, admin=True)
    await env["state"].add_admin(OTHER_ADMIN, "test")
    assert (await ob.offboarder.check(ADMIN, "lock"))[0] is None
    fake.users[OTHER_ADMIN]["locked"] = True
    assert (await ob.offboarder.check(ADMIN, "offboard"))[0] == "offboarding.refused.last_admin"
    fake.can_list_admins = True
    fake.add_user(u("root"), admin=True)
    ob.offboarder._admins = None
    assert (await ob.offboarder.check(ADMIN, "suspend"))[0] is None
    assert (await ob.offboarder.check(f"@_yakuba:{S}", "lock"))[0] == "offboarding.refused.bot"
    assert (await ob.offboarder.check("@x:elsewhere.jp", "lock"))[0] == "offboarding.refused.remote"


# -- another Yakuba admin: a second admin confirms ---------------------------------------------

def _inv(env: dict[str, Any], ob: Offboarding, name: str, *args: str, sender: str = ADMIN,
         event_id: str = "$cmd") -> Invocation:
    return Invocation(name, tuple(args), sender, "!admin", event_id, env["services"], feature=ob)


@pytest.mark.parametrize(("name", "args", "done"), [
    ("lock", (u("kacho"), "紛失"), ("set_locked", u("kacho"), "True")),
    ("suspend", (u("kacho"),), ("set_suspended", u("kacho"), "True")),
    ("logout", (u("kacho"),), ("logout_all", u("kacho"))),
])
async def test_acting_on_another_admin_waits_for_a_second_admin(env, name, args, done):
    fake, state = env["fake"], env["state"]
    fake.add_user(u("kacho"))
    fake.add_user(OTHER_ADMIN)
    await state.add_admin(u("kacho"), ADMIN)  # a db admin (config admins: ADMIN)
    ob = env["make"]()  # four_eyes off: still a second admin for another admin
    handler = {"lock": commands.lock, "suspend": commands.suspend, "logout": commands.logout}[name]
    reply = await handler(_inv(env, ob, name, *args))
    assert reply.messages == [] and done not in fake.calls
    (plan,) = await ob.jobs.pending_plans(0)
    assert plan.kind == "account" and plan.requester == ADMIN
    room, content = fake.sent[-1]
    assert room == "!admin" and plan.code in content["body"] and u("kacho") in content["body"]
    offer = await state.offer(plan.message_event_id)
    assert offer is not None and offer.action == "offboard"  # ✅ on the plan confirms it
    # The requester cannot confirm (command or ✅), nor can the CLI.
    mine = await commands.confirm(_inv(env, ob, "confirm", plan.code, event_id="$c1"))
    assert mine.messages[0].key == "offboarding.confirm.four_eyes" and done not in fake.calls
    assert (await ob.confirm(plan.code, "cli:root", via="cli"))[0].key == "offboarding.account.not_from_cli"
    # A different admin confirms: it acts now, once.
    theirs = await ob.confirm(plan.code, OTHER_ADMIN, via="reaction")
    assert theirs[0].key == "offboarding.account.confirmed" and done in fake.calls
    assert theirs[1].key.startswith(f"offboarding.{name}.")
    assert (await ob.confirm(plan.code, OTHER_ADMIN, via="command"))[0].key == "offboarding.confirm.already"
    assert fake.calls.count(done) == 1
    audit = await env["db"].fetchall("SELECT action, actor, result FROM audit ORDER BY id")
    rows = [tuple(r) for r in audit]
    assert (f"{name}.plan", ADMIN, "ok") in rows and (f"{name}.confirm", OTHER_ADMIN, "ok") in rows
    assert (name, OTHER_ADMIN, "ok") in rows


async def test_oneself_and_non_admins_act_at_once(env):
    fake = env["fake"]
    ob = env["make"]()
    reply = await commands.lock(_inv(env, ob, "lock", u("other"), "紛失"))
    assert reply.messages[0].key == "offboarding.lock.done" and ("set_locked", u("other"), "True") in fake.calls
    reply = await commands.logout(_inv(env, ob, "logout", ADMIN))
    assert reply.messages[0].key == "offboarding.logout.done" and ("logout_all", ADMIN) in fake.calls
    assert await ob.jobs.pending_plans(0) == [] and fake.sent == []


async def test_account_plan_can_be_cancelled(env):
    fake, state = env["fake"], env["state"]
    fake.add_user(u("kacho"))
    await state.add_admin(u("kacho"), ADMIN)
    ob = env["make"]()
    await commands.lock(_inv(env, ob, "lock", u("kacho"), "紛失"))
    (plan,) = await ob.jobs.pending_plans(0)
    assert (await ob.cancel(plan.code, ADMIN))[0].key == "offboarding.cancel.done"
    assert (await ob.confirm(plan.code, OTHER_ADMIN, via="command"))[0].key == "offboarding.confirm.cancelled"
    assert not any(c[0] == "set_locked" for c in fake.calls)
