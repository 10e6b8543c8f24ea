"""Hostile transactions at the HTTP boundary: a deeply nested body is a 400, a lone surrogate in
one event's ids rejects that event only, and the hs_token is read from the Authorization header
only (never from `?access_token=`, which ends up in proxy logs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appservice.core.db import Database
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.matrix.http_server import AppserviceHTTP

from .support import make_config

HS = "hhhhhhhhhhhh"  # support.make_config's hs_token
AUTH = {"Authorization": f"Bearer {HS}"}


@pytest.fixture
async def http(tmp_path: Path, aiohttp_client):  # type: ignore[no-untyped-def]
    config = make_config(tmp_path)
    db = Database(tmp_path / "y.db")
    await db.open()
    inbox = Inbox(db, config.bot_user_ids)
    client = await aiohttp_client(AppserviceHTTP(config, inbox, Metrics()).app())
    client.inbox = inbox
    yield client
    db.close()


def event(event_id: str, **extra: object) -> dict:
    return {"event_id": event_id, "room_id": "!r:city-a.localhost", "type": "m.room.message",
            "sender": "@a:city-a.localhost", "origin_server_ts": 1, "content": {"body": "x"}, **extra}


async def test_deeply_nested_body_is_a_400_not_a_500(http) -> None:
    body = "[" * 100_000 + "]" * 100_000
    resp = await http.put("/_matrix/app/v1/transactions/deep", data=body, headers=AUTH)
    assert resp.status == 400
    nested = '{"a":' * 1_000 + "{}" + "}" * 1_000
    deep_event = json.dumps(event("$deep", content={})).replace('"content": {}', f'"content": {nested}')
    body = '{"events": [' + deep_event + "]}"
    resp = await http.put("/_matrix/app/v1/transactions/deep2", data=body, headers=AUTH)
    assert resp.status == 400
    ok = await http.put("/_matrix/app/v1/transactions/next", data=json.dumps({"events": [event("$ok")]}), headers=AUTH)
    assert ok.status == 200  # the next transaction is processed
    assert [i.event.event_id for i in await http.inbox.next_batch()] == ["$ok"]


@pytest.mark.parametrize("field", ["event_id", "type", "room_id", "sender"])
async def test_lone_surrogate_rejects_only_that_event(http, field: str) -> None:
    bad = event("$bad")
    bad[field] = bad[field] + "\ud800"
    body = json.dumps({"events": [event("$before"), bad, event("$after")]})  # \ud800 stays escaped
    resp = await http.put(f"/_matrix/app/v1/transactions/s-{field}", data=body, headers=AUTH)
    assert resp.status == 200
    assert [i.event.event_id for i in await http.inbox.next_batch()] == ["$before", "$after"]
    counts = await http.inbox.counts()
    assert counts.get("rejected", 0) >= 1


async def test_hs_token_only_from_the_authorization_header(http) -> None:
    body = json.dumps({"events": []})
    assert (await http.put(f"/_matrix/app/v1/transactions/q?access_token={HS}", data=body)).status == 401
    assert (await http.put("/_matrix/app/v1/transactions/h", data=body, headers=AUTH)).status == 200
    assert (await http.get(f"/_matrix/app/v1/users/@x:y?access_token={HS}")).status == 401
