"""Filesystem backend: one JSON-lines file per log, fsync'd on every append (and its directory when the file is new)."""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import structlog

from .backend import LogLine
from .layout import DISPOSAL_LOG

log = structlog.get_logger(__name__)

_FILE_MODE = 0o640  # chat records are confidential: no world access
_DIR_MODE = 0o750
_LOG_SUFFIX = ".jsonl"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_new_file(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist), write everything and fsync it before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class FsBackend:
    enforces_retention = False

    def __init__(self, root: Path | str = "var/archive") -> None:
        self.root = Path(root)
        self.description = f"fs:{self.root}"
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._known_dirs: set[Path] = set()  # saves a stat() per append on the hot path
        self._known_files: set[str] = set()  # segment files whose directory entry is durable
        self._root_s = os.fspath(self.root)
        self._paths: dict[str, tuple[str, str, Path]] = {}
        self._disposal_path = os.path.join(self._root_s, DISPOSAL_LOG + _LOG_SUFFIX)

    # -- paths ---------------------------------------------------------------------------------
    def _log_path(self, name: str) -> Path:
        return self.root / (name + _LOG_SUFFIX)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _mkdirs(self, path: Path) -> None:
        """Create missing parents and fsync each new entry's parent, so the file can't vanish."""
        if path in self._known_dirs:
            return
        missing: list[Path] = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            try:
                d.mkdir(mode=_DIR_MODE)
            except FileExistsError:
                continue
            _fsync_dir(d.parent)
        self._known_dirs.add(path)

    # -- logs ------------------------------------------------------------------------------------
    def _hot_path(self, name: str) -> tuple[str, str, Path]:
        # Plain strings on the append path: pathlib costs more than the rest of an append.
        cached = self._paths.get(name)
        if cached is None:
            rel = name + _LOG_SUFFIX
            full = os.path.join(self._root_s, rel)
            cached = self._paths[name] = (rel, full, Path(full).parent)
        return cached

    def append_log(self, name: str, data: bytes, *, retain_until: datetime | None = None) -> str:
        rel, full, parent = self._hot_path(name)
        self._mkdirs(parent)
        created = full not in self._known_files and not os.path.exists(full)
        try:
            fd = os.open(full, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
        except FileNotFoundError:
            # The directory vanished behind our back (cached as existing): recreate, retry once.
            self._known_dirs.clear()
            self._mkdirs(parent)
            fd = os.open(full, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        # A new segment file's directory entry must be durable too; an existing file's is.
        if created:
            _fsync_dir(parent)
        self._known_files.add(full)
        return rel

    def read_log(self, name: str) -> Iterator[LogLine]:
        path = self._log_path(name)
        rel = self._rel(path)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return
        with fh:
            for i, line in enumerate(fh, 1):
                yield LogLine(rel, i, line)

    def list_logs(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if prefix and not prefix.endswith("/"):
            base = self.root
        if not base.is_dir():
            return []
        names = []
        for p in base.rglob("*" + _LOG_SUFFIX):
            name = self._rel(p)[: -len(_LOG_SUFFIX)]
            if name.startswith(prefix):
                names.append(name)
        return sorted(names)

    def delete_log(self, name: str) -> list[str]:
        path = self._log_path(name)
        if not path.exists():
            return []
        path.unlink()
        _fsync_dir(path.parent)
        self._known_files.clear()  # a later append may create it anew
        return [self._rel(path)]

    def repair_tail(self, name: str) -> str | None:
        path = self._log_path(name)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        if size == 0:
            return None
        with path.open("r+b") as fh:
            keep = self._last_newline_end(fh, size)
            if keep == size:
                return None
            fh.seek(keep)
            torn = fh.read()
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            side = path.with_name(f"{path.name}.partial-{stamp}-{secrets.token_hex(3)}")
            # Keep the torn bytes (never a silent delete), then cut the segment back to the
            # last complete line so the chain can continue from the last durable record.
            _write_new_file(side, torn)
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(path.parent)
        log.warning("archive.torn_tail_quarantined", segment=self._rel(path),
                    torn_bytes=size - keep, kept_at=self._rel(side))
        return self._rel(side)

    @staticmethod
    def _last_newline_end(fh: BinaryIO, size: int) -> int:
        block = 64 * 1024
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                return start + idx + 1
            pos = start
        return 0

    def sidecars(self, prefix: str) -> list[str]:
        """Quarantined torn tails under ``prefix`` (reported by verify as warnings)."""
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(self._rel(p) for p in base.rglob("*" + _LOG_SUFFIX + ".partial-*"))

    # -- blobs -----------------------------------------------------------------------------------
    def put_blob(self, name: str, data: bytes, *, retain_until: datetime | None = None) -> bool:
        path = self.root / name
        if path.exists():
            return False
        self._mkdirs(path.parent)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        _write_new_file(tmp, data)
        os.replace(tmp, path)  # atomic: readers never see half a blob
        _fsync_dir(path.parent)
        return True

    def get_blob(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def list_blobs(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.is_dir():
            return []
        return sorted(
            self._rel(p) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def delete_blob(self, name: str) -> None:
        path = self.root / name
        if path.exists():
            path.unlink()
            _fsync_dir(path.parent)

    def extend_retention(self, name: str, until: datetime, *, blob: bool = False) -> None:
        return None  # plain files cannot enforce retention; verify + disposal log do the job

    def locked_until(self, name: str) -> datetime | None:
        return None

    # -- coordination ----------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        # flock serialises the bot and a CLI `dispose` running at the same time.
        with self._thread_lock:
            if self._lock_fd is None:
                self._mkdirs(self.root)
                self._lock_fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, _FILE_MODE)
            if self._lock_depth == 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def generation(self) -> object:
        try:
            st = os.stat(self._disposal_path)
        except FileNotFoundError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def close(self) -> None:
        with self._thread_lock:
            if self._lock_fd is not None and self._lock_depth == 0:
                os.close(self._lock_fd)
                self._lock_fd = None
