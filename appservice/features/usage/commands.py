"""`!yakuba usage [week|month] [YYYY-MM-DD|YYYY-MM] [department]` (admin room): the report is made
in the background (Usage.start_job) and posted there — text, chart and CSV."""

from __future__ import annotations

from appservice.core.commands import CommandError, Invocation, Reply
from appservice.core.decisions import Message
from appservice.core.feature import Command
from appservice.features.usage.report import Period, period_message
from appservice.features.usage.runtime import Usage, parse_report_args


async def report(inv: Invocation) -> Reply:
    usage: Usage = inv.feature
    today = usage.today()
    try:
        kind, day, group = parse_report_args(inv.args, today)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    usage.start_job(f"report:{inv.event_id}",
                    usage.report_job(inv.room_id, kind, day, group, inv.sender, inv.event_id))
    return Reply(messages=[Message("usage.report.started",
                                   {"period": period_message(Period.containing(kind, day or today))})])


COMMANDS = (
    Command("usage", usage="usage [week|month] [YYYY-MM-DD|YYYY-MM] [部署]", summary_key="usage.help.summary",
            handler=report),
)
