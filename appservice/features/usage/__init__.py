"""Usage reports (利用状況): how the chat is used, per department, as a chart an admin reads at
a glance, the numbers as text and a CSV — counts only, never content, never who wrote to whom.
See docs/usage-reports.md.

config.py   the `usage:` section (the work calendar is read from quiet_hours)
counting.py which event-log rows are messages (pure)
tables.py   the counters (per department and day) and pseudonymous activity bitmaps
groups.py   merging departments smaller than min_group_size into 「その他」 (pure)
report.py   periods, the report's numbers, text and CSV (pure)
chart.py    the PNG (matplotlib, IPAexGothic from matplotlib-fontja)
runtime.py  the Usage object: the harvest into the counts, reports, the weekly post
commands.py `!yakuba usage …`; cli.py `yakuba usage …`
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appservice.core.config import Config
from appservice.core.configerror import ConfigError
from appservice.core.feature import CliCommand, Feature, Parts, Runtime
from appservice.core.feature import need_config as _need
from appservice.features.usage.commands import COMMANDS
from appservice.features.usage.config import SECTION, UsageSettings
from appservice.features.usage.runtime import Usage
from appservice.features.usage.tables import TABLES
from appservice.lib.archive import Directory


def _settings(raw: Mapping[str, Any], config: Config) -> UsageSettings:
    return UsageSettings.from_config(config)


def setup(runtime: Runtime, settings: UsageSettings) -> Parts:
    directory = None
    if settings.directory is not None:
        try:
            directory = Directory.load(settings.directory)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{SECTION}.directory", f"cannot read {settings.directory}: {exc}") from None
    usage = Usage(runtime.config, settings, runtime.db, runtime.services.clock, client=runtime.services.client,
                  executor=runtime.executor, directory=directory)
    return Parts(component=usage, background=[usage.run], on_stopping=[usage.close])


def _report_cli(argv: list[str], config: Config | None) -> int:
    from appservice.features.usage.cli import report_main

    return report_main(argv, _need(config))


FEATURE = Feature(
    name="usage",
    description="usage reports per department: counts only (messages, off hours, warnings, accounts)",
    section=SECTION,
    settings=_settings,
    enabled=lambda s: s.enabled,
    setup=setup,
    commands=COMMANDS,
    tables=(TABLES,),
    cli=(CliCommand("usage", "usage report: `usage [week|month] [--csv]`", _report_cli),),
)
