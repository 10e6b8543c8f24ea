"""Time as a dependency: real in production, settable in tests.

`testing.clock_file` in yakuba.yaml points at a file holding an ISO datetime: the time it was
at the moment the file was written. While it exists, "now" is that time plus the seconds
since (so the clock keeps running). Integration tests move the service's clock without
restarting it (off hours, scheduled jobs). Never set in production configs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock(Clock):
    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
            written = self.path.stat().st_mtime
        except FileNotFoundError:
            return datetime.now(UTC)
        when = datetime.fromisoformat(text)
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        return when + timedelta(seconds=max(0.0, time.time() - written))


class FixedClock(Clock):
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when
