"""Tamper evidence: re-walk every chain, every checkpoint signature and every media blob.

Each problem names where it is (room, segment file or object key, line, seq, event_id) so a
records officer can find it.  Design notes:

* a record whose content changed is reported once ("modified"); its stored hash still links
  the next record, so one flipped byte gives one problem, not a cascade;
* a seq jump is a "removed" gap unless the disposal log explains it (and then the disposal's
  hashes must match the chain around the gap);
* a seq that goes backwards is "reordered" if it fills a gap, otherwise "inserted";
* a signed checkpoint beyond the last record means records were cut off the end.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from . import layout
from .backend import LogLine
from .chain import GENESIS, check_self_hash
from .signing import check

if TYPE_CHECKING:
    from .store import ArchiveStore

log = structlog.get_logger(__name__)

_EVENT_ID = re.compile(r'"event_id":"([^"]{1,255})"')


@dataclass(frozen=True)
class Problem:
    code: str
    room_id: str
    location: str | None
    line: int | None
    seq: int | None
    event_id: str | None
    detail: str

    def __str__(self) -> str:
        where = f"{self.location}:{self.line}" if self.line else (self.location or "-")
        return (f"[{self.code}] room={self.room_id or '-'} at={where} seq={self.seq} "
                f"event_id={self.event_id}: {self.detail}")


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rooms: int = 0
    records: int = 0
    checkpoints: int = 0
    media: int = 0
    signers: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        status = "OK（改ざんの痕跡なし）" if self.ok else f"NG（問題 {len(self.problems)} 件）"
        return (f"検証結果 / verify: {status}; rooms={self.rooms} records={self.records} "
                f"checkpoints={self.checkpoints} media={self.media} "
                f"warnings={len(self.warnings)} signer_keys={','.join(sorted(self.signers))}")


@dataclass
class _Seen:
    location: str
    line: int
    seq: int
    event_id: str | None
    hash: str


class ChainScanner:
    """Feeds raw lines of one chain in storage order and reports what does not fit."""

    def __init__(
        self,
        room_id: str,
        report: VerifyReport,
        *,
        gaps: Iterable[Mapping[str, Any]] = (),
        checkpoints: Mapping[int, list[tuple[Mapping[str, Any], str, int]]] | None = None,
    ) -> None:
        self.room_id = room_id
        self.report = report
        self.gaps = {int(g["first_seq"]): g for g in gaps}
        self.checkpoints = checkpoints or {}
        self.expected = 1
        self.prev = GENESIS
        self.prev_recomputed: str | None = None
        self.prev_seen: _Seen | None = None
        self.unknown_lines = 0
        self.missing: dict[int, tuple[int, str, int, str | None]] = {}
        self.duplicates: dict[str, int] = {}  # hash of an out-of-place record -> problem index
        self.max_seq = 0
        self.media_refs: dict[str, tuple[str, int, int, str | None]] = {}

    def _problem(self, code: str, where: LogLine | None, seq: int | None,
                 event_id: str | None, detail: str) -> int:
        self.report.problems.append(Problem(
            code, self.room_id, where.location if where else None,
            where.line_no if where else None, seq, event_id, detail))
        return len(self.report.problems) - 1

    def _unknown(self, line: LogLine, code: str, detail: str) -> None:
        # Name the record as well as we can: its position says which seq it should be, and the
        # event_id is usually still readable in the damaged bytes.
        self.unknown_lines += 1
        m = _EVENT_ID.search(line.data.decode("utf-8", "replace"))
        self._problem(code, line, self.expected + self.unknown_lines - 1,
                      m.group(1) if m else None, detail)

    def _consume_gaps(self, upto: int) -> None:
        """Skip disposed ranges that start at the expected seq (checking their linkage)."""
        while self.expected in self.gaps and self.expected < upto:
            gap = self.gaps[self.expected]
            if gap.get("prev_hash") != self.prev:
                self._problem("disposal_mismatch", None, self.expected, None,
                              "disposal log's prev_hash for this range does not match the chain")
            self.prev = str(gap.get("last_hash"))
            self.prev_recomputed = None
            self.expected = int(gap["last_seq"]) + 1

    def feed(self, line: LogLine) -> None:
        if not line.data.endswith(b"\n"):
            self._unknown(line, "truncated", f"partial last line ({len(line.data)} bytes): torn "
                          "write or truncated segment")
            return
        try:
            d = json.loads(line.data)
            seq = d["seq"]
            if not isinstance(seq, int) or not isinstance(d.get("hash"), str):
                raise ValueError("bad chain fields")
        except (ValueError, KeyError, TypeError):
            self._unknown(line, "unparseable", "line is not a valid record (damaged bytes?)")
            return
        self.report.records += 1
        event_id = d.get("event_id")
        intact, recomputed = check_self_hash(d)
        if seq > self.expected:
            self._consume_gaps(seq + 1)
        linked = d.get("prev_hash") in (self.prev, self.prev_recomputed)
        if not intact:
            shown: int | str = seq
            if linked and seq != self.expected:
                # Link intact but seq differs: the seq itself was edited.  Trust the position.
                shown, seq = f"{self.expected} (stored value says {seq})", self.expected
            self._problem("modified", line, seq, event_id,
                          f"content does not match its hash (record seq {shown} was changed)")
        if d.get("room_id") != self.room_id and self.room_id:
            self._problem("misplaced", line, seq, event_id,
                          f"record belongs to room {d.get('room_id')!r}")
        if seq == self.expected:
            if not linked and intact and self.unknown_lines == 0:
                self._chain_break(line, seq, event_id, d)
            self._accept(line, seq, event_id, d, recomputed)
        elif seq > self.expected:
            if seq - self.expected > self.unknown_lines:
                self.missing[self.expected] = (seq - 1, line.location, line.line_no, event_id)
            self._accept(line, seq, event_id, d, recomputed)
        else:
            self._backwards(line, seq, event_id, d)

    def _chain_break(self, line: LogLine, seq: int, event_id: str | None,
                     d: Mapping[str, Any]) -> None:
        idx = self.duplicates.pop(str(d.get("prev_hash")), None)
        if idx is not None and self.prev_seen is not None:
            # This record links to the one we took for a duplicate: that one was genuine and
            # the record we accepted before it was the insertion.  Re-attribute.
            s = self.prev_seen
            self.report.problems[idx] = Problem(
                "inserted", self.room_id, s.location, s.line, s.seq, s.event_id,
                "record is not part of the chain (forged or inserted line)")
            return
        self._problem("chain_break", line, seq, event_id,
                      "prev_hash does not match the record before it "
                      "(a record was replaced or inserted before this one)")

    def _backwards(self, line: LogLine, seq: int, event_id: str | None,
                   d: Mapping[str, Any]) -> None:
        for start, (end, loc, ln, _) in list(self.missing.items()):
            if start <= seq <= end:
                del self.missing[start]
                if start < seq:
                    self.missing[start] = (seq - 1, loc, ln, None)
                if seq < end:
                    self.missing[seq + 1] = (end, loc, ln, None)
                self._problem("reordered", line, seq, event_id,
                              f"record is out of order (appears after seq {self.expected - 1})")
                self._refs(line, seq, event_id, d)
                return
        idx = self._problem("inserted", line, seq, event_id,
                            f"seq {seq} appears again after seq {self.expected - 1} "
                            "(duplicated or inserted line)")
        self.duplicates[str(d.get("hash"))] = idx

    def _accept(self, line: LogLine, seq: int, event_id: str | None, d: Mapping[str, Any],
                recomputed: str) -> None:
        stored = str(d.get("hash"))
        for cp, cp_loc, cp_line in self.checkpoints.get(seq, []):
            if cp.get("hash") != stored:
                self._problem("checkpoint_mismatch", line, seq, event_id,
                              f"signed checkpoint at {cp_loc}:{cp_line} attests a different "
                              "hash for this record")
        self.expected = seq + 1
        self.prev = stored
        self.prev_recomputed = recomputed
        self.prev_seen = _Seen(line.location, line.line_no, seq, event_id, stored)
        self.unknown_lines = 0
        self.max_seq = max(self.max_seq, seq)
        self._refs(line, seq, event_id, d)

    def _refs(self, line: LogLine, seq: int, event_id: str | None, d: Mapping[str, Any]) -> None:
        media = d.get("media")
        if isinstance(media, Mapping) and isinstance(media.get("sha256"), str):
            self.media_refs.setdefault(media["sha256"], (line.location, line.line_no, seq,
                                                         event_id))

    def finish(self) -> None:
        self._consume_gaps(1 << 62)
        for start, (end, loc, ln, after_event) in sorted(self.missing.items()):
            span = f"seq {start}" if start == end else f"seq {start}..{end}"
            self._problem("removed", LogLine(loc, ln, b""), start, None,
                          f"{span} missing (gap before the record at this line, "
                          f"event_id {after_event}); not explained by the disposal log")
        top = max(self.max_seq, max((int(g["last_seq"]) for g in self.gaps.values()), default=0))
        for seq, cps in sorted(self.checkpoints.items()):
            if seq <= top:
                continue
            _cp, loc, ln = cps[0]
            self.report.problems.append(Problem(
                "removed", self.room_id, loc, ln, seq, None,
                f"signed checkpoint attests seq {seq} but the archive ends at seq {top}: "
                "records were cut off the end (truncated or deleted segment)"))
        for seq, cps in self.checkpoints.items():
            gap = next((g for g in self.gaps.values() if int(g["last_seq"]) == seq), None)
            if gap is not None and any(c.get("hash") != gap.get("last_hash") for c, _, _ in cps):
                self._problem("disposal_mismatch", None, seq, None,
                              "disposal log's last_hash differs from a signed checkpoint")


_Checkpoints = dict[int, list[tuple[Mapping[str, Any], str, int]]]


def _load_checkpoints(store: ArchiveStore, log_name: str, room_id: str, report: VerifyReport,
                      keys: Mapping[str, Any]) -> _Checkpoints:
    by_seq: _Checkpoints = {}
    for line in store.backend.read_log(log_name):
        try:
            cp = json.loads(line.data)
            seq = int(cp["seq"])
        except (ValueError, KeyError, TypeError):
            report.problems.append(Problem("bad_checkpoint", room_id, line.location,
                                           line.line_no, None, None, "checkpoint line unreadable"))
            continue
        report.checkpoints += 1
        why = check(keys, cp)
        if why is not None:
            report.problems.append(Problem("bad_signature", room_id, line.location,
                                           line.line_no, seq, None, f"checkpoint {why}"))
            continue
        if cp.get("room_id") != room_id:
            report.problems.append(Problem("bad_checkpoint", room_id, line.location,
                                           line.line_no, seq, None,
                                           "checkpoint is for a different room"))
            continue
        report.signers.add(str(cp.get("key_id"))[:16])
        by_seq.setdefault(seq, []).append((cp, line.location, line.line_no))
    return by_seq


def _verify_room(store: ArchiveStore, room_id: str, report: VerifyReport,
                 keys: Mapping[str, Any]) -> ChainScanner:
    cps = _load_checkpoints(store, layout.checkpoint_log(room_id), room_id, report, keys)
    ranges = store.disposed_ranges(room_id)
    scanner = ChainScanner(room_id, report, gaps=ranges, checkpoints=cps)
    disposed_names = {r.get("name") for r in ranges}
    for name in store.segments(room_id):
        if name in disposed_names:
            report.warnings.append(Problem(
                "disposal_incomplete", room_id, name, None, None, None,
                "segment is recorded as disposed but still present; re-run dispose"))
            continue
        first = True
        for line in store.backend.read_log(name):
            if first:
                first = False
                try:
                    seq = json.loads(line.data).get("seq")
                except ValueError:
                    seq = None
                if isinstance(seq, int) and seq != layout.segment_first_seq(name):
                    report.problems.append(Problem(
                        "segment_name", room_id, line.location, line.line_no, seq, None,
                        "segment's first record does not match its name (segment renamed?)"))
            scanner.feed(line)
    scanner.finish()
    last_cp = max(cps, default=0)
    if scanner.max_seq > last_cp:
        report.warnings.append(Problem(
            "unsigned_tail", room_id, None, None, scanner.max_seq, None,
            f"{scanner.max_seq - last_cp} record(s) after the last signed checkpoint "
            "(normal while the bot runs; signed on the next checkpoint)"))
    for inc in store.incidents(room_id):
        report.warnings.append(Problem(
            "torn_tail_recovered", room_id, inc.get("segment"), None, None, None,
            f"crash during write recovered on reopen; torn bytes kept at {inc.get('kept_at')}"))
    report.rooms += 1
    return scanner


def _verify_disposal_log(store: ArchiveStore, report: VerifyReport,
                         keys: Mapping[str, Any]) -> None:
    cps = _load_checkpoints(store, layout.DISPOSAL_CHECKPOINTS, "", report, keys)
    scanner = ChainScanner("", report, checkpoints=cps)
    for line in store.backend.read_log(layout.DISPOSAL_LOG):
        scanner.feed(line)
    scanner.finish()


def _verify_media(store: ArchiveStore, report: VerifyReport,
                  refs: Mapping[str, tuple[str, str, int, int, str | None]], all_blobs: bool,
                  disposed: set[str]) -> None:
    names = store.backend.list_blobs(layout.MEDIA) if all_blobs else [
        layout.media_blob(sha) for sha in refs]
    present = set()
    for name in names:
        sha = name.rsplit("/", 1)[-1]
        data = store.backend.get_blob(name)
        if data is None:
            continue
        present.add(sha)
        report.media += 1
        if hashlib.sha256(data).hexdigest() != sha or name != layout.media_blob(sha):
            ref = refs.get(sha)
            report.problems.append(Problem(
                "media_corrupt", ref[0] if ref else "", name, None, ref[3] if ref else None,
                ref[4] if ref else None, "media content does not match its sha256 name"))
    for sha, (room_id, loc, line, seq, event_id) in refs.items():
        if sha not in present:
            why = "disposed" if sha in disposed else "missing"
            report.problems.append(Problem(
                "media_missing", room_id, loc, line, seq, event_id,
                f"referenced media {sha[:16]}… is {why}"))


def verify(store: ArchiveStore, room_id: str | None = None) -> VerifyReport:
    report = VerifyReport()
    keys = store.public_keys()
    _verify_disposal_log(store, report, keys)
    if room_id is not None:
        rooms = [room_id]
    else:
        found = set(store.rooms())
        for name in store.backend.list_logs(layout.CHECKPOINTS):
            if name == layout.DISPOSAL_CHECKPOINTS:
                continue
            safe = name[len(layout.CHECKPOINTS) :]
            room = layout.decode_room(safe) or store._room_from_log(name)
            if room and room not in found:
                found.add(room)  # signed checkpoints but no room data: reported as removed
        rooms = sorted(found)
    refs: dict[str, tuple[str, str, int, int, str | None]] = {}
    for room in rooms:
        scanner = _verify_room(store, room, report, keys)
        for sha, (loc, line, seq, ev) in scanner.media_refs.items():
            refs.setdefault(sha, (room, loc, line, seq, ev))
    disposed = {m.get("sha256") for rec in store.disposal_records()
                for m in (rec.get("disposal") or {}).get("media", [])}
    _verify_media(store, report, refs, room_id is None, disposed)
    if report.checkpoints and not report.signers and not keys:
        report.problems.append(Problem("no_public_key", "", None, None, None, None,
                                       "no trusted public key: signatures cannot be checked"))
    log.info("archive.verified", ok=report.ok, problems=len(report.problems),
             rooms=report.rooms, records=report.records)
    return report
