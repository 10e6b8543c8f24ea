"""The one event pipeline: inbox → policies (in order) → executor.

One worker drains the inbox in arrival order. A policy that raises is logged and counted and
the others still run; an effect that fails is the executor's business. An event is marked done
only after all its decisions ran, so a crash mid-event replays it on restart — effects are
made idempotent by once_keys and deterministic transaction ids.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from appservice.core.executor import Executor, buffered_audits
from appservice.core.inbox import Inbox, InboxItem
from appservice.core.metrics import Metrics
from appservice.core.policy import Policy, PolicyContext

log = structlog.get_logger(__name__)

ContextFactory = Callable[[], Awaitable[PolicyContext]]


class Pipeline:
    def __init__(self, inbox: Inbox, policies: Sequence[Policy], executor: Executor,
                 context: ContextFactory, metrics: Metrics, *, plaintext_grace_s: float = 60.0) -> None:
        self.inbox = inbox
        self.policies = list(policies)
        self.executor = executor
        self.context = context
        self.metrics = metrics
        self.plaintext_grace_s = plaintext_grace_s
        self._stopping = False

    async def process(self, item: InboxItem, ctx: PolicyContext) -> None:
        event = item.event
        started = time.perf_counter()
        errors: list[str] = []
        with buffered_audits() as audits:
            for policy in self.policies:
                try:
                    decisions = await policy.evaluate(event, ctx)
                except Exception as exc:
                    errors.append(policy.name)
                    self.metrics.policy_errors.labels(policy.name).inc()
                    log.error("policy_failed", policy=policy.name, event_id=event.event_id,
                              room_id=event.room_id, error=type(exc).__name__, detail=str(exc)[:300])
                    continue
                if decisions:
                    await self.executor.perform(decisions, event, policy.name)
        await self.inbox.mark_done(item.seq, ",".join(errors) or None, audits.close())
        self.metrics.events_processed.inc()
        self.metrics.process_seconds.observe(time.perf_counter() - started)

    async def drain(self) -> int:
        """Process everything pending now; returns how many events ran."""
        total = 0
        while True:
            batch = await self.inbox.next_batch(100)
            if not batch:
                return total
            ctx = await self.context()
            for item in batch:
                if self._stopping:  # the rest stays in the inbox for the next start
                    return total
                await self.process(item, ctx)
                total += 1

    async def run(self) -> None:
        log.info("pipeline_started", policies=[p.name for p in self.policies])
        last_release = 0.0
        while not self._stopping:
            self.inbox.changed.clear()
            try:
                await self.drain()
                now = time.monotonic()
                if now - last_release > min(5.0, self.plaintext_grace_s):
                    last_release = now
                    await self.inbox.release_waiting(self.plaintext_grace_s)
                counts = await self.inbox.counts()
                self.metrics.backlog.set(counts.get("pending", 0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database hiccupped: back off, never die
                log.error("pipeline_error", error=type(exc).__name__, detail=str(exc)[:300])
                await asyncio.sleep(1.0)
                continue
            try:
                await asyncio.wait_for(self.inbox.changed.wait(), timeout=1.0)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping = True
