"""Admin-room commands: lock, unlock, logout, suspend, unsuspend, offboard, confirm, cancel, audit.

All are admin-scope (Yakuba admins, in the admin room — checked by the admin_commands policy
before a handler runs). Lock, logout and suspend act at once (a lost phone cannot wait) — on
oneself or on someone who is not a Yakuba admin. On ANOTHER Yakuba admin they post a plan
instead, which a different admin confirms (`!yakuba confirm <code>` or ✅): one admin alone
cannot shut the others out. Offboarding always shows a dry run first and acts only after
`!yakuba confirm <code>` or a ✅ on the plan (with `offboarding.four_eyes`, from a different
admin than the one who asked).

Users are named by id or picked from the autocomplete (a pill): the args come from the plain
body, so a pill's shown text is resolved to the user it links to, and disagreement between the
text and the mentions is refused (plan.py, `resolve_mentions`).
What a handler posts itself (the dry run, the audit export as a file) and every audit row go
through the executor (`ob.executor`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import structlog

from appservice.core.commands import CommandError, Invocation, Reply
from appservice.core.decisions import Message
from appservice.core.events import Event
from appservice.core.executor import render
from appservice.core.feature import Command
from appservice.features.offboarding import report
from appservice.features.offboarding.auditlog import audit_csv, audit_rows
from appservice.features.offboarding.csvfile import parse_csv
from appservice.features.offboarding.plan import (
    ArgError,
    check_mentioned,
    normalize_user,
    parse_offboard_args,
    parse_target,
    resolve_mentions,
)
from appservice.features.offboarding.policy import OFFER_ACTION
from appservice.features.offboarding.runtime import Offboarding
from appservice.matrix.media import MediaError, download

CSV_MAX_BYTES = 2 * 1024 * 1024

log = structlog.get_logger(__name__)


def _ob(inv: Invocation) -> Offboarding:
    ob: Offboarding = inv.feature
    return ob


def _bad(inv: Invocation, exc: ArgError) -> CommandError:
    return CommandError(render(Message(exc.key, exc.params), inv.services.config.locale))


def _args(inv: Invocation) -> tuple[str, ...]:
    """The args with each pill's shown text replaced by the user id it links to."""
    return resolve_mentions(inv.args, pills=inv.pills, server_name=inv.services.config.homeserver.server_name)


def _check_mentioned(inv: Invocation, *users: str | None) -> None:
    check_mentioned(users, mentioned={*inv.mentions, *(u for u, _ in inv.pills)})


def _target(inv: Invocation, *, reason: str = "none", flags: tuple[str, ...] = ()) -> tuple[str, str, set[str]]:
    try:
        user, text, given = parse_target(_args(inv), server_name=inv.services.config.homeserver.server_name,
                                         reason=reason, flags=flags)
        _check_mentioned(inv, user)
        return user, text, given
    except ArgError as exc:
        raise _bad(inv, exc) from None


async def _needs_second_admin(inv: Invocation, action: str, user: str, reason: str) -> Reply | None:
    """Lock, suspend or log out another Yakuba admin: a plan for a different admin to confirm."""
    if user == inv.sender or user not in await inv.services.admins():
        return None
    ob = _ob(inv)
    code = await ob.create_account_plan(action, user, reason, requester=inv.sender, room_id=inv.room_id,
                                        command_event_id=inv.event_id)
    await send_plan(ob, inv, code, ob.account_plan_messages(code, action, user))
    return Reply()


async def lock(inv: Invocation) -> Reply:
    user, reason, _ = _target(inv, reason="required")
    if planned := await _needs_second_admin(inv, "lock", user, reason):
        return planned
    return Reply(messages=await _ob(inv).offboarder.lock(user, inv.sender, reason))


async def unlock(inv: Invocation) -> Reply:
    user, _, flags = _target(inv, flags=("--keep-sessions",))
    return Reply(messages=await _ob(inv).offboarder.unlock(user, inv.sender,
                                                           keep_sessions="--keep-sessions" in flags))


async def logout(inv: Invocation) -> Reply:
    user, _, _ = _target(inv)
    if planned := await _needs_second_admin(inv, "logout", user, ""):
        return planned
    return Reply(messages=await _ob(inv).offboarder.logout(user, inv.sender))


async def suspend(inv: Invocation) -> Reply:
    user, reason, _ = _target(inv, reason="optional")
    if planned := await _needs_second_admin(inv, "suspend", user, reason):
        return planned
    return Reply(messages=await _ob(inv).offboarder.suspend(user, inv.sender, reason, True))


async def unsuspend(inv: Invocation) -> Reply:
    user, _, _ = _target(inv)
    return Reply(messages=await _ob(inv).offboarder.suspend(user, inv.sender, "", False))


# -- offboard ---------------------------------------------------------------------------------

async def offboard(inv: Invocation) -> Reply:
    ob = _ob(inv)
    svc = inv.services
    if inv.args and inv.args[0] == "list":
        return await _list(inv, ob)
    try:
        args = parse_offboard_args(_args(inv), server_name=svc.config.homeserver.server_name, tz=ob.tz,
                                   now=svc.clock.now(), default_time=ob.cfg.default_leave_time)
        _check_mentioned(inv, args.user, args.successor)
    except ArgError as exc:
        raise _bad(inv, exc) from None
    if args.csv:
        return await _bulk_from_upload(inv, ob, args.erase)
    assert args.user is not None
    plan = await ob.offboarder.inspect(args.user, args.successor, args.at, args.erase)
    if not plan.ok:
        key = plan.refusal or plan.skip or "offboarding.result.unknown"
        if key == "offboarding.skip.deactivated":
            key = "offboarding.refused.deactivated"
        await ob.executor.audit("offboard.plan", actor=inv.sender, target=args.user, room_id=inv.room_id,
                                event_id=inv.event_id, result="refused", details={"reason": key})
        return Reply(messages=[Message(key, plan.params)])
    entries = [report.entry_from_plan(plan)]
    code = await ob.create_plan(kind="single", requester=inv.sender, room_id=inv.room_id,
                                command_event_id=inv.event_id, entries=entries, erase=args.erase)
    await send_plan(ob, inv, code, ob.plan_messages(code, "single", entries, erase=args.erase))
    return Reply()


async def _bulk_from_upload(inv: Invocation, ob: Offboarding, erase: bool) -> Reply:
    svc = inv.services
    found = await ob.jobs.latest_upload(inv.sender, inv.room_id, time.time() - ob.cfg.upload_max_age_hours * 3600)
    if found is None:
        return Reply(messages=[Message("offboarding.csv.no_upload", {"hours": f"{ob.cfg.upload_max_age_hours:g}"})])
    event_id, origin_ts, content = found
    event = Event(event_id=event_id, room_id=inv.room_id, sender=inv.sender, type="m.room.message",
                  origin_server_ts=origin_ts or 0, content=content)
    try:
        attachment = await download(svc.client, event, max_bytes=CSV_MAX_BYTES)
    except MediaError as exc:
        return Reply(messages=[Message("offboarding.csv.download_failed", {"reason": exc.reason})])
    filename = attachment.filename or "upload.csv"
    try:
        rows = parse_csv(attachment.data, server_name=svc.config.homeserver.server_name, tz=ob.tz,
                         default_time=ob.cfg.default_leave_time)
    except ArgError as exc:
        return Reply(messages=[Message(exc.key, exc.params)])
    if not rows:
        return Reply(messages=[Message("offboarding.csv.empty", {"file": filename})])
    # The dry run asks Synapse about every user and room on the list: it runs as a job, so that
    # a lost-phone `lock` typed meanwhile is not queued behind hundreds of admin-API calls.
    ob.start_job(_bulk_dry_run(inv, ob, rows, erase, filename), name=f"offboard-dry-run-{inv.event_id}")
    return Reply(messages=[Message("offboarding.csv.started", {"file": filename, "count": len(rows)})])


async def _bulk_dry_run(inv: Invocation, ob: Offboarding, rows: list[Any], erase: bool, filename: str) -> None:
    svc = inv.services
    try:
        entries = await ob.bulk_entries(rows, erase, svc.clock.now())
        if not entries:
            text = render(Message("offboarding.csv.empty", {"file": filename}), svc.config.locale)
            await ob.executor.post(inv.room_id, text, (inv.event_id, "offboarding.plan"), reply_to=inv.event_id)
            return
        code = await ob.create_plan(kind="bulk", requester=inv.sender, room_id=inv.room_id,
                                    command_event_id=inv.event_id, entries=entries, erase=erase)
        await send_plan(ob, inv, code, ob.plan_messages(code, "bulk", entries, erase=erase, source=filename))
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error_id = uuid.uuid4().hex[:8]
        log.error("offboard_dry_run_failed", error_id=error_id, error=type(exc).__name__)
        text = render(Message("core.command_failed", {"error_id": error_id}), svc.config.locale)
        await ob.executor.post(inv.room_id, text, (inv.event_id, "offboarding.plan.failed"), reply_to=inv.event_id)


async def send_plan(ob: Offboarding, inv: Invocation, code: str, messages: list[Message]) -> None:
    """Post the dry run as a reply to the command and remember it as an offer (✅ confirms)."""
    svc = inv.services
    text = "\n".join(render(m, svc.config.locale) for m in messages)
    sent = await ob.executor.post(inv.room_id, text, (inv.event_id, "offboarding.plan"), reply_to=inv.event_id)
    if sent:
        await ob.jobs.set_plan_message(code, sent)
        await svc.state.add_offer(sent, OFFER_ACTION, inv.sender, inv.room_id, inv.event_id, {"code": code})


async def _list(inv: Invocation, ob: Offboarding) -> Reply:
    plans = await ob.jobs.pending_plans(time.time())
    jobs = await ob.jobs.scheduled()
    if not plans and not jobs:
        return Reply(messages=[Message("offboarding.list.empty")])
    msgs = [Message("offboarding.list.header")]
    for p in plans[:30]:
        msgs.append(Message("offboarding.list.plan", {"code": p.code, "requester": p.requester,
                                                      "count": len(p.entries)}))
    for j in jobs:
        msgs.append(Message("offboarding.list.job", {"code": j.code, "user": j.user_id, "status": j.status,
                                                     "when": report.fmt_time(j.due_at, ob.tz)}))
    return Reply(messages=msgs)


async def confirm(inv: Invocation) -> Reply:
    if len(inv.args) != 1:
        raise _bad(inv, ArgError("offboarding.err.code"))
    return Reply(messages=await _ob(inv).confirm(inv.args[0], inv.sender, via="command"))


async def cancel(inv: Invocation) -> Reply:
    if len(inv.args) != 1:
        raise _bad(inv, ArgError("offboarding.err.code"))
    return Reply(messages=await _ob(inv).cancel(inv.args[0], inv.sender))


# -- audit ------------------------------------------------------------------------------------

async def audit(inv: Invocation) -> Reply:
    svc, ob = inv.services, _ob(inv)
    try:
        args = list(_args(inv))
    except ArgError as exc:
        raise _bad(inv, exc) from None
    export = bool(args) and args[0] == "export"
    if export:
        args = args[1:]
    if len(args) > 1:
        raise _bad(inv, ArgError("offboarding.err.extra_argument", value=args[1][:80]))
    try:
        user = normalize_user(args[0], svc.config.homeserver.server_name) if args else None
        _check_mentioned(inv, user)
    except ArgError as exc:
        raise _bad(inv, exc) from None
    if export:
        rows = await audit_rows(svc.state.db, user, 100_000)
        stamp = svc.clock.now().astimezone(ob.tz).strftime("%Y%m%d-%H%M")
        await ob.executor.send_file(inv.room_id, audit_csv(rows, ob.tz), f"yakuba-audit-{stamp}.csv", "text/csv",
                                    (inv.event_id, "offboarding.audit_export"))
        await ob.executor.audit("audit.export", actor=inv.sender, target=user, room_id=inv.room_id,
                                details={"rows": len(rows)})
        return Reply(messages=[Message("offboarding.audit.exported", {"count": len(rows)})])
    rows = await audit_rows(svc.state.db, user, 20)
    if not rows:
        return Reply(messages=[Message("offboarding.audit.empty")])
    lines = []
    for r in rows:
        when = datetime.fromtimestamp(r["ts"], ob.tz).strftime("%m-%d %H:%M")
        lines.append(f"{when} {r['action']} {r['actor'] or '-'} → {r['target'] or '-'} [{r['result']}]")
    return Reply(messages=[Message("offboarding.audit.header", {"count": len(rows)})], text=lines)


COMMANDS = (
    Command("lock", usage="lock @user <reason>", summary_key="offboarding.help.lock", handler=lock),
    Command("unlock", usage="unlock @user [--keep-sessions]", summary_key="offboarding.help.unlock", handler=unlock),
    Command("logout", usage="logout @user", summary_key="offboarding.help.logout", handler=logout),
    Command("suspend", usage="suspend @user [reason]", summary_key="offboarding.help.suspend", handler=suspend),
    Command("unsuspend", usage="unsuspend @user", summary_key="offboarding.help.unsuspend", handler=unsuspend),
    Command("offboard",
         usage="offboard @user [--successor @user2] [--at 2027-03-31T17:15] [--erase] | offboard --csv [--erase]"
               " | offboard list",
         summary_key="offboarding.help.offboard", handler=offboard, subcommands=("list",)),
    Command("confirm", usage="confirm <code>", summary_key="offboarding.help.confirm", handler=confirm),
    Command("cancel", usage="cancel <code>", summary_key="offboarding.help.cancel", handler=cancel),
    Command("audit", usage="audit [@user] | audit export [@user]", summary_key="offboarding.help.audit", handler=audit,
            subcommands=("export",)),
)
