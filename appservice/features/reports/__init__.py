"""通報 (reported messages): Element's "Report" button files a report with Synapse; Yakuba picks
it up (admin API), posts it to the admin room — reporter, reason, room, sender, time, the text
where the admin room may see it, masked — acknowledges it to the reporter, and lets admins
delete the message, warn the sender, suspend them (through offboarding's `suspend`) or dismiss
it, with ✅ confirmation; optionally the room's local moderators are told. docs/reports.md.

store.py its table · text.py settings and masking (pure) · runtime.py the poller, delivery and
actions · commands.py `!yakuba reports` / `report …` · the Synapse calls in appservice/matrix/reports.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.feature import Feature, Parts, Runtime
from appservice.core.schema import Bool, Choice, Int, Number, Schema
from appservice.features.reports.commands import COMMANDS
from appservice.features.reports.runtime import OFFER_ACTION, Reports
from appservice.features.reports.store import TABLES, ReportStore
from appservice.features.reports.text import MODERATOR_MODES, ReportsSettings

SCHEMA = Schema("reports", {
    "enabled": Bool(True),
    "poll_seconds": Number(30.0, gt=0, hi=3600),
    # Open reports without action for this many days are marked in `!yakuba reports`.
    "stale_days": Int(7, lo=1, hi=365),
    # The room's local moderators get reports about their room: off | also | instead (of the admin room).
    "moderators": Choice("off", MODERATOR_MODES),
    "acknowledge": Bool(True),
    "show_text": Bool(True),
    "text_chars": Int(500, lo=50, hi=2000),
    # On the first start, reports older than this are recorded without being posted.
    "backlog_days": Int(14, lo=0, hi=3650),
    # Report ids deleted in Synapse leave holes: how many missing ids to step over.
    "lookahead": Int(3, lo=0, hi=50),
    # Closed reports (and their masked reasons) are deleted this many days after they came in.
    "keep_days": Int(400, lo=1, hi=3650),
})


def _settings(raw: Mapping[str, Any], config: Config) -> ReportsSettings:
    v = SCHEMA.validate(dict(raw))
    return ReportsSettings(**v)


def setup(runtime: Runtime, settings: ReportsSettings) -> Parts:
    reports = Reports(settings, ReportStore(runtime.db), runtime.executor)
    return Parts(component=reports, offer_actions={OFFER_ACTION: reports.on_offer}, background=[reports.loop])


FEATURE = Feature(
    name="reports",
    description="通報: reported messages from Synapse to the admin room, with delete / warn / suspend / dismiss",
    section="reports",
    settings=_settings,
    enabled=lambda s: s.enabled,
    setup=setup,
    commands=COMMANDS,
    tables=(TABLES,),
)
