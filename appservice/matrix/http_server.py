"""aiohttp handlers for the appservice API.

Unlike mautrix-python we do not ack first and handle later: a transaction's events are written
to the durable inbox (fsync'd) *before* the 200 goes back, so a crash after the ack loses
nothing, and Synapse's own retry covers a crash before it.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import structlog
from aiohttp import web

from appservice.core.config import Config
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics

log = structlog.get_logger(__name__)

MAX_BODY = 32 * 1024 * 1024  # 100 events × 64 KiB PDUs, with room to spare


def _error(status: int, errcode: str, error: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error}, status=status)


class AppserviceHTTP:
    def __init__(self, config: Config, inbox: Inbox, metrics: Metrics) -> None:
        self.config = config
        self.inbox = inbox
        self.metrics = metrics
        self._hs_token = config.appservice.hs_token.encode()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._no_crash])
        app.add_routes([
            web.put("/_matrix/app/v1/transactions/{txn_id}", self.transaction),
            web.get("/_matrix/app/v1/users/{user_id}", self.query_user),
            web.get("/_matrix/app/v1/rooms/{alias}", self.query_room),
            web.post("/_matrix/app/v1/ping", self.ping),
            web.get("/health", self.health),
            web.get("/metrics", self.metrics_endpoint),
        ])
        return app

    @web.middleware
    async def _no_crash(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            log.error("http_handler_failed", path=request.path, error=type(exc).__name__)
            return _error(500, "M_UNKNOWN", "internal error")

    def _auth(self, request: web.Request) -> web.Response | None:
        """Synapse sends `Authorization: Bearer <hs_token>`. The legacy `?access_token=` query
        parameter is refused: a token in a URL ends up in proxy and access logs."""
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        if not token:
            return _error(401, "M_UNAUTHORIZED", "missing hs_token")
        if not hmac.compare_digest(token.encode(), self._hs_token):
            log.warning("bad_hs_token", path=request.path, remote=request.remote)
            return _error(403, "M_FORBIDDEN", "bad hs_token")
        return None

    async def transaction(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            self.metrics.transactions.labels("denied").inc()
            return denied
        txn_id = request.match_info["txn_id"]
        try:
            body = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError, RecursionError):  # nested beyond the parser's depth
            self.metrics.transactions.labels("bad_json").inc()
            return _error(400, "M_NOT_JSON", "body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("events", []), list):
            self.metrics.transactions.labels("bad_json").inc()
            return _error(400, "M_BAD_JSON", "expected an object with an 'events' list")
        events = body.get("events", [])
        # Ephemeral events and to-device messages are not requested in our registration.
        result = await self.inbox.put_transaction(txn_id, events)
        self.metrics.transactions.labels("ok").inc()
        self.metrics.events_received.labels("txn").inc(result.new)
        log.info("transaction", txn_id=txn_id, new=result.new, duplicate=result.duplicate,
                 rejected=result.rejected)
        return web.json_response({})

    async def query_user(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        if request.match_info["user_id"] in self.config.bot_user_ids:
            return web.json_response({})
        return _error(404, "M_NOT_FOUND", "no such user")

    async def query_room(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return _error(404, "M_NOT_FOUND", "Yakuba provides no room aliases")

    async def ping(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return web.json_response({})

    async def health(self, _request: web.Request) -> web.Response:
        counts = await self.inbox.counts()
        return web.json_response({"status": "ok", "backlog": counts.get("pending", 0)})

    async def metrics_endpoint(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
