"""Background jobs a feature starts outside the pipeline worker (exports, reports, sending a
broadcast): one small owner of the tasks, so every feature starts, waits for and cancels them
the same way. A job reports its own outcome through the executor; anything that still escapes
is logged here, by type only (never a message body)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class Jobs:
    def __init__(self, owner: str) -> None:
        self.owner = owner   # the feature's name: task names and log events
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                log.info("job_cancelled", feature=self.owner, job=name)
                raise
            except Exception as exc:
                log.error("job_failed", feature=self.owner, job=name, error=type(exc).__name__)

        task = asyncio.create_task(guarded(), name=f"{self.owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[None]]:
        return iter(list(self._tasks))

    async def idle(self) -> None:
        """Wait until no job is running (a job may start another)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every running job and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
