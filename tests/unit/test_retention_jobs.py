"""Exports and backfills run as background jobs: the command answers at once, the job streams
(an export never holds more than the size limit) and archives page by page."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appservice.core.commands import Invocation, Reply
from appservice.core.decisions import Effect
from appservice.core.executor import render
from appservice.features.retention import FEATURE as RETENTION
from appservice.features.retention import runtime

from .test_retention_backfill import h  # noqa: F401  (fixture: a room with two pages of history)
from .test_retention_support import (
    ADMIN,
    ADMIN_ROOM,
    ROOM,
    Harness,
    event,
    fresh_logging,  # noqa: F401  (autouse fixture)
    harness,
)

ARCHIVE = next(c for c in RETENTION.commands if c.name == "archive")


async def run(hs: Harness, *args: str, event_id: str = "$cmd") -> Reply:
    inv = Invocation("archive", tuple(args), ADMIN, ADMIN_ROOM, event_id, hs.services, feature=hs.rt)
    return await ARCHIVE.handler(inv)


def text(reply: Reply) -> str:
    return "\n".join(render(m, "ja") for m in reply.messages)


def posted(hs: Harness) -> list[str]:
    return [m["body"] for m in hs.client.sent(ADMIN_ROOM)]


@pytest.fixture
async def ex(tmp_path: Path):
    hs = await harness(tmp_path)
    for i in range(300):
        await hs.rt.on_archive(Effect(kind="archive", payload={"kind": "message"}), event(
            event_id=f"$m{i}", content={"msgtype": "m.text", "body": f"記録 {i} " + "あ" * 40}), hs.services)
    yield hs
    await hs.close()


async def test_export_answers_before_the_job_is_done(ex: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()
    seen: list[tuple[int, int, int]] = []

    async def send_file(room_id: str, data: bytes, filename: str, mimetype: str, key: Any) -> str:
        (tmp,) = list(ex.rt.export_dir.iterdir())  # the streamed file, private to the service
        seen.append((stat.S_IMODE(tmp.stat().st_mode), stat.S_IMODE(ex.rt.export_dir.stat().st_mode), len(data)))
        await release.wait()
        return "$file"

    monkeypatch.setattr(ex.rt.executor, "send_file", send_file)
    reply = await run(ex, "export", ROOM, "--format", "jsonl")
    assert "書き出しを開始しました" in text(reply) and reply.decisions == []
    for _ in range(200):  # the job runs on its own; the command has long returned
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen and seen[0][:2] == (0o600, 0o700) and seen[0][2] > 0
    assert not any("出力しました" in b for b in posted(ex))
    release.set()
    await ex.rt.jobs_idle()
    (done,) = [b for b in posted(ex) if "出力しました" in b]
    assert "300件" in done
    assert ex.client.sent(ADMIN_ROOM)[-1]["m.relates_to"]["m.in_reply_to"]["event_id"] == "$cmd"
    assert not list(ex.rt.export_dir.iterdir())


async def test_export_stops_at_the_limit(ex: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    pulled: list[int] = []
    finished: list[bool] = []
    real = runtime.iter_export

    def counting(*args: Any, **kw: Any) -> Iterator[bytes]:
        for chunk in real(*args, **kw):
            pulled.append(len(chunk))
            yield chunk
        finished.append(True)

    monkeypatch.setattr(runtime, "iter_export", counting)
    sent: list[bytes] = []

    async def send_file(room_id: str, data: bytes, *rest: Any) -> str:
        sent.append(data)
        return "$file"

    monkeypatch.setattr(ex.rt.executor, "send_file", send_file)
    ex.rt.settings = type(ex.rt.settings)(**{**ex.rt.settings.__dict__, "export_max_bytes": 2000})
    await run(ex, "export", ROOM, "--format", "jsonl")
    await ex.rt.jobs_idle()
    assert "MiB" in posted(ex)[-1] and sent == []
    assert not finished and len(pulled) < 20 and sum(pulled[:-1]) <= 2000 < sum(pulled)
    row = await ex.db.fetchone("SELECT result, details FROM audit WHERE action = 'archive_export'")
    assert row["result"] == "too_large" and json.loads(row["details"])["records"] < 300
    assert not list(ex.rt.export_dir.iterdir())


async def test_export_failure_is_reported_in_the_room(ex: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def send_file(*args: Any) -> str:
        raise RuntimeError("記録 1 upload broke")

    monkeypatch.setattr(ex.rt.executor, "send_file", send_file)
    await run(ex, "export", ROOM)
    await ex.rt.jobs_idle()
    assert "書き出しに失敗しました（" in posted(ex)[-1]
    row = await ex.db.fetchone("SELECT result, details FROM audit WHERE action = 'archive_export'")
    assert row["result"] == "error" and json.loads(row["details"])["reason"] == "RuntimeError"
    assert not list(ex.rt.export_dir.iterdir())


async def test_close_cancels_running_jobs(ex: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async def send_file(*args: Any) -> str:
        await asyncio.Event().wait()  # never
        return "$file"

    monkeypatch.setattr(ex.rt.executor, "send_file", send_file)
    await run(ex, "export", ROOM)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if list(ex.rt.export_dir.iterdir()):
            break
    (job,) = ex.rt._jobs
    await ex.rt.close()
    assert job.cancelled() and not ex.rt._jobs
    assert not list(ex.rt.export_dir.iterdir())


async def test_backfill_answers_at_once_and_archives_page_by_page(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(runtime, "BACKFILL_PROGRESS_PAGES", 1)
    release = asyncio.Event()
    at_page_2: list[list[str]] = []

    async def on_messages(params: dict[str, Any]) -> None:
        if params["dir"] == "f" and params.get("from") == "t2":
            await release.wait()  # the job is stuck on its first forward page
        if params["dir"] == "f" and params.get("from") == "f1":
            at_page_2.append([r["event_id"] for r in h.records()])

    h.on_messages = on_messages  # type: ignore[attr-defined]
    reply = text(await run(h, "flag", ROOM, "--years", "5", "--backfill-from", "2025-11-20"))
    assert "保存対象に指定" in reply and "取り込みを始めました" in reply
    assert not any("さかのぼって保存しました" in b for b in posted(h))
    release.set()
    await h.rt.jobs_idle()
    assert at_page_2 == [["$old2", "$old3"]]  # page 1 archived before page 2 was asked for
    assert [r["event_id"] for r in h.records() if r["event_id"].startswith("$old")] == ["$old2", "$old3", "$old5"]
    bodies = posted(h)
    assert any("取り込み中" in b and "これまでに 2 件" in b for b in bodies)
    assert "2025-11-20 以降の履歴 3 件をさかのぼって保存しました" in bodies[-1]
    row = await h.db.fetchone("SELECT result, details FROM audit WHERE action = 'archive_backfill'")
    assert row["result"] == "ok" and json.loads(row["details"])["events"] == 3


async def test_backfill_failure_is_reported(h: Harness) -> None:  # noqa: F811
    async def on_messages(params: dict[str, Any]) -> None:
        if params["dir"] == "f" and params.get("from") == "f1":
            raise ConnectionError("synapse went away")

    h.on_messages = on_messages  # type: ignore[attr-defined]
    await run(h, "flag", ROOM, "--years", "5", "--backfill-from", "2025-11-20")
    await h.rt.jobs_idle()
    assert "途中で失敗しました" in posted(h)[-1]
    assert [r["event_id"] for r in h.records() if r["event_id"].startswith("$old")] == ["$old2", "$old3"]
    row = await h.db.fetchone("SELECT result, details FROM audit WHERE action = 'archive_backfill'")
    assert row["result"] == "error" and json.loads(row["details"])["reason"] == "ConnectionError"
