"""`!yakuba away …` — in the person's own DM with the bot, or by an admin in the admin room.

    away 12/24-12/27 年次休暇 代理 @sato       set (DM)             away off / away status (DM)
    away @yamada 12/24-12/27 代理 @sato        for someone (admin room, audited, they are told)
    away @yamada off | away @yamada status     away / away list: everyone away now or later

The command mixes scopes, so it is declared "room" and checks here, as `quiet` does: anywhere
but the two places it stays silent; a non-admin in the admin room is refused (audited).
A new absence that overlaps ones already set replaces them, and the reply names them.
Messages and audit rows go through the executor (`Away.executor`).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from appservice.core.commands import CommandError, Invocation, Reply, command_place
from appservice.core.decisions import Message
from appservice.core.feature import Command
from appservice.features.away.parse import AwayParseError, parse_away
from appservice.features.away.policy import back_message, delegate_message, until_message, when_message
from appservice.features.away.runtime import Away
from appservice.features.away.store import Absence
from appservice.matrix.admin import SynapseAdmin
from appservice.matrix.client import MatrixError

_USER = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")
_LOCALPART = re.compile(r"^[a-z0-9._=\-/+]+$")
OFF = ("off", "解除", "終了", "cancel")
STATUS = ("status", "状況", "確認")
LIST = ("list", "一覧")


def _away(inv: Invocation) -> Away:
    away: Away | None = inv.feature
    if away is None:
        raise CommandError("away is not installed")
    return away


def _bad(inv: Invocation, key: str, **params: object) -> Reply:
    return Reply(messages=[Message(key, dict(params)), Message("away.usage")])


def normalize_user(value: str, server_name: str) -> str | None:
    text = unicodedata.normalize("NFKC", value).strip().rstrip("、,。")
    if not text.startswith("@"):
        return None
    if ":" not in text and _LOCALPART.match(text[1:]):
        text = f"{text}:{server_name}"
    return text if _USER.match(text) else None


def resolve_pills(text: str, pills: tuple[tuple[str, str], ...]) -> str:
    """A pill shows a display name; the command reads the user id it links to."""
    for user_id, shown in pills:
        shown = shown.strip()
        if shown and not shown.startswith("@") and shown in text:
            text = text.replace(shown, user_id, 1)
    return text



async def away(inv: Invocation) -> Reply:
    where = await command_place(inv)
    if where == "other":
        return Reply()  # not where Yakuba talks
    feature = _away(inv)
    server = inv.services.config.homeserver.server_name
    text = resolve_pills(" ".join(inv.args), inv.pills)
    words = text.split()
    if where == "admin":
        if inv.sender not in await inv.services.admins():
            await feature.executor.audit("command_refused", actor=inv.sender, room_id=inv.room_id,
                                         event_id=inv.event_id, result="refused", details={"command": "away"})
            return Reply(messages=[Message("core.refused")])
        if not words or words[0].lower() in LIST + STATUS:
            return await _list(feature)
        target = normalize_user(words[0], server)
        if target is None:
            return _bad(inv, "away.err.admin_target", value=words[0][:80])
        if inv.mentions and target not in inv.mentions and target not in {u for u, _ in inv.pills}:
            return _bad(inv, "away.err.not_mentioned", value=target)
        words = words[1:]
    else:
        target = inv.sender
        named = normalize_user(words[0], server) if words else None
        if named is not None and named != inv.sender:
            return Reply(messages=[Message("away.err.others_admin_only")])
        if named == inv.sender:
            words = words[1:]
    sub = words[0].lower() if words else "status"
    if sub in STATUS:
        return await _status(feature, target, self_=target == inv.sender)
    if sub in OFF:
        return await _off(feature, inv, target)
    return await _set(feature, inv, target, " ".join(words), by_admin=where == "admin")


def _line(a: Absence, feature: Away) -> Message:
    start = when_message(datetime.fromtimestamp(a.starts_at, feature.tz), with_time=True)
    return Message("away.status.line", {"user": a.user_id, "start": start, "until": until_message(a, feature.tz),
                                        "back": back_message(a, feature.tz), "delegate": delegate_message(a),
                                        "note": a.note or "-",
                                        "state": Message(f"away.state.{a.state}")})


async def _status(feature: Away, user: str, *, self_: bool) -> Reply:
    items = await feature.store.open_of(user)
    if not items:
        return Reply(messages=[Message("away.status.none" if self_ else "away.status.none_other", {"user": user})])
    return Reply(messages=[Message("away.status.header", {"user": user}), *(_line(a, feature) for a in items)])


async def _list(feature: Away) -> Reply:
    items = await feature.store.all_open()
    if not items:
        return Reply(messages=[Message("away.list.empty")])
    lines = [_line(a, feature) for a in items[:50]]
    return Reply(messages=[Message("away.list.header", {"count": len(items)}), *lines])


async def _off(feature: Away, inv: Invocation, target: str) -> Reply:
    items = await feature.store.open_of(target)
    if not items:
        return Reply(messages=[Message("away.off.none")])
    for a in items:
        await feature.end(a, "cancelled", actor=inv.sender)
    msgs = [Message("away.off.done", {"count": len(items)}), *(_line(a, feature) for a in items)]
    if target != inv.sender:
        await feature.dm(target, Message("away.off.by_admin", {"admin": inv.sender}), f"away_off_dm:{inv.event_id}")
    return Reply(messages=msgs)


async def _set(feature: Away, inv: Invocation, target: str, text: str, *, by_admin: bool) -> Reply:
    svc = inv.services
    now = feature.now()
    try:
        spec = parse_away(text, now.date())
    except AwayParseError as exc:
        return _bad(inv, exc.key, **exc.params)
    server = svc.config.homeserver.server_name
    delegate = None
    if spec.delegate is not None:
        delegate = normalize_user(spec.delegate, server)
        if delegate is None:
            return _bad(inv, "away.err.bad_delegate", value=spec.delegate[:80])
        if delegate == target:
            return _bad(inv, "away.err.self_delegate")
    start, ends, shown = feature.period(spec, now)
    if shown <= now:
        return _bad(inv, "away.err.past", until=when_message(shown, with_time=True))
    if ends <= start:
        return _bad(inv, "away.err.end_before_start")
    if (ends - start).days > feature.settings.max_days:
        return _bad(inv, "away.err.too_long", days=feature.settings.max_days)
    admin = SynapseAdmin(svc.client)
    for user in (target, delegate):
        if user is None or not svc.config.is_local(user):
            continue
        try:
            info = await admin.user_info(user)
        except MatrixError:
            info = {}
        if info is None or info.get("deactivated"):
            return _bad(inv, "away.err.no_such_user", user=user)
    if by_admin and not svc.config.is_local(target):
        return _bad(inv, "away.err.not_local", user=target)
    replaced = [a for a in await feature.store.open_of(target) if a.overlaps(start.timestamp(), ends.timestamp())]
    absence_id = await feature.store.add(
        user_id=target, starts_at=start.timestamp(), ends_at=ends.timestamp(), end_shown=shown.timestamp(),
        end_has_time=spec.end.at is not None, display_name=await feature.display_name(target),
        delegate=delegate, delegate_name=await feature.display_name(delegate) if delegate else None,
        note=spec.note, set_by=inv.sender, now=now.timestamp(), replace=[a.id for a in replaced])
    a = await feature.store.get(absence_id)
    assert a is not None
    await feature.executor.audit("away_set", actor=inv.sender, target=target, room_id=inv.room_id,
                                 event_id=inv.event_id, details={
                                     "absence": a.id, "starts": start.isoformat(timespec="minutes"),
                                     "ends": ends.isoformat(timespec="minutes"), "delegate": delegate,
                                     "replaced": [r.id for r in replaced], "by_admin": by_admin,
                                     "note": bool(spec.note)})
    for old in replaced:
        await feature.executor.audit("away_replaced", actor=inv.sender, target=target,
                                     details={"absence": old.id, "by": a.id})
    if a.state == "active":
        await feature.started(a, by_itself=False)
    feature.wake.set()
    msgs = [Message("away.set.done", {"start": when_message(start, with_time=True),
                                      "until": until_message(a, feature.tz), "back": back_message(a, feature.tz),
                                      "delegate": delegate_message(a)})]
    if replaced:
        msgs.append(Message("away.set.replaced", {"old": [_period(r, feature) for r in replaced]}))
    msgs.append(Message("away.set.how" if a.state == "active" else "away.set.scheduled"))
    if by_admin:
        await feature.dm(target, Message("away.set.by_admin", {
            "admin": inv.sender, "start": when_message(start, with_time=True),
            "until": until_message(a, feature.tz)}), f"away_set_dm:{a.id}")
        msgs.append(Message("away.set.told", {"user": target}))
    return Reply(messages=msgs)


def _period(a: Absence, feature: Away) -> Message:
    return Message("away.period", {"start": when_message(datetime.fromtimestamp(a.starts_at, feature.tz),
                                                         with_time=True),
                                   "until": until_message(a, feature.tz)})


COMMANDS = (
    Command("away", usage="away 12/24-12/27 [メモ] [代理 @user] | away off | away status | "
                          "(管理ルーム) away @user … / away list",
            summary_key="away.help.summary", handler=away, scope="room", subcommands=("off", "status", "list")),
)
