"""The effectful side of retention: the archive effect handler, flagging in Matrix, retries.

Documented exception to "effects through the executor": inviting and joining the archive bot,
its leaving, and the `jp.yakuba.archive` state event are Matrix-layer calls (client / bot),
because they are multi-step operations whose next step depends on the last (who may act, did
the invite land, did the join work). Every message and audit row goes through the executor.

Flagging a room (`flag` in the admin room, or `here` by a room moderator):
1. the RetentionPolicy goes into the ArchiveStore (append-only policy log) and the flag into
   yakuba.db (`retention_flags`); display names of the current members are snapshotted;
2. a `jp.yakuba.archive` state event makes the flag visible in the room. Yakuba's bots hold
   no power in other people's rooms, so it is sent masquerading (as_token) as the flagging
   moderator, or for an admin's `flag` as the local member with the most power who may send
   it; if nobody may, the flag still holds and the reply says the state event is missing;
3. `@_yakuba_archive` is invited the same way and joins with its own E2EE device, so it
   receives the room keys of everything sent from then on;
4. the archive bot posts a plain m.notice (encrypted in encrypted rooms) saying the room is
   archived, by whose decision, for how long.

Backfill (`flag … --backfill-from YYYY-MM-DD`, unencrypted rooms only): the archive bot pages
back through /messages as a member only to find where that day starts (keeping one pagination
token, never the events), then pages forward from there and archives each page, oldest first,
before it asks for the next, through the same record path as live events (the store skips what
it already holds). It stops at the moment it started: what came later is the pipeline's.

Long work runs as a background job (`start_job`): a command handler runs on the pipeline's one
worker, so an export or a backfill answers at once and reports in the room when it is done;
the jobs are cancelled by `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import structlog

from appservice.core.decisions import Effect, Message
from appservice.core.events import Event, MalformedEvent, parse_event
from appservice.core.executor import Executor, render
from appservice.core.jobs import Jobs
from appservice.core.services import Services
from appservice.features.retention.config import RetentionSettings
from appservice.features.retention.records import (
    FLAG_STATE_TYPE,
    attachment_meta,
    build_record,
    classify,
    external_affiliation,
    member_display_name,
)
from appservice.features.retention.tables import Flag, RetentionTables
from appservice.features.retention.trust import Current, flag_view
from appservice.lib.archive import ArchiveStore, Directory, RetentionPolicy
from appservice.lib.archive.export import iter_export
from appservice.lib.archive.record import JST
from appservice.lib.secret_files import private_dir
from appservice.matrix.client import MatrixError, q
from appservice.matrix.media import MediaError, download
from appservice.matrix.room_roles import creators, joined_members, power_levels, room_state

log = structlog.get_logger(__name__)

RETRY_POLL_S = 15.0
CHECKPOINT_EVERY_S = 600.0
BACKFILL_PAGE = 100
BACKFILL_PROGRESS_PAGES = 5  # a progress message every 5 pages (500 events read)
_UNREADABLE_HISTORY = ("joined", "invited")  # the bot, joining now, sees nothing from before


class RoomNotFound(LookupError):
    pass


class ExportCancelled(Exception):
    """The service is stopping: an export being written is abandoned (its temp file removed)."""


@dataclass(frozen=True)
class ExportResult:
    records: int  # records written (when too large: up to where it stopped)
    size: int  # bytes written (when too large: more than the limit, where it stopped)
    path: Path | None  # the finished file (the caller removes it); None when too large


# -- power levels -------------------------------------------------------------------------------

def user_level(state: list[dict[str, Any]], user_id: str) -> float:
    if user_id in creators(state):
        return math.inf  # room version 12: creators outrank any power level
    pl = power_levels(state)
    if not pl:  # no power_levels event: the creator has 100, everyone else 0
        for ev in state:
            if ev.get("type") == "m.room.create" and ev.get("state_key") == "":
                return 100 if ev.get("sender") == user_id else 0
        return 0
    users = pl.get("users") or {}
    level = users.get(user_id, pl.get("users_default", 0))
    return level if isinstance(level, int) and not isinstance(level, bool) else 0


def level_needed(state: list[dict[str, Any]], *, state_type: str | None = None) -> int:
    """Power needed to send `state_type` as state, or (state_type None) to invite."""
    pl = power_levels(state)
    if not pl:
        return 0
    if state_type is None:
        need = pl.get("invite", 0)
    else:
        need = (pl.get("events") or {}).get(state_type, pl.get("state_default", 50))
    return need if isinstance(need, int) and not isinstance(need, bool) else 50


def pick_actor(state: list[dict[str, Any]], need: int, *, prefer: list[str], is_local: Any,
               exclude: tuple[str, ...]) -> str | None:
    """A joined local (non-bot) member with at least `need` power, `prefer` first."""
    members = sorted(u for u in joined_members(state) if is_local(u) and u not in exclude)
    for user in prefer:
        if user in members and user_level(state, user) >= need:
            return user
    ranked = sorted(members, key=lambda u: -user_level(state, u))
    if ranked and user_level(state, ranked[0]) >= need:
        return ranked[0]
    return None


def _room_name(state: list[dict[str, Any]]) -> str | None:
    for ev in state:
        if ev.get("type") == "m.room.name" and ev.get("state_key") == "":
            name = (ev.get("content") or {}).get("name")
            return name if isinstance(name, str) and name else None
    return None


def _member_names(state: list[dict[str, Any]]) -> dict[str, str | None]:
    names: dict[str, str | None] = {}
    for ev in state:
        if ev.get("type") == "m.room.member" and isinstance(ev.get("state_key"), str):
            name = (ev.get("content") or {}).get("displayname")
            names[ev["state_key"]] = name if isinstance(name, str) else None
    return names


def backfill_refusal(state: list[dict[str, Any]]) -> str | None:
    """Catalog key saying why this room's history cannot be backfilled, or None if it can."""
    if any(ev.get("type") == "m.room.encryption" for ev in state):
        return "retention.backfill.encrypted"
    for ev in state:
        if ev.get("type") == "m.room.history_visibility" and ev.get("state_key") == "":
            if (ev.get("content") or {}).get("history_visibility") in _UNREADABLE_HISTORY:
                return "retention.backfill.unreadable"
    return None


def _transient(reason: str) -> bool:
    """Media errors worth retrying later (server busy, network) — not 404s or bad files."""
    return (reason.startswith("network:") or reason in ("http_0", "http_429")
            or (reason.startswith("http_5")))


@dataclass
class FlagOutcome:
    room_id: str
    room_name: str | None
    encrypted: bool
    state_event: bool = False
    bot_joined: bool = False
    notice_sent: bool = False
    problems: list[str] = field(default_factory=list)  # catalog keys


class Retention:
    def __init__(self, executor: Executor, settings: RetentionSettings, store: ArchiveStore,
                 tables: RetentionTables, directory: Directory | None) -> None:
        self.executor = executor
        self.svc: Services = executor.svc
        self.settings = settings
        self.store = store
        self.tables = tables
        self.directory = directory
        self._retrying: set[str] | None = None
        self._stopping = False
        self._jobs = Jobs("retention")
        self._stop_threads = threading.Event()  # tells a job's thread (an export) to give up
        self._writers = 0  # exports being written in a thread (a thread cannot be cancelled)
        self._writers_lock = threading.Lock()

    @property
    def archive_bot(self) -> str:
        return self.svc.config.archive_bot

    @property
    def locale(self) -> str:
        return self.svc.config.locale

    # -- the archive effect ------------------------------------------------------------------

    async def on_archive(self, effect: Effect, event: Event, _svc: Services) -> None:
        kind = str(effect.payload.get("kind") or classify(event) or "")
        try:
            await self.archive_event(event, kind)
        except Exception as exc:
            attempts = await self.tables.add_retry(event.event_id, event.room_id, kind, type(exc).__name__)
            if self._retrying is not None:
                self._retrying.add(event.event_id)
            log.warning("archive_write_failed", event_id=event.event_id, room_id=event.room_id,
                        error=type(exc).__name__, attempts=attempts)
            raise
        await self._resolved(event.event_id)

    async def _resolved(self, event_id: str) -> None:
        if self._retrying is None:
            rows = await self.tables.db.fetchall("SELECT event_id FROM retention_retry")
            self._retrying = {r["event_id"] for r in rows}
        if event_id in self._retrying:
            await self.tables.drop_retry(event_id)
            self._retrying.discard(event_id)
            log.info("archive_retry_resolved", event_id=event_id)

    async def archive_event(self, event: Event, kind: str) -> None:
        media = await self._media(event) if kind == "media" else None
        display = await self._display_name(event)
        room_name = await self.svc.state.room_name(event.room_id)
        received_at = await self._received_at(event)

        def write() -> None:
            affiliation = None
            if self.directory is not None:
                found = self.directory.lookup(event.sender)
                affiliation = found.as_record() if found else None
            if affiliation is None and not self.svc.config.is_local(event.sender):
                affiliation = external_affiliation(self.svc.config, event.sender)
            record = build_record(event, kind, room_name=room_name, display_name=display,
                                  affiliation=affiliation, media=media, received_at=received_at)
            self.store.append(event.room_id, [record])  # fsyncs: durable when it returns

        await asyncio.to_thread(write)
        if event.type == "m.room.member" and event.state_key:
            if event.content.get("membership") == "join":
                await self.tables.set_display_name(event.room_id, event.state_key,
                                                   member_display_name(event))

    async def _received_at(self, event: Event) -> datetime:
        """When Yakuba received the event: the inbox's time (wall clock, like Synapse's), or
        now for what never went through the inbox (backfilled history)."""
        row = await self.svc.inbox.db.fetchone(
            "SELECT received_at FROM inbox WHERE event_id = ?", (event.event_id,))
        if row is not None and isinstance(row["received_at"], int | float) \
                and math.isfinite(row["received_at"]):
            return datetime.fromtimestamp(row["received_at"], UTC)
        return datetime.now(UTC)

    async def _display_name(self, event: Event) -> str | None:
        if event.type == "m.room.member" and event.state_key == event.sender \
                and event.content.get("membership") == "join":
            return member_display_name(event)  # the name this very event sets
        known, name = await self.tables.display_name(event.room_id, event.sender)
        if known:
            return name
        try:
            state = await room_state(self.svc.client, event.room_id)
            await self.tables.snapshot_members(event.room_id, _member_names(state))
        except MatrixError as exc:
            log.warning("archive_member_lookup_failed", room_id=event.room_id, error=exc.errcode)
        known, name = await self.tables.display_name(event.room_id, event.sender)
        if not known:
            await self.tables.set_display_name(event.room_id, event.sender, None)
        return name

    async def _media(self, event: Event) -> dict[str, Any] | None:
        name, mimetype, _size = attachment_meta(event)
        try:
            att = await download(self.svc.client, event, max_bytes=self.settings.media_max_bytes)
        except MediaError as exc:
            if _transient(exc.reason):
                raise
            await self.executor.audit("archive_media_failed", actor=event.sender, room_id=event.room_id,
                                      event_id=event.event_id, result="error", details={"reason": exc.reason},
                                      once_key=f"archive_media_failed:{event.event_id}")
            return None  # the record keeps the name/type/size the sender gave, without a hash
        return await asyncio.to_thread(self.store.put_media, att.data,
                                       name or att.filename or "attachment",
                                       att.mimetype or mimetype or "application/octet-stream")

    # -- the archive bot out of a flagged room (decided by the policy) --------------------------

    async def on_unmirrored(self, effect: Effect, event: Event, _svc: Services) -> None:
        p = effect.payload
        room = str(p.get("room_id") or event.room_id)
        since = float(p.get("since") or event.origin_server_ts / 1000)
        await self.tables.mark_unmirrored(room, since=since, by=str(p.get("by") or event.sender),
                                          how=str(p.get("how") or "leave"))
        log.warning("archive_unmirrored", room_id=room, how=p.get("how"))

    async def on_mirrored(self, effect: Effect, event: Event, _svc: Services) -> None:
        room = str(effect.payload.get("room_id") or event.room_id)
        if await self.tables.clear_unmirrored(room):
            log.info("archive_mirrored_again", room_id=room)

    # -- background ----------------------------------------------------------------------------

    async def retry_due(self) -> int:
        """Archive writes that failed earlier, re-read from the inbox (plaintext if we have it)."""
        done = 0
        for item in await self.tables.due_retries():
            row = await self.svc.inbox.db.fetchone(
                "SELECT json, decrypted FROM inbox WHERE event_id = ?", (item.event_id,))
            if row is None:
                log.error("archive_retry_lost", event_id=item.event_id, room_id=item.room_id)
                await self.tables.drop_retry(item.event_id)
                continue
            event = parse_event(json.loads(row["json"]), decrypted=bool(row["decrypted"]))
            kind = classify(event)
            if kind is None:
                await self.tables.drop_retry(item.event_id)
                continue
            try:
                await self.archive_event(event, kind)
            except Exception as exc:
                attempts = await self.tables.add_retry(item.event_id, item.room_id, kind, type(exc).__name__)
                log.warning("archive_retry_failed", event_id=item.event_id, error=type(exc).__name__,
                            attempts=attempts)
                continue
            await self.tables.drop_retry(item.event_id)
            if self._retrying is not None:
                self._retrying.discard(item.event_id)
            log.info("archive_retry_done", event_id=item.event_id, attempts=item.attempts)
            done += 1
        return done

    async def retry_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RETRY_POLL_S)
            try:
                await self.retry_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("archive_retry_loop_error", error=type(exc).__name__)

    async def checkpoint_loop(self) -> None:
        """Sign the heads of rooms written since the last checkpoint (quiet rooms too)."""
        while not self._stopping:
            await asyncio.sleep(CHECKPOINT_EVERY_S)
            try:
                await asyncio.to_thread(self.store.checkpoint)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("archive_checkpoint_failed", error=type(exc).__name__)

    async def close(self) -> None:
        self._stopping = True
        self._stop_threads.set()
        await self._jobs.cancel()
        for _ in range(300):  # an export thread sees the stop at its next chunk (at most 30 s)
            if not self._writers:
                break
            await asyncio.sleep(0.1)
        with contextlib.suppress(OSError):
            for leftover in self.export_dir.glob("export-*"):
                leftover.unlink(missing_ok=True)
        await asyncio.to_thread(self.store.close)

    # -- background jobs (long work a command started) -------------------------------------------

    def start_job(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in the background, owned by this object (cancelled by `close`). `work`
        reports its own outcome (through the executor) and catches its own errors."""
        return self._jobs.start(name, work)

    async def jobs_idle(self) -> None:
        """Wait until no background job is running (tests; a job may start another)."""
        await self._jobs.idle()

    @property
    def export_dir(self) -> Path:
        """Where exports are written before they are sent (0700; each file 0600, removed after)."""
        return self.svc.config.data_dir / "retention-exports"

    def write_export(self, room_id: str, start: date, end: date, fmt: str, limit: int) -> ExportResult:
        """Stream the export into a temp file (blocking: run it in a thread). Stops as soon as
        more than `limit` bytes would be written: the file is removed and `path` is None."""
        with self._writers_lock:
            self._writers += 1
        try:
            return self._write_export(room_id, start, end, fmt, limit)
        finally:
            with self._writers_lock:
                self._writers -= 1

    def _write_export(self, room_id: str, start: date, end: date, fmt: str, limit: int) -> ExportResult:
        folder = private_dir(self.export_dir)
        for stale in folder.glob("export-*"):  # left by a crash: no export takes a day
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < time.time() - 86400:
                    stale.unlink()
        fd, name = tempfile.mkstemp(prefix="export-", suffix=f".{fmt}", dir=folder)  # 0600
        path = Path(name)
        stats: dict[str, int] = {}
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter_export(self.store, room_id, start, end, fmt, stats):
                    if self._stop_threads.is_set():
                        raise ExportCancelled
                    size += len(chunk)
                    if size > limit:
                        break
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if self._stop_threads.is_set():  # stopped while the last chunk was written
            path.unlink(missing_ok=True)
            raise ExportCancelled
        records = stats.get("records", 0)
        log.info("archive_exported", room_id=room_id, start=start.isoformat(), end=end.isoformat(),
                 format=fmt, records=records, bytes=size, too_large=size > limit)
        if size > limit:
            path.unlink(missing_ok=True)
            return ExportResult(records, size, None)
        return ExportResult(records, size, path)

    # -- flagging --------------------------------------------------------------------------------

    async def current(self, room_id: str) -> Current | None:
        """What a change of this room's flag is measured against: the flag as recorded (active
        or not — the archived records keep its period), else a policy set in the archive by an
        operator (counted as an admin's). Who governs it: see trust.py."""
        flag = await self.tables.flag(room_id)
        if flag is not None:
            admin_by = await self.tables.admin_by(room_id)
            admin_set = admin_by is not None or flag.via == "admin" or flag.flagged_by in await self.svc.admins()
            return Current(flag.years, flag.category, flag.department, flag.flagged_by, admin_set, flag.active)
        stored = await asyncio.to_thread(self.store.policy, room_id)
        if stored is None:
            return None
        return Current(stored.years, stored.category, stored.department, "-", True, False)

    async def flag(self, room_id: str, policy: RetentionPolicy, *, actor: str, via: str,
                   admin: bool | None = None) -> FlagOutcome:
        """Flag (or re-flag) a room. `admin`: the actor is a Yakuba admin (default: via == "admin").
        Who may make which change is checked by the caller (commands.py, trust.py)."""
        admin = via == "admin" if admin is None else admin
        svc = self.svc
        state = await self._existing_room_state(room_id)
        name = _room_name(state)
        encrypted = any(ev.get("type") == "m.room.encryption" for ev in state)
        await svc.state.note_room(room_id, encrypted=encrypted, name=name)
        outcome = FlagOutcome(room_id, name, encrypted)

        current = await asyncio.to_thread(self.store.policy, room_id)
        if current != policy:
            await asyncio.to_thread(self.store.set_policy, room_id, policy, set_by=actor)
        now = svc.clock.now()
        old = await self.tables.flag(room_id)
        old_admin = await self.tables.admin_by(room_id)
        if admin:
            new_admin: str | None = actor
        elif old is not None and (old_admin is not None or old.via == "admin"):
            new_admin = old_admin or old.flagged_by  # a moderator lengthened an admin's flag
        else:
            new_admin = None
        await self.tables.snapshot_members(room_id, _member_names(state), overwrite=True)
        await self.tables.set_flag(room_id, years=policy.years, category=policy.category,
                                   department=policy.department, flagged_by=actor,
                                   flagged_at=now.timestamp(), via=via)
        await self.tables.set_admin_by(room_id, new_admin)
        new = await self.tables.flag(room_id)
        await self.executor.audit("archive_flag", actor=actor, target=room_id, room_id=room_id,
                                  details={"years": policy.years, "via": via,
                                           "old": flag_view(old, old_admin), "new": flag_view(new, new_admin)})

        bots = svc.config.bot_user_ids
        content = {"active": True, "retention_years": policy.years, "category": policy.category,
                   "department": policy.department, "flagged_by": actor,
                   "flagged_at": now.astimezone(JST).isoformat(timespec="seconds"),
                   "archive_bot": self.archive_bot}
        outcome.state_event = await self._put_flag_state(room_id, state, content, actor, bots) is not None
        if not outcome.state_event:
            outcome.problems.append("retention.problem.state_event")

        members = joined_members(state)
        if self.archive_bot in members:
            outcome.bot_joined = True
        else:
            outcome.bot_joined = await self._invite_and_join(room_id, state, actor, bots)
        if not outcome.bot_joined:
            outcome.problems.append("retention.problem.bot_join")
            return outcome

        text = render(Message("retention.notice.flagged", {
            "who": actor, "years": policy.years, "category": policy.category or "-",
            "department": policy.department or "-", "bot": self.archive_bot}), self.locale)
        try:
            await self.executor.send(room_id, {"msgtype": "m.notice", "body": text},
                                     (room_id, "archive_flag", str(now.timestamp())),
                                     as_user=self.archive_bot)
            outcome.notice_sent = True
        except Exception as exc:
            log.warning("archive_notice_failed", room_id=room_id, error=type(exc).__name__)
            outcome.problems.append("retention.problem.notice")
        log.info("archive_flagged", room_id=room_id, years=policy.years, via=via,
                 state_event=outcome.state_event, bot_joined=outcome.bot_joined)
        return outcome

    # -- backfill --------------------------------------------------------------------------------

    async def backfill_refusal(self, room_id: str) -> str | None:
        return backfill_refusal(await self._existing_room_state(room_id))

    async def _existing_room_state(self, room_id: str) -> list[dict[str, Any]]:
        """The room's current state; RoomNotFound when Synapse does not know the room."""
        try:
            state = await room_state(self.svc.client, room_id)
        except MatrixError as exc:
            if exc.status in (400, 404):
                raise RoomNotFound(room_id) from None
            raise
        if not state:
            raise RoomNotFound(room_id)
        return state

    async def backfill(self, room_id: str, since: date, *,
                       progress: Callable[[int, int], Awaitable[None]] | None = None) -> int:
        """Archive the room's history from `since` (JST midnight) up to now, oldest first,
        reading /messages as the (joined) archive bot, one page at a time: each page is archived
        before the next is asked for. `progress(archived, pages)` is awaited every
        BACKFILL_PROGRESS_PAGES pages. Returns how many events were newly archived."""
        cutoff_ms = int(datetime.combine(since, dtime.min, tzinfo=JST).timestamp() * 1000)
        until_ms = int(time.time() * 1000)  # from here on, the pipeline archives (the room is flagged)
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/messages"

        async def page(direction: str, token: str | None) -> tuple[list[Any], str | None]:
            params = {"dir": direction, "limit": str(BACKFILL_PAGE)}
            if token:
                params["from"] = token
            body = await self.svc.client.request("GET", path, params=params, as_user=self.archive_bot)
            chunk = body.get("chunk") or []
            end = body.get("end")
            return (chunk if isinstance(chunk, list) else []), (end if isinstance(end, str) else None)

        def ts_of(raw: Any) -> int | None:
            ts = raw.get("origin_server_ts") if isinstance(raw, dict) else None
            return ts if isinstance(ts, int) and not isinstance(ts, bool) else None

        # 1. Back to the page that reaches before `since` (or the room's start): only the token
        #    from which to page forward is kept.
        token: str | None = None
        while True:
            chunk, end = await page("b", token)
            if not chunk:
                break  # nothing before `token`: start there
            if end is None:
                token = None  # this page reached the room's start: page forward from the start
                break
            before = any((ts := ts_of(raw)) is not None and ts < cutoff_ms for raw in chunk)
            if before or end == token:
                token = end
                break
            token = end

        def held() -> set[tuple[str, str]]:
            return {(r["event_id"], r["kind"]) for r in self.store.read(room_id)}

        have = await asyncio.to_thread(held)  # ids only, to count what is new
        # 2. Forward, archiving each page before asking for the next.
        done = pages = 0
        while True:
            chunk, end = await page("f", token)
            newer = False
            for raw in chunk:
                ts = ts_of(raw)
                if ts is not None and ts < cutoff_ms:
                    continue
                if ts is not None and ts > until_ms:
                    newer = True
                    break
                if not isinstance(raw, dict):
                    continue
                try:
                    event = parse_event({**raw, "room_id": room_id})
                except MalformedEvent:
                    continue
                if (raw.get("unsigned") or {}).get("redacted_because") and event.type != "m.room.member":
                    continue  # content already removed: nothing left to keep (its redaction is archived)
                kind = classify(event)
                if kind is None or (event.event_id, kind) in have:
                    continue
                await self.archive_event(event, kind)
                have.add((event.event_id, kind))
                done += 1
            pages += 1
            if progress is not None and pages % BACKFILL_PROGRESS_PAGES == 0:
                await progress(done, pages)
            if newer or not chunk or end is None or end == token:
                break
            token = end
        log.info("archive_backfilled", room_id=room_id, since=since.isoformat(), events=done, pages=pages)
        return done

    async def _put_flag_state(self, room_id: str, state: list[dict[str, Any]], content: dict[str, Any],
                              actor: str, bots: tuple[str, ...]) -> tuple[str, str] | None:
        """(event id, who sent it), or None when nobody we may act as has the power."""
        need = level_needed(state, state_type=FLAG_STATE_TYPE)
        setter = pick_actor(state, need, prefer=[actor], is_local=self.svc.config.is_local, exclude=bots)
        candidates = [u for u in (self.svc.config.sender, self.archive_bot)
                      if u in joined_members(state) and user_level(state, u) >= need]
        setter = candidates[0] if candidates else setter  # our own bots first, if they may
        if setter is None:
            log.warning("archive_flag_state_no_power", room_id=room_id, need=need)
            return None
        try:
            event_id = await self.svc.client.put_state(room_id, FLAG_STATE_TYPE, content, "", as_user=setter)
            return event_id, setter
        except MatrixError as exc:
            log.warning("archive_flag_state_failed", room_id=room_id, error=exc.errcode)
            return None

    async def _invite_and_join(self, room_id: str, state: list[dict[str, Any]], actor: str,
                               bots: tuple[str, ...]) -> bool:
        svc = self.svc
        invited = any(ev.get("type") == "m.room.member" and ev.get("state_key") == self.archive_bot
                      and (ev.get("content") or {}).get("membership") == "invite" for ev in state)
        if not invited:
            inviter = pick_actor(state, level_needed(state), prefer=[actor, svc.config.sender],
                                 is_local=svc.config.is_local, exclude=(self.archive_bot, svc.config.as_user_id))
            if inviter is None:
                log.warning("archive_no_inviter", room_id=room_id)
                return False
            try:
                await svc.client.invite(room_id, self.archive_bot, as_user=inviter)
            except MatrixError as exc:
                log.warning("archive_invite_failed", room_id=room_id, error=exc.errcode)
                return False
        bot = svc.bots.get(self.archive_bot)
        try:
            if bot is not None and bot.is_ready():
                try:
                    await bot.join(room_id)  # the E2EE device's own join
                    return True
                except RuntimeError as exc:
                    log.warning("archive_bot_join_failed", room_id=room_id, error=str(exc)[:100])
            await svc.client.join(room_id, as_user=self.archive_bot)
            await svc.state.note_bot_membership(room_id, self.archive_bot, "join")
            return True
        except MatrixError as exc:
            log.warning("archive_join_failed", room_id=room_id, error=exc.errcode)
            return False

    async def unflag(self, room_id: str, *, actor: str) -> Flag | None:
        """Stop mirroring. The archive keeps everything until its retention period ends."""
        svc = self.svc
        flag = await self.tables.flag(room_id)
        if flag is None or not flag.active:
            return None
        text = render(Message("retention.notice.unflagged", {"who": actor}), self.locale)
        with contextlib.suppress(Exception):
            await self.executor.send(room_id, {"msgtype": "m.notice", "body": text},
                                     (room_id, "archive_unflag", str(time.time())),
                                     as_user=self.archive_bot)
        content = {"active": False, "retention_years": flag.years, "category": flag.category,
                   "department": flag.department, "unflagged_by": actor,
                   "unflagged_at": datetime.now(JST).isoformat(timespec="seconds")}
        sent = None
        try:
            state = await room_state(svc.client, room_id)
            sent = await self._put_flag_state(room_id, state, content, actor, svc.config.bot_user_ids)
        except MatrixError as exc:
            log.warning("archive_unflag_state_failed", room_id=room_id, error=exc.errcode)
        await self.tables.unflag(room_id, by=actor, at=svc.clock.now().timestamp())
        if sent is not None:
            # The pipeline will see this event only after the flag is gone: archive it here, as
            # the room's last record ("保存終了"). A later copy through the pipeline is a no-op.
            closing = Event(event_id=sent[0], room_id=room_id, sender=sent[1], type=FLAG_STATE_TYPE,
                            origin_server_ts=int(time.time() * 1000), content=content, state_key="")
            try:
                await self.archive_event(closing, "notice")
            except Exception as exc:
                log.warning("archive_unflag_record_failed", room_id=room_id, error=type(exc).__name__)
        admin_by = await self.tables.admin_by(room_id)
        await self.executor.audit("archive_unflag", actor=actor, target=room_id, room_id=room_id,
                                  details={"old": flag_view(flag, admin_by),
                                           "new": flag_view(await self.tables.flag(room_id), admin_by)})
        bot = svc.bots.get(self.archive_bot)
        try:
            if bot is not None and bot.client is not None:
                await bot.leave(room_id)
            else:
                await svc.client.leave(room_id, as_user=self.archive_bot)
                await svc.state.note_bot_membership(room_id, self.archive_bot, "leave")
        except Exception as exc:
            log.warning("archive_leave_failed", room_id=room_id, error=type(exc).__name__)
        log.info("archive_unflagged", room_id=room_id)
        return flag
