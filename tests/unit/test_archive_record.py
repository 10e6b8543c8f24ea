"""Record model, canonical form, room-name encoding."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from datetime import UTC, datetime

import pytest

from appservice.lib.archive import GENESIS, Record, canonical, dedup_key, make_record, record_hash
from appservice.lib.archive.chain import link
from appservice.lib.archive.layout import decode_room, encode_room


def test_canonical_is_sorted_compact_utf8() -> None:
    assert canonical({"b": 1, "a": "日本", "c": None}) == '{"a":"日本","b":1,"c":null}'.encode()


def test_make_record_fills_every_field() -> None:
    r = make_record({"event_id": "$e", "kind": "message", "ts": 0, "body": "x"}, room_id="!r:x")
    assert r["ts_utc"] == "1970-01-01T00:00:00.000+00:00"
    assert r["ts_jst"] == "1970-01-01T09:00:00.000+09:00"
    assert r["room_id"] == "!r:x" and r["encrypted"] is False and r["media"] is None
    assert "seq" not in r and "hash" not in r


def test_make_record_accepts_datetimes_and_strips_chain_fields() -> None:
    r = make_record({"event_id": "$e", "kind": "notice", "seq": 99, "hash": "x",
                     "ts": datetime(2024, 4, 1, tzinfo=UTC)})
    assert r["ts_jst"] == "2024-04-01T09:00:00.000+09:00" and "seq" not in r


@pytest.mark.parametrize("bad", [
    {"event_id": "$e", "kind": "message"},  # no timestamp
    {"event_id": "", "kind": "message", "ts": 0},
    {"event_id": "$e", "kind": "reaction", "ts": 0},
    {"event_id": "$e", "kind": "message", "ts": 0, "unsigned": {}},
    {"event_id": "$e", "kind": "message", "ts": 0, "media": {"sha256": "a", "url": "mxc://"}},
    {"event_id": "$e", "kind": "message", "ts": datetime(2024, 1, 1)},  # naive
    {"event_id": "$e", "kind": "message", "ts": 0, "disposal": {}},
])
def test_make_record_rejects(bad: dict) -> None:
    with pytest.raises(ValueError):
        make_record(bad)


def test_lone_surrogates_are_replaced() -> None:
    r = make_record({"event_id": "$e", "kind": "message", "ts": 0, "body": "a\ud800b"})
    assert r["body"] == "a\ufffdb"
    canonical(r)  # encodable


def test_hash_formula_and_frozen_record() -> None:
    r = link(make_record({"event_id": "$e", "kind": "message", "ts": 0}), seq=1,
             prev_hash=GENESIS)
    body = {k: v for k, v in r.items() if k != "hash"}
    assert r["hash"] == hashlib.sha256(GENESIS.encode() + canonical(body)).hexdigest()
    assert r["hash"] == record_hash(GENESIS, r)
    assert isinstance(r, Record) and isinstance(r, dict)
    for mutate in (lambda: r.__setitem__("body", "x"), lambda: r.update(body="x"),
                   lambda: r.pop("body"), lambda: r.clear()):
        with pytest.raises(TypeError):
            mutate()
    assert copy.deepcopy(r) == r and pickle.loads(pickle.dumps(r)) == r
    assert json.loads(json.dumps(r)) == r
    assert r.thaw() == r and type(r.thaw()) is dict


def test_dedup_key_distinguishes_edit_targets() -> None:
    base = {"event_id": "$e", "ts": 0}
    assert dedup_key({**base, "kind": "message"}) != dedup_key({**base, "kind": "notice"})
    e1 = {**base, "kind": "edit", "relates_to": {"event_id": "$a"}}
    e2 = {**base, "kind": "edit", "relates_to": {"event_id": "$b"}}
    assert dedup_key(e1) != dedup_key(e2)
    r1 = {**base, "kind": "redaction", "redacts": "$a"}
    assert dedup_key(r1) != dedup_key({**r1, "redacts": "$b"})


@pytest.mark.parametrize("room", [
    "!abc:example.org", "!ABC:example.org", "!OGEhHVWSdvArJzumhm:matrix.org",
    "!部屋:市役所.jp", "!with_underscore/slash:x", "!hash-only-room-v12",
])
def test_room_names_are_reversible_and_safe(room: str) -> None:
    name = encode_room(room)
    assert decode_room(name) == room
    assert name == name.lower() and "/" not in name and ":" not in name
    assert encode_room(room.upper()) != name or room == room.upper()


def test_very_long_room_id_uses_digest() -> None:
    name = encode_room("!" + "A" * 300 + ":x")
    assert name.startswith("h_") and len(name) < 100 and decode_room(name) is None


# -- [trust] the sender-chosen origin_server_ts is bounded by the time Yakuba received it ---------

RECEIVED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
MS_RECEIVED = int(RECEIVED.timestamp() * 1000)
MS_9999 = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("claimed", [10**18, -5, MS_9999, 0, 946_684_799_999, MS_RECEIVED + 5 * 60_000 + 1,
                                     -(10**30), 10**30])
def test_out_of_window_ts_is_replaced_by_received_at(claimed: int) -> None:
    r = make_record({"event_id": "$e", "kind": "message", "ts": claimed, "received_at": RECEIVED})
    assert r["ts_utc"] == r["received_at"] == "2026-11-25T03:00:00.000+00:00"
    assert r["ts_jst"].startswith("2026-11-25T12:00")
    assert r["ts_claimed"] is not None
    canonical(r)  # storable


@pytest.mark.parametrize("claimed", [946_684_800_000, MS_RECEIVED - 86_400_000 * 365 * 3, MS_RECEIVED,
                                     MS_RECEIVED + 5 * 60_000])
def test_in_window_ts_is_kept(claimed: int) -> None:
    r = make_record({"event_id": "$e", "kind": "message", "ts": claimed, "received_at": RECEIVED})
    assert r["ts_utc"] == datetime.fromtimestamp(claimed / 1000, UTC).isoformat(timespec="milliseconds")
    assert r["received_at"] == "2026-11-25T03:00:00.000+00:00" and r["ts_claimed"] is None


def test_ts_claimed_keeps_what_the_sender_said() -> None:
    r = make_record({"event_id": "$e", "kind": "message", "ts": MS_9999, "received_at": RECEIVED})
    assert r["ts_claimed"] == MS_9999
    big = make_record({"event_id": "$e", "kind": "message", "ts": 10**18, "received_at": RECEIVED})
    assert big["ts_claimed"] == "1000000000000000000"
    huge = make_record({"event_id": "$e", "kind": "message", "ts": 10**30, "received_at": RECEIVED})
    assert huge["ts_claimed"] == str(10**30)  # beyond what JSON readers hold exactly: as text


def test_received_at_is_optional_and_must_be_a_moment() -> None:
    r = make_record({"event_id": "$e", "kind": "message", "ts": 0})
    assert r["received_at"] is None and r["ts_claimed"] is None and r["ts_jst"].startswith("1970")
    with pytest.raises(ValueError):
        make_record({"event_id": "$e", "kind": "message", "ts": 0, "received_at": "yesterday"})
    with pytest.raises(ValueError):  # without received_at, an impossible ts is a ValueError, not a crash
        make_record({"event_id": "$e", "kind": "message", "ts": 10**18})


def test_a_stored_record_made_again_keeps_its_dates() -> None:
    r = make_record({"event_id": "$e", "kind": "message", "ts": MS_9999, "received_at": RECEIVED})
    again = make_record(r)
    assert again == r
    with pytest.raises(ValueError):
        make_record({**r, "ts_claimed": {"x": 1}})
