"""The one place where decisions become effects.

Effects are at least once, made idempotent: for each decision, claim its once_key (skip it if
done already), perform it, then mark the key done. On failure the claim is released, the
failure counted and logged — without a message body, never raised into the pipeline, so the
next decision and the next event still run. A failure that may pass (`exc.transient`: Synapse
5xx/429/unreachable after the client's own retries, the E2EE bot not ready) also stops the rest
of its decision list — later decisions may tell of the failed one — and is noted on the event
(`AuditBuffer.transient`): the pipeline leaves the event to be replayed later, when the done keys
are skipped and deterministic transaction ids make resends no-ops. A claim cut off by a crash is
taken over on the replay (StateStore.claim), so the effect happens then.

Test-only hook: `YAKUBA_TEST_CRASH_AFTER_CLAIM=<once_key prefix>` in the environment makes the
process exit (os._exit(137)) right after claiming a key with that prefix, before the effect —
the integration tests use it to crash between claim and effect. Never set it in production.

Admin-room notices triggered by an event are aggregated per (room, sender) of that event: the
first is sent at once, further ones within `notice_window_s` are only counted, and when the
window closes one summary (`core.admin_notices_more`) is posted by `flush_notices` (the service
runs `run_notice_flush`). Audit rows are unaffected. The counts live in memory: a restart loses
a pending summary, never an audit row. Command replies and job reports are never aggregated.

Features plug in here, through the registry the application assembled: effect handlers (for
`Effect(kind)`), ✅-offer actions and command handlers. A handler may return follow-up
decisions; they are performed right after it, by this same executor (so a screenshot check
that finds a screenshot returns the warning instead of sending it).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog

from appservice.core.commands import CommandError, CommandTable, Invocation, Reply
from appservice.core.db import transaction
from appservice.core.decisions import (
    AdminNotice,
    Audit,
    Decision,
    DirectNotice,
    Effect,
    Message,
    Notice,
    Offer,
    Redact,
    RunCommand,
)
from appservice.core.events import Event
from appservice.core.feature import EffectHandler, OfferHandler
from appservice.core.formatting import message_content, notice_content
from appservice.core.formatting import render as render
from appservice.core.i18n import t
from appservice.core.services import Services
from appservice.core.state import BUSY, DONE, write_audit

log = structlog.get_logger(__name__)


CRASH_AFTER_CLAIM = "YAKUBA_TEST_CRASH_AFTER_CLAIM"  # test-only, see the module docstring


class AuditBuffer:
    """Audit rows of the event being processed, committed with its done mark (see
    Inbox.mark_done). Once closed, rows are written at once (a task that outlived its event).
    `transient` names the decisions of the event that failed for a reason that may pass: the
    pipeline then leaves the event to be replayed instead of marking it done."""

    def __init__(self) -> None:
        self.rows: list[Audit] = []
        self.closed = False
        self.transient: list[str] = []

    def close(self) -> list[Audit]:
        self.closed = True
        return self.rows


_audit_buffer: ContextVar[AuditBuffer | None] = ContextVar("yakuba_audit_buffer", default=None)


@contextmanager
def buffered_audits() -> Iterator[AuditBuffer]:
    buffer = AuditBuffer()
    token = _audit_buffer.set(buffer)
    try:
        yield buffer
    finally:
        _audit_buffer.reset(token)


class Steps(list[Decision]):
    """Follow-up decisions of which each depends on the one before (an offer's action, then
    marking the offer used, then its audit row): the first failure stops the rest."""


class ClaimBusy(Exception):
    """A once_key claimed by a run still in progress: not done, so the event is tried later."""

    transient = True


def is_transient(exc: BaseException) -> bool:
    """A failure that may pass when tried later (see the module docstring)."""
    return bool(getattr(exc, "transient", False))


def txn_id_for(*parts: str) -> str:
    """Deterministic transaction id: a re-run after a crash re-sends the same txn id, which
    Synapse de-duplicates instead of posting twice."""
    return "yk" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class FollowUpFailed(Exception):
    def __init__(self, kind: str, failures: int, *, transient: bool) -> None:
        super().__init__(f"{failures} follow-up decision(s) of effect {kind!r} failed")
        self.transient = transient


def _crash_hook(key: str) -> None:
    """Test-only: die between claim and effect (see the module docstring)."""
    prefix = os.environ.get(CRASH_AFTER_CLAIM)
    if prefix and key.startswith(prefix):
        log.warning("test_crash_after_claim", once_key=key)
        os._exit(137)


@dataclass
class NoticeWindow:
    """Admin notices of one (room, sender) key: when the window opened, how many were held."""

    opened: float
    held: int = 0
    seen: set[str] = field(default_factory=set)  # notices held already (a replay is not counted twice)


class Executor:
    def __init__(self, services: Services, commands: CommandTable | None = None, *,
                 aggregate_notices: bool = True, notice_window_s: float = 30.0) -> None:
        self.svc = services
        self.aggregate_notices = aggregate_notices
        self.notice_window_s = notice_window_s
        self.monotonic = time.monotonic  # tests replace it
        self._windows: dict[tuple[str, str], NoticeWindow] = {}
        self.commands = commands or CommandTable()
        self.effect_handlers: dict[str, EffectHandler] = {}
        self.offer_actions: dict[str, OfferHandler] = {}
        # Each assembled feature's running object, by feature name (handed to its commands).
        self.components: dict[str, Any] = {}

    def on_effect(self, kind: str, handler: EffectHandler) -> None:
        if kind in self.effect_handlers:
            raise ValueError(f"effect {kind!r} has two handlers")
        self.effect_handlers[kind] = handler

    def on_offer(self, action: str, handler: OfferHandler) -> None:
        if action in self.offer_actions:
            raise ValueError(f"offer action {action!r} has two handlers")
        self.offer_actions[action] = handler

    # -- for work that runs outside an event (scheduled jobs, bulk runs, exports) -------------
    # Long-running jobs report as they go; they do it here, not through the client, so that
    # every message Yakuba posts leaves through one place (encrypted rooms via the E2EE bot,
    # deterministic transaction ids so a re-run after a crash does not post twice).

    async def post(self, room_id: str, text: str, key: tuple[str, ...], *, reply_to: str | None = None) -> str:
        """Post an already-rendered notice; `key` makes the transaction id (idempotent resend)."""
        return await self.send(room_id, self._notice(text, reply_to), key)

    async def send(self, room_id: str, content: dict[str, Any], key: tuple[str, ...], *,
                   as_user: str | None = None, event_type: str = "m.room.message") -> str:
        """Send an event as a Yakuba bot (encrypted in encrypted rooms); returns its event id."""
        return await self.svc.sender.send(room_id, content, txn_id_for(*key), as_user=as_user,
                                          event_type=event_type)

    async def audit(self, action: str, *, actor: str | None = None, target: str | None = None,
                    room_id: str | None = None, event_id: str | None = None, result: str = "ok",
                    details: dict[str, Any] | None = None, once_key: str | None = None) -> bool:
        """An audit row written now (work outside an event has no done mark to ride on); with
        `once_key`, at most once ever. False if it was not written."""
        return await self.svc.state.audit(action, actor=actor, target=target, room_id=room_id,
                                          event_id=event_id, result=result, details=details, once_key=once_key)

    async def send_file(self, room_id: str, data: bytes, filename: str, mimetype: str,
                        key: tuple[str, ...], *, msgtype: str = "m.file",
                        info: dict[str, Any] | None = None) -> str:
        """Send `data` as an m.file as the bot (or as `msgtype` "m.image", with `info` {"w", "h"},
        which clients show inline); returns its event id. In an encrypted room the file is
        encrypted first (AES-CTR + SHA-256, nio's encrypt_attachment, the standard Matrix
        scheme), the ciphertext is uploaded, and the key travels only inside the `file` block of
        the event, which the bot's E2EE device sends encrypted."""
        from nio.crypto.attachments import encrypt_attachment

        info = {**(info or {}), "mimetype": mimetype.split(";")[0], "size": len(data)}
        content: dict[str, Any] = {"msgtype": msgtype, "body": filename, "filename": filename, "info": info}
        if await self.svc.sender.is_encrypted(room_id):
            ciphertext, keys = encrypt_attachment(data)
            url = await self.svc.client.upload(ciphertext, "application/octet-stream", "encrypted.bin")
            content["file"] = {"url": url, **keys}
        else:
            content["url"] = await self.svc.client.upload(data, mimetype, filename)
        return await self.send(room_id, content, key)

    @property
    def locale(self) -> str:
        return self.svc.config.locale

    async def perform(self, decisions: Sequence[Decision], event: Event, policy: str) -> int:
        """Perform decisions in order; returns how many failed."""
        failures, _ = await self._perform_all(decisions, event, policy)
        return failures

    async def _perform_all(self, decisions: Sequence[Decision], event: Event, policy: str
                           ) -> tuple[int, bool]:
        """(failures, whether one of them was transient). A failure does not stop the others,
        except a transient one (the event is replayed) and any failure inside `Steps`."""
        failures, transient = 0, False
        for index, decision in enumerate(decisions):
            kind = type(decision).__name__
            key = decision.once_key
            claimed: str | None = None
            try:
                if key and not isinstance(decision, Audit):  # an Audit claims with its row
                    claim = await self.svc.state.claim(key)
                    if claim == DONE:
                        continue
                    if claim == BUSY:
                        raise ClaimBusy(f"once_key {key!r} is claimed by a run in progress")
                    claimed = key
                    _crash_hook(key)
                await self._perform(decision, event, policy, index)
                if claimed:
                    await self.svc.state.finish(claimed)
                self.svc.metrics.decisions.labels(kind, "ok").inc()
            except asyncio.CancelledError:
                if claimed:
                    await self.svc.state.release(claimed)
                raise
            except Exception as exc:  # one failed effect must not stop the others
                failures += 1
                if claimed:
                    await self.svc.state.release(claimed)
                passing = is_transient(exc)
                self.svc.metrics.decisions.labels(kind, "error").inc()
                log.error("decision_failed", policy=policy, decision=kind, event_id=event.event_id,
                          room_id=event.room_id, error=type(exc).__name__, transient=passing,
                          detail=str(exc)[:300])
                if passing:
                    transient = True
                    buffer = _audit_buffer.get()
                    if buffer is not None and not buffer.closed:
                        buffer.transient.append(f"{policy}:{kind}")
                if passing or isinstance(decisions, Steps):
                    break  # the rest waits for the replay (or, in Steps, depended on this one)
        return failures, transient

    async def _perform(self, d: Decision, event: Event, policy: str, index: int) -> None:
        txn = txn_id_for(event.event_id, policy, str(index), type(d).__name__)
        match d:
            case Notice():
                content = self._content(d.message, d.reply_to)
                sent = await self.svc.sender.send(d.room_id, content, txn)
                await self._record_offer(d.offer, sent)
            case DirectNotice():
                room = await self.dm_room(d.user_id)
                sent = await self.svc.sender.send(room, self._content(d.message), txn)
                await self._record_offer(d.offer, sent)
            case AdminNotice():
                admin_room = await self.svc.state.admin_room()
                if admin_room and not self._hold_notice(event, policy, txn):
                    await self.svc.sender.send(admin_room, self._content(d.message), txn)
            case Redact():
                reason = self.render(d.reason) if d.reason else None
                await self.svc.client.redact(d.room_id, d.event_id, txn, reason, as_user=d.as_user)
            case Audit():
                buffer = _audit_buffer.get()
                if buffer is not None and not buffer.closed:
                    buffer.rows.append(d)
                else:
                    await self.svc.state.db.run(lambda c: transaction(c, lambda c: write_audit(c, d)))
            case RunCommand():
                await self._run_command(d, txn)
            case Effect():
                handler = self.effect_handlers.get(d.kind)
                if handler is None:
                    raise LookupError(f"no handler for effect {d.kind!r}")
                follow_up = await handler(d, event, self.svc)
                if follow_up:
                    # The effect is done only when its follow-ups are: a failed one fails it
                    # (its once_key is released, so a replay runs it again).
                    failed, transient = await self._perform_all(follow_up, event, f"{policy}/{d.kind}")
                    if failed:
                        raise FollowUpFailed(d.kind, failed, transient=transient)
            case _:
                raise TypeError(f"unknown decision {type(d).__name__}")
        # Audit rows are logged by the database already; effects are worth an info line.
        (log.debug if isinstance(d, Audit) else log.info)(
            "decision", policy=policy, decision=type(d).__name__, event_id=event.event_id,
            room_id=event.room_id)

    def _hold_notice(self, event: Event, policy: str, txn: str) -> bool:
        """True if this admin notice is only counted (its key's window is open); else it opens
        the window and is sent. Notices of commands (their replies' decisions) are never held."""
        if not self.aggregate_notices or policy.startswith("command:"):
            return False
        key = (event.room_id, event.sender)
        now = self.monotonic()
        window = self._windows.get(key)
        if window is None or (now - window.opened >= self.notice_window_s and not window.held):
            self._windows[key] = NoticeWindow(opened=now)
            return False
        if txn not in window.seen:
            window.seen.add(txn)
            window.held += 1
        return True

    async def flush_notices(self, *, force: bool = False) -> int:
        """Post one summary for each window that has closed (all, if `force`) and held notices;
        a window that held some opens again (the flood may go on), an empty one is dropped.
        Returns how many summaries were posted; a failed post is tried again next time."""
        now = self.monotonic()
        posted = 0
        for key, window in list(self._windows.items()):
            if not force and now - window.opened < self.notice_window_s:
                continue
            if not window.held:
                del self._windows[key]
                continue
            admin_room = await self.svc.state.admin_room()
            try:
                if admin_room:
                    content = self._content(Message("core.admin_notices_more", {"count": window.held}))
                    await self.send(admin_room, content, ("admin_notices_more", *key, repr(window.opened)))
            except Exception as exc:
                log.error("notice_summary_failed", room_id=key[0], error=type(exc).__name__,
                          detail=str(exc)[:300])
                continue
            posted += 1
            self._windows[key] = NoticeWindow(opened=now)
        return posted

    async def run_notice_flush(self, every_s: float = 1.0) -> None:
        """Background task: post the summaries of closed windows; the rest when cancelled."""
        try:
            while True:
                await asyncio.sleep(every_s)
                await self.flush_notices()
        except asyncio.CancelledError:
            await asyncio.shield(self.flush_notices(force=True))
            raise

    @staticmethod
    def _notice(text: str, reply_to: str | None = None) -> dict[str, Any]:
        """An already-rendered text as a notice (formatted by its lines, core/formatting.py)."""
        return notice_content(text, reply_to=reply_to)

    def _content(self, message: Message, reply_to: str | None = None) -> dict[str, Any]:
        """A catalog message as a notice: plain `body` and formatted HTML (core/formatting.py)."""
        return message_content([message], self.locale, self.svc.config.presentation, reply_to=reply_to)

    def render(self, message: Message) -> str:
        """The plain text of a message, links resolved (for texts sent some other way)."""
        return render(message, self.locale, self.svc.config.presentation)

    async def _record_offer(self, offer: Offer | None, sent_event_id: str) -> None:
        if offer is not None and sent_event_id:
            await self.svc.state.add_offer(sent_event_id, offer.action, offer.user_id, offer.room_id,
                                           offer.event_id, offer.detail)

    async def dm_room(self, user_id: str) -> str:
        """The bot's DM room with a user, created on first use.

        Unencrypted on purpose: our notices never carry message content or personal data, and
        a plain room lets the appservice see the user's ✅ reactions without a bot device.
        The user is joined for them (masquerading), so a warning shows up as a normal chat
        instead of waiting behind an invite they may never open."""
        room = await self.svc.state.dm_room(user_id)
        if room:
            return room
        room = await self.svc.client.create_room({
            "preset": "trusted_private_chat", "is_direct": True, "invite": [user_id],
            "name": t("core.dm_room_name", self.locale),
        })
        await self.svc.state.set_dm_room(user_id, room)
        await self.svc.state.note_room(room, encrypted=False)
        try:
            await self.svc.client.join(room, as_user=user_id)
        except Exception as exc:  # still invited: the notice waits behind the invite
            log.warning("dm_autojoin_failed", user=user_id, error=type(exc).__name__)
        return room

    async def _run_command(self, d: RunCommand, txn: str) -> None:
        spec = self.commands.get(d.name)
        if spec is None:
            raise LookupError(f"no command {d.name!r}")
        owner = self.commands.owner(d.name)
        inv = Invocation(d.name, d.args, d.sender, d.room_id, d.event_id, self.svc,
                         feature=self.components.get(owner), table=self.commands,
                         mentions=d.mentions, pills=d.pills, text=d.text)
        try:
            if not self.commands.enabled(d.name):
                reply = Reply(messages=[Message("core.feature_off", {"feature": owner, "command": d.name})])
                result = "feature_off"
            else:
                reply = await spec.handler(inv)
                result = "ok"
        except CommandError as exc:
            reply = Reply(messages=[Message("core.bad_arguments", {"error": str(exc), "usage": spec.usage})])
            result = "bad_arguments"
        except Exception as exc:
            error_id = uuid.uuid4().hex[:8]
            log.error("command_failed", command=d.name, error_id=error_id, error=type(exc).__name__,
                      detail=str(exc)[:300])
            reply = Reply(messages=[Message("core.command_failed", {"error_id": error_id})])
            result = "error"
        await self.audit(f"command:{d.name}", actor=d.sender, room_id=d.room_id, event_id=d.event_id,
                         result=result, details={"args": len(d.args)})
        if reply.messages or reply.text:
            content = message_content(reply.messages, self.locale, self.svc.config.presentation,
                                      extra_lines=reply.text, reply_to=d.event_id)
            await self.svc.sender.send(d.room_id, content, txn)
        if reply.decisions:
            event = Event(event_id=d.event_id, room_id=d.room_id, sender=d.sender, type="m.room.message",
                          origin_server_ts=0, content={})
            await self.perform(reply.decisions, event, f"command:{d.name}")
