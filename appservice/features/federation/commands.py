"""`!yakuba federation status` (admins): each partner — reachable or not through our Synapse,
Synapse's own record of sending to it, and the last event Yakuba saw from it — and any
server seen that is not a partner."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from appservice.core.commands import Invocation, Reply
from appservice.core.decisions import Message
from appservice.features.federation import probe
from appservice.features.federation.seen import Seen, SeenTable
from appservice.matrix.admin import SynapseAdmin
from appservice.matrix.client import MatrixError

STATUS_TIMEOUT_S = 4.0  # per partner, all at once: the command answers within a few seconds


def _jst(iso: str) -> str:
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return iso[:25]
    from appservice.lib.archive.record import JST

    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M")


def _failing_since(dest: dict[str, Any] | None) -> str | None:
    ts = (dest or {}).get("failure_ts")
    if not isinstance(ts, int):
        return None
    return _jst(datetime.fromtimestamp(ts / 1000, UTC).isoformat())


async def status(inv: Invocation) -> Reply:
    svc = inv.services
    table: SeenTable = inv.feature
    fed = svc.config.federation
    if inv.args[:1] not in ((), ("status",)):
        return Reply(messages=[Message("core.bad_arguments", {"error": inv.args[0][:40],
                                                              "usage": "federation status"})])
    seen = await table.all()
    if not fed.partners:
        msgs = [Message("federation.status.no_partners")]
        msgs += _unlisted(seen, set())
        return Reply(messages=msgs)
    admin = SynapseAdmin(svc.client)

    async def one(server: str) -> tuple[probe.Reach, dict[str, Any] | None]:
        reach = await probe.through_synapse(svc.client, server, STATUS_TIMEOUT_S)
        try:
            dest = await asyncio.wait_for(admin.destination(server), STATUS_TIMEOUT_S)
        except (MatrixError, TimeoutError):
            dest = None
        return reach, dest

    results = await asyncio.gather(*(one(p.server) for p in fed.partners))
    msgs = [Message("federation.status.header", {"count": len(fed.partners)})]
    for p, (reach, dest) in zip(fed.partners, results, strict=True):
        s = seen.get(p.server)
        state = Message(f"federation.status.reach.{reach.state}", {"detail": reach.detail or "-", "ms": reach.ms or 0})
        failing = _failing_since(dest)
        msgs.append(Message("federation.status.partner", {
            "name": p.label(svc.config.locale), "server": p.server, "state": state,
            "sending": Message("federation.status.sending_failing", {"since": failing}) if failing
            else Message("federation.status.sending_ok"),
            "last": Message("federation.status.last_seen", {"at": _jst(s.last_seen), "events": s.events})
            if s else Message("federation.status.never_seen"),
        }))
    msgs += _unlisted(seen, set(fed.servers))
    return Reply(messages=msgs)


def _unlisted(seen: dict[str, Seen], partners: set[str]) -> list[Message]:
    others = sorted(s for s in seen if s not in partners)
    if not others:
        return []
    return [Message("federation.status.unlisted", {
        "servers": ", ".join(f"{s[:80]} ({_jst(seen[s].last_seen)})" for s in others[:20])})]
