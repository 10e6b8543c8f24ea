"""The one event pipeline: inbox → policies (in order) → executor.

One worker drains the inbox in arrival order, except for the priority lane: admin-room events,
✅ reactions and "!yakuba" messages are taken first (Inbox.next_batch), and when one arrives
mid-drain the worker re-queries after the event in hand, so a command never waits behind a
flood of ordinary messages (priority_lane=False: plain arrival order, for benchmarks). A policy
that raises is logged and counted and the others still run; an effect that fails is the
executor's business. An event is marked done only after all its decisions ran, so a crash
mid-event replays it on restart — effects are made idempotent by once_keys and deterministic
transaction ids.

An event one of whose effects failed for a reason that may pass (the executor notes it:
Synapse 5xx/429/unreachable, the E2EE bot not ready) is not marked done either: it stays in the
inbox and is replayed after a backoff (`retry_base_s`, doubling, at most `retry_cap_s`; later
events go on meanwhile), its done once_keys skipped. After `max_replays` replays it is marked
done with its error and an `effects_gave_up` audit row. The backoff lives in memory: a restart
replays such events at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from appservice.core.db import transaction
from appservice.core.decisions import Audit
from appservice.core.executor import Executor, buffered_audits
from appservice.core.inbox import Inbox, InboxItem
from appservice.core.metrics import Metrics
from appservice.core.policy import Policy, PolicyContext
from appservice.core.state import write_audit

log = structlog.get_logger(__name__)

ContextFactory = Callable[[], Awaitable[PolicyContext]]


class Pipeline:
    def __init__(self, inbox: Inbox, policies: Sequence[Policy], executor: Executor,
                 context: ContextFactory, metrics: Metrics, *, plaintext_grace_s: float = 60.0,
                 retry_base_s: float = 5.0, retry_cap_s: float = 300.0, max_replays: int = 10,
                 priority_lane: bool = True, batch_size: int = 100) -> None:
        self.inbox = inbox
        self.policies = list(policies)
        self.executor = executor
        self.context = context
        self.metrics = metrics
        self.plaintext_grace_s = plaintext_grace_s
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.max_replays = max_replays
        self.priority_lane = priority_lane
        self.batch_size = batch_size
        self._stopping = False
        # Events left for a replay: seq → (replays so far, when the next one is due, monotonic).
        self._deferred: dict[int, tuple[int, float]] = {}

    def deferred(self) -> list[int]:
        """The seqs of events waiting for a replay."""
        return sorted(self._deferred)

    async def process(self, item: InboxItem, ctx: PolicyContext) -> bool:
        """Run the policies and perform their decisions; True if the event is done, False if
        it is left in the inbox for a replay (an effect failed for a reason that may pass)."""
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
        rows = audits.close()
        if audits.transient:
            replays, _ = self._deferred.get(item.seq, (0, 0.0))
            if replays < self.max_replays:
                await self._defer(item, replays, audits.transient, rows)
                return False
            errors.append("gave_up:" + ",".join(dict.fromkeys(audits.transient)))
            rows.append(Audit(action="effects_gave_up", actor=event.sender, room_id=event.room_id,
                              event_id=event.event_id, result="error",
                              details={"replays": replays, "failed": list(dict.fromkeys(audits.transient))}))
            log.error("event_gave_up", event_id=event.event_id, room_id=event.room_id, replays=replays)
        self._deferred.pop(item.seq, None)
        await self.inbox.mark_done(item.seq, ",".join(errors) or None, rows)
        self.metrics.events_processed.inc()
        self.metrics.process_seconds.observe(time.perf_counter() - started)
        return True

    async def _defer(self, item: InboxItem, replays: int, failed: list[str], rows: list[Audit]) -> None:
        """Leave the event pending for a replay after a backoff. Its audit rows that carry a
        once_key are written now (the effects they tell of happened and will be skipped on the
        replay); the others come again from the policies on the replay."""
        delay = min(self.retry_cap_s, self.retry_base_s * 2 ** replays)
        self._deferred[item.seq] = (replays + 1, time.monotonic() + delay)
        keyed = [r for r in rows if r.once_key]
        if keyed:
            def _write(c: sqlite3.Connection) -> None:
                for row in keyed:
                    write_audit(c, row)

            await self.inbox.db.run(lambda c: transaction(c, _write))
        log.warning("event_deferred", event_id=item.event.event_id, room_id=item.event.room_id,
                    replay=replays + 1, in_s=round(delay, 1), failed=list(dict.fromkeys(failed)))

    async def drain(self) -> int:
        """Process everything pending now; returns how many events ran."""
        total = 0
        tried: set[int] = set()  # an event left for a replay is not tried again in this drain
        while True:
            batch = await self.inbox.next_batch(self.batch_size + len(self._deferred),
                                                priority=self.priority_lane)
            now = time.monotonic()
            batch = [i for i in batch if i.seq not in tried and self._deferred.get(i.seq, (0, now))[1] <= now]
            if not batch:
                return total
            ctx = await self.context()
            for item in batch:
                if self._stopping:  # the rest stays in the inbox for the next start
                    return total
                if self.priority_lane and self.inbox.priority_waiting and not item.priority:
                    break  # a command (or ✅) arrived: re-query, it goes before the rest
                tried.add(item.seq)
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
