"""Offboarding: lost phones and leavers (docs/offboarding.md).

- plan.py      pure rules: room admins (v12 creators), refusals, argument and date parsing
- csvfile.py   the bulk CSV (Excel-friendly)
- jobs.py      plans, jobs and uploads in SQLite; leases for running jobs
- execute.py   the Synapse side: dry-run inspection, hand-over, deactivation, lock/logout/suspend
- runtime.py   plans → confirmation → jobs → scheduler with progress and reports
- report.py    dry-run, progress and report texts (catalog messages)
- commands.py  the admin-room commands; policy.py the ✅ approvals and CSV uploads
- cli.py       `yakuba offboard …`; auditlog.py the audit view and CSV export
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.db import Database
from appservice.core.feature import CliCommand, Feature
from appservice.core.feature import need_config as _need
from appservice.features.offboarding.commands import COMMANDS
from appservice.features.offboarding.config import OffboardingConfig, load
from appservice.features.offboarding.feature import setup
from appservice.features.offboarding.jobs import TABLES, JobStore


def _settings(raw: Mapping[str, Any], config: Config) -> OffboardingConfig:
    return load(dict(raw))


async def _admin_removed(db: Database, user_id: str) -> int:
    return await JobStore(db).cancel_requested_by(user_id)


def _offboard_cli(argv: list[str], config: Config | None) -> int:
    from appservice.features.offboarding.cli import offboard_main

    return offboard_main(argv, _need(config))


FEATURE = Feature(
    name="offboarding",
    description="lost phones (lock, logout, suspend) and leavers (hand-over, deactivation, bulk CSV)",
    section="offboarding",
    settings=_settings,
    enabled=lambda s: s.enabled,
    setup=setup,
    commands=COMMANDS,
    tables=(TABLES,),
    cli=(CliCommand("offboard", "bulk offboarding from a CSV", _offboard_cli),),
    admin_removed=_admin_removed,
)
