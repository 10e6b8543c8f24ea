"""What the store needs from storage: append-only logs, write-once blobs, and a writer lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple, Protocol


class LogLine(NamedTuple):
    location: str  # file path relative to the root, or object key: what verify reports
    line_no: int  # 1-based within ``location``
    data: bytes  # raw bytes including the trailing b"\n" (absent only on a torn write)


class Backend(Protocol):
    description: str
    #: True when the backend can enforce retention itself (S3 Object Lock).
    enforces_retention: bool

    def append_log(
        self, name: str, data: bytes, *, retain_until: datetime | None = None
    ) -> str:
        """Append complete lines durably; return the location written.  Durable on return."""

    def read_log(self, name: str) -> Iterator[LogLine]: ...

    def list_logs(self, prefix: str) -> list[str]:
        """Log names under ``prefix``, sorted."""

    def delete_log(self, name: str) -> list[str]:
        """Remove a log entirely (disposal only); return the removed locations."""

    def put_blob(self, name: str, data: bytes, *, retain_until: datetime | None = None) -> bool:
        """Write once; False if it already existed (content-addressed names make that safe)."""

    def get_blob(self, name: str) -> bytes | None: ...

    def list_blobs(self, prefix: str) -> list[str]: ...

    def delete_blob(self, name: str) -> None: ...

    def extend_retention(self, name: str, until: datetime, *, blob: bool = False) -> None:
        """Make sure a log (or blob) cannot be deleted before ``until``; no-op if unsupported."""

    def locked_until(self, name: str) -> datetime | None:
        """Latest retain-until the store enforces on a log's data (None: nothing enforced)."""

    def repair_tail(self, name: str) -> str | None:
        """Move a torn last line aside (crash during append); return where it was kept."""

    def lock(self) -> AbstractContextManager[Any]:
        """Exclusive writer lock for append/dispose (threads, and processes where possible)."""

    def generation(self) -> object:
        """Changes when another process disposed something, so cached room state is stale."""

    def close(self) -> None: ...
