"""Feature subcommands of `yakuba` (scan, calendar, archive, offboard): each feature owns its
argument parsing; this only finds the right one."""

from __future__ import annotations

import sys
from pathlib import Path


def dispatch(cmd: str, argv: list[str], config_path: Path) -> int:
    if cmd == "scan":
        from appservice.pii.cli import scan_main

        return scan_main(argv, sys.stdin, sys.stdout)
    print(f"yakuba {cmd}: not available yet", file=sys.stderr)
    return 2
