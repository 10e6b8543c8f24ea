"""`archive flag … --backfill-from`: history read back through /messages as the archive bot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appservice.core.commands import CommandError, Invocation, Reply
from appservice.core.executor import render
from appservice.features.retention import FEATURE as RETENTION
from appservice.features.retention.runtime import backfill_refusal

from .test_retention_support import (
    ADMIN,
    ADMIN_ROOM,
    ALICE,
    ARCHIVE_BOT,
    BOB,
    ROOM,
    Harness,
    event,
    fresh_logging,  # noqa: F401  (autouse fixture)
    harness,
    raw_of,
    room_state,
)

DAY_MS = 86_400_000
# 2025-11-20 00:00 JST
CUTOFF_MS = 1_763_564_400_000


def msg(n: int, ts: int, sender: str = ALICE, **extra: Any) -> dict[str, Any]:
    return {**raw_of(event(content={"msgtype": "m.text", "body": f"過去{n}"}, event_id=f"$old{n}",
                           ts=ts, sender=sender)), **extra}


@pytest.fixture
async def h(tmp_path: Path):
    hs = await harness(tmp_path)
    hs.client.states[ROOM] = room_state()
    # newest first, as /messages?dir=b returns them; two pages, then one event before the cutoff
    history = [
        msg(5, CUTOFF_MS + 5000, sender=BOB),
        {"event_id": "$react", "room_id": ROOM, "type": "m.reaction", "sender": BOB,
         "origin_server_ts": CUTOFF_MS + 4500, "content": {}},
        msg(4, CUTOFF_MS + 4000, unsigned={"redacted_because": {"type": "m.room.redaction"}}),
        msg(3, CUTOFF_MS + 3000),
        msg(2, CUTOFF_MS + 2000),
        msg(1, CUTOFF_MS - DAY_MS),  # the day before: not backfilled, and paging stops here
        msg(0, CUTOFF_MS - 2 * DAY_MS),
    ]
    # dir=b finds where the day starts; dir=f from there (oldest first) is what gets archived
    pages: dict[tuple[str, str | None], tuple[list[dict[str, Any]], str | None]] = {
        ("b", None): (history[:3], "t1"), ("b", "t1"): (history[3:], "t2"),
        ("f", "t2"): (history[3:][::-1], "f1"), ("f", "f1"): (history[:3][::-1], "f2"), ("f", "f2"): ([], None)}
    hs.messages_calls = []  # type: ignore[attr-defined]
    hs.on_messages = None  # type: ignore[attr-defined]
    inner = hs.client.request

    async def request(method: str, path: str, **kw: Any) -> dict[str, Any]:
        if path == f"/_matrix/client/v3/rooms/{ROOM.replace('!', '%21').replace(':', '%3A')}/messages":
            params = kw.get("params") or {}
            hs.messages_calls.append((params, kw.get("as_user")))  # type: ignore[attr-defined]
            if hs.on_messages is not None:  # type: ignore[attr-defined]
                await hs.on_messages(params)  # type: ignore[attr-defined]
            chunk, end = pages[(params["dir"], params.get("from"))]
            return {"chunk": chunk, **({"end": end} if end else {})}
        return await inner(method, path, **kw)

    hs.client.request = request  # type: ignore[method-assign]
    yield hs
    await hs.close()


def text(reply: Reply) -> str:
    return "\n".join(render(m, "ja") for m in reply.messages)


ARCHIVE = next(c for c in RETENTION.commands if c.name == "archive")


async def run(h: Harness, *args: str) -> Reply:
    inv = Invocation("archive", tuple(args), ADMIN, ADMIN_ROOM, "$cmd_backfill", h.services, feature=h.rt)
    return await ARCHIVE.handler(inv)


async def run_done(h: Harness, *args: str) -> str:
    """The command's reply and, once its background job is done, what the job posted."""
    before = len(h.client.sent(ADMIN_ROOM))
    reply = text(await run(h, *args))
    await h.rt.jobs_idle()
    return "\n".join([reply, *(m["body"] for m in h.client.sent(ADMIN_ROOM)[before:])])


async def test_backfill_archives_history_oldest_first_once(h: Harness) -> None:
    await h.rt.archive_event(event(content={"msgtype": "m.text", "body": "過去3"}, event_id="$old3",
                                   ts=CUTOFF_MS + 3000), "message")  # already archived live
    out = await run_done(h, "flag", ROOM, "--years", "5", "--backfill-from", "2025-11-20")
    assert "保存対象に指定" in out and "2025-11-20 以降の履歴 2 件" in out
    assert [(c[0].get("from"), c[1]) for c in h.messages_calls
            if c[0]["dir"] == "b"] == [(None, ARCHIVE_BOT), ("t1", ARCHIVE_BOT)]
    assert [(c[0].get("from"), c[1]) for c in h.messages_calls
            if c[0]["dir"] == "f"] == [("t2", ARCHIVE_BOT), ("f1", ARCHIVE_BOT), ("f2", ARCHIVE_BOT)]
    recs = [r for r in h.records() if r["event_id"].startswith("$old")]
    assert [(r["event_id"], r["body"]) for r in recs] == [("$old3", "過去3"), ("$old2", "過去2"),
                                                          ("$old5", "過去5")]
    assert recs[2]["display_name"] == "坊" and recs[2]["ts_utc"].startswith("2025-11-19T15:00:05")
    row = await h.db.fetchone("SELECT actor, target, result, details FROM audit WHERE action = 'archive_backfill'")
    assert (row["actor"], row["target"], row["result"]) == (ADMIN, ROOM, "ok")
    assert json.loads(row["details"]) == {"from": "2025-11-20", "events": 2}
    # Again: nothing new
    assert "履歴 0 件" in await run_done(h, "flag", ROOM, "--years", "5", "--backfill-from", "2025-11-20")
    assert len([r for r in h.records() if r["event_id"].startswith("$old")]) == 3


async def test_encrypted_room_is_refused_and_not_flagged(h: Harness) -> None:
    h.client.states[ROOM] = room_state(encrypted=True)
    out = text(await run(h, "flag", ROOM, "--years", "5", "--backfill-from", "2025-11-20"))
    assert "暗号化ルーム" in out and "復号できません" in out and ROOM in out
    assert not await h.db.fetchall("SELECT 1 FROM retention_flags")
    assert h.messages_calls == [] and not h.client.of("put_state")
    row = await h.db.fetchone("SELECT result, details FROM audit WHERE action = 'archive_backfill'")
    assert row["result"] == "refused" and "encrypted" in row["details"]


@pytest.mark.parametrize("value", ["2025-13-01", "20251120", "yesterday", "2025-11-2"])
async def test_bad_backfill_date(h: Harness, value: str) -> None:
    with pytest.raises(CommandError, match="--backfill-from"):
        await run(h, "flag", ROOM, "--years", "5", "--backfill-from", value)
    assert not await h.db.fetchall("SELECT 1 FROM retention_flags")


def test_refusal_reasons() -> None:
    assert backfill_refusal(room_state()) is None
    assert backfill_refusal(room_state(encrypted=True)) == "retention.backfill.encrypted"
    joined = [*room_state(), {"type": "m.room.history_visibility", "state_key": "",
                              "content": {"history_visibility": "joined"}}]
    assert backfill_refusal(joined) == "retention.backfill.unreadable"
