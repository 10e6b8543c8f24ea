"""`!yakuba archive …` — one command, registered with scope "room" because `here` is for room
moderators anywhere; every other subcommand is checked here exactly as the admin_commands
policy checks admin-scope commands (admin room only, Yakuba admins only, refusals audited).

    archive flag <room> --years N [--category 分類] [--dept 主管部署] [--backfill-from YYYY-MM-DD]  (admin)
    archive here --years N [--category 分類] [--dept 主管部署]            (room moderator)
    archive unflag <room> | list | due | verify [<room>]                  (admin)
    archive export <room> [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--format csv|jsonl|html]
    archive dispose <room> --reason <理由>   → dry run + code; then
    archive confirm <code> (any admin) or ✅ on the plan (the requester);  archive cancel <code>
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import structlog

from appservice.core.commands import CommandError, Invocation, Reply
from appservice.core.decisions import Decision, DirectNotice, Message, Notice
from appservice.core.events import Event
from appservice.core.executor import render
from appservice.core.feature import Command, OfferHandler
from appservice.core.services import Services
from appservice.core.state import OfferRow
from appservice.core.text import Text
from appservice.features.retention.runtime import Retention, RoomNotFound
from appservice.features.retention.trust import Current, moderator_refusal
from appservice.lib.archive import ALLOWED_YEARS, DisposalRefused, RetentionPolicy
from appservice.lib.archive.disposal import unmanaged_rooms
from appservice.lib.archive.export import FORMATS
from appservice.lib.archive.record import JST
from appservice.matrix.client import MatrixError, q
from appservice.matrix.room_roles import moderators, room_state

log = structlog.get_logger(__name__)

OFFER_ACTION = "archive_dispose"
CONFIRM_TTL_S = 24 * 3600
ADMIN_SUBS = ("flag", "unflag", "list", "export", "due", "dispose", "confirm", "cancel", "verify")
USAGE = ("archive flag <room> --years N [--category 分類] [--dept 主管部署] [--backfill-from YYYY-MM-DD] | "
         "here --years N | "
         "unflag <room> | list | export <room> [--from] [--to] [--format csv|jsonl|html] | due | "
         "dispose <room> --reason 理由 | confirm <code> | cancel <code> | verify [<room>]")
_ALL_DATES = (date(1, 1, 1), date(9999, 12, 31))
_CODE = re.compile(r"^[0-9a-f]{6}$")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MIMETYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson", "html": "text/html; charset=utf-8"}


def _rt(inv: Invocation) -> Retention:
    rt: Retention = inv.feature
    return rt


def _t(svc: Services, key: str, **params: Any) -> str:
    return render(Message(key, params), svc.config.locale)


def parse_args(svc: Services, args: tuple[str, ...], options: tuple[str, ...]
               ) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and `--name value` options; unknown or valueless options fail."""
    positional: list[str] = []
    opts: dict[str, str] = {}
    it = iter(args)
    for arg in it:
        if arg.startswith("--"):
            name = arg[2:]
            if "=" in name:
                name, value = name.split("=", 1)
            else:
                value = next(it, None)  # type: ignore[assignment]
                if value is None:
                    raise CommandError(_t(svc, "retention.error.option_value", option=arg))
            if name not in options:
                raise CommandError(_t(svc, "retention.error.unknown_option", option=f"--{name}"))
            opts[name] = value
        else:
            positional.append(arg)
    return positional, opts


def parse_policy(svc: Services, opts: dict[str, str]) -> RetentionPolicy:
    raw = opts.get("years")
    if raw is None:
        raise CommandError(_t(svc, "retention.error.years", allowed=", ".join(map(str, ALLOWED_YEARS))))
    try:
        years = int(raw)
    except ValueError:
        years = -1
    if years not in ALLOWED_YEARS:
        raise CommandError(_t(svc, "retention.error.years", allowed=", ".join(map(str, ALLOWED_YEARS))))
    return RetentionPolicy(years, opts.get("category", "").strip(), opts.get("dept", "").strip())


def keep_omitted(policy: RetentionPolicy, opts: dict[str, str], current: Current | None) -> RetentionPolicy:
    """Re-flagging: an option left out keeps the flag's current category/department (an empty
    value, `--category=`, clears it)."""
    if current is None:
        return policy
    return RetentionPolicy(policy.years,
                           policy.category if "category" in opts else current.category,
                           policy.department if "dept" in opts else current.department)


def parse_day(svc: Services, value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(_t(svc, "retention.error.date", value=value[:40])) from None


async def resolve_room(svc: Services, value: str) -> str:
    if value.startswith("!") and len(value) > 1 and not any(c.isspace() for c in value):
        return value  # room version 12 ids have no ":server" part
    if value.startswith("#") and ":" in value:
        try:
            body = await svc.client.request("GET", f"/_matrix/client/v3/directory/room/{q(value)}")
        except MatrixError:
            raise CommandError(_t(svc, "retention.error.room", room=value[:100])) from None
        room = body.get("room_id")
        if isinstance(room, str):
            return room
    raise CommandError(_t(svc, "retention.error.room", room=value[:100]))


def _one_room(svc: Services, positional: list[str]) -> str:
    if len(positional) != 1:
        raise CommandError(_t(svc, "retention.error.need_room"))
    return positional[0]


async def _gate_admin(inv: Invocation, sub: str) -> Reply | None:
    """None if the sender may run an admin subcommand here; else the (possibly silent) answer."""
    svc = inv.services
    if inv.room_id != await svc.state.admin_room():
        talkative = await svc.state.is_dm_room(inv.room_id) == inv.sender
        return Reply(messages=[Message("core.refused_scope")]) if talkative else Reply()
    if inv.sender not in await svc.admins():
        await _rt(inv).executor.audit("command_refused", actor=inv.sender, room_id=inv.room_id,
                                      event_id=inv.event_id, result="refused",
                                      details={"command": f"archive {sub}"})
        return Reply(messages=[Message("core.refused")])
    return None


async def archive(inv: Invocation) -> Reply:
    sub = inv.args[0].lower() if inv.args else "help"
    rest = inv.args[1:]
    if sub == "here":
        return await _here(inv, rest)
    if sub not in ADMIN_SUBS:
        gate = await _gate_admin(inv, sub)
        return gate if gate is not None else Reply(messages=[Message("retention.usage")])
    gate = await _gate_admin(inv, sub)
    if gate is not None:
        return gate
    handler = _ADMIN[sub]
    return await handler(inv, rest)


# -- flagging --------------------------------------------------------------------------------------

def _flag_reply(outcome: Any, policy: RetentionPolicy) -> Reply:
    msgs = [Message("retention.flagged", {
        "room": outcome.room_id, "name": outcome.room_name or "-", "years": policy.years,
        "category": policy.category or "-", "department": policy.department or "-"})]
    msgs.extend(Message(key) for key in outcome.problems)
    return Reply(messages=msgs)


async def _flag(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    rt = _rt(inv)
    positional, opts = parse_args(svc, args, ("years", "category", "dept", "backfill-from"))
    room = await resolve_room(svc, _one_room(svc, positional))
    policy = parse_policy(svc, opts)
    since = _backfill_date(svc, opts.get("backfill-from"))

    async def audit(result: str, **details: Any) -> None:
        await rt.executor.audit("archive_backfill", actor=inv.sender, target=room, room_id=inv.room_id,
                                event_id=inv.event_id, result=result,
                                details={"from": since.isoformat() if since else None, **details})

    try:
        if since is not None:
            refusal = await rt.backfill_refusal(room)
            if refusal is not None:  # refuse before flagging: nothing half done
                await audit("refused", reason=refusal.rsplit(".", 1)[-1])
                return Reply(messages=[Message(refusal, {"room": room})])
        policy = keep_omitted(policy, opts, await rt.current(room))
        outcome = await rt.flag(room, policy, actor=inv.sender, via="admin", admin=True)
    except RoomNotFound:
        raise CommandError(_t(svc, "retention.error.room", room=room[:100])) from None
    reply = _flag_reply(outcome, policy)
    if since is None:
        return reply
    if not outcome.bot_joined:
        await audit("error", reason="bot_not_joined")
        reply.messages.append(Message("retention.backfill.no_bot"))
        return reply
    rt.start_job(f"backfill:{inv.event_id}", _backfill_job(rt, room, since, inv.room_id, inv.event_id, audit))
    reply.messages.append(Message("retention.backfill.started", {"since": since.isoformat()}))
    return reply


async def _backfill_job(rt: Retention, room: str, since: date, here: str, command_event: str,
                        audit: Any) -> None:
    """In the background (see Retention.start_job): page, archive, report progress and the end."""

    async def post(message: Message, *key: str) -> None:
        try:
            await rt.executor.post(here, render(message, rt.locale), (command_event, *key),
                                   reply_to=command_event)
        except Exception as exc:
            log.warning("archive_backfill_report_failed", room_id=room, error=type(exc).__name__)

    async def progress(count: int, pages: int) -> None:
        await post(Message("retention.backfill.progress", {"count": count, "since": since.isoformat()}),
                   "archive_backfill_progress", str(pages))

    try:
        count = await rt.backfill(room, since, progress=progress)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("archive_backfill_failed", room_id=room, error=type(exc).__name__)
        await audit("error", reason=type(exc).__name__)
        await post(Message("retention.backfill.failed"), "archive_backfill_failed")
        return
    await audit("ok", events=count)
    await post(Message("retention.backfill.done", {"count": count, "since": since.isoformat()}),
               "archive_backfill_done")


def _backfill_date(svc: Services, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise CommandError(_t(svc, "retention.error.backfill_date", value=value[:40]))


async def _here(inv: Invocation, args: tuple[str, ...]) -> Reply:
    """A moderator flags the room they are in. Yakuba may not be able to answer in this room
    (its bot need not be a member), so refusals then go to the sender's DM instead."""
    svc = inv.services
    can_reply = svc.config.sender in await svc.state.bots_joined(inv.room_id)

    async def answer(reply: Reply) -> Reply:
        if can_reply:
            return reply
        if not reply.messages or not svc.config.is_local(inv.sender):
            return Reply()
        return Reply(decisions=[DirectNotice(user_id=inv.sender, message=m,
                                             once_key=f"archive_here:{inv.event_id}:{i}")
                                for i, m in enumerate(reply.messages)])

    try:
        _, opts = parse_args(svc, args, ("years", "category", "dept"))
        policy = parse_policy(svc, opts)
    except CommandError as exc:
        return await answer(Reply(messages=[Message("core.bad_arguments", {
            "error": str(exc), "usage": "archive here --years N [--category 分類] [--dept 主管部署]"})]))
    try:
        state = await room_state(svc.client, inv.room_id)
    except MatrixError:
        state = []
    rt = _rt(inv)
    if not svc.config.is_local(inv.sender) or inv.sender not in moderators(state):
        await rt.executor.audit("command_refused", actor=inv.sender, room_id=inv.room_id,
                                event_id=inv.event_id, result="refused",
                                details={"command": "archive here"})
        return await answer(Reply(messages=[Message("retention.refused_moderator")]))
    current = await rt.current(inv.room_id)
    policy = keep_omitted(policy, opts, current)
    admin = inv.sender in await svc.admins()
    reason = None if admin else moderator_refusal(current, policy)
    if reason is not None and current is not None:  # an admin's decision: see trust.py
        await rt.executor.audit("command_refused", actor=inv.sender, room_id=inv.room_id,
                                event_id=inv.event_id, result="refused",
                                details={"command": "archive here", "reason": f"admin_flag_{reason}",
                                         "current": {"years": current.years, "category": current.category,
                                                     "department": current.department, "by": current.by},
                                         "asked": policy.as_dict()})
        return await answer(Reply(messages=[Message("retention.refused_admin_flag", {
            "years": current.years, "category": current.category or "-",
            "department": current.department or "-", "by": current.by})]))
    outcome = await rt.flag(inv.room_id, policy, actor=inv.sender, via="room", admin=admin)
    if outcome.notice_sent and not outcome.problems:
        return Reply()  # the archive bot's notice in the room is the answer
    return await answer(_flag_reply(outcome, policy))


async def _unflag(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    positional, _ = parse_args(svc, args, ())
    room = await resolve_room(svc, _one_room(svc, positional))
    flag = await _rt(inv).unflag(room, actor=inv.sender)
    if flag is None:
        return Reply(messages=[Message("retention.not_flagged", {"room": room})])
    return Reply(messages=[Message("retention.unflagged", {"room": room, "years": flag.years})])


async def _list(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    rt = _rt(inv)
    flags = await rt.tables.flags()
    if not flags:
        return Reply(messages=[Message("retention.list.empty")])
    msgs = [Message("retention.list.header", {"count": len(flags)})]
    for f in flags:
        msgs.append(Message("retention.list.line", {
            "room": f.room_id, "name": await svc.state.room_name(f.room_id) or "-", "years": f.years,
            "category": f.category or "-", "department": f.department or "-", "by": f.flagged_by,
            "since": datetime.fromtimestamp(f.flagged_at, JST).strftime("%Y-%m-%d %H:%M")}))
        gap = await rt.tables.unmirrored(f.room_id)
        if gap is not None:
            msgs.append(Message("retention.list.unmirrored", {
                "since": datetime.fromtimestamp(gap.since, JST).strftime("%Y-%m-%d %H:%M"),
                "by": gap.by, "how": Message(f"retention.how.{gap.how}")}))
    pending = await rt.tables.retry_count()
    if pending:
        msgs.append(Message("retention.list.retries", {"count": pending}))
    return Reply(messages=msgs)


# -- export ------------------------------------------------------------------------------------------

async def _export(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    rt = _rt(inv)
    positional, opts = parse_args(svc, args, ("from", "to", "format"))
    room = await resolve_room(svc, _one_room(svc, positional))
    fmt = opts.get("format", "csv").lower()
    if fmt not in FORMATS:
        raise CommandError(_t(svc, "retention.error.format", formats=", ".join(FORMATS)))
    start = parse_day(svc, opts.get("from"), _ALL_DATES[0])
    end = parse_day(svc, opts.get("to"), _ALL_DATES[1])
    if start > end:
        raise CommandError(_t(svc, "retention.error.range"))
    rt.start_job(f"export:{inv.event_id}", _export_job(rt, room, start, end, fmt, inv.sender,
                                                         inv.room_id, inv.event_id))
    return Reply(messages=[Message("retention.export.started", {"room": room, "format": fmt})])


async def _export_job(rt: Retention, room: str, start: date, end: date, fmt: str, sender: str,
                      here: str, command_event: str) -> None:
    """In the background (see Retention.start_job): stream the export into a temp file, stop
    past the size limit, send the file and answer in the room the command came from."""
    svc = rt.svc
    limit = rt.settings.export_max_bytes
    details = {"format": fmt, "from": start.isoformat(), "to": end.isoformat()}

    async def post(message: Message, key: str) -> None:
        await rt.executor.post(here, render(message, rt.locale), (command_event, key), reply_to=command_event)

    path = None
    try:
        result = await asyncio.to_thread(rt.write_export, room, start, end, fmt, limit)
        path = result.path
        if path is None:
            await rt.executor.audit("archive_export", actor=sender, target=room, room_id=here,
                                    event_id=command_event, result="too_large",
                                    details={**details, "records": result.records})
            await post(Message("retention.export.too_large", {"limit_mib": limit // (1024 * 1024)}),
                       "archive_export_done")
            return
        period = _t(svc, "retention.export.all") if (start, end) == _ALL_DATES else \
            f"{'' if start == _ALL_DATES[0] else start.isoformat()}〜{'' if end == _ALL_DATES[1] else end.isoformat()}"
        stamp = datetime.now(JST).strftime("%Y%m%d-%H%M")
        local = re.sub(r"[^A-Za-z0-9]+", "", room.split(":", 1)[0])[:16]
        filename = f"yakuba-archive-{local}-{stamp}.{fmt}"
        data = await asyncio.to_thread(path.read_bytes)  # at most the limit
        await rt.executor.send_file(here, data, filename, MIMETYPES[fmt], (command_event, "archive_export"))
        del data
        await rt.executor.audit("archive_export", actor=sender, target=room, room_id=here,
                                event_id=command_event, details={**details, "records": result.records})
        await post(Message("retention.export.done", {
            "room": room, "count": result.records, "format": fmt, "period": period, "file": filename}),
            "archive_export_done")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        ref = secrets.token_hex(4)
        log.warning("archive_export_failed", room_id=room, error=type(exc).__name__, ref=ref)
        with contextlib.suppress(Exception):
            await rt.executor.audit("archive_export", actor=sender, target=room, room_id=here,
                                    event_id=command_event, result="error",
                                    details={**details, "reason": type(exc).__name__, "ref": ref})
        try:
            await post(Message("retention.export.failed", {"ref": ref}), "archive_export_failed")
        except Exception as exc2:
            log.warning("archive_export_report_failed", room_id=room, error=type(exc2).__name__, ref=ref)
    finally:
        if path is not None:
            path.unlink(missing_ok=True)


# -- retention lifecycle ---------------------------------------------------------------------------

async def _due(inv: Invocation, args: tuple[str, ...]) -> Reply:
    rt = _rt(inv)
    # Wall-clock time, never the test clock: the store refuses disposal "as of" the future.
    items = await asyncio.to_thread(rt.store.due, datetime.now(UTC))
    unmanaged = await asyncio.to_thread(unmanaged_rooms, rt.store)
    if not items and not unmanaged:
        return Reply(messages=[Message("retention.due.none")])
    msgs = [Message("retention.due.header", {"count": len(items)})]
    for d in items:
        msgs.append(Message("retention.due.line", {
            "room": d.room_id, "segment": d.segment.rsplit("/", 1)[-1], "records": d.records,
            "oldest": d.oldest.isoformat(), "newest": d.newest.isoformat(), "years": d.policy.years,
            "expires": d.expires.isoformat()}))
    for room in unmanaged:
        msgs.append(Message("retention.due.unmanaged", {"room": room}))
    return Reply(messages=msgs)


async def _dispose(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    rt = _rt(inv)
    positional, opts = parse_args(svc, args, ("reason",))
    room = await resolve_room(svc, _one_room(svc, positional))
    reason = opts.get("reason", "").strip()
    if not reason:
        raise CommandError(_t(svc, "retention.error.reason"))
    try:
        plan = await asyncio.to_thread(rt.store.dispose, room, inv.sender, reason, dry_run=True)
    except DisposalRefused as exc:
        return Reply(messages=[Message("retention.dispose.refused", {"reason": str(exc)[:300]})])
    code = secrets.token_hex(3)
    await rt.tables.add_disposal(code, room, reason, inv.sender)
    lines = [_t(svc, "retention.dispose.plan", room=room, reason=reason)]
    for d in plan.segments:
        lines.append(_t(svc, "retention.dispose.plan_line", segment=d.segment.rsplit("/", 1)[-1],
                        first=d.first_seq, last=d.last_seq, records=d.records, oldest=d.oldest.isoformat(),
                        newest=d.newest.isoformat(), years=d.policy.years))
    if plan.media:
        lines.append(_t(svc, "retention.dispose.plan_media", count=len(plan.media)))
    lines.append(_t(svc, "retention.dispose.plan_confirm", code=code, hours=CONFIRM_TTL_S // 3600))
    sent = await rt.executor.post(inv.room_id, "\n".join(lines), (inv.event_id, "archive_dispose_plan"),
                                  reply_to=inv.event_id)
    if sent:
        await svc.state.add_offer(sent, OFFER_ACTION, inv.sender, inv.room_id, inv.event_id, {"code": code})
    await rt.executor.audit("archive_dispose_requested", actor=inv.sender, target=room, room_id=inv.room_id,
                            event_id=inv.event_id, details={"code": code, "segments": len(plan.segments)})
    return Reply()


async def confirm_disposal(rt: Retention, svc: Services, code: str, confirmer: str, *,
                           via: str) -> list[Message]:
    """Run a planned disposal with `confirmer` as the approving admin (recorded in the store)."""
    pending = await rt.tables.disposal(code)
    if pending is None:
        return [Message("retention.confirm.unknown", {"code": code})]
    if pending.status != "pending":
        return [Message("retention.confirm.already", {"code": code, "status": pending.status})]
    if confirmer not in await svc.admins():
        return [Message("core.refused")]
    if time.time() - pending.requested_at > CONFIRM_TTL_S:
        await rt.tables.decide_disposal(code, "expired", confirmer)
        return [Message("retention.confirm.expired", {"code": code})]
    if not await rt.tables.decide_disposal(code, "running", confirmer):
        return [Message("retention.confirm.already", {"code": code, "status": "running"})]
    reason = f"{pending.reason}（申請 {pending.requested_by} / 承認 {confirmer} / 確認コード {code}）"
    try:
        result = await asyncio.to_thread(rt.store.dispose, pending.room_id, confirmer, reason)
    except DisposalRefused as exc:
        await rt.tables.decide_disposal(code, "refused", confirmer, str(exc)[:300], from_status="running")
        await rt.executor.audit("archive_dispose", actor=confirmer, target=pending.room_id, result="refused",
                                details={"code": code, "via": via})
        return [Message("retention.dispose.refused", {"reason": str(exc)[:300]})]
    except Exception:
        await rt.tables.decide_disposal(code, "failed", confirmer, from_status="running")
        raise
    rec = result.record
    summary = f"seq {rec.seq} {rec.hash}" if rec is not None else "-"
    await rt.tables.decide_disposal(code, "done", confirmer, summary, from_status="running")
    records = sum(d.records for d in result.segments)
    await rt.executor.audit("archive_dispose", actor=confirmer, target=pending.room_id, details={
        "code": code, "via": via, "requested_by": pending.requested_by, "segments": len(result.segments),
        "records": records, "media": len(result.media), "disposal_seq": rec.seq if rec else None,
        "disposal_hash": rec.hash if rec else None})
    return [Message("retention.dispose.done", {
        "room": pending.room_id, "segments": len(result.segments), "records": records,
        "media": len(result.media), "seq": rec.seq if rec else "-", "hash": rec.hash if rec else "-"})]


async def _confirm(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    positional, _ = parse_args(svc, args, ())
    if len(positional) != 1 or not _CODE.match(positional[0].lower()):
        raise CommandError(_t(svc, "retention.error.code"))
    return Reply(messages=await confirm_disposal(_rt(inv), svc, positional[0].lower(), inv.sender,
                                                 via="command"))


async def _cancel(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    positional, _ = parse_args(svc, args, ())
    if len(positional) != 1 or not _CODE.match(positional[0].lower()):
        raise CommandError(_t(svc, "retention.error.code"))
    code = positional[0].lower()
    if await _rt(inv).tables.decide_disposal(code, "cancelled", inv.sender):
        return Reply(messages=[Message("retention.cancelled", {"code": code})])
    return Reply(messages=[Message("retention.confirm.unknown", {"code": code})])


def dispose_offer_handler(rt: Retention) -> OfferHandler:
    """✅ on the dry-run plan by the admin who asked for it: dispose, and answer in the room."""

    async def on_dispose_offer(offer: OfferRow, event: Event, svc: Services) -> Sequence[Decision]:
        msgs = await confirm_disposal(rt, svc, str(offer.detail.get("code", "")), event.sender, via="reaction")
        text = "\n".join(render(m, svc.config.locale) for m in msgs)
        return [Notice(room_id=offer.room_id, message=Message("core.raw_text", {"text": Text(text)}),
                       once_key=f"archive_dispose_confirm:{event.event_id}")]

    return on_dispose_offer


async def _verify(inv: Invocation, args: tuple[str, ...]) -> Reply:
    svc = inv.services
    positional, _ = parse_args(svc, args, ())
    room = await resolve_room(svc, positional[0]) if positional else None
    report = await asyncio.to_thread(_rt(inv).store.verify, room)
    key = "retention.verify.ok" if report.ok else "retention.verify.failed"
    lines = [str(p) for p in report.problems[:10]]
    if len(report.problems) > 10:
        lines.append(f"… +{len(report.problems) - 10}")
    return Reply(messages=[Message(key, {"summary": report.summary()})], text=lines)


_ADMIN = {"flag": _flag, "unflag": _unflag, "list": _list, "export": _export, "due": _due,
          "dispose": _dispose, "confirm": _confirm, "cancel": _cancel, "verify": _verify}



COMMANDS = (
    Command("archive", usage=USAGE, summary_key="retention.help.summary", scope="room", handler=archive,
            subcommands=("here", *ADMIN_SUBS)),
)
