"""Offboarding as one object, used by the service (chat commands, scheduler) and the CLI alike:
make a plan from a dry run, confirm it into jobs, and run due jobs with start, progress and
final-report messages through a `notify` function (by default posted through the executor to
the plan's room or the admin room; stdout for the CLI). Audit rows go through the executor too.

Locking, suspending or logging out ANOTHER Yakuba admin is a plan too (kind "account", one
entry: action, user, reason): always four-eyes — a different admin confirms, in the admin room —
and confirming it acts at once, with no job.

The scheduler compares due times with `clock.now()` (the service clock, which tests move), so
a job whose time passed while the service was down runs at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

import structlog

from appservice.core.clock import Clock
from appservice.core.config import Config
from appservice.core.decisions import Message
from appservice.core.executor import Executor, render
from appservice.core.state import StateStore
from appservice.features.offboarding import report
from appservice.features.offboarding.config import OffboardingConfig
from appservice.features.offboarding.csvfile import CsvRow
from appservice.features.offboarding.execute import Offboarder, Outcome
from appservice.features.offboarding.jobs import FINAL, JobRow, JobStore, PlanRow
from appservice.features.offboarding.plan import confirm_refusal
from appservice.matrix.client import MatrixClient

log = structlog.get_logger(__name__)

# A plan to lock/suspend/log out another Yakuba admin; confirmed by a different admin.
ACCOUNT_PLAN = "account"
ACCOUNT_PLAN_KEYS = {"lock": "offboarding.account.plan_lock", "suspend": "offboarding.account.plan_suspend",
                     "logout": "offboarding.account.plan_logout"}

# notify(room_id or None for the admin room, messages, idempotency key)
Notify = Callable[[str | None, list[Message], str], Awaitable[None]]


class Offboarding:
    def __init__(self, config: Config, cfg: OffboardingConfig, client: MatrixClient, state: StateStore,
                 clock: Clock, executor: Executor, notify: Notify | None = None, *, runner: str) -> None:
        self.config = config
        self.cfg = cfg
        self.state = state
        self.clock = clock
        self.executor = executor
        self.notify: Notify = notify or self._post
        self.runner = runner
        self.jobs = JobStore(state.db)
        self.offboarder = Offboarder(client, state, self.jobs, config, executor)
        self.wake = asyncio.Event()
        self._kinds: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()

    def start_job(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Long work (a bulk dry run) runs beside the pipeline, never on its worker."""
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def jobs_idle(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)

    @property
    def tz(self) -> Any:
        return self.cfg.tzinfo

    async def _post(self, room_id: str | None, messages: list[Message], key: str) -> None:
        """The service's notify: one notice in the plan's room (else the admin room)."""
        room = room_id or await self.state.admin_room()
        if room:
            text = "\n".join(render(m, self.config.locale) for m in messages)
            await self.executor.post(room, text, ("offboarding", key))

    # -- plans -------------------------------------------------------------------------------

    async def create_plan(self, *, kind: str, requester: str, room_id: str | None,
                          command_event_id: str | None, entries: list[dict[str, Any]], erase: bool) -> str:
        code = await self.jobs.add_plan(kind=kind, requester=requester, room_id=room_id,
                                        command_event_id=command_event_id,
                                        ttl_s=self.cfg.confirm_ttl_hours * 3600, erase=erase, entries=entries)
        counts = {s: sum(1 for e in entries if e["status"] == s) for s in ("ok", "skip", "refused")}
        await self.executor.audit("offboard.plan", actor=requester, room_id=room_id, event_id=command_event_id,
                                  target=entries[0]["user"] if kind == "single" else None,
                                  details={"code": code, "kind": kind, "erase": erase, **counts})
        return code

    async def create_account_plan(self, action: str, user: str, reason: str, *, requester: str,
                                  room_id: str | None, command_event_id: str | None) -> str:
        """Lock/suspend/logout of another Yakuba admin, waiting for a second admin."""
        entries = [{"action": action, "user": user, "reason": reason, "status": "ok"}]
        code = await self.jobs.add_plan(kind=ACCOUNT_PLAN, requester=requester, room_id=room_id,
                                        command_event_id=command_event_id,
                                        ttl_s=self.cfg.confirm_ttl_hours * 3600, erase=False, entries=entries)
        await self.executor.audit(f"{action}.plan", actor=requester, target=user, room_id=room_id,
                                  event_id=command_event_id,
                                  details={"code": code, "reason": reason, "note": "target is a Yakuba admin"})
        return code

    def account_plan_messages(self, code: str, action: str, user: str) -> list[Message]:
        return [Message(ACCOUNT_PLAN_KEYS[action], {"user": user}),
                Message("offboarding.account.confirm", {"code": code, "hours": f"{self.cfg.confirm_ttl_hours:g}"})]

    def plan_messages(self, code: str, kind: str, entries: list[dict[str, Any]], *, erase: bool,
                      source: str = "") -> list[Message]:
        if kind == "single":
            return report.single_plan_messages(entries[0], code, self.tz, four_eyes=self.cfg.four_eyes,
                                               ttl_hours=self.cfg.confirm_ttl_hours)
        return report.bulk_plan_messages(entries, code, self.tz, four_eyes=self.cfg.four_eyes,
                                         ttl_hours=self.cfg.confirm_ttl_hours, erase=erase, source=source)

    async def confirm(self, code: str, confirmer: str, *, via: str) -> list[Message]:
        code = code.strip().upper()
        plan = await self.jobs.plan(code)
        if plan is None:
            await self.executor.audit("offboard.confirm", actor=confirmer, result="refused",
                                      details={"code": code[:12], "reason": "unknown", "via": via})
            return [Message("offboarding.confirm.unknown", {"code": code[:12]})]
        account = plan.kind == ACCOUNT_PLAN
        why = confirm_refusal(status=plan.status, requester=plan.requester, confirmer=confirmer,
                              four_eyes=self.cfg.four_eyes or account, now_ts=time.time(),
                              expires_at=plan.expires_at)
        if why is None and account and via == "cli":
            why = "offboarding.account.not_from_cli"
        if why:
            await self.executor.audit("offboard.confirm", actor=confirmer, result="refused",
                                      details={"code": code, "reason": why, "via": via,
                                               "requested_by": plan.requester})
            return [Message(why, {"code": code, "requester": plan.requester})]
        if account:
            return await self._confirm_account(plan, confirmer, via)
        now = self.clock.now().timestamp()
        ok = [e for e in plan.entries if e["status"] == "ok"]
        first_due = min((e["due"] or now for e in ok), default=now)
        jobs = []
        for e in plan.entries:
            base = {"requested_by": plan.requester, "room_id": plan.room_id, "erase": plan.erase or e.get("erase")}
            if e["status"] == "ok":
                jobs.append({**base, "user_id": e["user"], "successor": e["successor"],
                             "due_at": e["due"] or now, "status": "scheduled"})
            else:
                jobs.append({**base, "user_id": e["user"] or f"line:{e['line']}", "successor": e["successor"],
                             "due_at": first_due, "status": "skipped" if e["status"] == "skip" else "failed",
                             "result": e["key"], "detail": {**e["params"], "line": e["line"], "raw": e["raw"]}})
        if not await self.jobs.confirm_plan(code, confirmer, jobs):
            return [Message("offboarding.confirm.already", {"code": code})]
        await self.executor.audit("offboard.confirm", actor=confirmer, details={
            "code": code, "via": via, "requested_by": plan.requester, "kind": plan.kind, "jobs": len(ok)})
        self.wake.set()
        if not ok:
            rows = await self.jobs.batch(code, first_due)
            return [Message("offboarding.confirm.done", {"code": code}),
                    *report.job_report(rows, code, self.tz, plan.kind)]
        later = sorted({e["due"] for e in ok if e["due"] and e["due"] > now})
        if not later:
            return [Message("offboarding.confirm.now", {"code": code, "count": len(ok)})]
        return [Message("offboarding.confirm.scheduled", {
            "code": code, "count": len(ok), "now": sum(1 for e in ok if not e["due"] or e["due"] <= now),
            "when": report.fmt_time(later[0], self.tz), "tz": str(self.tz)})]

    async def _confirm_account(self, plan: PlanRow, confirmer: str, via: str) -> list[Message]:
        if not await self.jobs.confirm_plan(plan.code, confirmer, []):
            return [Message("offboarding.confirm.already", {"code": plan.code})]
        e = plan.entries[0]
        action, user, reason = str(e["action"]), str(e["user"]), str(e.get("reason") or "")
        await self.executor.audit(f"{action}.confirm", actor=confirmer, target=user, details={
            "code": plan.code, "via": via, "requested_by": plan.requester})
        head = Message("offboarding.account.confirmed", {"code": plan.code, "requester": plan.requester,
                                                         "confirmer": confirmer})
        if action == "lock":
            done = await self.offboarder.lock(user, confirmer, reason)
        elif action == "suspend":
            done = await self.offboarder.suspend(user, confirmer, reason, True)
        elif action == "logout":
            done = await self.offboarder.logout(user, confirmer)
        else:
            return [head, Message("offboarding.result.unknown")]
        return [head, *done]

    async def cancel(self, code: str, actor: str) -> list[Message]:
        code = code.strip().upper()
        plan = await self.jobs.plan(code)
        if plan is None:
            return [Message("offboarding.confirm.unknown", {"code": code[:12]})]
        plan_cancelled, jobs = await self.jobs.cancel(code)
        await self.executor.audit("offboard.cancel", actor=actor, details={
            "code": code, "plan": plan_cancelled, "jobs": jobs, "requested_by": plan.requester})
        if not plan_cancelled and not jobs:
            return [Message("offboarding.cancel.nothing", {"code": code})]
        return [Message("offboarding.cancel.done", {"code": code, "jobs": jobs})]

    async def bulk_entries(self, rows: list[CsvRow], erase: bool, now: datetime) -> list[dict[str, Any]]:
        """Dry-run every valid CSV row; rows with errors become refused entries. A leaving time
        that has passed means "right after confirmation"."""
        valid = [r for r in rows if r.error is None]
        items = [(str(r.user), r.successor, r.when if r.when and r.when > now else None) for r in valid]
        plans = await self.offboarder.inspect_many(items, erase, concurrency=self.cfg.concurrency)
        by_line = {r.line: report.entry_from_plan(p, r.line) for r, p in zip(valid, plans, strict=True)}
        return [by_line[r.line] if r.error is None else report.entry_from_bad_row(r) for r in rows]

    # -- running -----------------------------------------------------------------------------

    async def run_forever(self) -> None:
        released = await self.jobs.release_runner(self.runner)
        if released:
            log.info("offboarding_jobs_resumed", count=released)
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("offboarding_scheduler_failed", error=type(exc).__name__, detail=str(exc)[:300])
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.cfg.poll_seconds)

    async def run_due(self, *, code: str | None = None) -> int:
        """Run every job that is due now (with `code`: of that plan only). Returns how many ran."""
        ran = 0

        async def worker() -> None:
            nonlocal ran
            while True:
                job = await self.jobs.claim(self.clock.now().timestamp(), self.runner, code=code)
                if job is None:
                    return
                await self._started(job)
                try:
                    outcome = await self.offboarder.run_job(job)
                except Exception as exc:  # a bug must not leave the job running forever
                    log.error("offboarding_job_crashed", job=job.id, error=type(exc).__name__,
                              detail=str(exc)[:300])
                    outcome = Outcome("failed", "offboarding.result.internal_error",
                                      {"error": type(exc).__name__})
                await self.jobs.finish(job.id, outcome.status, outcome.result, outcome.detail)
                log.info("offboarding_job", job=job.id, code=job.code, status=outcome.status)
                ran += 1
                await self._after(job)

        await asyncio.gather(*(worker() for _ in range(self.cfg.concurrency)))
        return ran

    async def _kind(self, code: str) -> str:
        if code not in self._kinds:
            plan = await self.jobs.plan(code)
            self._kinds[code] = plan.kind if plan else "bulk"
        return self._kinds[code]

    async def _started(self, job: JobRow) -> None:
        if await self._kind(job.code) == "single":
            return
        key = f"offboard_started:{job.code}:{job.due_at}"
        if await self.state.once_done(key):
            return
        rows = await self.jobs.batch(job.code, job.due_at)
        if await self.state.claim_once(key):
            await self._notify(job.room_id, [Message("offboarding.batch.started", {
                "code": job.code, "total": sum(1 for r in rows if r.status not in FINAL or r.attempts)})], key)

    async def _after(self, job: JobRow) -> None:
        finished, total = await self.jobs.batch_counts(job.code, job.due_at)
        kind = await self._kind(job.code)
        if finished == total:
            key = f"offboard_report:{job.code}:{job.due_at}"
            if await self.state.claim_once(key):
                rows = await self.jobs.batch(job.code, job.due_at)
                await self._notify(job.room_id, report.job_report(rows, job.code, self.tz, kind), key)
        elif kind != "single" and finished % self.cfg.progress_every == 0:
            key = f"offboard_progress:{job.code}:{job.due_at}:{finished}"
            if await self.state.claim_once(key):
                await self._notify(job.room_id, [Message("offboarding.batch.progress", {
                    "code": job.code, "finished": finished, "total": total})], key)

    async def _notify(self, room_id: str | None, messages: list[Message], key: str) -> None:
        try:
            await self.notify(room_id, messages, key)
        except Exception as exc:  # a lost progress message must not fail the job
            log.warning("offboarding_notify_failed", error=type(exc).__name__, detail=str(exc)[:200])
