"""Names of things inside a backend, independent of files vs. objects.

Logs are append-only line streams; blobs are write-once.  The fs backend maps a log to
``<name>.jsonl``; the S3 backend maps it to a prefix holding one object per append.
"""

from __future__ import annotations

import functools
import hashlib
import re

ROOMS = "rooms/"
CHECKPOINTS = "checkpoints/"
MEDIA = "media/"
DISPOSAL_LOG = "disposal"
DISPOSAL_CHECKPOINTS = "checkpoints/_disposal"
SEGMENT_PREFIX = "seg-"

_SAFE = re.compile(r"[a-z0-9.\-]")
_MAX_NAME = 200  # bytes; leaves room under the usual 255-byte file name limit


@functools.lru_cache(maxsize=4096)
def encode_room(room_id: str) -> str:
    """Reversible, filesystem-safe and case-safe room directory name.

    Only ``[a-z0-9.-]`` pass through; every other byte (upper case too, so case-insensitive
    file systems cannot merge two rooms) becomes ``_xx``:
    ``!AbC:ex.org`` → ``_21_41b_43_3aex.org``.
    """
    out: list[str] = []
    for ch in room_id:
        if _SAFE.fullmatch(ch):
            out.append(ch)
        else:
            out.extend(f"_{b:02x}" for b in ch.encode("utf-8"))
    name = "".join(out)
    if len(name) > _MAX_NAME:
        # Pathologically long IDs: fall back to a digest; the room ID is still in every record
        # and in the policy log, so nothing is lost, only the name stops being self-describing.
        name = "h_" + hashlib.sha256(room_id.encode("utf-8")).hexdigest()
    return name


def decode_room(name: str) -> str | None:
    if name.startswith("h_"):
        return None
    raw = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "_":
            raw.append(int(name[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(name[i].encode("ascii"))
            i += 1
    return raw.decode("utf-8")


def room_prefix(room_id: str) -> str:
    return f"{ROOMS}{encode_room(room_id)}/"


def segment_log(room_id: str, first_seq: int) -> str:
    return f"{room_prefix(room_id)}{SEGMENT_PREFIX}{first_seq:012d}"


def segment_first_seq(name: str) -> int | None:
    base = name.rsplit("/", 1)[-1]
    if not base.startswith(SEGMENT_PREFIX):
        return None
    try:
        return int(base[len(SEGMENT_PREFIX) :])
    except ValueError:
        return None


def policy_log(room_id: str) -> str:
    return f"{room_prefix(room_id)}policy"


def incidents_log(room_id: str) -> str:
    return f"{room_prefix(room_id)}incidents"


def checkpoint_log(room_id: str) -> str:
    return f"{CHECKPOINTS}{encode_room(room_id)}"


def media_blob(sha256: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a sha256 hex digest")
    return f"{MEDIA}{sha256[:2]}/{sha256[2:4]}/{sha256}"
