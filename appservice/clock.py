"""Time as a dependency: real in production, settable in tests.

`testing.clock_file` in yakuba.yaml points at a file holding an ISO datetime; while it exists
the service reads "now" from it. Integration tests move the service's clock without
restarting it (off hours, scheduled jobs). Never set in production configs.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
        except FileNotFoundError:
            return datetime.now(UTC)
        when = datetime.fromisoformat(text)
        return when if when.tzinfo else when.replace(tzinfo=UTC)


class FixedClock(Clock):
    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when
