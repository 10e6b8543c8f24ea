"""`!yakuba quiet …` and `!yakuba emergency …`.

`quiet` mixes scopes, so it is registered as "room" and checks here: `status`, `preview` and
`reconcile` only for Yakuba admins in the admin room (refusals audited as for admin commands);
`off`/`on` (opt-out) only in the user's own DM with the bot. Anywhere else it stays silent.

Messages and audit rows go through the executor (`QuietFeature.executor`). Documented exception:
the announce room's alias lookup and the bot's join on a 403 are Matrix-layer calls, a multi-step
operation whose next step (join, then send again) depends on the last.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from appservice.core.commands import CommandError, Invocation, Reply, command_place
from appservice.core.decisions import Message
from appservice.core.feature import Command
from appservice.features.quiet.policy import reason_message, when_message
from appservice.features.quiet.store import Disaster
from appservice.lib.workcal import UnknownScheduleError
from appservice.matrix.client import MatrixError, q

if TYPE_CHECKING:
    from appservice.features.quiet.feature import QuietFeature

log = structlog.get_logger(__name__)
_TIME = re.compile(r"^\d{1,2}:\d{2}")


def _feature(inv: Invocation) -> QuietFeature:
    feature: QuietFeature | None = inv.feature
    if feature is None:
        raise CommandError("quiet hours are not installed")
    return feature



async def quiet(inv: Invocation) -> Reply:
    where = await command_place(inv)
    if where == "other":
        return Reply()  # not where Yakuba talks
    sub = inv.args[0].lower() if inv.args else "status"
    if sub in ("off", "on"):
        if where != "dm":
            return Reply(messages=[Message("quiet.optout.dm_only")])
        return await _opt(inv, sub == "off")
    if sub not in ("status", "preview", "reconcile"):
        raise CommandError(f"unknown subcommand {sub[:20]!r}")
    if where != "admin":
        return Reply(messages=[Message("core.refused_scope")])
    if inv.sender not in await inv.services.admins():
        await _feature(inv).executor.audit("command_refused", actor=inv.sender, room_id=inv.room_id,
                                           event_id=inv.event_id, result="refused",
                                           details={"command": f"quiet {sub}"})
        return Reply(messages=[Message("core.refused")])
    if sub == "status":
        return await _status(inv)
    if sub == "preview":
        return _preview(inv, inv.args[1:])
    feature = _feature(inv)
    if not feature.cfg.enabled:
        return Reply(messages=[Message("quiet.disabled")])
    feature.reconciler.request("manual", force=True)
    return Reply(messages=[Message("quiet.reconcile.started")])


async def _opt(inv: Invocation, out: bool) -> Reply:
    feature = _feature(inv)
    if not feature.cfg.enabled:
        return Reply(messages=[Message("quiet.disabled")])
    if out and not feature.cfg.allow_opt_out:
        return Reply(messages=[Message("quiet.optout.not_allowed")])
    changed = await feature.store.set_opt_out(inv.sender, out)
    await feature.executor.audit("quiet_opt_out" if out else "quiet_opt_in", actor=inv.sender,
                                 target=inv.sender, room_id=inv.room_id, event_id=inv.event_id,
                                 result="ok" if changed else "unchanged")
    await feature.reconciler.reconcile_one(inv.sender)
    return Reply(messages=[Message("quiet.optout.off" if out else "quiet.optout.on")])


def _when_text(dt: datetime | None) -> Message | str:
    return when_message(dt) if dt is not None else Message("quiet.status.none")


async def _status(inv: Invocation) -> Reply:
    feature = _feature(inv)
    now = inv.services.clock.now()
    counts = await feature.store.counts()
    disaster = await feature.store.disaster()
    last = await feature.store.last_run()
    if last is None:
        run: Message = Message("quiet.status.no_run")
    else:
        finished = datetime.fromtimestamp(last["finished_at"], feature.calendar.tz)
        run = Message("quiet.status.run", {
            "at": finished.strftime("%Y-%m-%d %H:%M:%S"), "trigger": last["trigger"],
            "users": last["users"] or 0, "checked": last["checked"] or 0, "changed": last["changed"] or 0,
            "errors": last["errors"] or 0, "duration": f"{last['duration'] or 0:.1f}"})
    mode = (Message("quiet.status.disaster_on", {"reason": disaster.reason, "by": disaster.by, "at": disaster.at})
            if disaster.on else Message("quiet.status.disaster_off"))
    return Reply(messages=[Message("quiet.status", {
        "state": Message("quiet.status.enabled" if feature.cfg.enabled else "quiet.status.disabled"),
        "quiet": counts["quiet"], "users": counts["users"], "optouts": counts["optouts"],
        "next": _when_text(feature.reconciler.next_boundary(now)),
        "disaster": mode, "run": run,
        "running": Message("quiet.status.running") if feature.reconciler.running else "",
    })])


def _preview(inv: Invocation, args: tuple[str, ...]) -> Reply:
    feature = _feature(inv)
    if not args:
        raise CommandError("give a date and time, e.g. 2027-01-02 10:00")
    text, rest = args[0], list(args[1:])
    if rest and _TIME.match(rest[0]):
        text = f"{text} {rest.pop(0)}"
    try:
        when = datetime.fromisoformat(text.replace("T", " ").strip())
    except ValueError:
        raise CommandError(f"expected a time like 2027-01-02 10:00, got {text[:40]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=feature.calendar.tz)
    schedule: str | None = None
    if rest:
        target = rest[0]
        schedule = feature.cfg.schedule_of(target) if target.startswith("@") else target
    try:
        status = feature.calendar.status(when, schedule)
    except UnknownScheduleError as exc:
        known = ", ".join(("default", *feature.cfg.calendar.schedules))
        raise CommandError(f"unknown schedule {exc.name!r} (known: {known})") from None
    local = when.astimezone(feature.calendar.tz)
    return Reply(messages=[Message("quiet.preview", {
        "when": when_message(local), "schedule": schedule or "default",
        "state": Message("workcal.state.working" if status.working else "workcal.state.off"),
        "reason": reason_message(status), "next": _when_text(status.next_change),
    })])


async def emergency(inv: Invocation) -> Reply:
    feature = _feature(inv)
    sub = inv.args[0].lower() if inv.args else ""
    current = await feature.store.disaster()
    now = inv.services.clock.now().astimezone(feature.calendar.tz)
    if sub == "on":
        reason = " ".join(inv.args[1:]).strip()
        if not reason:
            raise CommandError("give a reason, e.g. emergency on 台風10号接近")
        if current.on:
            return Reply(messages=[Message("quiet.disaster.already_on", {"reason": current.reason})])
        state = Disaster(True, reason[:200], inv.sender, now.strftime("%Y-%m-%d %H:%M"))
        announce = Message("quiet.disaster.announce_on", {"reason": state.reason})
    elif sub == "off":
        if not current.on:
            return Reply(messages=[Message("quiet.disaster.already_off")])
        state = Disaster(False, current.reason, inv.sender, now.strftime("%Y-%m-%d %H:%M"))
        announce = Message("quiet.disaster.announce_off")
    else:
        raise CommandError("expected on <reason> or off")
    await feature.store.set_disaster(state)
    await feature.executor.audit("quiet_disaster_on" if state.on else "quiet_disaster_off",
                                 actor=inv.sender, room_id=inv.room_id, event_id=inv.event_id,
                                 details={"reason": state.reason})
    feature.reconciler.request("disaster", force=True)
    messages = [Message("quiet.disaster.on" if state.on else "quiet.disaster.off", {"reason": state.reason})]
    if feature.cfg.announce_room:
        if not await _announce(inv, feature, feature.cfg.announce_room, announce, f"{inv.event_id}:{sub}"):
            messages.append(Message("quiet.disaster.announce_failed"))
    return Reply(messages=messages)


async def _announce(inv: Invocation, feature: QuietFeature, room: str, message: Message, key: str) -> bool:
    from appservice.core.executor import render  # the executor imports commands

    svc = inv.services
    executor = feature.executor
    text = render(message, svc.config.locale)
    try:
        room_id = room
        if room.startswith("#"):
            room_id = str((await svc.client.request(
                "GET", f"/_matrix/client/v3/directory/room/{q(room)}"))["room_id"])
        key_tuple = ("quiet-announce", key)
        try:
            await executor.post(room_id, text, key_tuple)
        except MatrixError as exc:
            if exc.status != 403:
                raise
            await svc.client.join(room_id)  # not in the room yet: join (if allowed) and retry
            await executor.post(room_id, text, key_tuple)
        return True
    except (MatrixError, KeyError, RuntimeError, TimeoutError) as exc:
        log.warning("quiet_announce_failed", room=room, error=type(exc).__name__)
        return False


COMMANDS = (
    Command("quiet", usage="quiet status | quiet preview <YYYY-MM-DD HH:MM> [schedule|@user] | quiet reconcile"
                           " | quiet off | quiet on", summary_key="quiet.help.summary", scope="room", handler=quiet,
            subcommands=("status", "preview", "reconcile", "off", "on")),
    Command("emergency", usage="emergency on <reason> | emergency off", summary_key="quiet.help.summary.emergency",
            handler=emergency, subcommands=("on", "off")),
)
