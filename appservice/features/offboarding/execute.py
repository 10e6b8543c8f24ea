# Documented exception to "effects in one place": the Synapse admin-API and room-state calls
# here (deactivate, lock, logout, suspend, power-level hand-over) stay direct Matrix-layer calls,
# because each is multi-step, every step depending on the last. Audit rows still go through the
# executor; nothing here sends a message.
"""The effectful side of offboarding: look at a user (for the dry run), run one job, and the
account actions for lost phones (lock, unlock, logout, suspend). Every step is audited with
who asked, who approved, what was done and the result; errors are audited by errcode only.

Hand-over, per room where the leaver is the last local admin:
1. power: as the leaver (masquerading), `m.room.power_levels` users[successor] = 100 — a
   creator (v12) or a power-100 leaver may do that; read fresh under a per-room lock so that
   two leavers of one room do not overwrite each other. If Synapse refuses, the admin API's
   `make_room_admin` (it acts as the most powerful joined local user).
2. membership: invite as the leaver and join as the successor; else the admin API's join.
   A failed join is a warning (the successor has the power and can be invited later); a
   failed power change stops the job before deactivation, so no room is left without admin.
Then deactivate (with `erase` if asked).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from appservice.core.config import Config
from appservice.core.decisions import Message
from appservice.core.executor import Executor
from appservice.core.state import StateStore
from appservice.features.offboarding.jobs import JobRow, JobStore
from appservice.features.offboarding.plan import (
    ADMIN_POWER,
    HANDOVER,
    ORPHANED,
    UserPlan,
    is_yakuba_bot,
    plan_room,
    refusal,
    room_facts,
)
from appservice.matrix.admin import SynapseAdmin
from appservice.matrix.client import MatrixClient, MatrixError

log = structlog.get_logger(__name__)


@dataclass
class Outcome:
    status: str                      # done | skipped | failed
    result: str                      # catalog key
    detail: dict[str, Any] = field(default_factory=dict)


def _err(exc: MatrixError) -> str:
    return f"{exc.status} {exc.errcode or ''}".strip()


class Offboarder:
    def __init__(self, client: MatrixClient, state: StateStore, jobs: JobStore, config: Config,
                 executor: Executor, admin: SynapseAdmin | None = None) -> None:
        self.client = client
        self.admin = admin or SynapseAdmin(client)
        self.state = state
        self.executor = executor
        self.jobs = jobs
        self.config = config
        self.server_name = config.homeserver.server_name
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._admins: tuple[float, list[dict[str, Any]] | None] | None = None

    # -- checks ------------------------------------------------------------------------------

    def is_bot(self, user_id: str) -> bool:
        return is_yakuba_bot(user_id, self.config.bot_user_ids, self.config.appservice.bot_localpart)

    def is_local(self, user_id: str) -> bool:
        return self.config.is_local(user_id)

    async def _listed_admins(self) -> list[dict[str, Any]] | None:
        """Every server admin, if the admin API lets us list them (see SynapseAdmin.list_users);
        cached briefly so that a bulk run asks once, not once per user."""
        if self._admins is None or time.monotonic() - self._admins[0] > 10:
            try:
                users: list[dict[str, Any]] | None = await self.admin.list_users(admins=True)
            except MatrixError as exc:
                if exc.status not in (401, 403):
                    raise
                users = None
            self._admins = (time.monotonic(), users)
        return self._admins[1]

    async def other_usable_admins(self, user_id: str) -> int:
        """Server admins other than `user_id` that can still act (not locked, not deactivated,
        not a bot). Exact when the server admins can be listed; otherwise only Yakuba's own
        admins (yakuba.yaml and `yakuba admin add`) are checked one by one, which may count
        too few — and then a lock or offboarding of an admin is refused, the safe side."""
        def usable(u: dict[str, Any]) -> bool:
            name = str(u.get("name", ""))
            return (bool(u.get("admin")) and name != user_id and not u.get("locked")
                    and not u.get("deactivated") and not self.is_bot(name))

        listed = await self._listed_admins()
        if listed is not None:
            return sum(1 for u in listed if usable(u))
        count = 0
        for candidate in sorted(set(self.config.admins) | set(await self.state.db_admins())):
            if candidate != user_id and self.is_local(candidate):
                info = await self.admin.user_info(candidate)
                if info is not None and usable({**info, "name": candidate}):
                    count += 1
        return count

    async def check(self, user_id: str, action: str) -> tuple[str | None, str | None, dict[str, Any] | None]:
        """(refusal key, skip key, user info) — see plan.refusal."""
        if not self.is_local(user_id):
            return "offboarding.refused.remote", None, None
        if self.is_bot(user_id):
            return "offboarding.refused.bot", None, None
        info = await self.admin.user_info(user_id)
        others = await self.other_usable_admins(user_id) if info and info.get("admin") else None
        ref, skip = refusal(user_id, info, server_name=self.server_name, is_bot=False,
                            other_usable_admins=others, action=action)
        return ref, skip, info

    async def check_successor(self, successor: str) -> str | None:
        if not self.is_local(successor):
            return "offboarding.refused.successor_remote"
        if self.is_bot(successor):
            return "offboarding.refused.successor_bot"
        info = await self.admin.user_info(successor)
        if info is None:
            return "offboarding.refused.successor_unknown"
        if info.get("deactivated"):
            return "offboarding.refused.successor_deactivated"
        return None

    # -- dry run -----------------------------------------------------------------------------

    async def inspect(self, user_id: str, successor: str | None, due: datetime | None, erase: bool,
                      *, leaving: Iterable[str] = (), check_scheduled: bool = True) -> UserPlan:
        """What offboarding `user_id` would do now. `leaving`: others leaving in the same plan."""
        ref, skip, _info = await self.check(user_id, "offboard")
        params: dict[str, Any] = {"user": user_id, "successor": successor or ""}
        if ref or skip:
            return UserPlan(user_id, successor, due, erase, refusal=ref, skip=skip, params=params)
        if check_scheduled:
            active = await self.jobs.active_job_for(user_id)
            if active is not None:
                params["code"] = active.code
                return UserPlan(user_id, successor, due, erase, skip="offboarding.skip.scheduled",
                                params=params)
        if successor:
            bad = await self.check_successor(successor)
            if bad:
                return UserPlan(user_id, successor, due, erase, refusal=bad, params=params)
        not_admins = set(self.config.bot_user_ids) | (await self.jobs.leaving_users()) | set(leaving)
        rooms = []
        for room_id in await self.admin.joined_rooms(user_id):
            facts = room_facts(room_id, await self.admin.room_state(room_id))
            rooms.append(plan_room(facts, user_id, successor, self.is_local, not_admins=not_admins))
        return UserPlan(user_id, successor, due, erase, rooms=tuple(rooms), params=params)

    async def inspect_many(self, items: list[tuple[str, str | None, datetime | None]], erase: bool,
                           concurrency: int = 8) -> list[UserPlan]:
        sem = asyncio.Semaphore(concurrency)
        leaving = {u for u, _, _ in items}

        async def one(item: tuple[str, str | None, datetime | None]) -> UserPlan:
            async with sem:
                return await self.inspect(item[0], item[1], item[2], erase, leaving=leaving - {item[0]})

        return list(await asyncio.gather(*(one(i) for i in items)))

    # -- a job -------------------------------------------------------------------------------

    async def run_job(self, job: JobRow) -> Outcome:
        user = job.user_id
        ctx = {"code": job.code, "requested_by": job.requested_by, "approved_by": job.approved_by}

        async def audit(action: str, result: str = "ok", *, target: str | None = None,
                        room_id: str | None = None, **details: Any) -> None:
            await self.executor.audit(action, actor=job.approved_by or job.requested_by, target=target or user,
                                      room_id=room_id, result=result, details={**ctx, **details})

        try:
            return await self._run_job(job, audit)
        except MatrixError as exc:
            await audit("offboard.job", "error", error=_err(exc))
            return Outcome("failed", "offboarding.result.synapse_error", {"error": _err(exc)})

    async def _run_job(self, job: JobRow, audit: Callable[..., Awaitable[None]]) -> Outcome:
        user, successor = job.user_id, job.successor
        await audit("offboard.start", successor=successor, erase=job.erase, attempt=job.attempts)
        ref, skip, _info = await self.check(user, "offboard")
        if skip:
            await audit("offboard.skip", "skipped", reason=skip)
            return Outcome("skipped", skip)
        if ref:
            await audit("offboard.refused", "refused", reason=ref)
            return Outcome("failed", ref)
        if successor:
            bad = await self.check_successor(successor)
            if bad:
                await audit("offboard.refused", "refused", reason=bad, successor=successor)
                return Outcome("failed", bad, {"successor": successor})
        not_admins = set(self.config.bot_user_ids) | ((await self.jobs.leaving_users()) - {user})
        rooms = await self.admin.joined_rooms(user)
        handed, fallbacks, orphaned, failed, join_warnings = [], 0, [], [], []
        for room_id in rooms:
            facts = room_facts(room_id, await self.admin.room_state(room_id))
            rp = plan_room(facts, user, successor, self.is_local, not_admins=not_admins)
            if rp.action == ORPHANED:
                orphaned.append(room_id)
                await audit("offboard.orphaned", "warning", room_id=room_id)
            elif rp.action == HANDOVER and successor:
                power_ok, via, joined = await self._handover(room_id, user, successor, rp.successor_membership,
                                                             audit)
                if not power_ok:
                    failed.append(room_id)
                    continue
                handed.append(room_id)
                fallbacks += via != "leaver"
                if not joined:
                    join_warnings.append(room_id)
        detail: dict[str, Any] = {"rooms": len(rooms), "handovers": len(handed), "fallbacks": fallbacks,
                                  "orphaned": len(orphaned), "join_warnings": len(join_warnings)}
        if failed:
            detail["failed_rooms"] = failed
            await audit("offboard.job", "failed", reason="handover_failed", **detail)
            return Outcome("failed", "offboarding.result.handover_failed", detail)
        try:  # a locked account (lost phone, then leaving) is deactivated as it is, never unlocked
            await self.admin.deactivate(user, erase=job.erase)
        except MatrixError as exc:
            await audit("offboard.deactivate", "error", error=_err(exc), erase=job.erase)
            detail["error"] = _err(exc)
            return Outcome("failed", "offboarding.result.deactivate_failed", detail)
        await audit("offboard.deactivate", erase=job.erase)
        await audit("offboard.job", "done", **detail)
        return Outcome("done", "offboarding.result.done", detail)

    async def _handover(self, room_id: str, leaver: str, successor: str, membership: str | None,
                        audit: Callable[..., Awaitable[None]]) -> tuple[bool, str, bool]:
        """(power given, how: leaver | make_room_admin, successor joined)."""
        lock = self._room_locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            via = "leaver"
            try:
                pl = await self.client.state(room_id, "m.room.power_levels", as_user=leaver)
                content = dict(pl or {})
                users = dict(content.get("users") or {})
                if pl is None:  # pre-v12 room without power levels: keep the creator's implicit 100
                    users.setdefault(leaver, ADMIN_POWER)
                current = users.get(successor)
                if not isinstance(current, int) or current < ADMIN_POWER:
                    users[successor] = ADMIN_POWER
                    content["users"] = users
                    await self.client.put_state(room_id, "m.room.power_levels", content, as_user=leaver)
                await audit("offboard.handover.power", target=successor, room_id=room_id, via=via,
                            leaver=leaver)
            except MatrixError as exc:
                await audit("offboard.handover.power", "error", target=successor, room_id=room_id, via=via,
                            error=_err(exc), leaver=leaver)
                via = "make_room_admin"
                try:
                    await self.admin.make_room_admin(room_id, successor)
                    await audit("offboard.handover.power", target=successor, room_id=room_id, via=via,
                                leaver=leaver)
                    membership = membership if membership == "join" else "invite"
                except MatrixError as exc2:
                    await audit("offboard.handover.power", "error", target=successor, room_id=room_id,
                                via=via, error=_err(exc2), leaver=leaver)
                    return False, via, False
        if membership == "join":
            return True, via, True
        try:
            if membership != "invite":
                await self.client.invite(room_id, successor, as_user=leaver)
            await self.client.join(room_id, as_user=successor)
            await audit("offboard.handover.join", target=successor, room_id=room_id, via="invite")
            return True, via, True
        except MatrixError as exc:
            await audit("offboard.handover.join", "error", target=successor, room_id=room_id, via="invite",
                        error=_err(exc))
        try:
            await self.admin.join_user(room_id, successor)
            await audit("offboard.handover.join", target=successor, room_id=room_id, via="admin_join")
            return True, via, True
        except MatrixError as exc:
            await audit("offboard.handover.join", "warning", target=successor, room_id=room_id,
                        via="admin_join", error=_err(exc))
            return True, via, False

    # -- lost phones ---------------------------------------------------------------------------

    async def _account_action(self, action: str, user: str, actor: str, details: dict[str, Any],
                              do: Callable[[dict[str, Any]], Awaitable[Message]]) -> list[Message]:
        ref, _skip, info = await self.check(user, action)
        if ref:
            await self.executor.audit(action, actor=actor, target=user, result="refused",
                                      details={**details, "reason_key": ref})
            return [Message(ref, {"user": user})]
        assert info is not None
        try:
            msg = await do(info)
        except MatrixError as exc:
            await self.executor.audit(action, actor=actor, target=user, result="error",
                                      details={**details, "error": _err(exc)})
            return [Message("offboarding.action_failed", {"user": user, "error": _err(exc)})]
        return [msg]

    async def lock(self, user: str, actor: str, reason: str) -> list[Message]:
        async def do(info: dict[str, Any]) -> Message:
            if info.get("locked"):
                await self.executor.audit("lock", actor=actor, target=user, result="noop",
                                          details={"reason": reason, "note": "already locked"})
                return Message("offboarding.lock.already", {"user": user})
            await self.admin.set_locked(user, True)
            await self.executor.audit("lock", actor=actor, target=user, details={"reason": reason})
            pushers = 0
            try:
                pushers = await self.admin.remove_pushers(user)
                await self.executor.audit("lock.pushers", actor=actor, target=user, details={"removed": pushers})
            except MatrixError as exc:
                await self.executor.audit("lock.pushers", actor=actor, target=user, result="error",
                                          details={"error": _err(exc)})
            return Message("offboarding.lock.done", {"user": user, "pushers": pushers})

        return await self._account_action("lock", user, actor, {"reason": reason}, do)

    async def unlock(self, user: str, actor: str, *, keep_sessions: bool) -> list[Message]:
        async def do(info: dict[str, Any]) -> Message:
            if not info.get("locked"):
                await self.executor.audit("unlock", actor=actor, target=user, result="noop",
                                          details={"note": "not locked"})
                return Message("offboarding.unlock.not_locked", {"user": user})
            devices = 0
            if not keep_sessions:
                # The sessions of the lost phone must not come back with the account.
                devices = await self.admin.logout_all(user)
                await self.executor.audit("unlock.logout", actor=actor, target=user, details={"devices": devices})
            await self.admin.set_locked(user, False)
            await self.executor.audit("unlock", actor=actor, target=user, details={"keep_sessions": keep_sessions})
            key = "offboarding.unlock.done_kept" if keep_sessions else "offboarding.unlock.done"
            return Message(key, {"user": user, "devices": devices})

        return await self._account_action("unlock", user, actor, {"keep_sessions": keep_sessions}, do)

    async def logout(self, user: str, actor: str) -> list[Message]:
        async def do(info: dict[str, Any]) -> Message:
            devices = await self.admin.logout_all(user)
            await self.executor.audit("logout", actor=actor, target=user, details={"devices": devices})
            return Message("offboarding.logout.done", {"user": user, "devices": devices})

        return await self._account_action("logout", user, actor, {}, do)

    async def suspend(self, user: str, actor: str, reason: str, suspended: bool) -> list[Message]:
        action = "suspend" if suspended else "unsuspend"

        async def do(info: dict[str, Any]) -> Message:
            await self.admin.set_suspended(user, suspended)
            await self.executor.audit(action, actor=actor, target=user, details={"reason": reason} if reason else {})
            return Message(f"offboarding.{action}.done", {"user": user})

        return await self._account_action(action, user, actor, {"reason": reason} if reason else {}, do)
