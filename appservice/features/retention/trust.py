"""Who may change a flag. Pure.

A room moderator (`archive here`) may flag a room that is not flagged, and may lengthen the
retention period of a flag. A flag decided by a Yakuba admin (the admin room's `flag`, an
admin's `here`, or a period set in the archive by an operator) is the records officer's
decision: shortening it, or changing its category or department, needs an admin — a
moderator is refused politely and the refusal is audited. Un-flagging is an admin command
anyway (and `!yakuba leave` in a flagged room needs an admin too, see features/base/leave.py).
An admin's flag stays an admin's flag when a moderator lengthens it (`retention_flag_notes.
admin_by`). An unflagged (inactive) admin flag counts too: its records keep its period.

Options a moderator leaves out (`--category`, `--dept`) keep the flag's current values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appservice.features.retention.tables import Flag
from appservice.lib.archive import RetentionPolicy


@dataclass(frozen=True)
class Current:
    """A room's flag as a change is measured against it."""

    years: int
    category: str
    department: str
    by: str
    admin_set: bool
    active: bool


def moderator_refusal(current: Current | None, new: RetentionPolicy) -> str | None:
    """None if a room moderator (not an admin) may make this change, else what it would undo:
    "shorter" | "category" | "department"."""
    if current is None or not current.admin_set:
        return None
    if new.years < current.years:
        return "shorter"
    if new.category != current.category:
        return "category"
    if new.department != current.department:
        return "department"
    return None


def flag_view(flag: Flag | None, admin_by: str | None) -> dict[str, Any] | None:
    """A flag as the audit row keeps it (old → new)."""
    if flag is None:
        return None
    return {"active": flag.active, "years": flag.years, "category": flag.category,
            "department": flag.department, "flagged_by": flag.flagged_by, "via": flag.via,
            "admin_by": admin_by}
