"""Retention (翌年度4月1日起算) and approved disposal, on the fs and S3 backends."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appservice.lib.archive import ArchiveStore, DisposalRefused, RetentionPolicy
from appservice.lib.archive.retention import (
    expiry_datetime,
    fiscal_year,
    is_due,
    retention_expiry,
    retention_start,
)

from .test_archive_support import (
    BACKENDS,
    OTHER_ROOM,
    ROOM,
    edit_lines,
    find_line,
    locations,
    make_store,
    read_raw,
    rec,
)

ADMIN = "@records-officer:city.example.jp"


def ms(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, 3, 0, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveStore:
    return make_store(str(request.param), tmp_path)


# -- the fiscal-year rule -------------------------------------------------------------------------
@pytest.mark.parametrize(("created", "fy", "start", "expiry1"), [
    (date(2024, 3, 31), 2023, date(2024, 4, 1), date(2025, 4, 1)),
    (date(2024, 4, 1), 2024, date(2025, 4, 1), date(2026, 4, 1)),
    (date(2024, 5, 10), 2024, date(2025, 4, 1), date(2026, 4, 1)),
    (date(2025, 1, 15), 2024, date(2025, 4, 1), date(2026, 4, 1)),
])
def test_fiscal_year_rule(created: date, fy: int, start: date, expiry1: date) -> None:
    assert fiscal_year(created) == fy
    assert retention_start(created) == start
    assert retention_expiry(created, 1) == expiry1
    assert retention_expiry(created, 30) == date(expiry1.year + 29, 4, 1)


def test_due_boundary_is_april_first_jst() -> None:
    created = date(2024, 5, 10)  # FY2024 → 起算 2025-04-01 → 1 year → 満了 2026-03-31
    last_day = datetime(2026, 3, 31, 23, 59, tzinfo=expiry_datetime(created, 1).tzinfo)
    assert not is_due(created, 1, last_day)
    assert is_due(created, 1, last_day + timedelta(minutes=1))
    # 2026-03-31T15:00Z is already April 1st in Japan
    assert is_due(created, 1, datetime(2026, 3, 31, 15, 0, tzinfo=UTC))
    assert not is_due(created, 1, datetime(2026, 3, 31, 14, 59, tzinfo=UTC))


def test_policy_years_are_restricted() -> None:
    with pytest.raises(ValueError):
        RetentionPolicy(2)


# -- due ------------------------------------------------------------------------------------------
def test_due_lists_segments_past_retention(store: ArchiveStore) -> None:
    store.append(ROOM, [rec(1, ts=ms(2020, 6, 1)), rec(2, ts=ms(2021, 3, 31))])  # FY2020
    store.append(ROOM, [rec(3, ts=ms(2021, 4, 2))])  # FY2021: new segment
    store.append(OTHER_ROOM, [rec(1, ts=ms(2020, 6, 1))])  # no policy: never due
    store.set_policy(ROOM, RetentionPolicy(1, "庶務", "総務課"), set_by=ADMIN)
    assert store.due(datetime(2022, 3, 31, 12, tzinfo=UTC)) == []
    due = store.due(datetime(2022, 4, 1, 12, tzinfo=UTC))
    assert [(d.room_id, d.first_seq, d.last_seq, d.records) for d in due] == [(ROOM, 1, 2, 2)]
    assert due[0].expires == date(2022, 4, 1)
    assert due[0].oldest == date(2020, 6, 1) and due[0].newest == date(2021, 3, 31)
    assert len(store.due(datetime(2023, 4, 1, tzinfo=UTC))) == 2
    store.set_policy(ROOM, RetentionPolicy(5), set_by=ADMIN)  # policy history is append-only
    assert store.due(datetime(2023, 4, 1, tzinfo=UTC)) == []
    assert store.policy(ROOM) == RetentionPolicy(5)


# -- dispose --------------------------------------------------------------------------------------
def _old_and_new(store: ArchiveStore) -> tuple[dict[str, Any], dict[str, Any]]:
    """FY2019 records (due under a 1-year policy) and recent ones (not due)."""
    only_old = store.put_media(b"old attachment", "古い.pdf", "application/pdf")
    shared = store.put_media(b"shared attachment", "共有.pdf", "application/pdf")
    store.append(ROOM, [rec(1, ts=ms(2019, 6, 1)),
                        rec(2, ts=ms(2019, 6, 2), kind="media", media=only_old),
                        rec(3, ts=ms(2019, 6, 3), kind="media", media=shared)])
    recent = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
    store.append(ROOM, [rec(4, ts=recent), rec(5, ts=recent + 1, kind="media", media=shared)])
    store.set_policy(ROOM, RetentionPolicy(1, "庶務", "総務課"), set_by=ADMIN)
    store.checkpoint(ROOM)
    return only_old, shared


@pytest.mark.parametrize("approver", ["", "admin", "admin@city", None])
def test_dispose_requires_an_approver(store: ArchiveStore, approver: Any) -> None:
    _old_and_new(store)
    with pytest.raises(DisposalRefused, match="承認者"):
        store.dispose(ROOM, approver, "保存期間満了")
    assert len(list(store.read(ROOM))) == 5


def test_dispose_requires_reason_and_no_future_now(store: ArchiveStore) -> None:
    _old_and_new(store)
    with pytest.raises(DisposalRefused, match="理由"):
        store.dispose(ROOM, ADMIN, "  ")
    with pytest.raises(DisposalRefused, match="future"):
        store.dispose(ROOM, ADMIN, "保存期間満了", datetime.now(UTC) + timedelta(days=400))


def test_dispose_refuses_when_nothing_is_due(store: ArchiveStore) -> None:
    store.append(ROOM, [rec(1, ts=int(datetime.now(UTC).timestamp() * 1000))])
    store.set_policy(ROOM, RetentionPolicy(30), set_by=ADMIN)
    with pytest.raises(DisposalRefused, match="nothing due"):
        store.dispose(ROOM, ADMIN, "保存期間満了")
    store.append(OTHER_ROOM, [rec(1, ts=ms(2001, 1, 1))])  # ancient but no policy
    with pytest.raises(DisposalRefused, match="nothing due"):
        store.dispose(OTHER_ROOM, ADMIN, "保存期間満了")


def test_dry_run_removes_nothing(store: ArchiveStore) -> None:
    only_old, _ = _old_and_new(store)
    result = store.dispose(ROOM, ADMIN, "保存期間満了", dry_run=True)
    assert result.dry_run and result.record is None
    assert [d.first_seq for d in result.segments] == [1]
    assert result.media == [only_old["sha256"]]
    assert len(list(store.read(ROOM))) == 5 and store.disposal_records() == []


def test_disposal_flow(store: ArchiveStore) -> None:
    only_old, shared = _old_and_new(store)
    seg = store.segments(ROOM)[0]
    removed_bytes = b"".join(line.data for line in store.backend.read_log(seg))
    old_records = list(store.read(ROOM))[:3]

    result = store.dispose(ROOM, ADMIN, "保存期間満了（1年）により廃棄")

    # what stayed
    assert [r["seq"] for r in store.read(ROOM)] == [4, 5]
    assert store.get_media(only_old["sha256"]) is None
    assert store.get_media(shared["sha256"]) == b"shared attachment"  # still referenced
    # the disposal record: what, when, who approved, why, hash of what was removed
    d = result.record
    assert d is not None and d["kind"] == "disposal" and d["sender"] == ADMIN
    assert d["body"] == "保存期間満了（1年）により廃棄"
    info = d["disposal"]
    assert info["approved_by"] == ADMIN and info["policy"]["years"] == 1
    (seg_info,) = info["segments"]
    assert seg_info["sha256"] == hashlib.sha256(removed_bytes).hexdigest()
    assert (seg_info["first_seq"], seg_info["last_seq"], seg_info["records"]) == (1, 3, 3)
    assert seg_info["prev_hash"] == old_records[0]["prev_hash"]
    assert seg_info["last_hash"] == old_records[-1]["hash"]
    assert seg_info["expires"] == "2021-04-01"
    assert info["media"] == [{"sha256": only_old["sha256"], "size": len(b"old attachment")}]
    assert store.disposal_records() == [d]
    # verify still passes: the disposal log explains the gap
    report = store.verify()
    assert report.ok, [str(p) for p in report.problems]
    # and the chain continues after the gap
    store.append(ROOM, [rec(6)])
    assert store.verify().ok
    # nothing more is due
    with pytest.raises(DisposalRefused):
        store.dispose(ROOM, ADMIN, "again")


def test_disposal_of_whole_room_then_continue(store: ArchiveStore) -> None:
    store.append(ROOM, [rec(1, ts=ms(2019, 6, 1)), rec(2, ts=ms(2019, 7, 1))])
    store.set_policy(ROOM, RetentionPolicy(1), set_by=ADMIN)
    store.checkpoint(ROOM)
    store.dispose(ROOM, ADMIN, "保存期間満了")
    assert list(store.read(ROOM)) == []
    assert store.verify().ok
    (three,) = store.append(ROOM, [rec(3)])
    assert three["seq"] == 3  # seq never restarts; prev_hash = last disposed hash
    assert three["prev_hash"] == store.disposal_records()[0]["disposal"]["segments"][0][
        "last_hash"]
    assert store.verify().ok


def test_gap_without_disposal_record_fails(store: ArchiveStore) -> None:
    _old_and_new(store)
    seg = store.segments(ROOM)[0]
    store.backend.delete_log(seg)  # a "silent delete" behind the archive's back
    report = store.verify()
    assert not report.ok
    assert any(p.code == "removed" and p.seq == 1 for p in report.problems)


def test_dispose_refused_if_room_does_not_verify(store: ArchiveStore) -> None:
    _old_and_new(store)
    loc, _ = find_line(store, 2)
    edit_lines(store, loc, lambda ls: [ls[0], ls[2]] if len(ls) == 3 else ls[:-1])
    with pytest.raises(DisposalRefused, match="verify failed"):
        store.dispose(ROOM, ADMIN, "保存期間満了")
    assert store.disposal_records() == []


def test_tampered_disposal_log_fails_verify(store: ArchiveStore) -> None:
    _old_and_new(store)
    store.dispose(ROOM, ADMIN, "保存期間満了")
    (line,) = list(store.backend.read_log("disposal"))
    entry = json.loads(line.data)
    entry["sender"] = "@someone-else:city.example.jp"
    from .test_archive_support import write_raw

    write_raw(store, line.location, read_raw(store, line.location).replace(
        line.data, json.dumps(entry, ensure_ascii=False, sort_keys=True,
                              separators=(",", ":")).encode() + b"\n"))
    report = store.verify()
    assert any(p.code == "modified" and p.event_id == entry["event_id"]
               for p in report.problems)


def test_interrupted_disposal_is_finished(store: ArchiveStore) -> None:
    _old_and_new(store)
    seg = store.segments(ROOM)[0]
    kept = list(store.backend.read_log(seg))
    store.dispose(ROOM, ADMIN, "保存期間満了")
    # simulate a crash after the disposal record was written but before the delete
    store.backend.append_log(seg, b"".join(line.data for line in kept))
    store.forget(ROOM)
    report = store.verify()
    assert report.ok and any(w.code == "disposal_incomplete" for w in report.warnings)
    result = store.dispose(ROOM, ADMIN, "中断した廃棄の完了")
    assert result.leftovers == [seg] and result.record is None
    assert len(store.disposal_records()) == 1
    assert store.segments(ROOM) == [n for n in store.segments(ROOM) if n != seg]
    assert store.verify().ok and locations(store)
