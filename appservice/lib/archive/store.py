"""The archive store: chaining, idempotency, segments, checkpoints and media over a backend.

Single writer per archive (the retention bot); readers (verify/export CLI) may run alongside.
On the fs backend a CLI ``dispose`` can also run while the bot writes: both take the
backend lock, and the bot notices the disposal (``generation``) and reloads its room state.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import structlog

from . import layout
from .backend import Backend, LogLine
from .chain import GENESIS, line_of, link
from .fs_backend import FsBackend
from .record import Record, canonical, dedup_key, freeze, iso_utc, make_record
from .retention import RetentionPolicy, expiry_datetime, fiscal_year, jst_date
from .signing import load_private_key, load_public_keys, public_path, sign

log = structlog.get_logger(__name__)

MATRIX_USER = re.compile(r"^@[^:\s]+:\S+$")
DEFAULT_KEY_NAME = "archive-ed25519.key"
_RECENT = 4096  # recently appended records kept to answer duplicate appends without a read
_DISPOSAL_LOG_YEARS = 30  # Object Lock on the disposal log itself: it is the 廃棄 evidence


class ArchiveError(RuntimeError):
    pass


class ArchiveCorrupt(ArchiveError):
    pass


@dataclass
class SegmentInfo:
    name: str
    first_seq: int
    last_seq: int = 0
    count: int = 0
    nbytes: int = 0
    max_fy: int | None = None
    newest: date | None = None


@dataclass
class RoomState:
    room_id: str
    segments: list[SegmentInfo]
    last_seq: int
    last_hash: str
    checkpoint_seq: int
    policy: RetentionPolicy | None
    keys: dict[bytes, int] = field(default_factory=dict)
    media: dict[str, date] = field(default_factory=dict)
    recent: OrderedDict[int, Record] = field(default_factory=OrderedDict)


def _digest(key: str) -> bytes:
    # 16-byte digests instead of full keys: the idempotency index stays ~100 B/record.
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()


def check_room_id(room_id: str) -> None:
    if not isinstance(room_id, str) or not room_id.startswith("!") or len(room_id) < 2:
        raise ValueError(f"not a Matrix room ID: {room_id!r}")


def check_matrix_user(user_id: str, what: str) -> None:
    if not isinstance(user_id, str) or not MATRIX_USER.match(user_id):
        raise ValueError(f"{what} must be a Matrix user ID like @admin:example.jp")


class ArchiveStore:
    def __init__(
        self,
        root: Path | str = "var/archive",
        *,
        backend: Backend | None = None,
        signing_key: Path | str | None = None,
        public_keys: Iterable[Path | str] = (),
        checkpoint_every: int = 1000,
        segment_max_records: int = 10_000,
        segment_max_bytes: int = 8 * 1024 * 1024,
        default_lock_policy: RetentionPolicy | None = None,
    ) -> None:
        self.root = Path(root)
        self.backend: Backend = backend if backend is not None else FsBackend(self.root)
        self.signing_key = (
            Path(signing_key) if signing_key else self.root / "keys" / DEFAULT_KEY_NAME
        )
        self._extra_public = [Path(p) for p in public_keys]
        self.checkpoint_every = checkpoint_every
        self.segment_max_records = segment_max_records
        self.segment_max_bytes = segment_max_bytes
        # Object Lock for rooms that have no policy yet: the legal minimum (1 year).
        self.default_lock_policy = default_lock_policy or RetentionPolicy(1)
        self._rooms: dict[str, RoomState] = {}
        self._gen: object = self.backend.generation()
        self._private: Any = None
        self._disposal_cache: list[Record] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> ArchiveStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Sign a final checkpoint for every room written in this session."""
        if self._private is not None or self.signing_key.exists():
            self.checkpoint()
        self.backend.close()

    def public_keys(self) -> dict[str, Any]:
        keydir = self.root / "keys"
        paths = [public_path(self.signing_key), *self._extra_public]
        if keydir.is_dir():
            paths.extend(sorted(keydir.glob("*.pub")))
        return load_public_keys(paths)

    def _signer(self) -> Any:
        if self._private is None:
            if not self.signing_key.exists():
                raise ArchiveError(
                    f"archive signing key {self.signing_key} missing: run `yakuba archive init`"
                )
            self._private = load_private_key(self.signing_key)
        return self._private

    # -- reading ---------------------------------------------------------------------------------
    def rooms(self) -> list[str]:
        """Rooms that have segments or a policy in this archive."""
        found: dict[str, str] = {}
        for name in self.backend.list_logs(layout.ROOMS):
            safe = name[len(layout.ROOMS) :].split("/", 1)[0]
            if safe in found:
                continue
            room = layout.decode_room(safe) or self._room_from_log(name)
            if room:
                found[safe] = room
        return sorted(found.values())

    def _room_from_log(self, name: str) -> str | None:
        for line in self.backend.read_log(name):
            try:
                return str(json.loads(line.data)["room_id"])
            except (ValueError, KeyError):
                continue
        return None

    def segments(self, room_id: str) -> list[str]:
        prefix = layout.room_prefix(room_id)
        names = [n for n in self.backend.list_logs(prefix) if layout.segment_first_seq(n)]
        return sorted(names, key=lambda n: layout.segment_first_seq(n) or 0)

    def iter_lines(self, room_id: str) -> Iterator[LogLine]:
        for name in self.segments(room_id):
            yield from self.backend.read_log(name)

    def read(self, room_id: str) -> Iterator[Record]:
        """All stored records of a room in order.  Corruption raises; a torn tail is skipped
        (it was never acknowledged to the writer)."""
        for line in self.iter_lines(room_id):
            if not line.data.endswith(b"\n"):
                continue
            try:
                yield Record.from_json(line.data)
            except ValueError as exc:
                raise ArchiveCorrupt(
                    f"{line.location}:{line.line_no} is not a record; run `yakuba archive verify`"
                ) from exc

    def get_media(self, sha256: str) -> bytes | None:
        return self.backend.get_blob(layout.media_blob(sha256))

    def policy(self, room_id: str) -> RetentionPolicy | None:
        last = None
        for line in self.backend.read_log(layout.policy_log(room_id)):
            try:
                last = RetentionPolicy.from_dict(json.loads(line.data)["policy"])
            except (ValueError, KeyError, TypeError):
                continue
        return last

    def disposal_records(self) -> list[Record]:
        if self._disposal_cache is None:
            out = []
            for line in self.backend.read_log(layout.DISPOSAL_LOG):
                try:
                    out.append(Record.from_json(line.data))
                except ValueError:
                    continue  # verify reports it; here we only need the good entries
            self._disposal_cache = out
        return self._disposal_cache

    def disposed_ranges(self, room_id: str) -> list[dict[str, Any]]:
        """Segments removed by disposal: first_seq, last_seq, prev_hash, last_hash, ..."""
        ranges = []
        for rec in self.disposal_records():
            if rec.get("room_id") != room_id or not rec.get("disposal"):
                continue
            ranges.extend(rec["disposal"].get("segments", []))
        return sorted(ranges, key=lambda r: r["first_seq"])

    # -- room state ------------------------------------------------------------------------------
    def _state(self, room_id: str) -> RoomState:
        gen = self.backend.generation()
        if gen != self._gen:
            self._rooms.clear()
            self._disposal_cache = None
            self._gen = gen
        st = self._rooms.get(room_id)
        if st is None:
            st = self._load(room_id)
            self._rooms[room_id] = st
        return st

    def _load(self, room_id: str) -> RoomState:
        names = self.segments(room_id)
        if names:
            side = self.backend.repair_tail(names[-1])
            if side:
                self._incident(room_id, names[-1], side)
        last_seq, last_hash = 0, GENESIS
        for rng in self.disposed_ranges(room_id):
            if rng["last_seq"] > last_seq:
                last_seq, last_hash = rng["last_seq"], rng["last_hash"]
        st = RoomState(room_id, [], last_seq, last_hash, 0, self.policy(room_id))
        for name in names:
            info = SegmentInfo(name, layout.segment_first_seq(name) or 0)
            for line in self.backend.read_log(name):
                info.nbytes += len(line.data)
                try:
                    d = json.loads(line.data)
                    seq = int(d["seq"])
                except (ValueError, KeyError, TypeError):
                    log.warning("archive.unreadable_line", location=line.location,
                                line=line.line_no)
                    continue
                self._track(st, info, d, seq)
            st.segments.append(info)
        st.checkpoint_seq = self._last_checkpoint_seq(room_id)
        log.debug("archive.room_loaded", room_id=room_id, segments=len(names),
                  last_seq=st.last_seq)
        return st

    def _track(self, st: RoomState, info: SegmentInfo, d: Mapping[str, Any], seq: int) -> None:
        info.count += 1
        info.last_seq = max(info.last_seq, seq)
        day = jst_date(str(d["ts_jst"]))
        fy = fiscal_year(day)
        info.max_fy = fy if info.max_fy is None else max(info.max_fy, fy)
        info.newest = day if info.newest is None else max(info.newest, day)
        st.keys[_digest(dedup_key(d))] = seq
        media = d.get("media")
        if media and media.get("sha256"):
            sha = media["sha256"]
            st.media[sha] = max(st.media.get(sha, day), day)
        if seq > st.last_seq:
            st.last_seq, st.last_hash = seq, str(d["hash"])

    def _last_checkpoint_seq(self, room_id: str) -> int:
        seq = 0
        for line in self.backend.read_log(layout.checkpoint_log(room_id)):
            try:
                seq = max(seq, int(json.loads(line.data)["seq"]))
            except (ValueError, KeyError, TypeError):
                continue
        return seq

    def _incident(self, room_id: str, segment: str, kept_at: str) -> None:
        entry = {"type": "torn_tail", "room_id": room_id, "segment": segment,
                 "kept_at": kept_at, "time": iso_utc(datetime.now(UTC))}
        self.backend.append_log(layout.incidents_log(room_id), canonical(entry) + b"\n")

    def incidents(self, room_id: str) -> list[dict[str, Any]]:
        out = []
        for line in self.backend.read_log(layout.incidents_log(room_id)):
            try:
                out.append(json.loads(line.data))
            except ValueError:
                continue
        return out

    def _lock_until(self, st: RoomState, newest: date) -> datetime | None:
        if not self.backend.enforces_retention:
            return None
        policy = st.policy or self.default_lock_policy
        return expiry_datetime(newest, policy.years)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, room_id: str, records: Iterable[Mapping[str, Any]]) -> list[Record]:
        """Chain and store ``records`` durably; returns them (or the already stored copy for
        duplicates) in input order.  Durable when this returns."""
        check_room_id(room_id)
        prepared = [make_record(r, room_id=room_id) for r in records]
        if any(r["kind"] == "disposal" for r in prepared):
            raise ValueError("disposal records belong to the disposal log: use dispose()")
        if not prepared:
            return []
        signer = self._signer()  # fail before writing anything if checkpoints can't be signed
        with self.backend.lock():
            st = self._state(room_id)
            try:
                out = self._append_locked(st, prepared)
                if st.last_seq - st.checkpoint_seq >= self.checkpoint_every:
                    self._write_checkpoint(st, signer)
            except BaseException:
                # A failed write may leave a torn tail: reload (and repair) before the next one.
                self._rooms.pop(room_id, None)
                raise
        return out

    def _append_locked(self, st: RoomState, prepared: list[dict[str, Any]]) -> list[Record]:
        out: list[Record] = []
        fresh: list[Record] = []
        in_batch: dict[bytes, Record] = {}
        seq, prev = st.last_seq, st.last_hash
        for rec in prepared:
            key = _digest(dedup_key(rec))
            if key in in_batch:
                out.append(in_batch[key])
            elif key in st.keys:
                out.append(self._existing(st, st.keys[key]))
            else:
                seq += 1
                linked = link(rec, seq=seq, prev_hash=prev)
                prev = linked.hash
                in_batch[key] = linked
                fresh.append(linked)
                out.append(linked)
        if fresh:
            self._write(st, fresh)
            log.debug("archive.appended", room_id=st.room_id, stored=len(fresh),
                      duplicates=len(out) - len(fresh), last_seq=st.last_seq)
        return out

    def _write(self, st: RoomState, fresh: list[Record]) -> None:
        seg = st.segments[-1] if st.segments else None
        group: list[tuple[Record, bytes, date]] = []
        group_bytes = 0
        for rec in fresh:
            line = line_of(rec)
            day = jst_date(str(rec["ts_jst"]))
            pending_count = (seg.count if seg else 0) + len(group)
            pending_bytes = (seg.nbytes if seg else 0) + group_bytes
            roll = (
                seg is None
                or pending_count >= self.segment_max_records
                or (pending_count and pending_bytes + len(line) > self.segment_max_bytes)
                # One fiscal year per segment (stragglers aside), so whole segments fall due
                # together and disposal never has to split a file.
                or (seg.max_fy is not None and fiscal_year(day) > seg.max_fy)
            )
            if roll:
                if seg is not None and group:
                    self._flush(st, seg, group)
                seg = SegmentInfo(layout.segment_log(st.room_id, rec.seq), rec.seq)
                group, group_bytes = [], 0
            group.append((rec, line, day))
            group_bytes += len(line)
            if seg is not None and seg.max_fy is None:
                seg.max_fy = fiscal_year(day)
        if seg is not None and group:
            self._flush(st, seg, group)

    def _flush(self, st: RoomState, seg: SegmentInfo, group: list[tuple[Record, bytes, date]]
               ) -> None:
        newest = max(day for _, _, day in group)
        self.backend.append_log(
            seg.name, b"".join(line for _, line, _ in group),
            retain_until=self._lock_until(st, newest),
        )
        if not st.segments or st.segments[-1] is not seg:
            st.segments.append(seg)
            seg.max_fy = None  # recomputed from what was actually written, below
        for rec, line, _day in group:
            self._track(st, seg, rec, rec.seq)
            seg.nbytes += len(line)
            st.recent[rec.seq] = rec
        while len(st.recent) > _RECENT:
            st.recent.popitem(last=False)
        if self.backend.enforces_retention:
            for rec, _, day in group:
                media = rec.get("media")
                if media and media.get("sha256"):
                    until = self._lock_until(st, day)
                    if until:
                        self.backend.extend_retention(
                            layout.media_blob(media["sha256"]), until, blob=True)

    def _existing(self, st: RoomState, seq: int) -> Record:
        rec = st.recent.get(seq)
        if rec is not None:
            return rec
        firsts = [s.first_seq for s in st.segments]
        idx = bisect.bisect_right(firsts, seq) - 1
        for seg in st.segments[max(idx, 0) :]:
            for line in self.backend.read_log(seg.name):
                try:
                    d = json.loads(line.data)
                except ValueError:
                    continue
                if d.get("seq") == seq:
                    return freeze(d)
        raise ArchiveCorrupt(f"record seq {seq} of {st.room_id} is indexed but unreadable")

    def put_media(self, data: bytes, name: str, mimetype: str) -> dict[str, Any]:
        """Store a blob content-addressed; returns the record's ``media`` field."""
        sha = hashlib.sha256(data).hexdigest()
        # No Object Lock yet: the blob's retention follows the records that reference it and is
        # set when they are appended (a backfilled 2019 record must not lock it until 2028).
        created = self.backend.put_blob(layout.media_blob(sha), data)
        log.debug("archive.media_stored", sha256=sha, size=len(data), created=created)
        return {"sha256": sha, "name": name, "mimetype": mimetype, "size": len(data)}

    # -- checkpoints -----------------------------------------------------------------------------
    def checkpoint(self, room_id: str | None = None) -> list[dict[str, Any]]:
        """Sign the current head of one room (or of every room written in this session)."""
        signer = self._signer()
        written = []
        with self.backend.lock():
            states = [self._state(room_id)] if room_id else list(self._rooms.values())
            for st in states:
                if st.last_seq > st.checkpoint_seq:
                    written.append(self._write_checkpoint(st, signer))
        return written

    def _write_checkpoint(self, st: RoomState, signer: Any) -> dict[str, Any]:
        payload = {"type": "checkpoint", "room_id": st.room_id, "seq": st.last_seq,
                   "hash": st.last_hash, "time": iso_utc(datetime.now(UTC))}
        signed = sign(signer, payload)
        newest = st.segments[-1].newest if st.segments and st.segments[-1].newest else None
        until = self._lock_until(st, newest) if newest else None
        self.backend.append_log(layout.checkpoint_log(st.room_id),
                                canonical(signed) + b"\n", retain_until=until)
        st.checkpoint_seq = st.last_seq
        log.info("archive.checkpoint", room_id=st.room_id, seq=st.last_seq)
        return signed

    def append_disposal(self, rec: Mapping[str, Any]) -> Record:
        """Chain a disposal record into the separate disposal log and sign its head.
        Caller holds the backend lock."""
        signer = self._signer()
        prepared = make_record(rec)
        prev_seq, prev_hash = 0, GENESIS
        for line in self.backend.read_log(layout.DISPOSAL_LOG):
            try:
                d = json.loads(line.data)
                prev_seq, prev_hash = int(d["seq"]), str(d["hash"])
            except (ValueError, KeyError, TypeError):
                raise ArchiveCorrupt(
                    f"disposal log unreadable at {line.location}:{line.line_no}") from None
        linked = link(prepared, seq=prev_seq + 1, prev_hash=prev_hash)
        until = None
        if self.backend.enforces_retention:
            until = datetime.now(UTC) + timedelta(days=365 * _DISPOSAL_LOG_YEARS)
        self.backend.append_log(layout.DISPOSAL_LOG, line_of(linked), retain_until=until)
        payload = {"type": "checkpoint", "room_id": "", "seq": linked.seq, "hash": linked.hash,
                   "time": iso_utc(datetime.now(UTC))}
        self.backend.append_log(layout.DISPOSAL_CHECKPOINTS,
                                canonical(sign(signer, payload)) + b"\n", retain_until=until)
        self._disposal_cache = None
        return linked

    def forget(self, room_id: str) -> None:
        """Drop cached state (after a disposal changed the room)."""
        self._rooms.pop(room_id, None)
        self._disposal_cache = None
        self._gen = self.backend.generation()

    # -- retention policy ------------------------------------------------------------------------
    def set_policy(self, room_id: str, policy: RetentionPolicy, *, set_by: str) -> None:
        """Record the room's retention policy (append-only: the history stays visible)."""
        check_room_id(room_id)
        check_matrix_user(set_by, "set_by")
        entry = {"room_id": room_id, "policy": policy.as_dict(), "set_by": set_by,
                 "time": iso_utc(datetime.now(UTC))}
        with self.backend.lock():
            self.backend.append_log(layout.policy_log(room_id), canonical(entry) + b"\n")
            st = self._state(room_id)
            st.policy = policy
            if self.backend.enforces_retention:
                # Object Lock can only be lengthened; a shorter policy keeps the longer lock.
                for seg in st.segments:
                    if seg.newest:
                        self.backend.extend_retention(
                            seg.name, expiry_datetime(seg.newest, policy.years))
                for sha, day in st.media.items():
                    self.backend.extend_retention(
                        layout.media_blob(sha), expiry_datetime(day, policy.years), blob=True)
        log.info("archive.policy_set", room_id=room_id, years=policy.years, set_by=set_by)

    # -- delegates (one module per job) ----------------------------------------------------------
    def verify(self, room_id: str | None = None) -> Any:
        from .verify import verify

        return verify(self, room_id)

    def export(self, room_id: str, start: date, end: date, fmt: str, out: BinaryIO,
               **kwargs: Any) -> int:
        from .export import export

        return export(self, room_id, start, end, fmt, out, **kwargs)

    def due(self, now: datetime | None = None) -> list[Any]:
        from .disposal import due

        return due(self, now)

    def dispose(self, room_id: str, approved_by: str, reason: str,
                now: datetime | None = None, *, dry_run: bool = False) -> Any:
        from .disposal import dispose

        return dispose(self, room_id, approved_by, reason, now, dry_run=dry_run)
