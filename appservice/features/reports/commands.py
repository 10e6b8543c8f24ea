"""`!yakuba reports` and `!yakuba report <id> …` (admin room, Yakuba admins).

    reports                     open reports; those without action for `reports.stale_days` marked
    reports all                 the latest reports, whatever their state
    report 12                   one report again (with the text as the admin room may see it)
    report 12 delete [理由]      ┐ a confirmation is posted; ✅ on it by the same admin acts
    report 12 warn [文面]        │ (delete: the message; warn: a private notice to the sender;
    report 12 suspend [理由]     ┘  suspend: the offboarding `suspend` command, run as that admin)
    report 12 dismiss [理由]     closes the report at once
    … --tell-reporter            the reporters get the outcome as well

A sender on another server cannot be suspended from here: the reply says what can be done.
"""

from __future__ import annotations

from appservice.core.commands import CommandError, Invocation, Reply
from appservice.core.decisions import Audit, Decision, Message, Notice, Offer
from appservice.core.feature import Command
from appservice.core.text import one_line
from appservice.features.reports.runtime import OFFER_ACTION, Reports
from appservice.features.reports.store import Report

ACTIONS = ("delete", "warn", "suspend", "dismiss")
ALIASES = {"削除": "delete", "注意": "warn", "警告": "warn", "停止": "suspend", "却下": "dismiss",
           "対応不要": "dismiss"}
TELL = ("--tell-reporter", "--tell")


def _reports(inv: Invocation) -> Reports:
    feature: Reports | None = inv.feature
    if feature is None:
        raise CommandError("reports are not installed")
    return feature


def _id(value: str) -> int:
    text = value.lstrip("#＃")
    if not text.isdigit() or len(text) > 12:
        raise CommandError(f"not a report number: {value[:40]!r}")
    return int(text)


async def reports(inv: Invocation) -> Reply:
    feature = _reports(inv)
    show_all = bool(inv.args) and inv.args[0].lower() in ("all", "全部", "すべて")
    cases = await feature.store.cases(open_only=not show_all)
    if not cases:
        return Reply(messages=[Message("reports.list.empty")])
    now = feature.svc.clock.now().timestamp()
    msgs = [Message("reports.list.header", {"count": len(cases), "days": feature.settings.stale_days})]
    for case, count in cases:
        days = int((now - case.received_at) // 86400)
        stale = case.status == "open" and days >= feature.settings.stale_days
        msgs.append(Message("reports.list.line", {
            "id": case.id, "when": feature.when(case.received_at), "room": case.room_name or case.room_id,
            "reporter": case.reporter, "sender": case.sender or "-", "count": count,
            "reason": case.reason or Message("reports.no_reason"),
            "status": Message(f"reports.status.{case.status}"),
            "age": Message("reports.list.stale" if stale else "reports.list.age", {"days": days})}))
    return Reply(messages=msgs)


async def report(inv: Invocation) -> Reply:
    feature = _reports(inv)
    if not inv.args:
        raise CommandError("give the report number: report 12")
    case = await feature.store.case(_id(inv.args[0]))
    if case is None:
        return Reply(messages=[Message("reports.err.unknown", {"id": inv.args[0][:20]})])
    words = list(inv.args[1:])
    tell = any(w.lower() in TELL for w in words)
    words = [w for w in words if w.lower() not in TELL]
    if not words:
        seen = await feature.seen(case)
        return Reply(messages=[await feature.post_message(case, seen), Message("reports.status_line", {
            "status": Message(f"reports.status.{case.status}"), "actions": ", ".join(case.actions) or "-"})])
    action = ALIASES.get(words[0], words[0].lower())
    if action not in ACTIONS:
        raise CommandError(f"unknown action {words[0][:20]!r} (delete, warn, suspend, dismiss)")
    # A warning may go on over more lines (core/commands.py: the lines after the first are its text).
    text = one_line(" ".join([*words[1:], inv.text]).strip(), 300)
    if case.status == "dismissed":
        return Reply(messages=[Message("reports.err.closed", {"id": case.case_id})])
    if action == "dismiss":
        return await _dismiss(feature, inv, case, text, tell)
    sender = case.sender
    if sender is None:
        return Reply(messages=[Message("reports.err.no_sender", {"id": case.case_id})])
    local = inv.services.config.is_local(sender)
    if action == "suspend":
        if not local:
            server = sender.split(":", 1)[-1]
            return Reply(messages=[Message("reports.suspend.remote",
                                           {"user": sender, "server": server, "id": case.case_id})])
        if inv.table is None or "suspend" not in inv.table or not inv.table.enabled("suspend"):
            return Reply(messages=[Message("reports.suspend.unavailable", {"user": sender})])
    confirm = Message(f"reports.confirm.{action}", {
        "id": case.case_id, "user": sender, "room": case.room_name or case.room_id,
        "text": text or "-", "remote": Message("reports.confirm.remote" if not local else "reports.confirm.local"),
        "tell": Message("reports.confirm.tell" if tell else "reports.confirm.no_tell")})
    decisions: list[Decision] = [Notice(
        room_id=inv.room_id, message=confirm, reply_to=inv.event_id, once_key=f"reports_confirm:{inv.event_id}",
        offer=Offer(OFFER_ACTION, inv.sender, case.room_id, case.event_id,
                    {"report": case.case_id, "action": action, "text": text, "tell": tell,
                     "reply_room": inv.room_id}))]
    return Reply(decisions=decisions)


async def _dismiss(feature: Reports, inv: Invocation, case: Report, text: str, tell: bool) -> Reply:
    await feature.store.act(case.case_id, "dismiss", inv.sender, feature.svc.clock.now().timestamp())
    decisions: list[Decision] = [Audit(
        action="report_action", actor=inv.sender, target=case.sender, room_id=case.room_id, event_id=case.event_id,
        once_key=f"report_action:{inv.event_id}",
        details={"report": case.case_id, "action": "dismiss", "note": bool(text), "tell_reporter": tell})]
    if tell:
        decisions.extend(await feature.outcome(case, "dismiss"))
    return Reply(messages=[Message("reports.done.dismiss", {"id": case.case_id})], decisions=decisions)


COMMANDS = (
    Command("reports", usage="reports [all]", summary_key="reports.help.reports", handler=reports,
            subcommands=("all",)),
    Command("report", usage="report <番号> [delete|warn|suspend|dismiss] [文面] [--tell-reporter]",
            summary_key="reports.help.report", handler=report,
            subcommands=ACTIONS),
)
