"""Quiet hours at run time: the feature's object (calendar, store, reconciler, executor), its
membership effect and the reconcile loop."""

from __future__ import annotations

from appservice.core.decisions import Effect
from appservice.core.events import Event
from appservice.core.executor import Executor
from appservice.core.feature import Parts, Runtime
from appservice.core.services import Services
from appservice.features.quiet.config import QuietConfig
from appservice.features.quiet.policy import QuietPolicy
from appservice.features.quiet.reconcile import Reconciler
from appservice.features.quiet.store import QuietStore
from appservice.lib.workcal import WorkCalendar


class QuietFeature:
    def __init__(self, cfg: QuietConfig, calendar: WorkCalendar, store: QuietStore, executor: Executor) -> None:
        self.cfg = cfg
        self.calendar = calendar
        self.store = store
        self.executor = executor  # messages and audit rows of the commands
        self.reconciler = Reconciler(cfg, calendar, store, executor)

    async def on_membership(self, effect: Effect, event: Event, svc: Services) -> None:
        """Someone joined or left an exempt room: their exempt rules follow at once."""
        p = effect.payload
        self.reconciler.note_membership(p["user_id"], p["room_id"], p["membership"])
        await self.reconciler.reconcile_one(p["user_id"])

    async def reconcile_loop(self) -> None:
        await self.reconciler.loop()


def setup(runtime: Runtime, cfg: QuietConfig) -> Parts:
    calendar = WorkCalendar(cfg.calendar, clock=runtime.services.clock.now)
    feature = QuietFeature(cfg, calendar, QuietStore(runtime.db), runtime.executor)
    return Parts(component=feature, policies=[QuietPolicy(cfg, calendar)],
                 effects={"quiet_membership": feature.on_membership}, background=[feature.reconcile_loop])
