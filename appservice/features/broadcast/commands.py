"""`!yakuba broadcast …` (admins, admin room).

    !yakuba broadcast <audience> [--urgent] [--remind MINUTES] [--disaster on|off]
    タイトル（2 行目）
    本文（3 行目から、改行そのまま）

answers with a dry run (who and how many; ✅ or `broadcast confirm CODE` sends it). Also
`broadcast confirm|cancel CODE`, `broadcast status CODE [names|csv]`, `broadcast list`,
`broadcast liaison [<partner> <room>]`.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime

from appservice.core.commands import CommandError, Invocation, Reply
from appservice.core.decisions import Message, Notice, Offer
from appservice.features.broadcast.audience import (
    AudienceError,
    local_recipients,
    parse_audience,
    unknown_departments,
)
from appservice.features.broadcast.runtime import Broadcasts
from appservice.features.broadcast.tables import PARTNER, USER, Broadcast, Delivery
from appservice.lib.archive.record import JST

OFFER_ACTION = "broadcast.send"
SUBCOMMANDS = ("confirm", "cancel", "status", "list", "liaison")


def _feature(inv: Invocation) -> Broadcasts:
    feature = inv.feature
    assert isinstance(feature, Broadcasts)
    return feature


def _options(args: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    positional, opts = [], {}
    it = iter(args)
    for arg in it:
        if arg == "--urgent":
            opts["urgent"] = "1"
        elif arg in ("--remind", "--disaster"):
            value = next(it, None)
            if value is None:
                raise CommandError(f"{arg} needs a value")
            opts[arg[2:]] = value
        elif arg.startswith("--"):
            raise CommandError(f"unknown option {arg[:40]}")
        else:
            positional.append(arg)
    return positional, opts


async def broadcast(inv: Invocation) -> Reply:
    sub = inv.args[0].lower() if inv.args else ""
    if sub in SUBCOMMANDS:
        return await {"confirm": _confirm, "cancel": _cancel, "status": _status, "list": _list,
                      "liaison": _liaison}[sub](inv, inv.args[1:])
    return await _plan(inv)


async def _plan(inv: Invocation) -> Reply:
    feature = _feature(inv)
    cfg = inv.services.config
    positional, opts = _options(inv.args)
    if len(positional) != 1:
        return Reply(messages=[Message("broadcast.usage")])
    try:
        audience = parse_audience(positional[0], cfg.federation.partners)
    except AudienceError as exc:
        return Reply(messages=[Message(exc.key, {"value": exc.value})])
    lines = inv.text.splitlines()
    title = lines[0].strip() if lines else ""
    body = "\n".join(lines[1:]).strip()
    if not title:
        return Reply(messages=[Message("broadcast.error.no_text")])
    if len(title) + len(body) > feature.settings["max_chars"]:
        return Reply(messages=[Message("broadcast.error.too_long", {
            "chars": len(title) + len(body), "max": feature.settings["max_chars"]})])
    remind = 0
    if "remind" in opts:
        if not opts["remind"].isdigit() or not 1 <= int(opts["remind"]) <= 7 * 24 * 60:
            return Reply(messages=[Message("broadcast.error.remind", {"value": opts["remind"][:20]})])
        remind = int(opts["remind"])
    disaster = opts.get("disaster")
    if disaster is not None and (disaster not in ("on", "off") or not audience.partners):
        return Reply(messages=[Message("broadcast.error.disaster")])

    users: dict[str, str] = {}
    if audience.local:
        directory = feature.directory()
        missing = unknown_departments(audience, directory)
        if missing:
            return Reply(messages=[Message("broadcast.error.unknown_department", {
                "value": "、".join(missing), "known": "、".join(sorted(set(directory.values()))[:20]) or "-"})])
        users = local_recipients(audience, await feature.local_staff(), directory)
    liaison = await feature.tables.liaison()
    partners = {s: liaison.get(s, "") for s in audience.partners}
    no_room = [s for s, r in partners.items() if not r]
    if not users and not [s for s in partners if partners[s]]:
        return Reply(messages=[Message("broadcast.error.nobody", {
            "missing": "、".join(_partner_name(inv, s) for s in no_room) or "-"})])
    b = await feature.tables.plan(at=inv.services.clock.now().timestamp(), created_by=inv.sender,
                                  audience=positional[0][:200], title=title[:200],
                                  body=body, urgent="urgent" in opts or disaster == "on",
                                  remind_minutes=remind, disaster=disaster, admin_room=inv.room_id,
                                  users=users, partners=partners)
    depts = Counter(users.values())
    plan = Message("broadcast.plan", {
        "code": b.code, "title": title[:200], "users": len(users),
        "departments": "、".join(f"{d} {n}" for d, n in depts.most_common(12)) or "-",
        "partners": "、".join(_partner_name(inv, s) for s in partners if partners[s]) or "-",
        "missing": Message("broadcast.plan_missing", {"list": "、".join(_partner_name(inv, s) for s in no_room)})
        if no_room else Message("broadcast.plan_nothing_missing"),
        "urgent": Message("broadcast.plan_urgent" if b.urgent else "broadcast.plan_normal"),
        "remind": remind or "-", "disaster": disaster or "-"})
    return Reply(decisions=[Notice(room_id=inv.room_id, message=plan, reply_to=inv.event_id,
                                   once_key=f"broadcast_plan:{inv.event_id}",
                                   offer=Offer(OFFER_ACTION, inv.sender, inv.room_id, inv.event_id,
                                               {"code": b.code}))])


def _partner_name(inv: Invocation, server: str) -> str:
    p = inv.services.config.federation.partner(server)
    return p.label(inv.services.config.locale) if p else server


async def confirm_and_send(feature: Broadcasts, code: str, by: str) -> Message:
    b = await feature.tables.by_code(code)
    if b is None:
        return Message("broadcast.unknown", {"code": code[:12]})
    if not await feature.tables.set_status(b.id, "sending", expect="planned", confirmed_by=by):
        return Message("broadcast.not_planned", {"code": b.code, "status": b.status})
    await feature.executor.audit("broadcast_confirmed", actor=by, room_id=b.admin_room,
                                 details={"code": b.code, "audience": b.audience, "urgent": b.urgent,
                                          "disaster": b.disaster})
    feature.start(b)
    return Message("broadcast.sending", {"code": b.code})


async def _confirm(inv: Invocation, args: tuple[str, ...]) -> Reply:
    if not args:
        raise CommandError("give the code: broadcast confirm CODE")
    return Reply(messages=[await confirm_and_send(_feature(inv), args[0], inv.sender)])


async def _cancel(inv: Invocation, args: tuple[str, ...]) -> Reply:
    if not args:
        raise CommandError("give the code: broadcast cancel CODE")
    feature = _feature(inv)
    b = await feature.tables.by_code(args[0])
    if b is None:
        return Reply(messages=[Message("broadcast.unknown", {"code": args[0][:12]})])
    if not await feature.tables.set_status(b.id, "cancelled", expect="planned"):
        return Reply(messages=[Message("broadcast.not_planned", {"code": b.code, "status": b.status})])
    await feature.executor.audit("broadcast_cancelled", actor=inv.sender, room_id=inv.room_id,
                                 details={"code": b.code})
    return Reply(messages=[Message("broadcast.cancelled", {"code": b.code})])


async def _list(inv: Invocation, args: tuple[str, ...]) -> Reply:
    rows = await _feature(inv).tables.recent()
    if not rows:
        return Reply(messages=[Message("broadcast.list_empty")])
    return Reply(messages=[Message("broadcast.list_header")],
                 text=[f"• {b.code} {b.status} {b.audience} 「{b.title[:40]}」" for b in rows])


async def _liaison(inv: Invocation, args: tuple[str, ...]) -> Reply:
    feature = _feature(inv)
    cfg = inv.services.config
    if not args:
        rooms = await feature.tables.liaison()
        lines = [f"• {p.label(cfg.locale)}（{p.server}）: {rooms.get(p.server, '-')}" for p in cfg.federation.partners]
        return Reply(messages=[Message("broadcast.liaison_header")], text=lines or ["-"])
    if len(args) != 2:
        raise CommandError("broadcast liaison <partner> <room id>")
    partner = next((p for p in cfg.federation.partners if args[0] in (p.server, p.name, p.name_en)), None)
    if partner is None:
        return Reply(messages=[Message("broadcast.error.unknown_partner", {"value": args[0][:80]})])
    room = args[1]
    if not room.startswith("!"):
        raise CommandError("give the room id (!…)")
    joined = await inv.services.client.request("GET", "/_matrix/client/v3/joined_rooms")
    if room not in joined.get("joined_rooms", []):
        return Reply(messages=[Message("broadcast.liaison_not_joined", {"room": room[:80]})])
    await feature.tables.set_liaison(partner.server, room, inv.sender)
    await feature.executor.audit("broadcast_liaison_set", actor=inv.sender, room_id=room,
                                 details={"partner": partner.server})
    return Reply(messages=[Message("broadcast.liaison_set", {"name": partner.label(cfg.locale), "room": room})])


# -- status -----------------------------------------------------------------------------------

def status_rows(feature: Broadcasts, deliveries: list[Delivery], now: datetime) -> dict[str, Counter[str]]:
    """Per department (local) or municipality (partners): read / off-duty / unread / failed."""
    out: dict[str, Counter[str]] = {}
    for d in deliveries:
        group = feature.label(d) if d.kind == PARTNER else d.department
        c = out.setdefault(group, Counter())
        c["total"] += 1
        c[state_of(feature, d, now)] += 1
    return out


def state_of(feature: Broadcasts, d: Delivery, now: datetime) -> str:
    if d.event_id is None:
        return "failed"
    if d.read_at is not None:
        return "read"
    if d.kind == USER and feature.off_duty(d.target, now):
        return "off_duty"   # 時間外: nobody has to read after hours
    return "unread"


async def _status(inv: Invocation, args: tuple[str, ...]) -> Reply:
    if not args:
        raise CommandError("broadcast status CODE [names|csv]")
    feature = _feature(inv)
    b = await feature.tables.by_code(args[0])
    if b is None:
        return Reply(messages=[Message("broadcast.unknown", {"code": args[0][:12]})])
    deliveries = await feature.tables.deliveries(b.id)
    now = inv.services.clock.now()
    extra = args[1].lower() if len(args) > 1 else ""
    if extra == "csv":
        data = status_csv(feature, b, deliveries, now)
        await feature.executor.send_file(inv.room_id, data, f"broadcast-{b.code}.csv", "text/csv",
                                         ("broadcast-csv", b.code, inv.event_id))
        return Reply(messages=[Message("broadcast.csv_sent", {"code": b.code})])
    rows = status_rows(feature, deliveries, now)
    total = Counter[str]()
    for c in rows.values():
        total.update(c)
    render = feature.executor.render
    lines = [render(Message("broadcast.status_line", {
        "group": g, "read": c["read"], "off_duty": c["off_duty"], "unread": c["unread"],
        "failed": c["failed"], "total": c["total"]})) for g, c in sorted(rows.items())]
    if extra == "names":
        unread = [d for d in deliveries if state_of(feature, d, now) == "unread"]
        lines.append(render(Message("broadcast.status_unread_names", {"count": len(unread)})))
        lines += [f"  - {feature.label(d)}（{d.department}）" for d in unread[:100]]
    return Reply(messages=[Message("broadcast.status", {
        "code": b.code, "title": b.title[:80], "status": b.status, "read": total["read"],
        "off_duty": total["off_duty"], "unread": total["unread"], "failed": total["failed"],
        "total": total["total"]})], text=lines)


def status_csv(feature: Broadcasts, b: Broadcast, deliveries: list[Delivery], now: datetime) -> bytes:
    """UTF-8 with BOM, CRLF (opens in Excel), cells that look like formulas quoted."""
    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    def jst(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, UTC).astimezone(JST).strftime("%Y-%m-%d %H:%M:%S") if ts else ""

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    render = feature.executor.render
    w.writerow(render(Message("broadcast.csv.header")).split(","))
    for d in deliveries:
        w.writerow([cell(b.code), cell(feature.label(d)), render(Message(f"broadcast.csv.kind.{d.kind}")),
                    cell(d.department), render(Message(f"broadcast.csv.state.{state_of(feature, d, now)}")),
                    jst(d.sent_at), jst(d.read_at), jst(d.confirmed_at), cell(d.read_by or "")])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
