"""`yakuba calendar check [WHEN] [--schedule NAME] [--json] [--lang en]`.

Exit status is scriptable: 0 working time, 1 off hours, 2 bad arguments (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, NoReturn

from appservice.core.i18n import LOCALES
from appservice.lib.workcal.config import CalendarConfig
from appservice.lib.workcal.engine import UnknownScheduleError, WorkCalendar
from appservice.lib.workcal.text import reason_text, status_line

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_WORKING, EXIT_OFF, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    pass


class _HelpShown(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that neither exits the process nor writes to sys.stdout/sys.stderr itself."""

    def __init__(self, stdout: IO[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._out = stdout

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._out.write(message)
        raise _HelpShown

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            self._out.write(message)


def calendar_check_main(argv: list[str], config: CalendarConfig, stdout: IO[str],
                        stderr: IO[str] | None = None, *,
                        clock: Callable[[], datetime] | None = None) -> int:
    """argv is what follows `calendar check`. `clock` stands in for "now" when WHEN is omitted."""
    err = stderr if stderr is not None else sys.stderr
    parser = _Parser(stdout, prog="yakuba calendar check",
                     description="Is this instant working time under the quiet_hours rules?")
    parser.add_argument("when", nargs="?",
                        help='"YYYY-MM-DD HH:MM" (calendar time zone unless an offset is given); '
                             "default: now")
    parser.add_argument("--schedule", default=None, help="a named schedule (default: the "
                                                         "top-level rules)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--lang", default="ja", help=f"text language: {', '.join(LOCALES)}")
    try:
        args = parser.parse_args(argv)
        if args.lang not in LOCALES:
            raise _UsageError(f"--lang: expected one of {', '.join(LOCALES)}, got {args.lang!r}")
        when = _parse_when(args.when) if args.when is not None else None
        calendar = WorkCalendar(config, clock=clock)
        status = calendar.status(when, args.schedule)
    except _HelpShown:
        return EXIT_WORKING
    except UnknownScheduleError as exc:
        known = ", ".join(("default", *config.schedules))
        return _usage(err, f"--schedule: unknown schedule {exc.name!r} (known: {known})")
    except _UsageError as exc:
        return _usage(err, str(exc))

    if args.json:
        payload = {
            "working": status.working,
            "reason": status.reason,
            "reason_params": status.reason_params,
            "reason_text": reason_text(status, args.lang),
            "next_change": status.next_change.isoformat() if status.next_change else None,
        }
        stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        stdout.write(status_line(status, args.lang) + "\n")
    return EXIT_WORKING if status.working else EXIT_OFF


def _parse_when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise _UsageError(f'expected a time like "2027-01-02 10:00" or '
                          f'"2027-01-02T10:00+09:00", got {text!r}') from None


def _usage(err: IO[str], message: str) -> int:
    err.write(f"yakuba calendar check: error: {message}\n")
    return EXIT_USAGE
