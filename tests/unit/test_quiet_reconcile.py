"""The reconciler against a fake Synapse: who is managed, idempotence, resumption, errors, and
what it records in the database."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import structlog

from appservice.core.clock import FixedClock
from appservice.core.db import Database
from appservice.core.executor import Executor
from appservice.features.quiet.config import quiet_config_from_dict
from appservice.features.quiet.reconcile import Reconciler
from appservice.features.quiet.rules import ALERT_ID, QUIET_ID, is_ours
from appservice.features.quiet.store import TABLES as QUIET_TABLES
from appservice.features.quiet.store import Disaster, QuietStore
from appservice.lib.workcal import WorkCalendar
from tests.unit.test_quiet_support import BOT, SERVER, FakeClient, make_config

JST = ZoneInfo("Asia/Tokyo")
EVENING = datetime(2026, 11, 25, 20, 0, tzinfo=JST)
MORNING = datetime(2026, 11, 26, 10, 0, tzinfo=JST)
EXEMPT = f"!saigai:{SERVER}"


def user(name: str, **extra) -> dict:
    return {"name": f"@{name}:{SERVER}", "is_guest": False, "deactivated": False, "locked": False,
            "user_type": None, **extra}


USERS = [user("_yakuba"), user("_yakuba_archive"), user("alice"), user("bob"), user("fire"),
         user("guest", is_guest=True), user("gone", deactivated=True), user("locked", locked=True),
         user("helpdesk", user_type="support"), {"name": "@remote:other.example"}]


@pytest.fixture(autouse=True)
def _logs_to_the_current_stderr():
    """Another test may have pointed structlog at a captured stream that is closed by now."""
    structlog.reset_defaults()


@pytest.fixture
async def setup(tmp_path: Path):
    db = Database(tmp_path / "yakuba.db", (QUIET_TABLES,))
    await db.open()
    clock = FixedClock(EVENING)
    made = {}

    def make(section: dict | None = None, users=USERS, **client_kw) -> tuple[Reconciler, FakeClient, QuietStore]:
        cfg = quiet_config_from_dict({"enabled": True, "schedules": {"24h": {"always": True}},
                                      "departments": {f"@fire:{SERVER}": "24h"},
                                      "exempt_rooms": [EXEMPT, f"#alias:{SERVER}"], **(section or {})},
                                     server_name=SERVER)
        client = FakeClient(list(users), **client_kw)
        svc = SimpleNamespace(config=make_config(), client=client, clock=clock)
        store = QuietStore(db)
        made["store"] = store
        return Reconciler(cfg, WorkCalendar(cfg.calendar), store, Executor(svc)), client, store  # type: ignore[arg-type]

    yield make, clock
    db.close()


async def test_run_manages_active_local_humans_and_is_idempotent(setup):
    make, _ = setup
    rec, client, store = make(members={EXEMPT: [f"@bob:{SERVER}"]}, aliases={f"#alias:{SERVER}": "!other:x"})
    s = await rec.run("start", force=False)
    assert (s.users, s.checked, s.changed, s.errors, s.quiet) == (3, 3, 3, 0, 2)
    assert set(client.rules) == {f"@alice:{SERVER}", f"@bob:{SERVER}", f"@fire:{SERVER}"}
    assert client.of(f"@alice:{SERVER}").ids()[-1] == QUIET_ID
    assert QUIET_ID not in client.of(f"@fire:{SERVER}").ids()  # 24h department
    bob = client.of(f"@bob:{SERVER}").ids()
    assert sum(".exempt." in i for i in bob) == 2 and bob[-1] == QUIET_ID  # bob is in the exempt room
    assert rec.exempt_ids == frozenset({EXEMPT, "!other:x"})
    again = await rec.run("periodic", force=True)
    assert (again.checked, again.changed, again.ops) == (3, 0, 0)
    counts = await store.counts()
    assert counts["users"] == 3 and counts["quiet"] == 2
    row = await store.last_run()
    assert row["trigger"] == "periodic" and row["users"] == 3 and row["errors"] == 0 and row["duration"] >= 0


async def test_boundary_and_resume_skip_users_already_done(setup):
    make, clock = setup
    rec, client, _ = make()
    await rec.run("start", force=False)
    # A restart soon after: nothing changed, everyone verified recently → all skipped, no calls.
    client.calls.clear()
    s = await rec.run("start", force=False)
    assert (s.checked, s.skipped) == (0, 3)
    assert all(not c[1].startswith("/_matrix/client/v3/pushrules") for c in client.calls)
    # Next morning: the office flips, the 24h user does not.
    clock.when = MORNING
    s = await rec.run("boundary", force=False)
    assert (s.checked, s.skipped, s.changed, s.quiet) == (2, 1, 2, 0)
    assert QUIET_ID not in client.of(f"@alice:{SERVER}").ids()


async def test_hand_edit_repaired_by_forced_run_only(setup):
    make, _ = setup
    rec, client, _ = make()
    await rec.run("start", force=False)
    client.of(f"@alice:{SERVER}").enable(QUIET_ID, False)
    assert (await rec.run("boundary", force=False)).changed == 0  # trusted: verified recently
    s = await rec.run("periodic", force=True)
    assert s.changed == 1
    assert all(r["enabled"] for r in client.of(f"@alice:{SERVER}").rules)


async def test_boundary_plans_from_what_was_verified_and_falls_back_when_it_changed(setup):
    make, clock = setup
    rec, client, _ = make()
    await rec.run("start", force=False)
    clock.when = MORNING
    await rec.run("boundary", force=False)
    client.calls.clear()
    clock.when = EVENING
    s = await rec.run("boundary", force=False)
    assert s.changed == 2 and not any(c[0] == "GET" and "pushrules" in c[1] for c in client.calls)
    # Bob deleted a rule since: placing the silencer after it fails, so his rules are read.
    clock.when = MORNING
    await rec.run("boundary", force=False)
    client.of(f"@bob:{SERVER}").delete(ALERT_ID)
    client.calls.clear()
    clock.when = EVENING
    await rec.run("boundary", force=False)
    assert [c for c in client.calls if c[0] == "GET" and "pushrules" in c[1]] == [
        ("GET", "/_matrix/client/v3/pushrules/", f"@bob:{SERVER}")]
    assert client.of(f"@bob:{SERVER}").ids()[-2:] == [ALERT_ID, QUIET_ID]


async def test_disaster_opt_out_and_disabled_feature(setup):
    make, _ = setup
    rec, client, store = make()
    await rec.run("start", force=False)
    await store.set_disaster(Disaster(True, "台風", "@admin:x", "2026-11-25 20:00"))
    s = await rec.run("disaster", force=True)
    assert s.quiet == 0 and all(QUIET_ID not in client.of(u).ids() for u in client.rules)
    assert all(ALERT_ID in client.of(u).ids() for u in client.rules)  # emergencies still stand out
    await store.set_disaster(Disaster(False))
    await store.set_opt_out(f"@alice:{SERVER}", True)
    await rec.run("manual", force=True)
    assert client.of(f"@alice:{SERVER}").ids() == []
    assert QUIET_ID in client.of(f"@bob:{SERVER}").ids()
    # Opt-out not allowed by policy: the stored opt-out is ignored.
    rec2, client2, _ = make({"allow_opt_out": False})
    client2.rules = client.rules
    await rec2.run("manual", force=True)
    assert QUIET_ID in client.of(f"@alice:{SERVER}").ids()
    # Switched off: the cleanup run removes every rule of ours and nothing else.
    client.of(f"@bob:{SERVER}").put("mine", {"conditions": [], "actions": []})
    off, client3, store3 = make({"enabled": False})
    client3.rules = client.rules
    assert await store3.any_rules()
    await off.loop()  # disabled: one cleanup run, then returns
    assert all(not any(is_ours(i) for i in client.of(u).ids()) for u in client.rules)
    assert client.of(f"@bob:{SERVER}").ids() == ["mine"]


async def test_errors_are_counted_and_do_not_stop_the_others(setup):
    make, _ = setup
    rec, _client, store = make(forbidden={f"@bob:{SERVER}"})
    s = await rec.run("start", force=False)
    assert (s.checked, s.errors) == (2, 1) and "@bob" in (s.error_sample or "")
    assert (await store.counts())["errors"] == 1
    assert (await store.last_run())["errors"] == 1


async def test_a_list_without_the_bot_is_refused(setup):
    make, _ = setup
    rec, client, _ = make(users=[u for u in USERS if u["name"] != BOT])
    s = await rec.run("start", force=False)
    assert s.errors == 1 and "did not include the bot" in (s.error_sample or "")
    assert client.rules == {}


async def test_pagination_and_forgetting_users(setup):
    make, _ = setup
    many = [user("_yakuba")] + [user(f"u{i:04d}") for i in range(1203)]
    rec, _client, store = make(users=many)
    s = await rec.run("start", force=False)
    assert s.users == 1203 and s.checked == 1203
    rec2, _, _ = make(users=many[:10])
    await rec2.run("periodic", force=True)
    assert (await store.counts())["users"] == 9


async def test_membership_change_applies_at_once(setup):
    make, _ = setup
    rec, client, _ = make()
    await rec.run("start", force=False)
    assert not any(".exempt." in i for i in client.of(f"@alice:{SERVER}").ids())
    rec.exempt_ids = frozenset({EXEMPT})
    rec.note_membership(f"@alice:{SERVER}", EXEMPT, "join")
    await rec.reconcile_one(f"@alice:{SERVER}")
    assert sum(".exempt." in i for i in client.of(f"@alice:{SERVER}").ids()) == 2
    rec.note_membership(f"@alice:{SERVER}", EXEMPT, "leave")
    await rec.reconcile_one(f"@alice:{SERVER}")
    assert not any(".exempt." in i for i in client.of(f"@alice:{SERVER}").ids())


async def test_loop_retries_a_failed_start_soon_and_follows_the_clock(setup, monkeypatch):
    import asyncio
    import contextlib

    from appservice.features.quiet import reconcile
    from appservice.matrix.client import MatrixError

    monkeypatch.setattr(reconcile, "RETRY", 0.2)
    monkeypatch.setattr(reconcile, "TICK", 0.05)
    make, clock = setup
    clock.when = MORNING
    rec, client, store = make()
    real = client.request
    failures = [1]

    async def flaky(method, path, **kw):
        if path == "/_synapse/admin/v2/users" and failures:
            failures.pop()
            raise MatrixError(0, "M_CONNECTION", "down", method, path)
        return await real(method, path, **kw)

    client.request = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(rec.loop())
    try:
        for _ in range(100):
            row = await store.last_run()
            if row is not None and row["errors"] == 0:
                break
            await asyncio.sleep(0.05)
        assert row is not None and row["errors"] == 0 and row["trigger"] == "periodic"
        assert QUIET_ID not in client.of(f"@alice:{SERVER}").ids()
        clock.when = EVENING  # the test clock jumps past 17:15: a boundary run follows
        for _ in range(100):
            if QUIET_ID in client.of(f"@alice:{SERVER}").ids():
                break
            await asyncio.sleep(0.05)
        assert QUIET_ID in client.of(f"@alice:{SERVER}").ids()
        assert (await store.last_run())["trigger"] == "boundary"
        rec.request("manual")
        for _ in range(100):
            if (await store.last_run())["trigger"] == "manual":
                break
            await asyncio.sleep(0.05)
        assert (await store.last_run())["trigger"] == "manual"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
