"""Retention lifecycle: which segments are past retention, and approved, recorded disposal.

Disposal is never silent: the disposal record (what, when, who approved, why, the sha256 and
the chain hashes of what was removed) is chained into the separate disposal log and signed
*before* anything is deleted.  Verify then explains the gap in the room's chain from that log.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from . import layout
from .record import Record, iso_utc
from .retention import RetentionPolicy, is_due, jst_date, retention_expiry
from .store import check_matrix_user

if TYPE_CHECKING:
    from .store import ArchiveStore

log = structlog.get_logger(__name__)

_CLOCK_SKEW = timedelta(minutes=5)


class DisposalRefused(ValueError):
    """Raised instead of deleting anything."""


@dataclass(frozen=True)
class DueSegment:
    room_id: str
    segment: str
    first_seq: int
    last_seq: int
    records: int
    oldest: date
    newest: date
    expires: date  # first day disposal is allowed (the day after 保存期間満了日)
    policy: RetentionPolicy


@dataclass
class DisposalResult:
    room_id: str
    segments: list[DueSegment]
    media: list[str]
    dry_run: bool
    record: Record | None = None
    leftovers: list[str] = field(default_factory=list)


@dataclass
class _Scan:
    name: str
    locations: list[str] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int = 0
    records: int = 0
    oldest: date | None = None
    newest: date | None = None
    prev_hash: str | None = None
    last_hash: str | None = None
    nbytes: int = 0
    sha256: str = ""
    media: set[str] = field(default_factory=set)
    room_name: str | None = None


def _scan(store: ArchiveStore, name: str) -> _Scan:
    s = _Scan(name)
    digest = hashlib.sha256()
    for line in store.backend.read_log(name):
        digest.update(line.data)
        s.nbytes += len(line.data)
        if line.location not in s.locations:
            s.locations.append(line.location)
        try:
            d = json.loads(line.data)
        except ValueError:
            continue  # verify (run before any disposal) reports it
        day = jst_date(d["ts_jst"])
        s.records += 1
        if s.first_seq is None:
            s.first_seq, s.prev_hash = d["seq"], d["prev_hash"]
        s.last_seq, s.last_hash = d["seq"], d["hash"]
        s.oldest = day if s.oldest is None else min(s.oldest, day)
        s.newest = day if s.newest is None else max(s.newest, day)
        s.room_name = d.get("room_name") or s.room_name
        media = d.get("media")
        if media and media.get("sha256"):
            s.media.add(media["sha256"])
    s.sha256 = digest.hexdigest()
    return s


def _disposed_names(store: ArchiveStore, room_id: str) -> set[str]:
    return {r.get("name", "") for r in store.disposed_ranges(room_id)}


def unmanaged_rooms(store: ArchiveStore) -> list[str]:
    """Rooms without a retention policy: never due, listed so someone sets one."""
    return [r for r in store.rooms() if store.policy(r) is None]


def due(store: ArchiveStore, now: datetime | None = None, *, room_id: str | None = None
        ) -> list[DueSegment]:
    """Segments whose newest record is past retention (翌年度4月1日起算) as of ``now``."""
    now = now or datetime.now(UTC)
    out: list[DueSegment] = []
    for room in [room_id] if room_id else store.rooms():
        policy = store.policy(room)
        if policy is None:
            continue
        gone = _disposed_names(store, room)
        for name in store.segments(room):
            if name in gone:
                continue
            s = _scan(store, name)
            if s.newest is None or s.oldest is None or s.first_seq is None:
                continue
            if is_due(s.newest, policy.years, now):
                out.append(DueSegment(room, name, s.first_seq, s.last_seq, s.records, s.oldest,
                                      s.newest, retention_expiry(s.newest, policy.years), policy))
    return out


def _referenced_elsewhere(store: ArchiveStore, skip: set[str]) -> set[str]:
    refs: set[str] = set()
    for room in store.rooms():
        gone = _disposed_names(store, room)
        for name in store.segments(room):
            if name in skip or name in gone:
                continue
            for line in store.backend.read_log(name):
                if b'"sha256"' not in line.data:
                    continue  # cheap pre-filter: most records carry no media
                try:
                    media = json.loads(line.data).get("media")
                except ValueError:
                    continue
                if media and media.get("sha256"):
                    refs.add(media["sha256"])
    return refs


def dispose(
    store: ArchiveStore,
    room_id: str,
    approved_by: str,
    reason: str,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
) -> DisposalResult:
    """Dispose of a room's due segments, with an approver, leaving a disposal record."""
    try:
        check_matrix_user(approved_by, "approved_by")
    except ValueError as exc:
        raise DisposalRefused(f"承認者が必要です / {exc}") from None
    reason = (reason or "").strip()
    if not reason:
        raise DisposalRefused("廃棄理由が必要です / a reason is required")
    wall = datetime.now(UTC)
    now = now or wall
    if now > wall + _CLOCK_SKEW:
        # "now" is a parameter for testing/planning, but it must never let anyone dispose of
        # records early by claiming a future date.
        raise DisposalRefused("cannot dispose as of a future date")
    with store.backend.lock():
        store.forget(room_id)
        gone = _disposed_names(store, room_id)
        leftovers = [n for n in store.segments(room_id) if n in gone]
        items = due(store, now, room_id=room_id)
        if not items and not leftovers:
            raise DisposalRefused(f"保存期間が満了した記録はありません / nothing due in {room_id}")
        for d in items:
            held = store.backend.locked_until(d.segment)
            if held is not None and held > wall:
                # Check before writing the disposal record: a record claiming a removal that
                # the object store then refuses would be false.
                raise DisposalRefused(f"{d.segment} is under Object Lock until {held.isoformat()}")
        scans = [_scan(store, d.segment) for d in items]
        media: list[str] = []
        if items:
            report = store.verify(room_id)
            if not report.ok:
                # Never destroy records whose integrity is in question: that is evidence.
                first = "; ".join(str(p) for p in report.problems[:3])
                raise DisposalRefused(f"verify failed, disposal refused: {first}")
            candidates = set().union(*(s.media for s in scans))
            keep = _referenced_elsewhere(store, {d.segment for d in items})
            media = sorted(candidates - keep)
        result = DisposalResult(room_id, items, media, dry_run, leftovers=leftovers)
        if dry_run:
            return result
        if items:
            result.record = store.append_disposal(
                _disposal_record(store, room_id, approved_by, reason, now, wall, items, scans,
                                 media))
        for name in leftovers + [d.segment for d in items]:
            store.backend.delete_log(name)
        for sha in media + _pending_media(store):
            store.backend.delete_blob(layout.media_blob(sha))
        store.forget(room_id)
    log.warning("archive.disposed", room_id=room_id, segments=len(items),
                records=sum(d.records for d in items), media=len(media),
                approved_by=approved_by, leftovers=len(leftovers))
    return result


def _pending_media(store: ArchiveStore) -> list[str]:
    """Media listed in earlier disposal records but still present (interrupted disposal)."""
    listed = {m["sha256"] for rec in store.disposal_records()
              for m in (rec.get("disposal") or {}).get("media", [])}
    present = [sha for sha in listed if store.get_media(sha) is not None]
    if not present:
        return []
    return sorted(set(present) - _referenced_elsewhere(store, set()))


def _disposal_record(
    store: ArchiveStore, room_id: str, approved_by: str, reason: str, now: datetime,
    wall: datetime, items: list[DueSegment], scans: list[_Scan], media: list[str],
) -> dict[str, Any]:
    sizes = {}
    for sha in media:
        blob = store.get_media(sha)
        sizes[sha] = len(blob) if blob is not None else None
    segments = [{
        "name": d.segment, "locations": s.locations, "first_seq": s.first_seq,
        "last_seq": s.last_seq, "records": s.records, "prev_hash": s.prev_hash,
        "last_hash": s.last_hash, "sha256": s.sha256, "bytes": s.nbytes,
        "oldest_jst": d.oldest.isoformat(), "newest_jst": d.newest.isoformat(),
        "expires": d.expires.isoformat(),
    } for d, s in zip(items, scans, strict=True)]
    room_name = next((s.room_name for s in reversed(scans) if s.room_name), None)
    return {
        "event_id": f"disposal:{uuid.uuid4()}",
        "room_id": room_id,
        "room_name": room_name,
        "ts": wall,
        "sender": approved_by,
        "kind": "disposal",
        "body": reason,
        "disposal": {
            "approved_by": approved_by,
            "reason": reason,
            "as_of": iso_utc(now),
            "policy": items[0].policy.as_dict(),
            "rule": "保存期間は作成年度の翌年度4月1日起算 (from April 1 after the creation FY)",
            "segments": segments,
            "media": [{"sha256": sha, "size": sizes[sha]} for sha in media],
            "backend": store.backend.description,
        },
    }
