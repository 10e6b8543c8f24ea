"""Setting up the retention bot — flagged rooms mirrored into the tamper-evident archive.

Policy `archive` (appservice/features/retention/policy.py, pure) → Effect("archive") → the handler in
appservice/features/retention/runtime.py builds the record and appends it to the ArchiveStore (fsync'd,
in a thread) before the pipeline marks the event done. Commands: `!yakuba archive …`.
Operators: docs/retention.md. Storage: docs/archive.md.
"""

from __future__ import annotations

import structlog

from appservice.core.configerror import ConfigError
from appservice.core.feature import Parts, Runtime
from appservice.features.retention.commands import OFFER_ACTION, dispose_offer_handler
from appservice.features.retention.config import RetentionSettings
from appservice.features.retention.policy import EFFECT_KIND, MIRRORED_KIND, UNMIRRORED_KIND, ArchivePolicy
from appservice.features.retention.runtime import Retention
from appservice.features.retention.tables import RetentionTables
from appservice.lib.archive import Directory, ensure_signing_key

log = structlog.get_logger(__name__)


def setup(runtime: Runtime, settings: RetentionSettings) -> Parts:
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
    tables = RetentionTables(runtime.db)
    retention = Retention(runtime.executor, settings, store, tables, directory)
    return Parts(
        component=retention,
        policies=[ArchivePolicy(tables)],
        effects={EFFECT_KIND: retention.on_archive, UNMIRRORED_KIND: retention.on_unmirrored,
                 MIRRORED_KIND: retention.on_mirrored},
        offer_actions={OFFER_ACTION: dispose_offer_handler(retention)},
        background=[retention.retry_loop, retention.checkpoint_loop],
        on_stopping=[retention.close],
    )
