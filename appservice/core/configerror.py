"""The one error type for configuration problems: it names the key and says what is wrong."""

from __future__ import annotations


class ConfigError(ValueError):
    """`quiet_hours.weekdays[2]: expected HH:MM-HH:MM, got "9-17"`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
