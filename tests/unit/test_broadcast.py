"""一斉送信, the pure parts: audiences, departments, the multi-line command, the trust rule for
a partner's disaster broadcast, and the status report's counting (2,000 recipients)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from appservice.core.commands import command_text, parse_command
from appservice.core.config import Partner
from appservice.core.decisions import Audit, RunCommand
from appservice.core.events import parse_event
from appservice.features.broadcast.audience import (
    AudienceError,
    local_recipients,
    parse_audience,
    unknown_departments,
)
from appservice.features.broadcast.commands import state_of, status_csv, status_rows
from appservice.features.broadcast.policy import BroadcastPolicy
from appservice.features.broadcast.tables import Broadcast, Delivery
from tests.unit.support import SERVER, make_config, make_context
from tests.unit.test_core import FakeState

PREF = Partner(server="pref.localhost:1", name="県", trust_disaster=True)
TOWN = Partner(server="town.localhost:2", name="城南町")


def test_audiences() -> None:
    a = parse_audience("dept:総務課, partner:城南町", [PREF, TOWN])
    assert a.departments == ("総務課",) and a.partners == ("town.localhost:2",) and not a.everyone
    assert parse_audience("all,partners", [PREF, TOWN]).partners == ("pref.localhost:1", "town.localhost:2")
    for bad, key in [("", "empty_audience"), ("everyone", "unknown_audience"), ("dept:", "empty_department"),
                     ("partner:無関係村", "unknown_partner")]:
        with pytest.raises(AudienceError) as exc:
            parse_audience(bad, [PREF, TOWN])
        assert exc.value.key == f"broadcast.error.{key}"


def test_departments_match_whole_names_or_parts() -> None:
    directory = {"@a:x": "総務部 総務課", "@b:x": "企画部 情報政策課", "@c:x": "総務部 人事課"}
    a = parse_audience("dept:総務課", [])
    assert local_recipients(a, ["@a:x", "@b:x", "@c:x", "@d:x"], directory) == {"@a:x": "総務部 総務課"}
    assert set(local_recipients(parse_audience("dept:総務部", []), directory, directory)) == {"@a:x", "@c:x"}
    assert unknown_departments(parse_audience("dept:消防課,dept:総務課", []), directory) == ["消防課"]
    assert len(local_recipients(parse_audience("all", []), ["@a:x", "@d:x"], directory)) == 2


def test_a_broadcast_command_keeps_its_lines_and_quotes() -> None:
    body = "!yakuba broadcast all --urgent\nタイトル\n本文に \"引用符\" と 'アポストロフィ' it's\n• 項目"
    assert parse_command(body) == ("broadcast", ("all", "--urgent"))
    assert command_text(body) == "タイトル\n本文に \"引用符\" と 'アポストロフィ' it's\n• 項目"


class Tables:
    async def delivery_by_event(self, event_id):
        return None


def message(sender: str, field: dict) -> object:
    return parse_event({"event_id": "$b", "room_id": "!liaison:x", "type": "m.room.message", "sender": sender,
                        "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "台風",
                                                           "jp.yakuba.broadcast": field}})


@pytest.fixture
def ctx(tmp_path: Path):
    cfg = make_config(tmp_path, federation={"partners": [
        {"server": PREF.server, "name": PREF.name, "trust_disaster": True},
        {"server": TOWN.server, "name": TOWN.name}]})
    return make_context(cfg, FakeState(), admin_room=f"!admin:{SERVER}")


async def test_only_a_trusted_partners_own_bot_declares_a_disaster(ctx) -> None:
    policy = BroadcastPolicy(Tables())  # type: ignore[arg-type]
    out = await policy.evaluate(message(f"@_yakuba:{PREF.server}", {"disaster": "on", "reason": "台風10号"}), ctx)
    assert len(out) == 1 and isinstance(out[0], RunCommand)
    assert out[0].name == "emergency" and out[0].args == ("on", "県: 台風10号") and out[0].room_id == ctx.admin_room
    off = await policy.evaluate(message(f"@_yakuba:{PREF.server}", {"disaster": "off"}), ctx)
    assert isinstance(off[0], RunCommand) and off[0].args == ("off",)
    for sender in (f"@mallory:{PREF.server}",          # a person on the trusted server, not its Yakuba
                   f"@_yakuba:{TOWN.server}",           # a partner that is not trusted
                   "@_yakuba:stranger.localhost:3"):    # not a partner at all
        out = await policy.evaluate(message(sender, {"disaster": "on"}), ctx)
        assert [type(d) for d in out] == [Audit] and out[0].action == "broadcast_disaster_ignored"
    assert await policy.evaluate(message(f"@_yakuba:{SERVER}", {"disaster": "on"}), ctx) == []  # our own


class FakeFeature:
    """Off duty: every third recipient (stands in for the work calendar)."""

    def off_duty(self, user: str, when: datetime) -> bool:
        return int(user.split("u")[1].split(":")[0]) % 3 == 0

    def label(self, d: Delivery) -> str:
        return d.target

    executor = SimpleNamespace(render=lambda m: m.key)


def test_status_counts_for_two_thousand_recipients_are_exact() -> None:
    deliveries = []
    for i in range(2000):
        dept = ["総務課", "情報政策課", "消防課", "福祉課"][i % 4]
        read = 1.0 if i % 5 == 0 else None
        deliveries.append(Delivery(f"@u{i}:x", "user", dept, "!dm", None if i == 7 else f"$e{i}", 1.0, None, 1,
                                   read, None, None))
    rows = status_rows(FakeFeature(), deliveries, datetime.now(UTC))  # type: ignore[arg-type]
    total = sum((c for c in rows.values()), start=__import__("collections").Counter())
    assert total["total"] == 2000 and total["failed"] == 1
    assert total["read"] == 400                      # i % 5 == 0
    expected_off = sum(1 for i in range(2000) if i % 5 != 0 and i != 7 and i % 3 == 0)
    assert total["off_duty"] == expected_off
    assert total["unread"] == 2000 - 400 - 1 - expected_off
    assert set(rows) == {"総務課", "情報政策課", "消防課", "福祉課"}
    assert state_of(FakeFeature(), deliveries[7], datetime.now(UTC)) == "failed"  # type: ignore[arg-type]


def test_status_csv_is_excel_friendly_and_guards_formulas() -> None:
    b = Broadcast(1, "ABC123", "@admin:x", "all", "t", "b", False, 0, None, "sent", "!a", 1.0)
    d = Delivery("@u1:x", "user", "=HYPERLINK(\"x\")", "!dm", "$e", 1.0, None, 1, None, None, None)
    data = status_csv(FakeFeature(), b, [d], datetime.now(UTC))  # type: ignore[arg-type]
    assert data.startswith("\ufeff".encode()) and b"\r\n" in data
    assert b"'=HYPERLINK" in data
