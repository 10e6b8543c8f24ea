"""Store + verify cases, run against the fs backend and the S3 backend (moto_server)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from appservice.lib.archive import GENESIS, ArchiveError, ArchiveStore, record_hash
from appservice.lib.archive.chain import link
from appservice.lib.archive.record import canonical, make_record
from appservice.lib.archive.signing import ensure_signing_key

from .test_archive_support import (
    BACKENDS,
    OTHER_ROOM,
    ROOM,
    delete_raw,
    edit_lines,
    find_line,
    locations,
    make_store,
    read_raw,
    rec,
    write_raw,
)


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(kind: str, tmp_path: Path) -> Any:
    def opener(**kw: Any) -> ArchiveStore:
        return make_store(kind, tmp_path, **kw)

    return opener


def codes(report: Any) -> list[str]:
    return [p.code for p in report.problems]


def problem(report: Any, code: str) -> Any:
    found = [p for p in report.problems if p.code == code]
    assert found, f"no {code!r} in {[str(p) for p in report.problems]}"
    return found[0]


# -- append / read --------------------------------------------------------------------------------
def test_round_trip_and_chain(open_store: Any) -> None:
    store = open_store()
    stored = store.append(ROOM, [rec(1), rec(2, kind="notice", msgtype="m.notice"), rec(3)])
    assert [r["seq"] for r in stored] == [1, 2, 3]
    assert stored[0]["prev_hash"] == GENESIS
    assert stored[1]["prev_hash"] == stored[0]["hash"]
    first = stored[0]
    assert first["ts_utc"] == "2020-06-01T00:01:00.000+00:00"
    assert first["ts_jst"] == "2020-06-01T09:01:00.000+09:00"
    assert first["affiliation"] == {"department": "総務課", "title": "主事"}
    assert first["encrypted"] is False and first["media"] is None
    # hash = sha256(prev_hash + canonical(record without hash))
    body = {k: v for k, v in first.items() if k != "hash"}
    assert first["hash"] == hashlib.sha256(GENESIS.encode() + canonical(body)).hexdigest()
    with pytest.raises(TypeError):
        first["body"] = "改ざん"  # type: ignore[index]
    assert list(store.read(ROOM)) == stored
    store.close()
    assert list(open_store().read(ROOM)) == stored
    assert store.verify().ok


def test_records_are_dicts_with_all_fields(open_store: Any) -> None:
    store = open_store()
    (r,) = store.append(ROOM, [rec(1, encrypted=True, relates_to={"rel_type": "m.thread",
                                                                   "event_id": "$root"})])
    assert isinstance(r, dict)
    assert r["encrypted"] is True and r["relates_to"]["rel_type"] == "m.thread"
    assert set(r) >= {"event_id", "room_id", "room_name", "ts_utc", "ts_jst", "sender",
                      "display_name", "affiliation", "kind", "msgtype", "body",
                      "formatted_body", "relates_to", "redacts", "membership", "media",
                      "encrypted", "seq", "prev_hash", "hash"}


def test_rejects_bad_input(open_store: Any) -> None:
    store = open_store()
    with pytest.raises(ValueError):
        store.append(ROOM, [rec(1, kind="reaction")])
    with pytest.raises(ValueError):
        store.append(ROOM, [rec(1, content={"raw": "event"})])
    with pytest.raises(ValueError):
        store.append("not-a-room", [rec(1)])
    with pytest.raises(ValueError):
        store.append(ROOM, [rec(1, room_id=OTHER_ROOM)])
    assert list(store.read(ROOM)) == []


def test_idempotent_across_reopen(open_store: Any) -> None:
    store = open_store()
    edit = rec(10, kind="edit", relates_to={"rel_type": "m.replace", "event_id": "$ev1"})
    redaction = rec(11, kind="redaction", redacts="$ev2", body=None)
    first = store.append(ROOM, [rec(1), rec(2), edit, redaction])
    again = store.append(ROOM, [rec(2), rec(1)])
    assert again == [first[1], first[0]]
    store.close()
    reopened = open_store()
    replay = reopened.append(ROOM, [rec(1), rec(2), edit, redaction, rec(3)])
    assert replay[:4] == first
    assert replay[4]["seq"] == 5
    # same event_id but a different kind is a different archived fact
    other = reopened.append(ROOM, [rec(3, kind="notice")])
    assert other[0]["seq"] == 6
    # duplicates inside one batch
    dup = reopened.append(ROOM, [rec(7), rec(7)])
    assert dup[0] is dup[1] or dup[0] == dup[1]
    assert [r["seq"] for r in reopened.read(ROOM)] == [1, 2, 3, 4, 5, 6, 7]
    assert reopened.verify().ok


def test_idempotency_returns_old_records_beyond_cache(open_store: Any) -> None:
    store = open_store(segment_max_records=5)
    store.append(ROOM, [rec(i) for i in range(12)])
    store.close()
    reopened = open_store(segment_max_records=5)
    (old,) = reopened.append(ROOM, [rec(1)])
    assert old["seq"] == 2 and old["event_id"] == "$ev1"


def test_segments_roll_and_chain_across_them(open_store: Any) -> None:
    store = open_store(segment_max_records=3, checkpoint_every=4)
    store.append(ROOM, [rec(i) for i in range(4)])
    store.append(ROOM, [rec(i) for i in range(4, 8)])
    names = store.segments(ROOM)
    assert [n.rsplit("/", 1)[1] for n in names] == ["seg-000000000001", "seg-000000000004",
                                                    "seg-000000000007"]
    records = list(store.read(ROOM))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))
    report = store.verify()
    assert report.ok, [str(p) for p in report.problems]
    assert report.checkpoints >= 2


def test_segments_roll_at_fiscal_year(open_store: Any) -> None:
    store = open_store()
    march = 1585580400000  # 2020-03-30T15:00Z = 2020-03-31 00:00 JST (FY2019)
    april = 1585666800000  # 2020-03-31T15:00Z = 2020-04-01 00:00 JST (FY2020)
    store.append(ROOM, [rec(1, ts=march), rec(2, ts=april), rec(3, ts=april + 1)])
    assert len(store.segments(ROOM)) == 2
    assert store.verify().ok


def test_room_ids_stay_apart(open_store: Any) -> None:
    store = open_store()
    store.append("!abc:x.jp", [rec(1)])
    store.append("!ABC:x.jp", [rec(1)])  # differs only by case
    assert store.rooms() == ["!ABC:x.jp", "!abc:x.jp"]
    assert len(list(store.read("!abc:x.jp"))) == 1


def test_requires_signing_key(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    store.signing_key = tmp_path / "nope.key"
    with pytest.raises(ArchiveError, match="archive init"):
        store.append(ROOM, [rec(1)])


def test_signing_key_mode(tmp_path: Path) -> None:
    key = tmp_path / "k" / "archive-ed25519.key"
    kid = ensure_signing_key(key)
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k" / "archive-ed25519.pub").exists()
    assert ensure_signing_key(key) == kid  # idempotent


# -- tamper evidence ------------------------------------------------------------------------------
def _five(open_store: Any, **kw: Any) -> ArchiveStore:
    store = open_store(**kw)
    store.append(ROOM, [rec(i) for i in range(1, 6)])  # seq 1..5, one batch
    store.checkpoint(ROOM)
    assert store.verify().ok
    return store


def test_flipped_byte_names_the_record(open_store: Any) -> None:
    store = _five(open_store)
    loc, line_no = find_line(store, 3)
    data = bytearray(read_raw(store, loc))
    offset = data.index("会議は3".encode())
    data[offset + len("会議は".encode())] ^= 0x01  # "3" -> "2"
    write_raw(store, loc, bytes(data))
    report = store.verify()
    assert not report.ok
    assert codes(report) == ["modified"]
    p = report.problems[0]
    assert (p.room_id, p.location, p.line, p.seq, p.event_id) == (ROOM, loc, line_no, 3, "$ev3")
    assert "$ev3" in str(p) and loc in str(p)


def test_flipped_byte_breaking_json_is_named(open_store: Any) -> None:
    store = _five(open_store)
    loc, line_no = find_line(store, 2)
    lines = read_raw(store, loc).splitlines(keepends=True)
    bad = bytearray(lines[line_no - 1])
    bad[0] ^= 0x01  # "{" -> "z"
    lines[line_no - 1] = bytes(bad)
    write_raw(store, loc, b"".join(lines))
    report = store.verify()
    assert codes(report) == ["unparseable"]
    p = report.problems[0]
    assert (p.line, p.seq, p.event_id) == (line_no, 2, "$ev2")


def test_flipped_byte_in_japanese_text(open_store: Any) -> None:
    store = _five(open_store)
    loc, _ = find_line(store, 4)
    data = bytearray(read_raw(store, loc))
    data[data.index("会議は4".encode())] ^= 0x40  # breaks the UTF-8 sequence
    write_raw(store, loc, bytes(data))
    report = store.verify()
    assert not report.ok and report.problems[0].event_id == "$ev4"


def test_changed_seq_field_is_modified_not_a_cascade(open_store: Any) -> None:
    store = _five(open_store)
    loc, _ = find_line(store, 3)
    write_raw(store, loc, read_raw(store, loc).replace(b'"seq":3,', b'"seq":9,'))
    report = store.verify()
    assert codes(report) == ["modified"]
    assert report.problems[0].event_id == "$ev3"


def test_removed_line_is_named(open_store: Any) -> None:
    store = _five(open_store)
    loc, line_no = find_line(store, 3)
    edit_lines(store, loc, lambda ls: ls[: line_no - 1] + ls[line_no:])
    report = store.verify()
    p = problem(report, "removed")
    assert p.seq == 3 and p.location == loc and "seq 3 missing" in p.detail
    assert "$ev4" in p.detail  # the neighbour it was taken from


def test_reordered_lines_are_named(open_store: Any) -> None:
    store = _five(open_store)
    loc, line_no = find_line(store, 3)
    def swap(ls: list[bytes]) -> list[bytes]:
        ls[line_no - 1], ls[line_no] = ls[line_no], ls[line_no - 1]
        return ls
    edit_lines(store, loc, swap)
    report = store.verify()
    assert codes(report) == ["reordered"]
    assert report.problems[0].seq == 3 and report.problems[0].event_id == "$ev3"


def test_duplicated_line_is_inserted(open_store: Any) -> None:
    store = _five(open_store)
    loc, line_no = find_line(store, 2)
    edit_lines(store, loc, lambda ls: [*ls[:4], ls[line_no - 1], *ls[4:]])
    report = store.verify()
    assert codes(report) == ["inserted"]
    assert report.problems[0].seq == 2 and report.problems[0].line == 5


def test_forged_record_is_named_as_inserted(open_store: Any) -> None:
    store = _five(open_store)
    records = list(store.read(ROOM))
    # A forger who knows the format makes a self-consistent record at seq 4 …
    forged = link(make_record(rec(99, body="偽の指示"), room_id=ROOM), seq=4,
                  prev_hash=records[2]["hash"])
    loc, line_no = find_line(store, 4)
    edit_lines(store, loc, lambda ls: [*ls[: line_no - 1], canonical(forged) + b"\n",
                                       *ls[line_no - 1 :]])
    report = store.verify()
    assert [p.code for p in report.problems if p.code == "inserted"]
    p = problem(report, "inserted")
    assert p.event_id == "$ev99" and p.line == line_no


def test_rewritten_history_caught_by_checkpoint(open_store: Any) -> None:
    store = _five(open_store)
    records = [dict(r) for r in store.read(ROOM)]
    # Re-chain everything from seq 2 with a changed body: every hash is self-consistent again.
    records[1]["body"] = "書き換えた本文"
    prev = records[0]["hash"]
    lines = [canonical(records[0]) + b"\n"]
    for r in records[1:]:
        r["prev_hash"] = prev
        r["hash"] = record_hash(prev, r)
        prev = r["hash"]
        lines.append(canonical(r) + b"\n")
    (loc,) = locations(store)
    write_raw(store, loc, b"".join(lines))
    report = store.verify()
    p = problem(report, "checkpoint_mismatch")
    assert p.seq == 5 and p.event_id == "$ev5"


def test_bad_checkpoint_signature(open_store: Any) -> None:
    store = _five(open_store)
    cp_lines = list(store.backend.read_log("checkpoints/" + _safe(ROOM)))
    assert cp_lines
    line = cp_lines[-1]
    cp = json.loads(line.data)
    cp["hash"] = "f" * 64  # claim another head, keep the old signature
    write_raw(store, line.location, read_raw(store, line.location).replace(
        line.data, canonical(cp) + b"\n"))
    report = store.verify()
    p = problem(report, "bad_signature")
    assert p.location == line.location and p.line == line.line_no and p.seq == 5


def test_checkpoint_from_unknown_key(open_store: Any, tmp_path: Path) -> None:
    store = _five(open_store)
    other_key = tmp_path / "other" / "archive-ed25519.key"
    ensure_signing_key(other_key)
    rogue = ArchiveStore(store.root, backend=store.backend, signing_key=other_key)
    rogue.append(ROOM, [rec(6)])
    rogue.checkpoint(ROOM)
    report = store.verify()
    assert "unknown key" in problem(report, "bad_signature").detail


def test_cut_off_tail_caught_by_checkpoint(open_store: Any) -> None:
    store = _five(open_store)
    (loc,) = locations(store)
    edit_lines(store, loc, lambda ls: ls[:3])  # drop seq 4 and 5 at a line boundary
    report = store.verify()
    p = problem(report, "removed")
    assert p.seq == 5 and "ends at seq 3" in p.detail


def test_deleted_segment_is_named(open_store: Any) -> None:
    store = open_store(segment_max_records=2)
    store.append(ROOM, [rec(i) for i in range(1, 7)])
    store.checkpoint(ROOM)
    delete_raw(store, locations(store)[1])  # seq 3..4
    report = store.verify()
    p = problem(report, "removed")
    assert p.seq == 3 and "seq 3..4" in p.detail


def test_deleted_room_is_noticed(open_store: Any) -> None:
    store = _five(open_store)
    for loc in locations(store):
        delete_raw(store, loc)
    report = store.verify()
    assert problem(report, "removed").room_id == ROOM


def test_unsigned_tail_is_a_warning(open_store: Any) -> None:
    store = open_store()
    store.append(ROOM, [rec(1)])
    report = store.verify()
    assert report.ok
    assert [w.code for w in report.warnings] == ["unsigned_tail"]


# -- media ----------------------------------------------------------------------------------------
def test_media_round_trip_and_verify(open_store: Any) -> None:
    store = open_store()
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    media = store.put_media(data, "写真.png", "image/png")
    assert media == {"sha256": hashlib.sha256(data).hexdigest(), "name": "写真.png",
                     "mimetype": "image/png", "size": len(data)}
    assert store.put_media(data, "copy.png", "image/png")["sha256"] == media["sha256"]
    store.append(ROOM, [rec(1, kind="media", msgtype="m.image", body="写真.png", media=media)])
    assert store.get_media(media["sha256"]) == data
    report = store.verify()
    assert report.ok and report.media == 1
    blob = f"media/{media['sha256'][:2]}/{media['sha256'][2:4]}/{media['sha256']}"
    write_raw(store, _blob_location(store, blob), data + b"x")
    report = store.verify()
    p = problem(report, "media_corrupt")
    assert p.event_id == "$ev1" and p.room_id == ROOM


def test_missing_media_is_named(open_store: Any) -> None:
    store = open_store()
    media = store.put_media(b"pdf bytes", "議事録.pdf", "application/pdf")
    store.append(ROOM, [rec(1, kind="media", media=media)])
    delete_raw(store, _blob_location(store, f"media/{media['sha256'][:2]}/"
                                            f"{media['sha256'][2:4]}/{media['sha256']}"))
    p = problem(store.verify(), "media_missing")
    assert p.event_id == "$ev1" and p.seq == 1


# -- crash safety ---------------------------------------------------------------------------------
def test_torn_last_line_detected_then_recovered(kind: str, open_store: Any) -> None:
    store = _five(open_store)
    last = locations(store)[-1]
    torn = canonical(dict(list(store.read(ROOM))[-1]))[:40]  # half a record, no newline
    write_raw(store, last, read_raw(store, last) + torn)
    report = store.verify()
    p = problem(report, "truncated")
    assert p.location == last and p.line == 6 and p.seq == 6
    assert [r["seq"] for r in store.read(ROOM)] == [1, 2, 3, 4, 5]  # torn line never acked
    if kind == "s3":
        return  # objects are written whole; a torn object can only be tampering: stays flagged
    reopened = open_store()
    (six,) = reopened.append(ROOM, [rec(6)])
    assert six["seq"] == 6 and six["prev_hash"] == list(reopened.read(ROOM))[4]["hash"]
    report = reopened.verify()
    assert report.ok, [str(x) for x in report.problems]
    warn = [w for w in report.warnings if w.code == "torn_tail_recovered"]
    assert warn and "partial" in warn[0].detail
    sidecars = list((reopened.root / "rooms").rglob("*.partial-*"))
    assert len(sidecars) == 1 and sidecars[0].read_bytes() == torn


def _safe(room_id: str) -> str:
    from appservice.lib.archive.layout import encode_room

    return encode_room(room_id)


def _blob_location(store: ArchiveStore, name: str) -> str:
    prefix = getattr(store.backend, "prefix", "")
    return f"{prefix}{name}"


def test_segments_roll_by_size(open_store: Any) -> None:
    store = open_store(segment_max_bytes=2000)
    store.append(ROOM, [rec(i) for i in range(10)])
    assert len(store.segments(ROOM)) >= 4
    assert store.verify().ok


def test_disposal_kind_is_not_for_rooms(open_store: Any) -> None:
    with pytest.raises(ValueError, match="dispose"):
        open_store().append(ROOM, [rec(1, kind="disposal")])


def test_threads_share_one_store(open_store: Any) -> None:
    import threading

    store = open_store(checkpoint_every=7)
    def worker(base: int) -> None:
        for i in range(base, base + 10):
            store.append(ROOM if i % 2 else OTHER_ROOM, [rec(i)])
    threads = [threading.Thread(target=worker, args=(n * 100,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert len(list(store.read(ROOM))) + len(list(store.read(OTHER_ROOM))) == 40
    report = store.verify()
    assert report.ok and not report.warnings
