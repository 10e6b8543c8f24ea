"""Feature: the retention bot — flagged rooms mirrored into the tamper-evident archive.

Policy `archive` (appservice/retention/policy.py, pure) → Effect("archive") → the handler in
appservice/retention/runtime.py builds the record and appends it to the ArchiveStore (fsync'd,
in a thread) before the pipeline marks the event done. Commands: `!yakuba archive …`.
Operators: docs/retention.md. Storage: docs/archive.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from appservice.archive import Directory, ensure_signing_key
from appservice.configerror import ConfigError
from appservice.retention.config import RetentionSettings
from appservice.retention.policy import EFFECT_KIND, ArchivePolicy
from appservice.retention.runtime import Retention
from appservice.retention.tables import RetentionTables

if TYPE_CHECKING:
    from appservice.service import YakubaService

log = structlog.get_logger(__name__)


def install(svc: YakubaService) -> None:
    settings = RetentionSettings.from_config(svc.config)
    if not settings.enabled:
        return
    directory = None
    if settings.directory is not None:
        try:
            directory = Directory.load(settings.directory)
        except (OSError, ValueError) as exc:
            raise ConfigError("retention.directory", f"cannot read {settings.directory}: {exc}") from None
    if not settings.key_path.exists():
        # First start: create the checkpoint signing key. Its fingerprint belongs in the records
        # register (文書管理台帳); `yakuba archive init` prints it again at any time.
        fingerprint = ensure_signing_key(settings.key_path)
        log.warning("archive_signing_key_created", path=str(settings.key_path), fingerprint=fingerprint)
    store = settings.make_store()
    tables = RetentionTables(svc.db)
    retention = Retention(svc.services, settings, store, tables, directory)
    svc.services.extras["retention"] = retention
    svc.policies.append(ArchivePolicy(tables))
    svc.executor.on_effect(EFFECT_KIND, retention.on_archive)
    svc.background.append(retention.retry_loop)
    svc.background.append(retention.checkpoint_loop)
    svc.on_stopping.append(retention.close)
    from appservice.retention import commands  # noqa: F401  (registers `archive`)
