"""`!yakuba archive …` handlers: permissions, flag/list/export, and the disposal confirmation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from appservice.core.commands import CommandError, Invocation, Reply
from appservice.core.decisions import Effect
from appservice.core.executor import Executor, render
from appservice.core.state import OfferRow
from appservice.features.retention import FEATURE as RETENTION
from appservice.features.retention import commands
from appservice.lib.archive import RetentionPolicy

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
    room_state,
)

OLD_ROOM = "!old:city-a.localhost"
MS_2019 = 1_560_000_000_000  # 2019-06-08: FY2019, a 1-year period ended 2021-03-31


@pytest.fixture
async def h(tmp_path: Path):
    hs = await harness(tmp_path)
    hs.client.states[ROOM] = room_state()
    yield hs
    await hs.close()


def text(h: Harness, reply: Reply) -> str:
    return "\n".join([render(m, "ja") for m in reply.messages] + reply.text)


ARCHIVE = next(c for c in RETENTION.commands if c.name == "archive")


async def run(h: Harness, *args: str, sender: str = ADMIN, room: str = ADMIN_ROOM) -> Reply:
    inv = Invocation("archive", tuple(args), sender, room, "$cmd" + "_".join(args)[:20], h.services, feature=h.rt)
    reply = await ARCHIVE.handler(inv)
    if reply.decisions:  # what the executor does after posting the reply
        await Executor(h.services).perform(reply.decisions, event("m.room.message", sender=sender, room=room,
                                                                  event_id=inv.event_id), "command:archive")
    return reply


async def test_registered_with_room_scope() -> None:
    assert ARCHIVE.scope == "room"


async def test_admin_subcommands_need_the_admin_room_and_an_admin(h: Harness) -> None:
    assert (await run(h, "list", room=ROOM)).messages == []  # elsewhere: silence
    refused = await run(h, "list", sender=ALICE)
    assert text(h, refused) == render(refused.messages[0], "ja") and "管理者" in text(h, refused)
    rows = await h.db.fetchall("SELECT actor, details FROM audit WHERE action = 'command_refused'")
    assert rows[0]["actor"] == ALICE and "archive list" in rows[0]["details"]
    assert "archive flag" in text(h, await run(h, "help"))


async def test_flag_list_unflag(h: Harness) -> None:
    reply = await run(h, "flag", ROOM, "--years", "10", "--category", "例規", "--dept", "総務課")
    out = text(h, reply)
    assert ROOM in out and "10年" in out and "例規" in out and "総務課連絡" in out
    listing = text(h, await run(h, "list"))
    assert ROOM in listing and "10年" in listing and ADMIN in listing
    assert "保存を終了" in text(h, await run(h, "unflag", ROOM))
    assert "ありません" in text(h, await run(h, "list"))


@pytest.mark.parametrize("args,needle", [
    (("flag", ROOM, "--years", "2"), "1, 3, 5, 10, 30"),
    (("flag", ROOM), "1, 3, 5, 10, 30"),
    (("flag", "--years", "5"), "ルームを1つ"),
    (("flag", ROOM, "--years"), "値がありません"),
    (("flag", ROOM, "--years", "5", "--colour", "x"), "--colour"),
    (("flag", "general", "--years", "5"), "見つかりません"),
    (("export", ROOM, "--format", "pdf"), "csv, jsonl, html"),
    (("export", ROOM, "--from", "2025-13-01"), "YYYY-MM-DD"),
    (("export", ROOM, "--from", "2025-05-01", "--to", "2025-04-01"), "--from"),
    (("dispose", ROOM), "--reason"),
    (("confirm", "nope"), "確認コード"),
])
async def test_argument_errors(h: Harness, args: tuple[str, ...], needle: str) -> None:
    with pytest.raises(CommandError) as exc:
        await run(h, *args)
    assert needle in str(exc.value)


async def test_flag_unknown_room(h: Harness) -> None:
    with pytest.raises(CommandError, match="見つかりません"):
        await run(h, "flag", "!missing:city-a.localhost", "--years", "1")


async def test_here_by_a_moderator(h: Harness) -> None:
    reply = await run(h, "here", "--years", "3", sender=ALICE, room=ROOM)
    assert reply.messages == []  # the archive bot's notice in the room is the answer
    flag = await h.rt.tables.flag(ROOM)
    assert flag is not None and flag.via == "room" and flag.flagged_by == ALICE and flag.years == 3
    notices = [c for c in h.client.of("send") if c[1] == ROOM and c[4] == ARCHIVE_BOT]
    assert len(notices) == 1


async def test_here_refused_for_non_moderator_goes_to_dm(h: Harness) -> None:
    reply = await run(h, "here", "--years", "3", sender=BOB, room=ROOM)
    assert reply.messages == []
    assert not await h.rt.tables.is_flagged(ROOM)
    dm = h.client.sent("!dmfake1") if h.client.of("create_room") else []
    assert dm and "モデレーター" in dm[0]["body"]
    rows = await h.db.fetchall("SELECT details FROM audit WHERE action = 'command_refused'")
    assert "archive here" in rows[0]["details"]


async def test_here_answers_in_room_when_the_bot_is_there(h: Harness) -> None:
    await h.services.state.note_bot_membership(ROOM, h.services.config.sender, "join")
    reply = await run(h, "here", "--years", "4", sender=ALICE, room=ROOM)
    assert "1, 3, 5, 10, 30" in text(h, reply)


async def test_export_uploads_a_file(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    async def fake_send_file(room_id, data, filename, mimetype, key):
        sent.append({"room": room_id, "data": data, "filename": filename, "mimetype": mimetype})
        return "$file"

    monkeypatch.setattr(h.rt.executor, "send_file", fake_send_file)
    for i in range(3):
        await h.rt.on_archive(Effect(kind="archive", payload={"kind": "message"}), event(
            event_id=f"$m{i}", content={"msgtype": "m.text", "body": f"=SUM(A{i})"}), h.services)
    reply = await run(h, "export", ROOM, "--format", "csv")
    assert "書き出しを開始しました" in text(h, reply)
    await h.rt.jobs_idle()
    done = h.client.sent(ADMIN_ROOM)[-1]["body"]
    assert "3件" in done and "全期間" in done
    (f,) = sent
    assert f["room"] == ADMIN_ROOM and f["filename"].endswith(".csv") and f["mimetype"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(f["data"].decode("utf-8-sig"))))
    assert rows[0][0] == "日時" and [r[4] for r in rows[1:]] == ["'=SUM(A0)", "'=SUM(A1)", "'=SUM(A2)"]
    audit = await h.db.fetchall("SELECT details FROM audit WHERE action = 'archive_export'")
    assert '"records": 3' in audit[0]["details"] and "SUM" not in audit[0]["details"]
    h.rt.settings = type(h.rt.settings)(**{**h.rt.settings.__dict__, "export_max_bytes": 1024})
    await run(h, "export", ROOM, "--format", "html")
    await h.rt.jobs_idle()
    assert "MiB" in h.client.sent(ADMIN_ROOM)[-1]["body"] and len(sent) == 1
    assert not list(h.rt.export_dir.iterdir())  # temp files removed


def _old_records(h: Harness) -> None:
    h.rt.store.set_policy(OLD_ROOM, RetentionPolicy(1, "庶務", "総務課"), set_by=ADMIN)
    h.rt.store.append(OLD_ROOM, [{"event_id": f"$old{i}", "kind": "message", "ts": MS_2019 + i,
                                  "sender": ALICE, "body": "古い記録"} for i in range(3)])


async def test_due_and_dispose_with_confirm_code(h: Harness) -> None:
    _old_records(h)
    due = text(h, await run(h, "due"))
    assert OLD_ROOM in due and "3件" in due and "2021-04-01" in due
    assert (await run(h, "dispose", OLD_ROOM, "--reason", "保存期間満了（協議第12号）")).messages == []
    (plan,) = h.client.sent(ADMIN_ROOM)
    assert "試行" in plan["body"] and "seq 1〜3" in plan["body"]
    code = plan["body"].split("archive confirm ")[1][:6]
    assert len(list(h.rt.store.read(OLD_ROOM))) == 3  # nothing removed by the dry run
    offers = await h.db.fetchall("SELECT action, user_id, detail FROM offers")
    assert offers[0]["action"] == "archive_dispose" and offers[0]["user_id"] == ADMIN
    # a non-admin cannot confirm, even with the code
    assert "管理者" in text(h, await run(h, "confirm", code, sender=ALICE))
    done = text(h, await run(h, "confirm", code))
    assert "廃棄しました" in done and "3件" in done
    assert list(h.rt.store.read(OLD_ROOM)) == []
    (record,) = h.rt.store.disposal_records()
    assert record["disposal"]["approved_by"] == ADMIN and "協議第12号" in record["disposal"]["reason"]
    assert h.rt.store.verify(OLD_ROOM).ok
    assert "処理済み" in text(h, await run(h, "confirm", code))
    audit = await h.db.fetchall("SELECT details FROM audit WHERE action = 'archive_dispose'")
    assert '"records": 3' in audit[0]["details"]


async def test_dispose_by_reaction_and_cancel(h: Harness) -> None:
    _old_records(h)
    await run(h, "dispose", OLD_ROOM, "--reason", "満了")
    code = h.client.sent(ADMIN_ROOM)[-1]["body"].split("archive confirm ")[1][:6]
    assert "取り消し" in text(h, await run(h, "cancel", code))
    assert "処理済み" in text(h, await run(h, "confirm", code))
    await run(h, "dispose", OLD_ROOM, "--reason", "満了")
    code = h.client.sent(ADMIN_ROOM)[-1]["body"].split("archive confirm ")[1][:6]
    offer = OfferRow("$plan", commands.OFFER_ACTION, ADMIN, ADMIN_ROOM, "$cmd", {"code": code}, False)
    reaction = event("m.reaction", {}, sender=ADMIN, event_id="$react", room=ADMIN_ROOM)
    decisions = await commands.dispose_offer_handler(h.rt)(offer, reaction, h.services)
    await Executor(h.services).perform(decisions, reaction, "retention")
    assert "廃棄しました" in h.client.sent(ADMIN_ROOM)[-1]["body"]
    assert list(h.rt.store.read(OLD_ROOM)) == []


async def test_dispose_refused_when_nothing_is_due(h: Harness) -> None:
    h.rt.store.set_policy(ROOM, RetentionPolicy(30), set_by=ADMIN)
    h.rt.store.append(ROOM, [{"event_id": "$new", "kind": "message", "ts": datetime.now(UTC), "body": "x"}])
    assert "廃棄できません" in text(h, await run(h, "dispose", ROOM, "--reason", "x"))
    assert "ありません" in text(h, await run(h, "due"))


async def test_verify_reports(h: Harness) -> None:
    h.rt.store.append(ROOM, [{"event_id": "$v", "kind": "message", "ts": datetime.now(UTC), "body": "x"}])
    assert "OK" in text(h, await run(h, "verify", ROOM))
    seg = next(p for p in (h.rt.settings.root / "rooms").rglob("seg-*.jsonl"))
    seg.write_bytes(seg.read_bytes().replace(b'"body":"x"', b'"body":"y"'))
    out = text(h, await run(h, "verify"))
    assert "NG" in out and "$v" in out
