"""Reconciliation: every local user's push rules brought to what quiet hours want right now.

Documented exception to "effects through the executor": push rules are read and written with
Matrix-layer calls (client.request as the user), because a user's reconciliation is a multi-step
operation whose next step depends on the last (read the rules, plan, apply; re-read on a failed
call). Any message or audit row goes through the executor.

A run lists the local users (admin API, as the bot), computes each one's desired rule list
(rules.RuleBook.for_user), reads the user's rules (`GET /pushrules/` masquerading as the user),
and applies the plan (rules.plan) — only ever naming rules with our prefix. Runs are:

- idempotent: a second run finds nothing to do;
- resumable: each user's verified signature is committed in batches, and a non-forced run
  skips users whose desired rules have not changed and were verified within the interval
  (a restart mid-run continues where it stopped; a boundary touches only the users it flips,
  and for users verified recently it plans from what was verified instead of reading first);
- concurrency-limited (an asyncio.Semaphore of `concurrency` users in flight).

Runs happen at start, whenever a schedule in use flips (checked every TICK seconds and at the
exact `next_change`), every `reconcile_interval_seconds` (forced: verifies everyone, repairing
hand edits), and on request (disaster mode, opt-out, `!yakuba quiet reconcile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from appservice.core.executor import Executor
from appservice.core.services import Services
from appservice.features.quiet.config import QuietConfig
from appservice.features.quiet.rules import QUIET_ID, Op, Rule, RuleBook, plan, signature
from appservice.features.quiet.store import Disaster, QuietStore, UserResult
from appservice.lib.workcal import WorkCalendar
from appservice.matrix.client import MatrixError, q

log = structlog.get_logger(__name__)

TICK = 2.0  # seconds between boundary checks (also notices a moved test clock)
RETRY = 30.0  # seconds before a run that broke off is tried again (forced)
BATCH = 200  # users per committed batch
PAGE = 500  # users per admin API page
RULES_PATH = "/_matrix/client/v3/pushrules/global/override/"


@dataclass
class RunSummary:
    trigger: str
    users: int = 0
    checked: int = 0
    skipped: int = 0
    changed: int = 0
    ops: int = 0
    errors: int = 0
    quiet: int = 0
    duration: float = 0.0
    error_sample: str | None = None
    failed: bool = False  # the run itself broke off (Synapse down, user list refused)
    started: float = field(default_factory=time.monotonic)

    def as_row(self) -> dict[str, Any]:
        return {"users": self.users, "checked": self.checked, "skipped": self.skipped,
                "changed": self.changed, "ops": self.ops, "errors": self.errors, "quiet": self.quiet,
                "duration": round(self.duration, 3), "error_sample": self.error_sample}


class Reconciler:
    def __init__(self, cfg: QuietConfig, calendar: WorkCalendar, store: QuietStore, executor: Executor) -> None:
        self.cfg = cfg
        self.calendar = calendar
        self.store = store
        self.executor = executor
        self.svc: Services = executor.svc
        self.book = RuleBook.build(cfg.emergency_markers, self.svc.config.sender)
        self.exempt_ids: frozenset[str] = frozenset(r for r in cfg.exempt_rooms if r.startswith("!"))
        self.exempt_members: dict[str, set[str]] = {}
        self._run_lock = asyncio.Lock()
        self._user_locks: dict[str, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        # signature -> rule list, for lists this process applied or verified (see reconcile_user)
        self._verified: dict[str, list[Rule]] = {}
        self._requested: tuple[str, bool] | None = None
        self.running = False

    # -- what a user should have ----------------------------------------------------------------

    def schedule_states(self, now: datetime) -> tuple[bool, ...]:
        """Working or not, for each schedule in use: a change means a boundary passed."""
        return tuple(self.calendar.is_working(now, s) for s in self.cfg.schedules_in_use())

    def next_boundary(self, now: datetime) -> datetime | None:
        changes = [self.calendar.next_change(now, s) for s in self.cfg.schedules_in_use()]
        known = [c for c in changes if c is not None]
        return min(known) if known else None

    def desired(self, user: str, now: datetime, disaster: Disaster, optouts: frozenset[str],
                working: dict[str | None, bool] | None = None) -> list[Rule]:
        participates = self.cfg.enabled and not (self.cfg.allow_opt_out and user in optouts)
        schedule = self.cfg.schedule_of(user)
        if working is not None and schedule in working:
            is_working = working[schedule]
        else:
            is_working = self.calendar.is_working(now, schedule)
        quiet = participates and not disaster.on and not is_working
        rooms = [r for r in self.exempt_ids if user in self.exempt_members.get(r, ())] if quiet else []
        return self.book.for_user(participates=participates, quiet=quiet, exempt_rooms=rooms)

    def manages(self, user: dict[str, Any]) -> bool:
        name = user.get("name")
        return (isinstance(name, str) and self.svc.config.is_local(name)
                and name not in self.svc.config.bot_user_ids
                and not user.get("is_guest") and not user.get("deactivated") and not user.get("locked")
                and user.get("user_type") not in ("bot", "support"))

    # -- Synapse calls --------------------------------------------------------------------------

    async def list_users(self) -> list[str]:
        """Every active local user, paginated. As the bot (a server admin): the masquerading
        `user_id` parameter would also be read as this endpoint's user filter, so we pass the
        `name` filter (which takes precedence) with a pattern that matches every user, and
        check that the bot itself is listed."""
        users: list[str] = []
        seen_bot = False
        start = "0"
        while True:
            body = await self.svc.client.request("GET", "/_synapse/admin/v2/users", params={
                "from": start, "limit": str(PAGE), "guests": "false", "deactivated": "false",
                "name": "%", "order_by": "name"})
            for u in body.get("users", []):
                if not isinstance(u, dict):
                    continue
                seen_bot = seen_bot or u.get("name") == self.svc.config.sender
                if self.manages(u):
                    users.append(str(u["name"]))
            nxt = body.get("next_token")
            if nxt is None or not body.get("users"):
                break
            start = str(nxt)
        if not seen_bot:
            raise RuntimeError("the user list did not include the bot: the admin API filter "
                               "changed; refusing to reconcile on a partial list")
        return users

    async def refresh_rooms(self) -> None:
        """Resolve exempt aliases to room ids (kept in kv for the policy) and read who is in them."""
        ids: set[str] = set()
        for room in self.cfg.exempt_rooms:
            if room.startswith("!"):
                ids.add(room)
                continue
            try:
                body = await self.svc.client.request("GET", f"/_matrix/client/v3/directory/room/{q(room)}")
                if isinstance(body.get("room_id"), str):
                    ids.add(body["room_id"])
            except MatrixError as exc:
                log.warning("quiet_exempt_alias_unresolved", alias=room, error=exc.errcode)
        members: dict[str, set[str]] = {}
        for room_id in ids:
            try:
                body = await self.svc.client.request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/members")
                members[room_id] = {str(m) for m in body.get("members", [])}
            except MatrixError as exc:
                log.warning("quiet_exempt_members_failed", room_id=room_id, error=exc.errcode)
                members[room_id] = set(self.exempt_members.get(room_id, ()))
        self.exempt_ids = frozenset(ids)
        self.exempt_members = members
        await self.store.set_exempt_rooms(ids)

    def note_membership(self, user: str, room_id: str, membership: str) -> None:
        members = self.exempt_members.setdefault(room_id, set())
        if membership == "join":
            members.add(user)
        else:
            members.discard(user)

    async def apply(self, user: str, op: Op) -> None:
        path = RULES_PATH + q(op.rule_id)
        client = self.svc.client
        if op.kind == "put":
            params = {"after": op.after} if op.after else None
            await client.request("PUT", path, json=op.body, params=params, as_user=user)
        elif op.kind == "enable":
            await client.request("PUT", path + "/enabled", json={"enabled": True}, as_user=user)
        elif op.kind == "delete":
            try:
                await client.request("DELETE", path, as_user=user)
            except MatrixError as exc:
                if exc.status != 404:
                    raise
        else:
            raise ValueError(f"unknown op {op.kind!r}")

    async def reconcile_user(self, user: str, rules: list[Rule], trusted: list[Rule] | None = None) -> int:
        """Bring one user's rules to `rules`; returns how many calls changed something.

        `trusted` is what this process verified the user had, recently: then the plan is made
        from it without reading the rules first (a boundary flips thousands of users; this
        halves its calls). A call that fails on it (the user changed something since) falls
        back to reading the rules; other hand edits wait for the next forced run."""
        lock = self._user_locks.setdefault(user, asyncio.Lock())
        async with lock:
            if trusted is not None:
                assumed = [{"rule_id": r.rule_id, "enabled": True, **r.body()} for r in trusted]
                ops = plan(assumed, rules)
                try:
                    for op in ops:
                        await self.apply(user, op)
                    return len(ops)
                except MatrixError as exc:
                    if exc.status not in (400, 404):
                        raise
            body = await self.svc.client.request("GET", "/_matrix/client/v3/pushrules/", as_user=user)
            raw_glob = body.get("global")
            glob: dict[str, Any] = raw_glob if isinstance(raw_glob, dict) else {}
            raw_current = glob.get("override")
            current: list[Any] = raw_current if isinstance(raw_current, list) else []
            ops = plan(current, rules)
            for op in ops:
                await self.apply(user, op)
            if ops:
                log.info("quiet_rules_repaired", user=user, ops=[str(o) for o in ops][:8])
            return len(ops)

    # -- runs -----------------------------------------------------------------------------------

    async def reconcile_one(self, user: str) -> int:
        """Right now, for one user (opt-out, joined an exempt room)."""
        now = self.svc.clock.now()
        rules = self.desired(user, now, await self.store.disaster(), await self.store.opted_out())
        n = await self.reconcile_user(user, rules)
        self._verified.setdefault(signature(rules), rules)
        await self.store.save_results([UserResult(user, signature(rules), _quiet(rules), len(rules), bool(n))])
        return n

    async def run(self, trigger: str, *, force: bool) -> RunSummary:
        async with self._run_lock:
            self.running = True
            try:
                return await self._run(trigger, force)
            finally:
                self.running = False

    async def _run(self, trigger: str, force: bool) -> RunSummary:
        summary = RunSummary(trigger)
        now = self.svc.clock.now()
        run_id = await self.store.start_run(trigger, now.isoformat())
        results: list[UserResult] = []

        async def flush() -> None:
            chunk = results[:]
            results.clear()
            await self.store.save_results(chunk)

        try:
            if self.cfg.enabled:
                await self.refresh_rooms()
            users = await self.list_users()
            summary.users = len(users)
            disaster = await self.store.disaster()
            optouts = await self.store.opted_out()
            known = await self.store.user_states()
            working = {s: self.calendar.is_working(now, s) for s in self.cfg.schedules_in_use()}
            wall = time.time()
            sem = asyncio.Semaphore(self.cfg.concurrency)

            async def one(user: str) -> None:
                rules = self.desired(user, now, disaster, optouts, working)
                sig = signature(rules)
                quiet = _quiet(rules)
                prev = known.get(user)
                recent = prev is not None and wall - prev[1] < self.cfg.reconcile_interval_seconds
                if not force and recent and prev is not None and prev[0] == sig:
                    summary.skipped += 1
                    summary.quiet += quiet
                    return
                trusted = self._verified.get(prev[0]) if (not force and recent and prev is not None) else None
                async with sem:
                    try:
                        n = await self.reconcile_user(user, rules, trusted)
                    except Exception as exc:  # one user's failure must not stop the others
                        what = (f"{exc.status} {exc.errcode}" if isinstance(exc, MatrixError)
                                else type(exc).__name__)
                        summary.errors += 1
                        summary.error_sample = summary.error_sample or f"{user}: {what}"
                        results.append(UserResult(user, sig, False, 0, False, error=what))
                        return
                self._verified.setdefault(sig, rules)
                summary.checked += 1
                summary.ops += n
                summary.changed += bool(n)
                summary.quiet += quiet
                results.append(UserResult(user, sig, quiet, len(rules), bool(n)))
                if len(results) >= BATCH:
                    await flush()

            await asyncio.gather(*(one(u) for u in users))
            await flush()
            await self.store.forget_users(users)
        except Exception as exc:  # Synapse down, admin API refused: recorded, retried next time
            summary.errors += 1
            summary.failed = True
            summary.error_sample = f"{type(exc).__name__}: {str(exc)[:200]}"
            with contextlib.suppress(Exception):
                await flush()
            log.error("quiet_reconcile_failed", trigger=trigger, error=type(exc).__name__, detail=str(exc)[:300])
        summary.duration = time.monotonic() - summary.started
        await self.store.finish_run(run_id, **summary.as_row())
        log.info("quiet_reconciled", trigger=trigger, **{k: v for k, v in summary.as_row().items()
                                                          if k != "error_sample"})
        return summary

    def request(self, trigger: str, *, force: bool = True) -> None:
        """Ask the background loop for a run soon (coalesced with any already asked for)."""
        prev = self._requested
        self._requested = (trigger, force or (prev[1] if prev else False))
        self._wake.set()

    async def loop(self) -> None:
        if not self.cfg.enabled:
            if await self.store.any_rules():  # switched off: take our rules away once
                await self.run("cleanup", force=True)
            return
        interval = self.cfg.reconcile_interval_seconds

        def next_full(summary: RunSummary) -> float:
            """When the next forced run is due, as a `last_full` value: soon after a failure."""
            return time.monotonic() - (interval - min(RETRY, interval) if summary.failed else 0.0)

        last_full = next_full(await self.run("start", force=False))
        last_states = self.schedule_states(self.svc.clock.now())
        while True:
            try:
                now = self.svc.clock.now()
                timeout = min(TICK, interval - (time.monotonic() - last_full))
                boundary = self.next_boundary(now)
                if boundary is not None:
                    timeout = min(timeout, (boundary - now).total_seconds() + 0.05)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.05, timeout))
                self._wake.clear()
                now = self.svc.clock.now()
                states = self.schedule_states(now)
                requested, self._requested = self._requested, None
                if requested is not None:
                    summary = await self.run(requested[0], force=requested[1])
                    if requested[1] or summary.failed:
                        last_full = next_full(summary)
                elif states != last_states:
                    summary = await self.run("boundary", force=False)
                    if summary.failed:
                        last_full = next_full(summary)
                elif time.monotonic() - last_full >= interval:
                    last_full = next_full(await self.run("periodic", force=True))
                last_states = states
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the loop die
                log.error("quiet_loop_error", error=type(exc).__name__, detail=str(exc)[:300])
                await asyncio.sleep(TICK)


def _quiet(rules: Iterable[Rule]) -> bool:
    return any(r.rule_id == QUIET_ID for r in rules)
