"""The one place where decisions become effects.

For each decision: claim its once_key (skip if already done), perform it, and on failure
release the claim, count it and log it — without a message body, never raising into the
pipeline, so the next decision and the next event still run.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog

from appservice.commands import REGISTRY, CommandError, Invocation, Reply
from appservice.db import transaction
from appservice.decisions import (
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
from appservice.events import Event
from appservice.i18n import t
from appservice.services import Services
from appservice.state import write_audit

log = structlog.get_logger(__name__)

EffectHandler = Callable[[Effect, Event, Services], Awaitable[None]]


class AuditBuffer:
    """Audit rows of the event being processed, committed with its done mark (see
    Inbox.mark_done). Once closed, rows are written at once (a task that outlived its event)."""

    def __init__(self) -> None:
        self.rows: list[Audit] = []
        self.closed = False

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


def render(message: Message, locale: str) -> str:
    """Catalog text with its params; a Message param is rendered too, a list param becomes
    its rendered items joined with the locale's list separator (「、」 / ", ")."""
    def one(value: Any) -> Any:
        if isinstance(value, Message):
            return render(value, locale)
        if isinstance(value, list | tuple):
            return t("core.list_separator", locale).join(str(one(v)) for v in value)
        return value

    return t(message.key, locale, **{k: one(v) for k, v in message.params.items()})


def txn_id_for(*parts: str) -> str:
    """Deterministic transaction id: a re-run after a crash re-sends the same txn id, which
    Synapse de-duplicates instead of posting twice."""
    return "yk" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Executor:
    def __init__(self, services: Services) -> None:
        self.svc = services
        self.effect_handlers: dict[str, EffectHandler] = {}

    def on_effect(self, kind: str, handler: EffectHandler) -> None:
        self.effect_handlers[kind] = handler

    @property
    def locale(self) -> str:
        return self.svc.config.locale

    async def perform(self, decisions: Sequence[Decision], event: Event, policy: str) -> int:
        failures = 0
        for index, decision in enumerate(decisions):
            kind = type(decision).__name__
            key = decision.once_key
            if key and isinstance(decision, Audit):
                pass  # claimed atomically with the audit row below
            elif key and not await self.svc.state.claim_once(key):
                continue
            try:
                await self._perform(decision, event, policy, index)
                self.svc.metrics.decisions.labels(kind, "ok").inc()
            except Exception as exc:  # one failed effect must not stop the others
                failures += 1
                if key and not isinstance(decision, Audit):
                    await self.svc.state.release_once(key)
                self.svc.metrics.decisions.labels(kind, "error").inc()
                log.error("decision_failed", policy=policy, decision=kind, event_id=event.event_id,
                          room_id=event.room_id, error=type(exc).__name__, detail=str(exc)[:300])
        return failures

    async def _perform(self, d: Decision, event: Event, policy: str, index: int) -> None:
        txn = txn_id_for(event.event_id, policy, str(index), type(d).__name__)
        match d:
            case Notice():
                content = self._notice(render(d.message, self.locale), d.reply_to)
                sent = await self.svc.sender.send(d.room_id, content, txn)
                await self._record_offer(d.offer, sent)
            case DirectNotice():
                room = await self.dm_room(d.user_id)
                sent = await self.svc.sender.send(room, self._notice(render(d.message, self.locale)), txn)
                await self._record_offer(d.offer, sent)
            case AdminNotice():
                room = await self.svc.state.admin_room()
                if room:
                    await self.svc.sender.send(room, self._notice(render(d.message, self.locale)), txn)
            case Redact():
                reason = render(d.reason, self.locale) if d.reason else None
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
                await handler(d, event, self.svc)
            case _:
                raise TypeError(f"unknown decision {type(d).__name__}")
        # Audit rows are logged by the database already; effects are worth an info line.
        (log.debug if isinstance(d, Audit) else log.info)(
            "decision", policy=policy, decision=type(d).__name__, event_id=event.event_id,
            room_id=event.room_id)

    @staticmethod
    def _notice(text: str, reply_to: str | None = None) -> dict[str, Any]:
        content: dict[str, Any] = {"msgtype": "m.notice", "body": text}
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return content

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
        spec = REGISTRY[d.name]
        inv = Invocation(d.name, d.args, d.sender, d.room_id, d.event_id, self.svc)
        try:
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
        await self.svc.state.audit(f"command:{d.name}", actor=d.sender, room_id=d.room_id,
                                   event_id=d.event_id, result=result, details={"args": len(d.args)})
        text = "\n".join([render(m, self.locale) for m in reply.messages] + reply.text)
        if text:
            await self.svc.sender.send(d.room_id, self._notice(text, d.event_id), txn)
