"""Which features a service runs, in pipeline order. Each feature's `install(service)` adds its
policies, effect handlers, background tasks and commands — and touches nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appservice.service import YakubaService


# Feature modules, in pipeline order after the core policies. Each has `install(service)`.
FEATURES = (
    "appservice.feature_pii",
    "appservice.feature_screenshots",
    "appservice.feature_quiet",
    "appservice.feature_offboarding",
    "appservice.feature_retention",
)


def install_features(svc: YakubaService) -> None:
    from appservice import commands  # noqa: F401
    from appservice.commands import core, room  # noqa: F401  (registers help, status, leave)
    from appservice.offers import install as install_offers
    from appservice.policies.admin_commands import AdminCommandsPolicy
    from appservice.policies.event_log import EventLogPolicy

    svc.policies.append(EventLogPolicy())
    svc.policies.append(AdminCommandsPolicy())
    install_offers(svc)
    import importlib

    for name in FEATURES:  # a missing or broken feature must fail the start, not vanish
        importlib.import_module(name).install(svc)
    if svc.with_bots:
        from bots.install import install as install_bots

        install_bots(svc)
