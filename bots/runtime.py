"""The E2EE bot: a matrix-nio client with its own device, feeding decrypted events into the
appservice's inbox — the same pipeline as Synapse's transactions.

Why our own sync loop and not nio's sync_forever: nio saves the sync token *before* it runs
the callbacks, so a crash mid-response would skip events. We keep the token in Yakuba's
database and write it only after every callback (each an fsync'd inbox write) has finished;
a crash replays from the previous token and the inbox drops the duplicates by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import structlog
from nio import (
    AsyncClient,
    AsyncClientConfig,
    BadEvent,
    Event,
    ForwardedRoomKeyEvent,
    InviteMemberEvent,
    JoinError,
    LocalProtocolError,
    MatrixRoom,
    MegolmEvent,
    MessageDirection,
    ReceiptEvent,
    RoomKeyEvent,
    RoomMessagesResponse,
    RoomSendError,
    SyncError,
    SyncResponse,
)

from appservice.core.forged import from_decrypted
from appservice.core.inbox import Inbox
from appservice.core.state import StateStore
from appservice.lib.secret_files import private_dir, private_tree
from bots import session as bot_session

log = structlog.get_logger(__name__)

# A long timeline per sync keeps gaps rare; _fill_gap handles the rest.
SYNC_FILTER = {"room": {"timeline": {"limit": 200}}}
MAX_GAP_PAGES = 50


def decrypted_for_inbox(room_id: str, event: Any) -> dict[str, Any]:
    """The inbox event for a decrypted megolm event (pure). Only the server's envelope — the
    event id, sender and timestamp nio copied from the m.room.encrypted event, and the room we
    synced it in — plus the plaintext's type and content if they are message-like; a payload
    claiming state, a redaction or another type becomes an incident (appservice/core/forged.py)."""
    envelope = {"event_id": event.event_id, "sender": event.sender,
                "origin_server_ts": event.server_timestamp, "room_id": room_id}
    return from_decrypted(envelope, event.source)


class JoinRule:
    """Which invites a bot accepts: "admin_room", "local" (invited by a local user), "none"."""

    def __init__(self, mode: str, server_name: str, admin_room: str | None) -> None:
        self.mode = mode
        self.server_name = server_name
        self.admin_room = admin_room

    def allows(self, room_id: str, inviter: str | None) -> bool:
        if room_id == self.admin_room:
            return True
        if self.mode == "local":
            # The whole server part: "@x:city-a:8448" or "@x:evil-city-a" is not local.
            return inviter is not None and inviter.partition(":")[2] == self.server_name
        return False


class E2EEBot:
    def __init__(self, *, hs_url: str, as_token: str, localpart: str, server_name: str,
                 data_dir: Path, inbox: Inbox, state: StateStore, join_mode: str = "local",
                 sync_timeout_ms: int = 30_000, receipt_listeners: list[Any] | None = None) -> None:
        self.hs_url = hs_url
        self._as_token = as_token
        self.localpart = localpart
        self.user_id = f"@{localpart}:{server_name}"
        self.server_name = server_name
        self.dir = data_dir / "bots" / localpart
        self.inbox = inbox
        self.state = state
        self.join_mode = join_mode
        self.sync_timeout_ms = sync_timeout_ms
        self.receipt_listeners = receipt_listeners if receipt_listeners is not None else []
        self.client: AsyncClient | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        self.admin_room: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def is_ready(self) -> bool:
        return self._ready.is_set()

    @property
    def device_id(self) -> str | None:
        return self.client.device_id if self.client else None

    async def _login(self) -> AsyncClient:
        private_dir(self.dir)
        os.chmod(self.dir.parent, 0o700)  # data_dir/bots
        path = self.dir / "session.json"
        sess = bot_session.load_or_create(path, self.user_id)
        if not sess.access_token or not await bot_session.token_valid(self.hs_url, sess.access_token):
            sess.access_token = await bot_session.appservice_login(
                self.hs_url, self._as_token, self.localpart, sess.device_id)
            bot_session.save(path, sess)
        store = private_dir(self.dir / "store")
        client = AsyncClient(self.hs_url, self.user_id, device_id=sess.device_id, store_path=str(store),
                             config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False,
                                                      pickle_key=sess.pickle_key))
        client.restore_login(self.user_id, sess.device_id, sess.access_token)
        private_tree(store)  # the olm/megolm store restore_login just opened or created
        client.next_batch = await self.state.get(self._token_key)
        # BadEvent too: a decrypted payload nio could not parse as the type it claims (a state
        # event without state_key, …) still reaches decrypted_for_inbox and is reported.
        client.add_event_callback(self._on_event, (Event, BadEvent))
        client.add_event_callback(self._on_invite, InviteMemberEvent)
        client.add_to_device_callback(self._on_room_key, (RoomKeyEvent, ForwardedRoomKeyEvent))
        if client.should_upload_keys:
            await client.keys_upload()
        return client

    @property
    def _token_key(self) -> str:
        return f"bot_sync:{self.user_id}"

    async def run(self) -> None:
        """Log in, then sync until stopped; every failure is retried with backoff."""
        backoff = 1.0
        while not self._stopping:
            try:
                if self.client is None:
                    self.client = await self._login()
                    log.info("bot_started", user=self.user_id, device=self.client.device_id)
                await self._sync_once()
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("bot_sync_failed", user=self.user_id, error=type(exc).__name__,
                            detail=str(exc)[:200], retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _sync_once(self) -> None:
        client = self.client
        assert client is not None
        first = not self._ready.is_set()
        since = client.next_batch
        resp = await client.sync(timeout=0 if first else self.sync_timeout_ms, since=since,
                                 full_state=first and since is None, sync_filter=SYNC_FILTER)
        if isinstance(resp, SyncError):
            raise RuntimeError(f"sync error {resp.status_code}")
        assert isinstance(resp, SyncResponse)
        log.debug("bot_synced", user=self.user_id, rooms=len(resp.rooms.join),
                  events=sum(len(r.timeline.events) for r in resp.rooms.join.values()),
                  to_device=len(resp.to_device_events))
        if since is not None:
            for room_id, info in resp.rooms.join.items():
                if info.timeline.limited:
                    await self._fill_gap(room_id, info.timeline.prev_batch)
        await self._report_receipts(resp)
        # Every callback of this response has finished (and written durably): now advance.
        await self.state.set(self._token_key, resp.next_batch)
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        if first:
            self._ready.set()
            await self._retry_undecryptable(None)

    async def _report_receipts(self, resp: SyncResponse) -> None:
        """Public read receipts in the rooms the bot is in (its DMs, liaison rooms): who has
        read up to which event. A listener's failure never stops the sync."""
        if not self.receipt_listeners:
            return
        for room_id, info in resp.rooms.join.items():
            for ev in info.ephemeral:
                if not isinstance(ev, ReceiptEvent):
                    continue
                for r in ev.receipts:
                    if r.receipt_type != "m.read" or r.user_id == self.user_id:
                        continue
                    for listener in self.receipt_listeners:
                        try:
                            await listener(room_id, r.user_id, r.event_id, int(r.timestamp or 0))
                        except Exception as exc:
                            log.warning("receipt_listener_failed", error=type(exc).__name__)

    async def _fill_gap(self, room_id: str, prev_batch: str | None) -> None:
        """A limited timeline skipped events (many were sent while we were down): page back
        until we meet an event the inbox already holds in plaintext."""
        client = self.client
        assert client is not None
        token = prev_batch
        for _page in range(MAX_GAP_PAGES):
            if not token:
                return
            resp = await client.room_messages(room_id, start=token, direction=MessageDirection.back,
                                              limit=100)
            if not isinstance(resp, RoomMessagesResponse):
                log.warning("gap_fill_failed", room_id=room_id)
                return
            room = client.rooms.get(room_id)
            for event in resp.chunk:
                known = await self.inbox.db.fetchone(
                    "SELECT decrypted FROM inbox WHERE event_id = ?", (getattr(event, "event_id", ""),))
                if known is not None and known["decrypted"]:
                    return
                if room is not None:
                    await self._on_event(room, event)
            if not resp.chunk or resp.end == token:
                return
            token = resp.end
        log.warning("gap_fill_truncated", room_id=room_id, pages=MAX_GAP_PAGES)

    async def stop(self) -> None:
        self._stopping = True
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()

    # -- incoming -------------------------------------------------------------------------------

    async def _on_event(self, room: MatrixRoom, event: Event | BadEvent) -> None:
        if isinstance(event, MegolmEvent):
            await self._undecryptable(room.room_id, event)
            return
        if not getattr(event, "decrypted", False):
            return  # plaintext events reach the appservice through Synapse's transactions
        raw = decrypted_for_inbox(room.room_id, event)
        try:
            await self.inbox.put_decrypted(raw)
        except ValueError as exc:
            log.warning("decrypted_event_rejected", event_id=getattr(event, "event_id", None),
                        error=str(exc)[:200])

    async def _undecryptable(self, room_id: str, event: MegolmEvent) -> None:
        log.info("undecryptable", event_id=event.event_id, room_id=room_id, session_id=event.session_id)
        await self.inbox.note_undecryptable(event.event_id, room_id, event.session_id, event.sender)
        if self.client is not None:
            with contextlib.suppress(LocalProtocolError, Exception):
                await self.client.request_room_key(event)

    async def _on_room_key(self, event: Any) -> None:
        await self._retry_undecryptable(getattr(event, "session_id", None))

    async def _retry_undecryptable(self, session_id: str | None) -> None:
        """Try again the events we could not read, now that a key may have arrived. The
        ciphertext is kept in the inbox (from Synapse's stream), so this survives restarts."""
        if self.client is None:
            return
        rows = await self.inbox.db.fetchall(
            "SELECT u.event_id, u.room_id, i.json FROM undecryptable u JOIN inbox i USING (event_id) "
            "WHERE u.resolved_at IS NULL AND (? IS NULL OR u.session_id = ?)", (session_id, session_id))
        for row in rows:
            raw = json.loads(row["json"])
            if raw.get("type") != "m.room.encrypted":
                continue
            try:
                megolm = MegolmEvent.from_dict(raw)
                decrypted = self.client.decrypt_event(megolm)
            except Exception:  # still no key: stays recorded, retried on the next key
                continue
            if not isinstance(decrypted, (Event, BadEvent)):
                continue
            envelope = {"event_id": row["event_id"], "sender": raw.get("sender"),
                        "origin_server_ts": raw.get("origin_server_ts"), "room_id": row["room_id"]}
            try:
                await self.inbox.put_decrypted(from_decrypted(envelope, decrypted.source))
            except ValueError as exc:
                log.warning("decrypted_event_rejected", event_id=row["event_id"], error=str(exc)[:200])
                continue
            log.info("decrypted_late", event_id=row["event_id"])

    async def _on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key != self.user_id or event.membership != "invite" or self.client is None:
            return
        rule = JoinRule(self.join_mode, self.server_name, self.admin_room)
        if not rule.allows(room.room_id, event.sender):
            log.info("invite_declined", room_id=room.room_id, inviter=event.sender)
            return
        resp = await self.client.join(room.room_id)
        if isinstance(resp, JoinError):
            log.warning("join_failed", room_id=room.room_id, error=resp.status_code)
        else:
            await self.state.note_bot_membership(room.room_id, self.user_id, "join")
            log.info("joined", room_id=room.room_id, inviter=event.sender)

    # -- outgoing -------------------------------------------------------------------------------

    async def send_encrypted(self, room_id: str, event_type: str, content: dict[str, Any],
                             txn_id: str) -> str:
        await asyncio.wait_for(self._ready.wait(), timeout=30)
        client = self.client
        assert client is not None
        deadline = time.monotonic() + 15
        while room_id not in client.rooms and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # just joined/created: wait for the sync that shows it
        if client.should_query_keys:  # a member's new device must get the room key too
            await client.keys_query()
        resp = await client.room_send(room_id, event_type, content, tx_id=txn_id,
                                      ignore_unverified_devices=True)
        if isinstance(resp, RoomSendError):
            raise RuntimeError(f"encrypted send failed: {resp.status_code}")
        return str(resp.event_id)

    async def join(self, room_id: str) -> None:
        assert self.client is not None
        resp = await self.client.join(room_id)
        if isinstance(resp, JoinError):
            raise RuntimeError(f"join failed: {resp.status_code}")
        await self.state.note_bot_membership(room_id, self.user_id, "join")

    async def leave(self, room_id: str) -> None:
        assert self.client is not None
        await self.client.room_leave(room_id)
        await self.state.note_bot_membership(room_id, self.user_id, "leave")



