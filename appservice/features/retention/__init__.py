"""Retention bot: mirror flagged rooms into the tamper-evident archive (appservice/archive).

config    — the `retention:` section of yakuba.yaml
tables    — Yakuba-side state: flags, display names, retries, pending disposals
records   — Matrix event → archive record (pure)
policy    — ArchivePolicy (pure): events of flagged rooms become Effect("archive")
runtime   — the effect handler, flag/unflag in Matrix, retries
commands  — `!yakuba archive …` (exports reach the admin room through Executor.send_file,
            encrypted there when the room is)
See docs/retention.md (operators) and docs/archive.md (the storage layer).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.db import Database
from appservice.core.feature import CliCommand, Feature
from appservice.core.feature import need_config as _need
from appservice.features.retention.commands import COMMANDS
from appservice.features.retention.config import RetentionSettings
from appservice.features.retention.feature import setup
from appservice.features.retention.tables import TABLES, RetentionTables


def _settings(raw: Mapping[str, Any], config: Config) -> RetentionSettings:
    return RetentionSettings.from_config(config)


async def _admin_removed(db: Database, user_id: str) -> int:
    return await RetentionTables(db).cancel_disposals_by(user_id)


def _archive_cli(argv: list[str], config: Config | None) -> int:
    from appservice.lib.archive.cli import archive_main

    retention = RetentionSettings.from_config(_need(config))  # root, backend and key
    return archive_main(argv, root=retention.root, backend=retention.make_backend(),
                        signing_key=retention.key_path, stdout=sys.stdout, stderr=sys.stderr)


FEATURE = Feature(
    name="retention",
    description="mirror flagged rooms into the tamper-evident public-records archive",
    section="retention",
    settings=_settings,
    enabled=lambda s: s.enabled,
    setup=setup,
    commands=COMMANDS,
    tables=(TABLES,),
    cli=(CliCommand("archive", "archive: verify, export, due, dispose", _archive_cli),),
    admin_removed=_admin_removed,
    # Archive writes that failed are retried from the inbox (runtime.py, retry_due).
    content_holds=("retention_retry",),
)
