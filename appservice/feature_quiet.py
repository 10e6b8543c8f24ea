"""Feature: quiet hours (appservice/quiet/, docs/quiet-hours.md).

install() validates the `quiet_hours` section (a bad key stops the start with its name),
appends the policy, registers the membership effect, starts the reconcile loop and imports
the `quiet` / `emergency` commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appservice.decisions import Effect
from appservice.events import Event
from appservice.quiet.config import QuietConfig, quiet_config_from_dict
from appservice.quiet.policy import QuietPolicy
from appservice.quiet.reconcile import Reconciler
from appservice.quiet.store import QuietStore
from appservice.services import Services
from appservice.workcal import WorkCalendar

if TYPE_CHECKING:
    from appservice.service import YakubaService


class QuietFeature:
    def __init__(self, cfg: QuietConfig, calendar: WorkCalendar, store: QuietStore, services: Services) -> None:
        self.cfg = cfg
        self.calendar = calendar
        self.store = store
        self.reconciler = Reconciler(cfg, calendar, store, services)

    async def on_membership(self, effect: Effect, event: Event, svc: Services) -> None:
        """Someone joined or left an exempt room: their exempt rules follow at once."""
        p = effect.payload
        self.reconciler.note_membership(p["user_id"], p["room_id"], p["membership"])
        await self.reconciler.reconcile_one(p["user_id"])

    async def reconcile_loop(self) -> None:
        await self.reconciler.loop()


def install(svc: YakubaService) -> None:
    config = svc.config
    cfg = quiet_config_from_dict(config.feature("quiet_hours"),
                                 base_dir=config.path.parent if config.path else None,
                                 server_name=config.homeserver.server_name)
    calendar = WorkCalendar(cfg.calendar, clock=svc.clock.now)
    feature = QuietFeature(cfg, calendar, QuietStore(svc.db), svc.services)
    svc.services.extras["quiet"] = feature
    svc.policies.append(QuietPolicy(cfg, calendar))
    svc.executor.on_effect("quiet_membership", feature.on_membership)

    async def quiet_reconcile() -> None:
        await feature.reconcile_loop()

    svc.background.append(quiet_reconcile)
    from appservice.quiet import commands  # noqa: F401  (registers quiet, emergency)
