"""Feature subcommands of `yakuba` (scan, calendar, archive, offboard): each feature owns its
argument parsing; this only finds the right one and hands it the config."""

from __future__ import annotations

import sys
from pathlib import Path


def dispatch(cmd: str, argv: list[str], config_path: Path) -> int:
    if cmd == "scan":  # needs no config: admins run it on exported documents anywhere
        from appservice.pii.cli import scan_main

        return scan_main(argv, sys.stdin, sys.stdout)
    from appservice.config import load_config

    config = load_config(config_path)
    if cmd == "calendar":
        from appservice.workcal import calendar_check_main, calendar_config_from_dict

        if not argv or argv[0] != "check":
            print("usage: yakuba calendar check \"YYYY-MM-DD HH:MM\" [--schedule NAME] [--json]",
                  file=sys.stderr)
            return 2
        cal = calendar_config_from_dict(config.feature("quiet_hours"), "quiet_hours",
                                        ignore_keys=QUIET_KEYS_NOT_CALENDAR)
        return calendar_check_main(argv[1:], cal, sys.stdout, sys.stderr)
    if cmd == "archive":
        from appservice.archive.cli import archive_main
        from appservice.retention.config import RetentionSettings

        retention = RetentionSettings.from_config(config)  # root, backend and key of `retention:`
        return archive_main(argv, root=retention.root, backend=retention.make_backend(),
                            signing_key=retention.key_path, stdout=sys.stdout, stderr=sys.stderr)
    if cmd == "offboard":
        from appservice.offboarding.cli import offboard_main

        return offboard_main(argv, config)
    print(f"yakuba {cmd}: unknown command", file=sys.stderr)
    return 2


# quiet_hours keys that belong to the quiet-hours rule, not to the calendar.
QUIET_KEYS_NOT_CALENDAR = ("enabled", "emergency_markers", "exempt_rooms", "departments", "reminders",
                           "allow_opt_out", "reconcile_interval_seconds", "announce_room", "concurrency")
