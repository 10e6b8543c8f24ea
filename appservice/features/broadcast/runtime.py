"""The running broadcast feature: sends a confirmed broadcast (a job, never on the pipeline
worker), follows read receipts, sends reminders, and reports to the admin room.

Sending goes through the executor's API (`send`, `post`, `dm_room`, `audit`): encrypted where
the room is (liaison rooms), deterministic transaction ids so a resend after a crash is one
message. A delivery that fails (a partner unreachable) is retried a few times with backoff,
then reported per partner; the rest are delivered regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import structlog

from appservice.core.config import server_of
from appservice.core.decisions import Message
from appservice.core.executor import Executor
from appservice.core.formatting import message_content
from appservice.core.jobs import Jobs
from appservice.core.services import Services
from appservice.core.text import Text
from appservice.features.broadcast.tables import PARTNER, USER, Broadcast, BroadcastTables, Delivery
from appservice.lib.archive.directory import Directory
from appservice.lib.workcal import WorkCalendar, calendar_config_from_dict
from appservice.matrix.admin import SynapseAdmin

log = structlog.get_logger(__name__)

FIELD = "jp.yakuba.broadcast"   # machine-readable part of a broadcast message (id, disaster)


class Broadcasts:
    def __init__(self, services: Services, executor: Executor, tables: BroadcastTables,
                 settings: dict[str, Any]) -> None:
        self.svc = services
        self.executor = executor
        self.tables = tables
        self.settings = settings
        self.calendar, self.schedules = _calendar(services)
        self._directory: Directory | None = None
        self._jobs = Jobs("broadcast")

    # -- audience --------------------------------------------------------------------------

    def directory(self) -> dict[str, str]:
        path = self.settings.get("directory") or self.svc.config.feature("retention").get("directory")
        if not path:
            return {}
        try:
            if self._directory is None:
                self._directory = Directory.load(path)
            else:
                self._directory.reload_if_changed()
        except (OSError, ValueError) as exc:
            log.warning("broadcast_directory_unreadable", error=type(exc).__name__)
            return {}
        return {u: a.department for u, a in self._directory.entries().items() if a.department}

    async def local_staff(self) -> list[str]:
        """Every active local account except Yakuba's own and other appservices' users."""
        users = await SynapseAdmin(self.svc.client).list_users()
        cfg = self.svc.config
        return sorted(u["name"] for u in users
                      if isinstance(u.get("name"), str) and cfg.is_local(u["name"])
                      and u["name"] not in cfg.bot_user_ids and not u.get("deactivated")
                      and not u.get("appservice_id") and not u.get("locked"))

    # -- sending ---------------------------------------------------------------------------

    def content(self, b: Broadcast) -> dict[str, Any]:
        msg = Message("broadcast.notice.urgent" if b.urgent else "broadcast.notice",
                      {"title": b.title, "body": Text(b.body), "from": self.municipality()})
        content = message_content([msg], self.executor.locale, self.svc.config.presentation)
        content["msgtype"] = "m.text"   # m.notice is silenced by the default push rules
        content[FIELD] = {"id": b.code, "from": self.svc.config.homeserver.server_name}
        if b.disaster:
            content[FIELD]["disaster"] = b.disaster
            content[FIELD]["reason"] = b.title[:200]
        return content

    def municipality(self) -> str:
        return str(self.settings.get("municipality") or self.svc.config.homeserver.server_name)

    def start(self, b: Broadcast) -> None:
        self._jobs.start(f"send:{b.code}", self.send_all(b))

    async def send_all(self, b: Broadcast) -> None:
        try:
            await self._send_all(b)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never lose the report: the admin must know it stopped
            log.error("broadcast_job_failed", code=b.code, error=type(exc).__name__)
            await self._post(b, Message("broadcast.job_failed", {"code": b.code, "error": type(exc).__name__}),
                             "failed")

    async def _send_all(self, b: Broadcast) -> None:
        liaison = await self.tables.liaison()
        content = self.content(b)
        sem = asyncio.Semaphore(self.settings["send_concurrency"])
        attempts = self.settings["retries"] + 1
        for attempt in range(attempts):
            pending = await self.tables.pending(b.id, attempts)
            if not pending:
                break
            if attempt:
                await asyncio.sleep(self.settings["retry_seconds"] * attempt)

            async def one(d: Delivery) -> None:
                async with sem:
                    await self._deliver(b, d, content, liaison)

            await asyncio.gather(*(one(d) for d in pending))
        await self.tables.set_status(b.id, "sent", sent_at=self.svc.clock.now().timestamp())
        rows = await self.tables.deliveries(b.id)
        ok_users = sum(1 for d in rows if d.kind == USER and d.event_id)
        ok_partners = [d.target for d in rows if d.kind == PARTNER and d.event_id]
        failed = [d for d in rows if not d.event_id]
        await self.executor.audit("broadcast_sent", actor=b.created_by, room_id=b.admin_room,
                                  details={"code": b.code, "users": ok_users, "partners": len(ok_partners),
                                           "failed": len(failed), "disaster": b.disaster})
        await self._post(b, Message("broadcast.sent", {
            "code": b.code, "users": ok_users, "partners": len(ok_partners),
            "failed": Message("broadcast.sent_failed", {"list": ", ".join(
                f"{self.label(d)}（{d.error or '-'}）" for d in failed[:20])}) if failed
            else Message("broadcast.sent_all")}), "sent")

    def label(self, d: Delivery) -> str:
        if d.kind == PARTNER:
            p = self.svc.config.federation.partner(d.target)
            return p.label(self.svc.config.locale) if p else d.target
        return d.target

    async def _deliver(self, b: Broadcast, d: Delivery, content: dict[str, Any], liaison: dict[str, str]) -> None:
        try:
            if d.kind == USER:
                room = await self.executor.dm_room(d.target)
            else:
                found = liaison.get(d.target)
                if found is None:
                    await self.tables.failed(b.id, d.target, "no liaison room")
                    return
                room = found
            event_id = await self.executor.send(room, content, ("broadcast", b.code, d.target))
        except Exception as exc:
            await self.tables.failed(b.id, d.target, _why(exc))
            log.warning("broadcast_delivery_failed", code=b.code, kind=d.kind, error=type(exc).__name__)
            return
        await self.tables.delivered(b.id, d.target, room, event_id, self.svc.clock.now().timestamp())

    async def _post(self, b: Broadcast, msg: Message, what: str) -> None:
        with contextlib.suppress(Exception):
            await self.executor.post(b.admin_room, self.executor.render(msg), ("broadcast", b.code, what))

    # -- reading ---------------------------------------------------------------------------

    async def on_receipt(self, room_id: str, user_id: str, event_id: str, ts_ms: int) -> None:
        now = self.svc.clock.now().timestamp()
        ts = ts_ms / 1000 if ts_ms > 0 else 0.0
        partner = None if self.svc.config.is_local(user_id) else server_of(user_id)
        await self.tables.read(room_id, user_id, event_id, ts, now, partner_server=partner)

    def off_duty(self, user_id: str, when: datetime) -> bool:
        try:
            return not self.calendar.status(when, self.schedules.get(user_id)).working
        except Exception:
            return not self.calendar.status(when).working

    # -- reminders -------------------------------------------------------------------------

    async def remind_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings["reminder_poll_seconds"])
            try:
                await self.remind_once()
            except Exception as exc:
                log.warning("broadcast_remind_failed", error=type(exc).__name__)

    async def remind_once(self) -> int:
        now = self.svc.clock.now()
        sent = 0
        for b, d in await self.tables.due_reminders(now.timestamp()):
            if not b.urgent and self.off_duty(d.target, now):
                continue  # never off-hours unless urgent: tried again at the next poll
            assert d.room_id is not None
            await self.executor.post(d.room_id, self.executor.render(Message("broadcast.reminder", {
                "title": b.title, "code": b.code})), ("broadcast-remind", b.code, d.target), reply_to=d.event_id)
            await self.tables.reminded(b.id, d.target, now.timestamp())
            sent += 1
        return sent

    async def stop(self) -> None:
        await self._jobs.cancel()


def _why(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    errcode = getattr(exc, "errcode", None)
    return f"{status} {errcode}".strip() if status is not None else type(exc).__name__


def _calendar(services: Services) -> tuple[WorkCalendar, dict[str, str]]:
    """The quiet-hours calendar (the same working hours and department schedules), read from
    its section without owning it: the quiet feature validates that section."""
    raw = services.config.feature("quiet_hours")
    try:
        cal = calendar_config_from_dict(raw, "quiet_hours", ignore_keys=tuple(raw))
    except Exception:
        cal = calendar_config_from_dict({}, "quiet_hours")
    depts = raw.get("departments") if isinstance(raw.get("departments"), dict) else {}
    return WorkCalendar(cal, clock=services.clock.now), {str(k): str(v) for k, v in (depts or {}).items()}

