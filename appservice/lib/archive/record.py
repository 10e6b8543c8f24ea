"""The archived record: a frozen dict with a fixed set of fields and one canonical byte form.

Every record carries the same keys (absent values are ``None``) so that the canonical JSON,
and therefore the hash chain, does not depend on which optional fields a caller happened to
pass.  Unknown keys are rejected: the archive must hold exactly what the public-records rules
ask for, not whatever raw event content a caller forwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

JST = timezone(timedelta(hours=9), "JST")

SCHEMA_VERSION = 2  # 2: received_at and ts_claimed (records of version 1 lack both)

# ``ts`` is the sender's claim (Matrix origin_server_ts: chosen by the sending server). It
# decides the segment, the fiscal year and so the retention period, so it is only believed
# within a sane window of the time Yakuba received the event: not before this date, and not
# more than CLOCK_SKEW after it was received. Otherwise the record is dated by its arrival and
# the claim is kept in ``ts_claimed``.
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)
_JSON_SAFE_INT = 2**53

KINDS = frozenset({"message", "edit", "redaction", "membership", "media", "notice", "disposal"})

CHAIN_FIELDS = ("seq", "prev_hash", "hash")

FIELDS: tuple[str, ...] = (
    "v",
    "event_id",
    "room_id",
    "room_name",
    "ts_utc",
    "ts_jst",
    "received_at",  # ISO UTC: when Yakuba received the event (server-side), or None
    "ts_claimed",  # the sender's origin_server_ts when it was not believed, else None
    "sender",
    "display_name",
    "affiliation",  # {"department": str|None, "title": str|None} or None
    "kind",
    "msgtype",
    "body",
    "formatted_body",
    "relates_to",  # {"rel_type", "event_id", "in_reply_to"} or None
    "redacts",
    "membership",
    "media",  # {"sha256", "name", "mimetype", "size"} or None
    "encrypted",
    "disposal",  # only on kind == "disposal": what was removed, by whose approval
    *CHAIN_FIELDS,
)

_STR_FIELDS = (
    "event_id", "room_id", "room_name", "sender", "display_name", "kind", "msgtype", "body",
    "formatted_body", "redacts", "membership",
)
_SUB_FIELDS = {
    "affiliation": ("department", "title"),
    "relates_to": ("rel_type", "event_id", "in_reply_to"),
    "media": ("sha256", "name", "mimetype", "size"),
}


class FrozenDict(dict[str, Any]):
    """A dict that refuses mutation; still a real ``dict`` so json/csv/equality just work."""

    __slots__ = ()

    def _readonly(self, *_a: Any, **_k: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is read-only")

    __setitem__ = __delitem__ = __ior__ = _readonly
    clear = pop = popitem = setdefault = update = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, _memo: dict[int, Any]) -> FrozenDict:
        return self

    def thaw(self) -> dict[str, Any]:
        """A plain, mutable deep copy."""
        return {k: v.thaw() if isinstance(v, FrozenDict) else v for k, v in self.items()}


class Record(FrozenDict):
    """One archived event. Build with :func:`make_record`, never by hand."""

    __slots__ = ()

    @property
    def seq(self) -> int:
        return int(self["seq"])

    @property
    def hash(self) -> str:
        return str(self["hash"])

    @property
    def event_id(self) -> str:
        return str(self["event_id"])

    @property
    def kind(self) -> str:
        return str(self["kind"])

    @classmethod
    def from_json(cls, data: bytes | str) -> Record:
        return freeze(json.loads(data))


def freeze(data: Mapping[str, Any]) -> Record:
    return Record({k: FrozenDict(v) if isinstance(v, dict) else v for k, v in data.items()})


def canonical(obj: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not \\u escapes): the bytes that get hashed."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _clean_str(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"record field {field!r} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates can arrive from JSON "\\ud800" escapes; they are not encodable as
        # UTF-8, so the canonical form would fail.  Replace rather than drop the record.
        value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def _sub(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"record field {field!r} must be a mapping")
    allowed = _SUB_FIELDS[field]
    extra = set(value) - set(allowed)
    if extra:
        raise ValueError(f"record field {field!r} has unknown keys {sorted(extra)}")
    out: dict[str, Any] = {}
    for key in allowed:
        item = value.get(key)
        if key == "size":
            if item is not None and (not isinstance(item, int) or isinstance(item, bool)):
                raise ValueError("media.size must be an integer")
            out[key] = item
        else:
            out[key] = _clean_str(item, f"{field}.{key}")
    return out


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def iso_jst(moment: datetime) -> str:
    return moment.astimezone(JST).isoformat(timespec="milliseconds")


def parse_ts(data: Mapping[str, Any]) -> datetime:
    """Accept ``ts`` (Matrix origin_server_ts, ms), a datetime, or an ISO ``ts_utc``."""
    raw = data.get("ts", data.get("ts_utc"))
    if raw is None:
        raise ValueError("record needs 'ts' (ms since epoch) or 'ts_utc'")
    return _moment(raw, "ts")


def _moment(raw: Any, field: str) -> datetime:
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            moment = datetime.fromtimestamp(raw / 1000, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"record field {field!r} is out of range") from exc
    elif isinstance(raw, str):
        moment = datetime.fromisoformat(raw)
    else:
        raise ValueError(f"unsupported timestamp type for {field!r}")
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment


def bounded_ts(data: Mapping[str, Any]) -> tuple[datetime, datetime | None, Any]:
    """(the moment a record is dated by, received_at, ts_claimed).

    Without ``received_at`` the claimed ``ts`` is all there is (a ValueError if impossible).
    With it, the claim is believed only from EARLIEST_TS to received_at + CLOCK_SKEW;
    otherwise the record is dated by its arrival and the claim kept as ``ts_claimed`` (an
    integer JSON holds exactly, else its text, at most 40 characters)."""
    raw_received = data.get("received_at")
    if raw_received is None:
        return parse_ts(data), None, None
    received = _moment(raw_received, "received_at")
    raw = data.get("ts", data.get("ts_utc"))
    try:
        claimed: datetime | None = parse_ts(data)
    except (ValueError, TypeError):
        claimed = None
    if claimed is not None and EARLIEST_TS <= claimed <= received + CLOCK_SKEW:
        return claimed, received, None
    if isinstance(raw, int) and not isinstance(raw, bool) and -_JSON_SAFE_INT <= raw <= _JSON_SAFE_INT:
        kept: Any = raw
    elif isinstance(raw, datetime):
        kept = iso_utc(raw) if raw.tzinfo is not None else str(raw)[:40]
    else:
        kept = str(raw)[:40]
    return received, received, kept


def make_record(data: Mapping[str, Any], *, room_id: str | None = None) -> dict[str, Any]:
    """Validate and normalise caller input into an unchained record (no seq/hash yet)."""
    incoming = {k: v for k, v in data.items() if k not in CHAIN_FIELDS and k not in ("v", "ts")}
    unknown = set(incoming) - set(FIELDS) - {"ts_jst"}
    if unknown:
        raise ValueError(f"unknown record fields {sorted(unknown)}")
    moment, received, claimed = bounded_ts(data)
    rec: dict[str, Any] = dict.fromkeys(FIELDS)
    rec["v"] = SCHEMA_VERSION
    for field in _STR_FIELDS:
        rec[field] = _clean_str(incoming.get(field), field)
    for field in _SUB_FIELDS:
        rec[field] = _sub(incoming.get(field), field)
    if room_id is not None:
        if rec["room_id"] not in (None, room_id):
            raise ValueError("record room_id differs from the room it is appended to")
        rec["room_id"] = room_id
    if not rec["event_id"]:
        raise ValueError("record needs an event_id")
    if rec["kind"] not in KINDS:
        raise ValueError(f"record kind must be one of {sorted(KINDS)}")
    rec["encrypted"] = bool(incoming.get("encrypted", False))
    disposal = incoming.get("disposal")
    if disposal is not None and rec["kind"] != "disposal":
        raise ValueError("only disposal records carry a 'disposal' field")
    rec["disposal"] = json.loads(json.dumps(disposal)) if disposal is not None else None
    rec["ts_utc"] = iso_utc(moment)
    rec["ts_jst"] = iso_jst(moment)
    rec["received_at"] = iso_utc(received) if received is not None else None
    if claimed is None and incoming.get("ts_claimed") is not None:
        # A stored record made again: its ts_utc is already the arrival, keep the claim.
        kept = incoming["ts_claimed"]
        if isinstance(kept, bool) or not isinstance(kept, int | str) or len(str(kept)) > 40:
            raise ValueError("record field 'ts_claimed' must be an integer or a short string")
        claimed = kept
    rec["ts_claimed"] = claimed
    for field in CHAIN_FIELDS:
        rec.pop(field, None)
    return rec


def dedup_key(rec: Mapping[str, Any]) -> str:
    """Identity for idempotent appends: event_id + kind + what an edit/redaction points at."""
    target = ""
    if rec.get("kind") == "redaction":
        target = rec.get("redacts") or ""
    elif rec.get("kind") == "edit":
        rel = rec.get("relates_to") or {}
        target = rel.get("event_id") or ""
    return f"{rec.get('event_id')}\x1f{rec.get('kind')}\x1f{target}"
