"""Reports at run time: the Reports object (commands' `inv.feature`), the poller and the actions.

The poller (every `reports.poll_seconds`) asks Synapse for the reports after the last one seen
(`appservice/matrix/reports.py`), records each (`store.py`), and delivers it: a post in the
admin room — reporter, reason, room, sender, time, and the reported text where the admin room
may see it, masked where it holds personal data — an acknowledgement to the reporter, and (with
`reports.moderators`) a notice to the room's local moderators. A delivery cut short is done again
on the next poll (deterministic transaction ids, once keys).

Where the text comes from: an unencrypted message's own content as Synapse serves it now (a
deleted message has none); for an encrypted room, the plaintext Yakuba still holds — the inbox
row while it is not yet stripped, else the megolm session of a bot that is in the room — and
only when the admin room is encrypted itself. Otherwise the post says the text is not shown.

Documented exception to "effects through the executor": the report and event look-ups, the room
state, and the deletion itself (a Matrix-layer redaction whose result decides the reply) are
Matrix-layer calls; messages, DMs and audit rows go through the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from appservice.core.decisions import Audit, Decision, DirectNotice, Message, Notice, RunCommand
from appservice.core.events import Event
from appservice.core.executor import Executor, txn_id_for
from appservice.core.forged import from_decrypted
from appservice.core.i18n import t
from appservice.core.inbox import STRIPPED
from appservice.core.services import Services
from appservice.core.state import OfferRow
from appservice.features.reports.store import Report, ReportStore, clean_str
from appservice.features.reports.text import MEDIA, ReportsSettings, masked
from appservice.matrix.client import MatrixError
from appservice.matrix.direct import dm_remote
from appservice.matrix.links import room_link
from appservice.matrix.reports import EventReports, is_redacted
from appservice.matrix.room_roles import moderators, power_levels, room_state

log = structlog.get_logger(__name__)

OFFER_ACTION = "reports.act"
JST_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Seen:
    """What the admin room may be told about the reported message now."""

    state: str                  # text | deleted | missing | unreadable | media | other
    text: str = ""
    masked: bool = False
    kind: str = ""              # the media kind or event type
    sent_at: float | None = None


class Reports:
    def __init__(self, settings: ReportsSettings, store: ReportStore, executor: Executor) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self.svc: Services = executor.svc
        self.api = EventReports(self.svc.client)
        self.tz = settings.tz
        self.wake = asyncio.Event()

    @property
    def locale(self) -> str:
        return self.svc.config.locale

    def when(self, ts: float | None) -> str:
        return datetime.fromtimestamp(ts, self.tz).strftime(JST_FORMAT) if ts else "-"

    # -- polling ----------------------------------------------------------------------------------

    async def loop(self) -> None:
        bot = self.svc.bots.get(self.svc.config.sender)
        for _ in range(300):  # posts go to the encrypted admin room: let the E2EE bot come up
            if bot is None or bot.is_ready():
                break
            await asyncio.sleep(0.1)
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reports_poll_failed", error=type(exc).__name__, detail=str(exc)[:300])
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.poll_seconds)

    async def poll(self) -> int:
        """Take the reports after the last one seen, then deliver what is not delivered yet."""
        now = self.svc.clock.now().timestamp()
        since = await self.store.watch_since(now)
        next_id = await self.store.last_id() + 1
        misses = taken = 0
        while misses <= self.settings.lookahead:
            detail = await self.api.report(next_id)
            next_id += 1
            if detail is None:
                misses += 1
                continue
            misses = 0
            if await self.take(detail, since):
                taken += 1
        for report in await self.store.undelivered():
            try:
                await self.deliver(report)
            except Exception as exc:  # tried again on the next poll; the others go on
                log.warning("report_delivery_failed", report=report.id, error=type(exc).__name__,
                            detail=str(exc)[:300])
        await self.store.prune(now - self.settings.keep_days * 86400)
        return taken

    async def take(self, detail: dict[str, Any], since: float) -> Report | None:
        rid, room_id, event_id = detail.get("id"), clean_str(detail.get("room_id")), clean_str(detail.get("event_id"))
        reporter = clean_str(detail.get("user_id"))
        if not isinstance(rid, int) or not room_id or not event_id or not reporter:
            log.warning("report_malformed", report=rid)
            return None
        ts = detail.get("received_ts")
        received = ts / 1000 if isinstance(ts, int | float) and not isinstance(ts, bool) else since
        raw_reason = detail.get("reason")
        reason, _ = masked(raw_reason if isinstance(raw_reason, str) else "", 300)
        return await self.store.add(
            id=rid, received_at=received, room_id=room_id, event_id=event_id, reporter=reporter,
            sender=clean_str(detail.get("sender")), reason=reason, room_name=clean_str(detail.get("name"), 200),
            old=received < since - self.settings.backlog_days * 86400)

    # -- what the admin room may see ----------------------------------------------------------------

    async def seen(self, report: Report) -> Seen:
        event = await self.api.event(report.room_id, report.event_id)
        if event is None:
            return Seen("missing")
        sent = event.get("origin_server_ts")
        sent_at = sent / 1000 if isinstance(sent, int) else None
        if is_redacted(event):
            return Seen("deleted", sent_at=sent_at)
        etype = event.get("type")
        raw_content = event.get("content")
        content: dict[str, Any] = raw_content if isinstance(raw_content, dict) else {}
        if etype == "m.room.encrypted":
            plain = await self.plaintext(report, event)
            if plain is None:
                return Seen("unreadable", sent_at=sent_at)
            content = plain
            etype = "m.room.message"
        if etype != "m.room.message":
            return Seen("other", kind=str(etype)[:80], sent_at=sent_at)
        msgtype = content.get("msgtype")
        raw_body = content.get("body")
        body = raw_body if isinstance(raw_body, str) else ""
        if msgtype in MEDIA:
            text, hidden = masked(body, 120)  # a caption or file name may hold personal data too
            return Seen("media", text=text, masked=hidden, kind=str(msgtype), sent_at=sent_at)
        if not self.settings.show_text:
            return Seen("unreadable", sent_at=sent_at)
        text, hidden = masked(body, self.settings.text_chars)
        return Seen("text", text=text, masked=hidden, sent_at=sent_at)

    async def plaintext(self, report: Report, event: dict[str, Any]) -> dict[str, Any] | None:
        """The content of an encrypted event, if Yakuba still holds its plaintext and the admin
        room is encrypted (never move plaintext of an encrypted room into a plain one)."""
        admin_room = await self.svc.state.admin_room()
        if not admin_room or not self.settings.show_text:
            return None
        try:
            if not await self.svc.sender.is_encrypted(admin_room):
                return None
        except MatrixError:
            return None
        row = await self.svc.state.db.fetchone("SELECT json, decrypted FROM inbox WHERE event_id = ?",
                                               (report.event_id,))
        if row is not None and row["decrypted"]:
            raw = json.loads(row["json"])
            if isinstance(raw, dict) and not raw.get(STRIPPED) and isinstance(raw.get("content"), dict):
                return raw["content"]
        return self._decrypt(report, event)

    def _decrypt(self, report: Report, event: dict[str, Any]) -> dict[str, Any] | None:
        """With the megolm session of a bot in the room (bots/runtime.py keeps them)."""
        from nio import MegolmEvent

        raw = {**event, "room_id": report.room_id}
        for bot in self.svc.bots.values():
            client = getattr(bot, "client", None)
            if client is None or getattr(client, "olm", None) is None:
                continue
            try:
                decrypted = client.decrypt_event(MegolmEvent.from_dict(raw))
            except Exception:  # no key for this session, or not a megolm event
                continue
            source = getattr(decrypted, "source", None)
            if not isinstance(source, dict):
                continue
            envelope = {"event_id": report.event_id, "sender": event.get("sender"),
                        "origin_server_ts": event.get("origin_server_ts"), "room_id": report.room_id}
            plain = from_decrypted(envelope, source)
            if plain.get("type") == "m.room.message" and isinstance(plain.get("content"), dict):
                return dict(plain["content"])
        return None

    def content_message(self, seen: Seen) -> Message:
        match seen.state:
            case "text":
                return Message("reports.content.masked" if seen.masked else "reports.content.text",
                               {"text": seen.text})
            case "media":
                return Message("reports.content.media", {"kind": Message(f"reports.media.{seen.kind}"),
                                                         "name": seen.text or "-"})
            case "other":
                return Message("reports.content.other", {"type": seen.kind})
            case _:
                return Message(f"reports.content.{seen.state}")

    # -- delivery -----------------------------------------------------------------------------------

    async def post_message(self, report: Report, seen: Seen) -> Message:
        sender = report.sender or "-"
        remote = report.sender is not None and not self.svc.config.is_local(report.sender)
        return Message("reports.post", {
            "id": report.id, "when": self.when(report.received_at), "reporter": report.reporter,
            "reason": report.reason or Message("reports.no_reason"),
            "room": report.room_name or report.room_id, "room_id": report.room_id,
            "sender": sender, "sent": self.when(seen.sent_at), "content": self.content_message(seen),
            "remote": Message("reports.remote_sender" if remote else "reports.local_sender"),
            "link": room_link(report.room_id, report.event_id)})

    async def deliver(self, report: Report) -> None:
        admin_room = await self.svc.state.admin_room()
        event = self._event(report)
        post_id: str | None = None
        mods = await self._moderators(report) if self.settings.moderators != "off" and report.kind == "first" else []
        to_admins = not (self.settings.moderators == "instead" and mods)
        if to_admins and not admin_room and report.kind != "duplicate":
            raise RuntimeError("no admin room yet")  # delivered on a later poll
        if report.kind == "duplicate":
            pass  # the same person again: recorded and audited, nobody is told twice
        elif report.kind == "again":
            if to_admins and admin_room:
                text = self.executor.render(Message("reports.post.again", {
                    "id": report.id, "case": report.case_id, "reporter": report.reporter,
                    "reason": report.reason or Message("reports.no_reason"), "when": self.when(report.received_at)}))
                post_id = await self.executor.post(admin_room, text, ("reports.post", str(report.id)))
        else:
            seen = await self.seen(report)
            if to_admins and admin_room:
                text = self.executor.render(await self.post_message(report, seen))  # links need the presentation
                post_id = await self.executor.post(admin_room, text, ("reports.post", str(report.id)))
            decisions: list[Decision] = [
                DirectNotice(user_id=mod, once_key=f"reports_mod:{report.id}:{mod}", message=Message(
                    "reports.moderator", {"id": report.id, "room": report.room_name or report.room_id,
                                          "sender": report.sender or "-", "sent": self.when(seen.sent_at),
                                          "reason": report.reason or Message("reports.no_reason"),
                                          "link": room_link(report.room_id, report.event_id),
                                          "admins": Message("reports.moderator.admins_told" if to_admins
                                                            else "reports.moderator.admins_not_told")}))
                for mod in mods]
            await self._perform(decisions, event, "reports/moderators")
        await self._acknowledge(report, event)
        await self.executor.audit("report_received", actor=report.reporter, target=report.sender,
                                  room_id=report.room_id, event_id=report.event_id,
                                  once_key=f"report_received:{report.id}",
                                  details={"report": report.id, "case": report.case_id, "kind": report.kind,
                                           "moderators": len(mods), "admin_room": to_admins})
        await self.store.delivered(report.id, post_id)

    async def _acknowledge(self, report: Report, event: Event) -> None:
        if not self.settings.acknowledge:
            return
        message = Message("reports.ack", {"id": report.case_id})
        if self.svc.config.is_local(report.reporter):
            await self._perform([DirectNotice(user_id=report.reporter, message=message,
                                              once_key=f"reports_ack:{report.reporter}:{report.event_id}")],
                                event, "reports/ack")
            return
        # Reports are filed on the reporter's own server, so a remote reporter is rare; try.
        if await self.svc.state.once_done(f"reports_ack:{report.reporter}:{report.event_id}"):
            return
        error = await self.dm_remote(report.reporter, self.executor.render(message), ("reports.ack", str(report.id)))
        if error is None:
            await self.svc.state.claim_once(f"reports_ack:{report.reporter}:{report.event_id}")
        await self.executor.audit("report_ack", actor=report.reporter, room_id=report.room_id,
                                  event_id=report.event_id, result="ok" if error is None else "unreachable",
                                  details={"report": report.id, "remote": True, **({"error": error} if error else {})})

    async def _moderators(self, report: Report) -> list[str]:
        """Local moderators of the room, without the bots and without the reported sender."""
        try:
            state = await room_state(self.svc.client, report.room_id)
        except MatrixError:
            return []
        skip = {*self.svc.config.bot_user_ids, report.sender}
        return sorted(u for u in moderators(state) if self.svc.config.is_local(u) and u not in skip)

    async def dm_remote(self, user_id: str, text: str, key: tuple[str, ...]) -> str | None:
        """A DM to a user on another server, if it can reach them (None), else why not."""
        svc = self.svc
        return await dm_remote(svc.client, svc.state, user_id, t("core.dm_room_name", self.locale),
                               lambda room: self.executor.post(room, text, key))

    def _event(self, report: Report) -> Event:
        """The report as the event its decisions belong to (transaction ids, logs)."""
        return Event(event_id=f"report:{report.id}", room_id=report.room_id, sender=report.reporter,
                     type="jp.yakuba.report", origin_server_ts=int(report.received_at * 1000), content={})

    async def _perform(self, decisions: Sequence[Decision], event: Event, purpose: str) -> None:
        """Perform as `purpose` (it keys the transaction ids: two sends for one report must differ)."""
        if decisions and await self.executor.perform(decisions, event, purpose):
            raise RuntimeError("a notice of the report could not be sent")

    # -- actions ------------------------------------------------------------------------------------

    async def delete(self, report: Report, actor: str) -> str:
        """Delete the reported message: "deleted", "already", "missing" or "no_power"."""
        event = await self.api.event(report.room_id, report.event_id)
        if event is None:
            return "missing"
        if is_redacted(event):
            return "already"
        reason = self.executor.render(Message("reports.redact_reason"))
        txn = txn_id_for("reports.delete", str(report.case_id), report.event_id)
        sender = report.sender or str(event.get("sender") or "")
        if sender and self.svc.config.is_local(sender):
            try:
                await self.svc.client.redact(report.room_id, report.event_id, txn, reason, as_user=sender)
                return "deleted"
            except MatrixError as exc:
                if exc.transient:
                    raise
        state = await room_state(self.svc.client, report.room_id)
        pl = power_levels(state)
        need = pl.get("redact", 50)
        need = need if isinstance(need, int) else 50
        able = moderators(state, min_level=need)
        bot = self.svc.config.sender
        local = [bot] if bot in able else []
        local += sorted(u for u in able if self.svc.config.is_local(u) and u not in self.svc.config.bot_user_ids)
        for user in local:
            try:
                await self.svc.client.redact(report.room_id, report.event_id, txn, reason, as_user=user)
                await self.executor.audit("report_redacted_as", actor=actor, target=user, room_id=report.room_id,
                                          event_id=report.event_id, details={"report": report.case_id})
                return "deleted"
            except MatrixError as exc:
                if exc.transient:
                    raise
        return "no_power"

    async def warn(self, report: Report, text: str, event: Event) -> str | None:
        """A private warning to the sender; None if sent, else what went wrong."""
        sender = report.sender
        if not sender:
            return "unknown_sender"
        message = Message("reports.warning", {
            "room": report.room_name or report.room_id, "sent": self.when(report.received_at),
            "note": Message("reports.warning.note", {"text": text}) if text else Message("reports.warning.no_note")})
        if self.svc.config.is_local(sender):
            if await self.executor.perform([DirectNotice(user_id=sender, message=message,
                                                         once_key=f"reports_warn:{report.case_id}")],
                                           event, "reports/warn"):
                raise RuntimeError("the warning could not be sent")
            return None
        return await self.dm_remote(sender, self.executor.render(message), ("reports.warn", str(report.case_id)))

    async def outcome(self, case: Report, action: str) -> list[Decision]:
        """The short outcome for each reporter of the case (when the admin asked for it)."""
        reporters = dict.fromkeys(r.reporter for r in await self.store.members(case.case_id))
        return [DirectNotice(user_id=u, once_key=f"reports_outcome:{case.case_id}:{action}:{u}",
                             message=Message("reports.outcome", {"id": case.case_id,
                                                                 "what": Message(f"reports.outcome.{action}")}))
                for u in reporters if self.svc.config.is_local(u)]

    async def on_offer(self, offer: OfferRow, reaction: Event, svc: Services) -> Sequence[Decision]:
        """✅ on a confirmation: delete, warn or suspend, then tell the admin room (and reporters)."""
        d = offer.detail
        case = await self.store.case(int(d.get("report", 0)))
        action = str(d.get("action", ""))
        reply_room = str(d.get("reply_room") or await svc.state.admin_room() or "")

        def reply(msg: Message) -> Notice:
            return Notice(room_id=reply_room, message=msg, reply_to=offer.event_id,
                          once_key=f"reports_done:{offer.event_id}")

        if reaction.sender not in await svc.admins():
            return [reply(Message("core.refused"))]
        if case is None:
            return [reply(Message("reports.err.unknown", {"id": d.get("report")}))]
        if case.status == "dismissed":
            return [reply(Message("reports.err.closed", {"id": case.case_id}))]
        try:
            return await self._act(case, action, d, offer, reaction, reply, reply_room)
        except MatrixError as exc:
            if exc.transient:
                raise  # the ✅ is tried again when the event is replayed; the offer stays unused
            return [reply(Message("reports.done.failed", {"id": case.case_id, "error": f"{exc.status} {exc.errcode}"})),
                    Audit(action="report_action", actor=reaction.sender, target=case.sender, room_id=case.room_id,
                          event_id=case.event_id, result="error", once_key=f"report_action:{offer.event_id}",
                          details={"report": case.case_id, "action": action, "status": exc.status})]

    async def _act(self, case: Report, action: str, d: dict[str, Any], offer: OfferRow, reaction: Event,
                   reply: Callable[[Message], Notice], reply_room: str) -> list[Decision]:
        follow: list[Decision] = []
        if action == "delete":
            result = await self.delete(case, reaction.sender)
            msg = Message(f"reports.done.delete.{result}", {"id": case.case_id})
            recorded = result in ("deleted", "already")
        elif action == "warn":
            error = await self.warn(case, str(d.get("text") or ""), reaction)
            msg = Message("reports.done.warn" if error is None else "reports.done.warn_failed",
                          {"id": case.case_id, "user": case.sender or "-", "error": error or ""})
            recorded = error is None
        elif action == "suspend" and case.sender:
            follow.append(RunCommand(name="suspend", args=(case.sender, *str(d.get("text") or "").split()),
                                     sender=reaction.sender, room_id=reply_room, event_id=offer.event_id,
                                     scope="admin", once_key=f"reports_suspend:{offer.event_id}"))
            msg = Message("reports.done.suspend", {"id": case.case_id, "user": case.sender})
            recorded = True
        else:
            return [reply(Message("reports.err.unknown", {"id": case.case_id}))]
        out: list[Decision] = [reply(msg)]
        result_name = msg.key.rsplit(".", 1)[-1]
        if recorded:
            await self.store.act(case.case_id, action, reaction.sender, self.svc.clock.now().timestamp())
            out.append(Audit(action="report_action", actor=reaction.sender, target=case.sender, room_id=case.room_id,
                             event_id=case.event_id, once_key=f"report_action:{offer.event_id}",
                             details={"report": case.case_id, "action": action, "result": result_name,
                                      "tell_reporter": bool(d.get("tell"))}))
            if d.get("tell"):
                out.extend(await self.outcome(case, action))
        else:
            out.append(Audit(action="report_action", actor=reaction.sender, target=case.sender,
                             room_id=case.room_id, event_id=case.event_id, result="failed",
                             once_key=f"report_action:{offer.event_id}",
                             details={"report": case.case_id, "action": action, "result": result_name}))
        return [*follow, *out]
