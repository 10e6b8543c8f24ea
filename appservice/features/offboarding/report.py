"""Plan entries (what a dry run stores) and the texts for dry runs, progress and reports.

Everything user-facing is a `Message` (catalog key + params) so it is rendered in the admin's
locale; lists are capped so that a 500-line CSV does not become a 500-line chat message.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, tzinfo
from typing import Any

from appservice.core.decisions import Message
from appservice.features.offboarding.csvfile import CsvRow
from appservice.features.offboarding.jobs import JobRow
from appservice.features.offboarding.plan import UserPlan

MAX_LINES = 30


def fmt_time(ts: float | None, tz: tzinfo) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def entry_from_plan(p: UserPlan, line: int | None = None) -> dict[str, Any]:
    status = "ok" if p.ok else ("skip" if p.skip else "refused")
    return {
        "line": line, "user": p.user, "raw": p.user, "successor": p.successor,
        "due": p.due.timestamp() if p.due else None, "erase": p.erase, "status": status,
        "key": p.refusal or p.skip, "params": dict(p.params),
        "rooms": len(p.rooms),
        "handovers": [{"room": r.room_id, "label": r.label, "creator": r.leaver_creator,
                       "join": r.successor_needs_join} for r in p.handovers],
        "orphaned": [{"room": r.room_id, "label": r.label} for r in p.orphaned],
    }


def entry_from_bad_row(row: CsvRow) -> dict[str, Any]:
    assert row.error is not None
    return {"line": row.line, "user": None, "raw": row.raw_user, "successor": None, "due": None,
            "erase": False, "status": "refused", "key": row.error.key,
            "params": {"value": row.raw_user, **row.error.params}, "rooms": 0, "handovers": [],
            "orphaned": []}


def reason(key: str | None, params: dict[str, Any]) -> Message:
    return Message(key or "offboarding.result.unknown", params)


def _who(e: dict[str, Any]) -> str:
    return e.get("user") or e.get("raw") or "?"


def single_plan_messages(e: dict[str, Any], code: str, tz: tzinfo, *, four_eyes: bool,
                         ttl_hours: float) -> list[Message]:
    when = fmt_time(e["due"], tz)
    msgs = [Message("offboarding.plan.header", {"user": e["user"]}),
            Message("offboarding.plan.when_at" if when else "offboarding.plan.when_now",
                    {"when": when, "tz": str(tz)}),
            Message("offboarding.plan.rooms", {"count": e["rooms"]})]
    if e["handovers"]:
        msgs.append(Message("offboarding.plan.handovers", {"count": len(e["handovers"]),
                                                           "successor": e["successor"]}))
        for h in e["handovers"][:MAX_LINES]:
            msgs.append(Message("offboarding.plan.room_line_creator" if h["creator"]
                                else "offboarding.plan.room_line", {"room": h["label"]}))
        if len(e["handovers"]) > MAX_LINES:
            msgs.append(Message("offboarding.plan.more", {"count": len(e["handovers"]) - MAX_LINES}))
    elif e["successor"]:
        msgs.append(Message("offboarding.plan.no_handover", {"successor": e["successor"]}))
    if e["orphaned"]:
        msgs.append(Message("offboarding.plan.orphaned", {"count": len(e["orphaned"])}))
        for o in e["orphaned"][:MAX_LINES]:
            msgs.append(Message("offboarding.plan.room_line", {"room": o["label"]}))
    msgs.append(Message("offboarding.plan.messages_erase" if e["erase"] else "offboarding.plan.messages_kept"))
    msgs.append(Message("offboarding.plan.deactivate"))
    msgs.append(_confirm_line(code, four_eyes, ttl_hours))
    return msgs


def _confirm_line(code: str, four_eyes: bool, ttl_hours: float) -> Message:
    return Message("offboarding.plan.confirm_four_eyes" if four_eyes else "offboarding.plan.confirm",
                   {"code": code, "hours": f"{ttl_hours:g}"})


def bulk_plan_messages(entries: list[dict[str, Any]], code: str, tz: tzinfo, *, four_eyes: bool,
                       ttl_hours: float, erase: bool, source: str) -> list[Message]:
    ok = [e for e in entries if e["status"] == "ok"]
    skip = [e for e in entries if e["status"] == "skip"]
    bad = [e for e in entries if e["status"] == "refused"]
    now_count = sum(1 for e in ok if e["due"] is None)
    by_time = Counter(fmt_time(e["due"], tz) for e in ok if e["due"] is not None)
    msgs = [Message("offboarding.bulk.header", {"source": source, "lines": len(entries)}),
            Message("offboarding.bulk.ok", {"count": len(ok), "now": now_count})]
    for when, n in sorted(by_time.items())[:MAX_LINES]:
        msgs.append(Message("offboarding.bulk.at_line", {"when": when, "tz": str(tz), "count": n}))
    handovers = sum(len(e["handovers"]) for e in ok)
    orphaned = sum(len(e["orphaned"]) for e in ok)
    msgs.append(Message("offboarding.bulk.rooms", {"rooms": sum(e["rooms"] for e in ok),
                                                   "handovers": handovers}))
    if orphaned:
        msgs.append(Message("offboarding.bulk.orphaned", {"count": orphaned}))
        for e in [e for e in ok if e["orphaned"]][:MAX_LINES]:
            msgs.append(Message("offboarding.bulk.orphaned_line", {"user": e["user"],
                                                                   "count": len(e["orphaned"])}))
    if skip:
        msgs.append(Message("offboarding.bulk.skipped", {"count": len(skip)}))
        msgs.extend(_lines(skip))
    if bad:
        msgs.append(Message("offboarding.bulk.refused", {"count": len(bad)}))
        msgs.extend(_lines(bad))
    msgs.append(Message("offboarding.plan.messages_erase" if erase else "offboarding.plan.messages_kept"))
    msgs.append(Message("offboarding.plan.deactivate"))
    if ok:
        msgs.append(_confirm_line(code, four_eyes, ttl_hours))
    else:
        msgs.append(Message("offboarding.bulk.nothing"))
    return msgs


def _lines(entries: list[dict[str, Any]]) -> list[Message]:
    out = [Message("offboarding.bulk.line", {"line": e["line"] if e["line"] is not None else "-",
                                             "user": _who(e), "reason": reason(e["key"], e["params"])})
           for e in entries[:MAX_LINES]]
    if len(entries) > MAX_LINES:
        out.append(Message("offboarding.plan.more", {"count": len(entries) - MAX_LINES}))
    return out


def job_report(rows: list[JobRow], code: str, tz: tzinfo, kind: str) -> list[Message]:
    """The final report of a batch (one plan, one due time)."""
    if kind == "single" and len(rows) == 1:
        j = rows[0]
        params = {"user": j.user_id, "successor": j.successor or "-", **j.detail}
        params.setdefault("rooms", 0)
        params.setdefault("handovers", 0)
        if j.status == "done":
            return [Message("offboarding.job.done", params)]
        if j.status == "skipped":
            return [Message("offboarding.job.skipped", {"user": j.user_id,
                                                        "reason": reason(j.result, params)})]
        return [Message("offboarding.job.failed", {"user": j.user_id, "reason": reason(j.result, params)})]
    counts = Counter(j.status for j in rows)
    msgs = [Message("offboarding.batch.report", {"code": code, "total": len(rows),
                                                 "done": counts.get("done", 0),
                                                 "skipped": counts.get("skipped", 0),
                                                 "failed": counts.get("failed", 0) + counts.get("cancelled", 0)})]
    done = [j for j in rows if j.status == "done"]
    if done and len(done) <= MAX_LINES:
        msgs.append(Message("offboarding.batch.done_users", {"users": ", ".join(j.user_id for j in done)}))
    others = [j for j in rows if j.status != "done"]
    for j in others[:MAX_LINES * 3]:
        line = j.detail.get("line", "-") if isinstance(j.detail, dict) else "-"
        params = {"user": j.user_id, **(j.detail if isinstance(j.detail, dict) else {})}
        msgs.append(Message("offboarding.batch.line_skipped" if j.status == "skipped"
                            else "offboarding.batch.line_failed",
                            {"user": j.detail.get("raw") or j.user_id, "line": line,
                             "reason": reason(j.result, params)}))
    if len(others) > MAX_LINES * 3:
        msgs.append(Message("offboarding.plan.more", {"count": len(others) - MAX_LINES * 3}))
    return msgs
