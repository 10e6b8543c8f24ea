"""The audit log as admins see it: recent rows in chat, all rows as an Excel-friendly CSV.

The per-event log rows (action `event`, one per Matrix event) are left out: they are metadata
for the pipeline, not actions anybody took.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any

from appservice.core.db import Database
from appservice.lib.archive.export import guard_cell

_STRICT_USER = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-:\[\]]+$")

AUDIT_COLUMNS = ("id", "time", "action", "actor", "target", "room_id", "event_id", "result", "details")


async def audit_rows(db: Database, user: str | None, limit: int) -> list[Any]:
    """Audit rows newest first, without the per-event log rows (action 'event')."""
    if user:
        return await db.fetchall(
            "SELECT * FROM audit WHERE action != 'event' AND (target = ? OR actor = ?) ORDER BY id DESC LIMIT ?",
            (user, user, limit))
    return await db.fetchall("SELECT * FROM audit WHERE action != 'event' ORDER BY id DESC LIMIT ?", (limit,))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: the archive export's guard (= + - @ TAB CR and full-width
    # ＝ ＋ － ＠), except that a strict Matrix user id stays as it is: it cannot be a formula.
    if _STRICT_USER.match(text):
        return text
    return guard_cell(text)


def audit_csv(rows: list[Any], tz: Any) -> bytes:
    """UTF-8 with BOM and CRLF, which Excel opens correctly (also in Japanese)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(AUDIT_COLUMNS)
    for r in rows:
        when = datetime.fromtimestamp(r["ts"], tz).isoformat(timespec="seconds")
        w.writerow([_cell(x) for x in (r["id"], when, r["action"], r["actor"], r["target"], r["room_id"],
                                       r["event_id"], r["result"], r["details"])])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


