"""通報 (reports): masking, cases (duplicates, other reporters, old ones), polling over holes in
Synapse's report ids, what the admin room is told for each state of the reported message."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from appservice.core.db import Database
from appservice.core.decisions import DirectNotice
from appservice.core.executor import render
from appservice.core.state import StateStore
from appservice.features.reports import _settings
from appservice.features.reports.runtime import Reports
from appservice.features.reports.store import TABLES, ReportStore
from appservice.features.reports.text import masked
from appservice.matrix.reports import is_redacted
from tests.unit.support import SERVER, make_config

ALICE, BOB, CAROL = f"@alice:{SERVER}", f"@bob:{SERVER}", f"@carol:{SERVER}"
REMOTE = "@mallory:town-b.example"
ROOM = f"!room:{SERVER}"
MY_NUMBER = "123456789018"  # a valid check digit
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def test_masking_keeps_the_text_and_hides_personal_data():
    text, hidden = masked(f"私のマイナンバーは {MY_NUMBER} です\n次の行", 500)
    assert hidden and MY_NUMBER not in text and "9018" in text and "\n" not in text
    assert masked("今日はいい天気", 500) == ("今日はいい天気", False)
    short, _ = masked("あ" * 1000, 50)
    assert len(short) == 50 and short.endswith("…")


def test_redacted_events_are_told_apart():
    assert is_redacted({"content": {}, "unsigned": {"redacted_because": {"type": "m.room.redaction"}}})
    assert not is_redacted({"content": {"body": "x"}, "unsigned": {"age": 5}})


class FakeApi:
    """Synapse's report ids with holes (a report deleted by an admin) and events by id."""

    def __init__(self) -> None:
        self.reports: dict[int, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.asked: list[int] = []

    def add(self, rid: int, event_id: str, reporter: str, reason: str = "嫌がらせです", *, sender: str = BOB,
            ts: datetime = NOW) -> None:
        self.reports[rid] = {"id": rid, "received_ts": int(ts.timestamp() * 1000), "room_id": ROOM,
                             "event_id": event_id, "user_id": reporter, "reason": reason, "sender": sender,
                             "name": "係の連絡"}

    async def report(self, rid: int) -> dict[str, Any] | None:
        self.asked.append(rid)
        return self.reports.get(rid)

    async def event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        return self.events.get(event_id)


class FakeSender:
    async def is_encrypted(self, room_id: str) -> bool:
        return True


class FakeExecutor:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.posts: list[tuple[str, str]] = []
        self.performed: list[Any] = []
        self.audits: list[tuple[str, dict[str, Any]]] = []

    async def post(self, room_id: str, text: str, key: tuple[str, ...], **_: Any) -> str:
        self.posts.append((room_id, text))
        return f"$post{len(self.posts)}"

    async def perform(self, decisions: Any, event: Any, policy: str) -> int:
        self.performed.extend(decisions)
        return 0

    async def audit(self, action: str, **kw: Any) -> bool:
        self.audits.append((action, kw))
        return True

    def render(self, message: Any) -> str:
        """As Executor.render: the catalog text, links through the configured presentation."""
        from appservice.core.executor import render

        return render(message, self.svc.config.locale, self.svc.config.presentation)


@pytest.fixture
async def reports(tmp_path):
    db = Database(tmp_path / "y.db", (TABLES,))
    await db.open()
    state = StateStore(db)
    await state.set("admin_room", "!admin:x")

    class Clock:
        def now(self) -> datetime:
            return NOW

    config = make_config(tmp_path)

    svc = SimpleNamespace(state=state, config=config, clock=Clock(), sender=FakeSender(), bots={}, client=None)
    executor = FakeExecutor(svc)
    r = Reports(_settings({"lookahead": 2}, config), ReportStore(db), executor)  # type: ignore[arg-type]
    r.api = FakeApi()  # type: ignore[assignment]

    async def no_mods(report: Any) -> list[str]:
        return []

    r._moderators = no_mods  # type: ignore[method-assign]
    yield r
    db.close()


def texts(r: Reports) -> list[str]:
    return [t for _, t in r.executor.posts]  # type: ignore[attr-defined]


async def test_poll_steps_over_holes_and_posts_each_report_once(reports):
    api: FakeApi = reports.api  # type: ignore[assignment]
    api.events["$e1"] = {"type": "m.room.message", "sender": BOB, "origin_server_ts": 1,
                         "content": {"msgtype": "m.text", "body": f"マイナンバーは {MY_NUMBER} です"}}
    api.add(1, "$e1", ALICE)
    api.add(3, "$e1", CAROL, "私も不快です")  # report 2 was deleted in Synapse: a hole
    assert await reports.poll() == 2
    posts = texts(reports)
    assert len(posts) == 2
    assert "通報 #1" in posts[0] and ALICE in posts[0] and BOB in posts[0] and "嫌がらせです" in posts[0]
    assert MY_NUMBER not in posts[0] and "9018" in posts[0] and "個人情報を伏せています" in posts[0]
    assert "通報 #3" in posts[1] and "#1 と同じメッセージ" in posts[1] and CAROL in posts[1]
    acks = [d for d in reports.executor.performed if isinstance(d, DirectNotice)]  # type: ignore[attr-defined]
    assert sorted(d.user_id for d in acks) == [ALICE, CAROL]
    # Nothing new: nothing posted again, and the poll asks past the last id only.
    api.asked.clear()
    assert await reports.poll() == 0 and len(texts(reports)) == 2
    assert api.asked == [4, 5, 6]


async def test_the_same_reporter_twice_is_a_duplicate_told_to_nobody(reports):
    api: FakeApi = reports.api  # type: ignore[assignment]
    api.events["$e1"] = {"type": "m.room.message", "sender": BOB, "content": {"msgtype": "m.text", "body": "x"}}
    api.add(1, "$e1", ALICE)
    api.add(2, "$e1", ALICE, "もう一度")
    await reports.poll()
    assert len(texts(reports)) == 1
    dup = await reports.store.get(2)
    assert dup is not None and dup.kind == "duplicate" and dup.case_id == 1
    acks = [d for d in reports.executor.performed if isinstance(d, DirectNotice)]  # type: ignore[attr-defined]
    assert len({d.once_key for d in acks}) == 1  # one acknowledgement per reporter and message
    assert [a for a, kw in reports.executor.audits if a == "report_received"] == ["report_received"] * 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(("event", "expect", "absent"), [
    (None, "もうサーバーにありません", None),
    ({"type": "m.room.message", "sender": BOB, "content": {},
      "unsigned": {"redacted_because": {"type": "m.room.redaction"}}}, "すでに削除されています", None),
    ({"type": "m.room.encrypted", "sender": BOB, "content": {"algorithm": "m.megolm.v1.aes-sha2",
                                                             "ciphertext": "AwgA", "session_id": "s"}},
     "表示できません", "AwgA"),
    ({"type": "m.room.message", "sender": BOB, "content": {"msgtype": "m.image", "body": "IMG_0001.png"}},
     "画像（IMG_0001.png）", None),
])
async def test_what_the_admin_room_is_told_about_the_message(reports, event, expect, absent):
    api: FakeApi = reports.api  # type: ignore[assignment]
    if event is not None:
        api.events["$e1"] = event
    api.add(1, "$e1", ALICE)
    await reports.poll()
    (post,) = texts(reports)
    assert expect in post
    assert absent is None or absent not in post


async def test_old_reports_on_the_first_start_are_recorded_not_posted(reports):
    api: FakeApi = reports.api  # type: ignore[assignment]
    api.add(1, "$old", ALICE, ts=datetime(2026, 1, 5, tzinfo=UTC))
    api.add(2, "$new", ALICE)
    api.events["$new"] = {"type": "m.room.message", "sender": BOB, "content": {"msgtype": "m.text", "body": "x"}}
    await reports.poll()
    assert len(texts(reports)) == 1 and "通報 #2" in texts(reports)[0]
    old = await reports.store.get(1)
    assert old is not None and old.status == "old"


async def test_actions_close_the_whole_case_and_outcomes_go_to_every_reporter(reports):
    api: FakeApi = reports.api  # type: ignore[assignment]
    api.add(1, "$e1", ALICE)
    api.add(2, "$e1", CAROL)
    api.add(3, "$e1", REMOTE)
    await reports.poll()
    case = await reports.store.case(2)
    assert case is not None and case.id == 1
    await reports.store.act(1, "dismiss", "@admin:x", NOW.timestamp())
    assert {r.status for r in await reports.store.members(1)} == {"dismissed"}
    outcome = await reports.outcome(case, "dismiss")
    assert sorted(d.user_id for d in outcome) == [ALICE, CAROL]  # type: ignore[attr-defined]
    assert "対応は不要" in render(outcome[0].message, "ja")  # type: ignore[attr-defined]
    # A new report about the same message after the case was closed opens a new case.
    api.add(4, "$e1", ALICE)
    await reports.poll()
    fresh = await reports.store.get(4)
    assert fresh is not None and fresh.case_id == 4 and fresh.status == "open"


async def _command(reports: Reports, *args: str, table: Any = None):
    from appservice.core.commands import Invocation
    from appservice.features.reports.commands import report

    inv = Invocation("report", args, f"@admin:{SERVER}", "!admin:x", "$cmd", reports.svc, feature=reports,
                     table=table)
    return await report(inv)


async def test_a_remote_sender_cannot_be_suspended_and_the_reply_says_what_can_be_done(reports):
    from appservice.core.commands import CommandTable
    from appservice.core.feature import Command

    api: FakeApi = reports.api  # type: ignore[assignment]
    api.add(1, "$r", ALICE, sender=REMOTE)
    api.add(2, "$l", ALICE, sender=BOB)
    await reports.poll()
    reply = await _command(reports, "1", "suspend")
    text = render(reply.messages[0], "ja")
    assert "town-b.example" in text and "削除" in text and not reply.decisions
    # A local sender without the offboarding feature: the exact command to type instead.
    reply = await _command(reports, "2", "suspend", table=CommandTable())
    assert f"!yakuba suspend {BOB}" in render(reply.messages[0], "ja")
    table = CommandTable()

    async def never(inv: Any) -> Any:
        raise AssertionError

    table.add(Command("suspend", usage="suspend", summary_key="x", handler=never), "offboarding", True)
    reply = await _command(reports, "2", "suspend", "調査中", "--tell-reporter", table=table)
    (confirm,) = reply.decisions
    assert confirm.offer is not None and confirm.offer.detail["action"] == "suspend"  # type: ignore[attr-defined]
    assert confirm.offer.detail["tell"] is True and "✅" in render(confirm.message, "ja")  # type: ignore[attr-defined]


async def test_dismiss_acts_at_once_and_closed_reports_refuse_actions(reports):
    api: FakeApi = reports.api  # type: ignore[assignment]
    api.add(1, "$e", ALICE)
    await reports.poll()
    reply = await _command(reports, "#1", "dismiss")
    assert "対応不要" in render(reply.messages[0], "ja")
    assert (await reports.store.get(1)).status == "dismissed"  # type: ignore[union-attr]
    reply = await _command(reports, "1", "warn")
    assert "閉じられています" in render(reply.messages[0], "ja")
    reply = await _command(reports, "77")
    assert "見つかりません" in render(reply.messages[0], "ja")


async def test_moderators_instead_of_the_admin_room(reports, tmp_path):
    from dataclasses import replace

    reports.settings = replace(reports.settings, moderators="instead")

    async def mods(report: Any) -> list[str]:
        return [CAROL]

    reports._moderators = mods  # type: ignore[method-assign]
    api: FakeApi = reports.api  # type: ignore[assignment]
    api.events["$e"] = {"type": "m.room.message", "sender": BOB, "content": {"msgtype": "m.text", "body": "秘密の話"}}
    api.add(1, "$e", ALICE)
    await reports.poll()
    assert texts(reports) == []  # not in the admin room
    told = [d for d in reports.executor.performed if isinstance(d, DirectNotice)]  # type: ignore[attr-defined]
    mod = next(d for d in told if d.user_id == CAROL)
    text = render(mod.message, "ja")
    assert "秘密の話" not in text and ALICE not in text and "モデレーターにだけ" in text


async def test_pruned_reports_are_not_taken_again(reports):
    api: FakeApi = reports.api  # type: ignore[assignment]
    api.add(1, "$e", ALICE, ts=datetime(2026, 6, 1, tzinfo=UTC))  # before Yakuba watched: "old"
    api.add(2, "$f", ALICE)
    await reports.poll()
    await reports.store.act(2, "dismiss", "@admin:x", NOW.timestamp())
    assert await reports.store.prune(NOW.timestamp() + 1) == 2
    assert await reports.store.get(2) is None and await reports.store.last_id() == 2
    api.asked.clear()
    await reports.poll()
    assert api.asked[0] == 3 and len(texts(reports)) == 1
