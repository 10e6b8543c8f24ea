"""Assembling the running service: database, inbox, HTTP, pipeline, features, bots.

Start order matters: the HTTP listener and pipeline come up before we ping Synapse, because
a successful ping makes Synapse retry any transactions it queued while we were down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import structlog
from aiohttp import web

from appservice.app import bootstrap
from appservice.app.assembly import DEFAULT_FEATURES, assemble, tables
from appservice.app.logs import register_secret
from appservice.core.clock import Clock, FileClock
from appservice.core.config import Config
from appservice.core.db import Database
from appservice.core.executor import Executor
from appservice.core.feature import Feature, Runtime, Task
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.pipeline import Pipeline
from appservice.core.policy import Policy, PolicyContext
from appservice.core.services import Services
from appservice.core.state import StateStore
from appservice.matrix.client import MatrixClient, MatrixError
from appservice.matrix.http_server import AppserviceHTTP
from appservice.matrix.sender import Sender

log = structlog.get_logger(__name__)

BackgroundTask = Task


class YakubaService:
    def __init__(self, config: Config, *, clock: Clock | None = None, with_bots: bool = True,
                 features: Sequence[Feature] | None = None, priority_lane: bool = True,
                 aggregate_notices: bool = True) -> None:
        """features: what this service runs, in pipeline order (default: DEFAULT_FEATURES);
        with_bots=False drops the E2EE bots (benchmarks of the pipeline alone);
        priority_lane / aggregate_notices=False: plain arrival order and one admin notice per
        detection (the baseline of bench/bench_priority.py)."""
        chosen = list(DEFAULT_FEATURES if features is None else features)
        if not with_bots:
            chosen = [f for f in chosen if f.name != "bots"]
        self.config = config
        register_secret(config.appservice.as_token)
        register_secret(config.appservice.hs_token)
        self.clock = clock or (FileClock(config.clock_file) if config.clock_file else Clock())
        self.db = Database(config.db_path, tables(chosen))
        self.metrics = Metrics()
        self.inbox = Inbox(self.db, config.bot_user_ids, [t for f in chosen for t in f.content_holds])
        self.state = StateStore(self.db)
        self.client = MatrixClient(config.homeserver.url, config.appservice.as_token, config.sender,
                                   as_sender=config.as_user_id)
        self.sender = Sender(self.client, self.state)
        self.services = Services(config, self.clock, self.client, self.state, self.inbox,
                                 self.metrics, self.sender)
        self.executor = Executor(self.services, aggregate_notices=aggregate_notices)
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        assembled = assemble(chosen, Runtime(config, self.db, self.services, self.executor))
        self.features = assembled
        self.policies: list[Policy] = assembled.policies
        self.background: list[BackgroundTask] = assembled.background
        self.on_started: list[BackgroundTask] = assembled.on_started
        self.on_stopping: list[BackgroundTask] = assembled.on_stopping
        grace = float(config.feature("bots").get("plaintext_grace_seconds", 60))
        self.pipeline = Pipeline(self.inbox, self.policies, self.executor, self.context,
                                 self.metrics, plaintext_grace_s=grace, priority_lane=priority_lane)

    async def context(self) -> PolicyContext:
        return PolicyContext(config=self.config, now=self.clock.now(),
                             admins=await self.services.admins(),
                             admin_room=await self.state.admin_room(), state=self.state)

    async def start(self, *, bootstrap_matrix: bool = True) -> None:
        await self.db.open()
        http = AppserviceHTTP(self.config, self.inbox, self.metrics)
        self._runner = web.AppRunner(http.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.appservice.bind, self.config.appservice.port)
        await site.start()
        log.info("listening", bind=self.config.appservice.bind, port=self.config.appservice.port)
        self._tasks.append(asyncio.create_task(self.pipeline.run(), name="pipeline"))
        self._tasks.append(asyncio.create_task(self.executor.run_notice_flush(), name="notice_flush"))
        if bootstrap_matrix:
            await self._bootstrap()
        for task in self.background:
            self._tasks.append(asyncio.create_task(task(), name=getattr(task, "__name__", "task")))
        for hook in self.on_started:
            await hook()

    async def _bootstrap(self) -> None:
        cfg = self.config
        for attempt in range(30):
            try:
                await self.client.versions()
                break
            except MatrixError:
                await asyncio.sleep(min(0.5 * (attempt + 1), 5))
        await bootstrap.register_bots(self.client, [cfg.appservice.bot_localpart,
                                                     cfg.appservice.archive_localpart])
        await bootstrap.ensure_bot_profiles(self.services)
        try:
            await bootstrap.ensure_admin_room(self.services)
        except MatrixError as exc:
            log.error("admin_room_failed", error=exc.errcode)
        try:
            await self.client.ping(cfg.appservice.id)  # makes Synapse flush what it queued
        except MatrixError as exc:
            log.warning("ping_failed", error=exc.errcode, status=exc.status)

    async def stop(self) -> None:
        """Stop taking transactions (Synapse keeps them and retries), let the pipeline finish
        the event in hand, stop the bots and other tasks, then run the features' stop hooks."""
        if self._runner is not None:
            await self._runner.cleanup()
        self.pipeline.stop()
        pipeline_task = next((t for t in self._tasks if t.get_name() == "pipeline"), None)
        if pipeline_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(pipeline_task), timeout=5)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for hook in self.on_stopping:
            with contextlib.suppress(Exception):
                await hook()
        await self.client.close()
        self.db.close()
