"""Staff directory: Matrix user ID → display name, 所属 (department) and 役職 (title).

The law wants the sender's affiliation in the exported record, and Matrix profiles do not carry
it, so personnel (人事) maintain a CSV or YAML file.  The file is re-read whenever its mtime
changes, so edits apply without restarting the bot; a broken edit keeps the last good data.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import structlog
import yaml

log = structlog.get_logger(__name__)

_ALIASES = {
    "user_id": ("user_id", "matrix_id", "mxid", "ユーザーID", "ユーザid"),
    "display_name": ("display_name", "name", "表示名", "氏名"),
    "department": ("department", "dept", "所属", "部署", "所属部署"),
    "title": ("title", "役職", "職名"),
}


@dataclass(frozen=True)
class Affiliation:
    user_id: str
    display_name: str = ""
    department: str = ""
    title: str = ""

    @property
    def label(self) -> str:
        """「総務課 主事」: what goes in the 所属 column."""
        return " ".join(p for p in (self.department, self.title) if p)

    def as_record(self) -> dict[str, str | None]:
        """The record's ``affiliation`` field."""
        return {"department": self.department or None, "title": self.title or None}


def _field(row: Mapping[str, Any], name: str) -> str:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for alias in _ALIASES[name]:
        value = lowered.get(alias.lower())
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _entries(rows: Iterable[Mapping[str, Any]]) -> dict[str, Affiliation]:
    out: dict[str, Affiliation] = {}
    for row in rows:
        user_id = _field(row, "user_id")
        if not user_id.startswith("@"):
            continue  # blank or comment lines in a hand-edited sheet
        out[user_id] = Affiliation(user_id, _field(row, "display_name"),
                                   _field(row, "department"), _field(row, "title"))
    return out


def _decode(raw: bytes) -> str:
    # Excel on Japanese Windows saves "CSV" as Shift_JIS (cp932) unless told "CSV UTF-8".
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp932")


def parse(path: Path) -> dict[str, Affiliation]:
    raw = path.read_bytes()
    if path.suffix.lower() in (".yaml", ".yml"):
        data = yaml.safe_load(_decode(raw)) or []
        if isinstance(data, Mapping) and isinstance(data.get("staff"), list):
            data = data["staff"]
        if isinstance(data, Mapping):  # {"@u:server": {department: ..., title: ...}}
            data = [{"user_id": k, **(v or {})} for k, v in data.items()]
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of staff entries")
        return _entries(r for r in data if isinstance(r, Mapping))
    return _entries(csv.DictReader(io.StringIO(_decode(raw))))


class Directory:
    def __init__(self, path: Path, entries: dict[str, Affiliation], mtime_ns: int) -> None:
        self.path = path
        self._entries = entries
        self._mtime_ns = mtime_ns
        self._failed_mtime_ns: int | None = None

    @classmethod
    def load(cls, path: Path | str) -> Directory:
        path = Path(path)
        mtime = path.stat().st_mtime_ns
        entries = parse(path)
        log.info("archive.directory_loaded", path=str(path), entries=len(entries))
        return cls(path, entries, mtime)

    def reload_if_changed(self) -> bool:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            log.warning("archive.directory_missing", path=str(self.path))
            return False
        if mtime in (self._mtime_ns, self._failed_mtime_ns):
            return False
        try:
            entries = parse(self.path)
        except (OSError, ValueError, yaml.YAMLError, csv.Error) as exc:
            log.warning("archive.directory_reload_failed", path=str(self.path),
                        error=type(exc).__name__)
            self._failed_mtime_ns = mtime  # keep the last good data; retry on the next edit
            return False
        self._entries, self._mtime_ns = entries, mtime
        log.info("archive.directory_reloaded", path=str(self.path), entries=len(entries))
        return True

    def lookup(self, user_id: str) -> Affiliation | None:
        self.reload_if_changed()  # one stat() per lookup: cheap, and edits apply at once
        return self._entries.get(user_id)

    def entries(self) -> Mapping[str, Affiliation]:
        """Every entry by user id (re-read first if the file changed), read-only."""
        self.reload_if_changed()
        return MappingProxyType(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
