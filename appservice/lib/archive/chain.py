"""Hash chaining: ``hash = sha256(prev_hash + canonical(record without hash))``.

``seq`` and ``prev_hash`` are inside the hashed bytes, so a record cannot be moved, renumbered
or re-linked without changing its own hash and breaking the link of the record after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from .record import Record, canonical, freeze

GENESIS = "0" * 64


def record_hash(prev_hash: str, rec: Mapping[str, Any]) -> str:
    body = {k: v for k, v in rec.items() if k != "hash"}
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(body)).hexdigest()


def link(rec: Mapping[str, Any], *, seq: int, prev_hash: str) -> Record:
    """Give an unchained record its place in the chain."""
    body = dict(rec)
    body["seq"] = seq
    body["prev_hash"] = prev_hash
    body.pop("hash", None)
    body["hash"] = record_hash(prev_hash, body)
    return freeze(body)


def line_of(rec: Mapping[str, Any]) -> bytes:
    """The stored form: canonical JSON of the full record plus a newline."""
    return canonical(rec) + b"\n"


def check_self_hash(rec: Mapping[str, Any]) -> tuple[bool, str]:
    """(matches, recomputed) for a parsed record."""
    recomputed = record_hash(str(rec.get("prev_hash", "")), rec)
    return recomputed == rec.get("hash"), recomputed
