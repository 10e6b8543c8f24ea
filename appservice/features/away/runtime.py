"""Absences at run time: the Away object (commands' `inv.feature`), its effects and its clock.

The check loop (every `away.check_interval_seconds`) starts absences that are due, ends those
that are over — each with a private notice to the person and an audit row — reads the direct
chats of the people who are away from their `m.direct` (masquerading as them; the policy needs
these rooms), and prunes finished absences after `away.keep_days`. Optional: the presence
status message while away (`away.presence`), restored after.

Documented exception to "effects through the executor": the `m.direct` reads, the profile and
presence calls, and a direct chat opened with a writer on another server
(appservice/matrix/direct.py) are Matrix-layer calls; every message and audit row still goes
through the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import structlog

from appservice.core.decisions import DirectNotice, Effect, Message
from appservice.core.events import Event
from appservice.core.executor import Executor, render
from appservice.core.i18n import t
from appservice.core.jobs import Jobs
from appservice.core.services import Services
from appservice.features.away.parse import AwaySpec, end_bound, start_instant
from appservice.features.away.policy import AwaySettings, notice_message, until_message
from appservice.features.away.store import Absence, AwayStore
from appservice.lib.workcal import WorkCalendar
from appservice.matrix.client import MatrixError, q
from appservice.matrix.direct import dm_remote

log = structlog.get_logger(__name__)

DM_REFRESH_S = 600.0


class Away:
    def __init__(self, settings: AwaySettings, calendar: WorkCalendar, store: AwayStore,
                 executor: Executor) -> None:
        self.settings = settings
        self.calendar = calendar
        self.store = store
        self.executor = executor
        self.svc: Services = executor.svc
        self.tz = settings.calendar.tzinfo
        self._dm_checked: dict[str, float] = {}
        self.wake = asyncio.Event()
        self._jobs = Jobs("away")

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.svc.clock.now().astimezone(self.tz)

    def period(self, spec: AwaySpec, now: datetime) -> tuple[datetime, datetime, datetime]:
        """(starts, ends, end as written). A whole-day end runs on to the next working time
        (the calendar: weekends, holidays, 12/29–1/3), so "until Friday" covers the weekend."""
        start = start_instant(spec, now)
        shown = end_bound(spec, now)
        ends = shown
        if spec.end.at is None:
            status = self.calendar.status(shown, self.settings.schedule)
            if not status.working and status.next_change is not None:
                ends = status.next_change
        return start, ends, shown

    # -- the loop -------------------------------------------------------------------------------

    async def loop(self) -> None:
        bot = self.svc.bots.get(self.svc.config.sender)
        for _ in range(300):  # notices may go to encrypted DMs: let the E2EE bot come up
            if bot is None or bot.is_ready():
                break
            await asyncio.sleep(0.1)
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("away_tick_failed", error=type(exc).__name__, detail=str(exc)[:300])
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.check_interval_seconds)

    async def tick(self) -> None:
        now = self.now().timestamp()
        for a in await self.store.due_to_end(now):
            await self.end(a, "ended")
        for a in await self.store.due_to_start(now):
            if await self.store.set_state(a.id, "active", now, only_from=("scheduled",)):
                await self.started(a, by_itself=True)
        loop_now = asyncio.get_running_loop().time()
        for a in await self.store.all_open():
            if a.state == "active" and loop_now - self._dm_checked.get(a.user_id, -DM_REFRESH_S) >= DM_REFRESH_S:
                await self.refresh_dm_rooms(a.user_id)
        await self.store.prune(now - self.settings.keep_days * 86400)

    async def started(self, a: Absence, *, by_itself: bool) -> None:
        await self.refresh_dm_rooms(a.user_id)
        await self._presence_on(a)
        await self.executor.audit("away_started", actor=a.set_by, target=a.user_id,
                                  details={"absence": a.id}, once_key=f"away_started_audit:{a.id}")
        if by_itself:
            await self.dm(a.user_id, Message("away.started", {"until": until_message(a, self.tz)}),
                          f"away_started:{a.id}")

    async def end(self, a: Absence, state: str, *, actor: str | None = None) -> bool:
        """End (ended), cancel (cancelled) or replace an absence; tell the person when it ended by itself."""
        now = self.now().timestamp()
        if not await self.store.set_state(a.id, state, now):
            return False
        if a.state == "active":
            await self._presence_off(a)
        told = await self.store.notices_sent(a.id)
        await self.executor.audit(f"away_{state}", actor=actor or a.set_by, target=a.user_id,
                                  details={"absence": a.id, "notices": told})
        if state == "ended":
            await self.dm(a.user_id, Message("away.ended", {"count": told}), f"away_ended:{a.id}")
        return True

    # -- messages ---------------------------------------------------------------------------------

    async def dm(self, user_id: str, message: Message, once_key: str) -> None:
        """A private notice outside any event (the check loop, a command for someone else)."""
        event = Event(event_id=f"away:{once_key}", room_id="", sender=user_id, type="jp.yakuba.away",
                      origin_server_ts=0, content={})
        await self.executor.perform([DirectNotice(user_id=user_id, message=message, once_key=once_key)],
                                    event, "away")

    async def notify_remote(self, effect: Effect, event: Event, svc: Services) -> None:
        """A writer on another server: tried beside the pipeline (their server may be slow or
        down, and that must not hold up the next event), once per writer and absence."""
        self._jobs.start(f"remote-{event.event_id}", self._notify_remote(dict(effect.payload), event.event_id))

    async def _notify_remote(self, p: dict[str, Any], event_id: str) -> None:
        """Open a DM with them if their server can be reached, and say in the audit whether it
        could. Never raises: a server that cannot be reached is a result."""
        try:
            a = await self.store.get(int(p["absence_id"]))
            if a is None:
                return
            text = render(notice_message(a, self.tz), self.svc.config.locale)
            error = await self.dm_remote(p["user_id"], text, ("away_remote", str(a.id), p["user_id"]))
            await self.executor.audit("away_notice", actor=p["user_id"], target=p["target"], room_id=p.get("room_id"),
                                      event_id=event_id, result="ok" if error is None else "unreachable",
                                      details={"absence": a.id, "via": p.get("via"), "remote": True,
                                               **({"error": error} if error else {})})
        except Exception as exc:
            log.error("away_remote_failed", error=type(exc).__name__, detail=str(exc)[:300])

    async def dm_remote(self, user_id: str, text: str, key: tuple[str, ...]) -> str | None:
        svc = self.svc
        return await dm_remote(svc.client, svc.state, user_id, t("core.dm_room_name", svc.config.locale),
                               lambda room: self.executor.post(room, text, key))

    async def close(self) -> None:
        await self._jobs.cancel()

    async def learn_dm(self, effect: Effect, event: Event, svc: Services) -> None:
        p = effect.payload
        rows = [(p["room_id"], u, other) for u, other in ((p["invitee"], p["inviter"]), (p["inviter"], p["invitee"]))
                if svc.config.is_local(u)]
        await self.store.add_dm_rooms(rows, "invite")

    # -- Synapse --------------------------------------------------------------------------------

    async def refresh_dm_rooms(self, user_id: str) -> int:
        """The user's direct chats from their `m.direct` account data (as clients keep it)."""
        self._dm_checked[user_id] = asyncio.get_running_loop().time()
        try:
            data = await self.svc.client.request(
                "GET", f"/_matrix/client/v3/user/{q(user_id)}/account_data/m.direct", as_user=user_id)
        except MatrixError as exc:
            if exc.status != 404:
                log.warning("away_m_direct_failed", user=user_id, status=exc.status)
            return 0
        rows = [(room, user_id, partner) for partner, rooms in data.items() if isinstance(partner, str)
                and isinstance(rooms, list) for room in rooms if isinstance(room, str)]
        return await self.store.add_dm_rooms(rows, "m.direct")

    async def display_name(self, user_id: str) -> str | None:
        try:
            body = await self.svc.client.request("GET", f"/_matrix/client/v3/profile/{q(user_id)}/displayname")
        except MatrixError:
            return None
        name = body.get("displayname")
        return name.strip()[:80] if isinstance(name, str) and name.strip() else None

    async def _presence_on(self, a: Absence) -> None:
        await self._presence(a, away=True)

    async def _presence_off(self, a: Absence) -> None:
        await self._presence(a, away=False)

    async def _presence(self, a: Absence, *, away: bool) -> None:
        """The status message while away (the one before is kept), or the one before again.
        The presence state itself is the clients' (they set it as they sync): kept as it is."""
        if not self.settings.presence:
            return
        path = f"/_matrix/client/v3/presence/{q(a.user_id)}/status"
        try:
            current = await self.svc.client.request("GET", path, as_user=a.user_id)
            if away:
                await self.store.set_presence_prev(a.id, str(current.get("status_msg") or ""))
                text = render(Message("away.presence", {"until": until_message(a, self.tz)}), self.svc.config.locale)
            else:
                text = await self.store.presence_prev(a.id) or ""
            await self.svc.client.request("PUT", path, as_user=a.user_id, json={
                "presence": str(current.get("presence") or "online"), "status_msg": text})
        except MatrixError as exc:
            log.warning("away_presence_failed", user=a.user_id, status=exc.status)
