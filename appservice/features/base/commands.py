"""help and status."""

from __future__ import annotations

import time

from appservice.core.commands import Invocation, Reply
from appservice.core.decisions import Message
from appservice.matrix.client import MatrixError


async def help_(inv: Invocation) -> Reply:
    msgs = [Message("core.help.header")]
    for spec in inv.table.specs() if inv.table else []:
        msgs.append(Message("core.help.line", {"usage": spec.usage, "summary": Message(spec.summary_key)}))
    return Reply(messages=msgs)


def _uptime(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


async def status(inv: Invocation) -> Reply:
    svc = inv.services
    counts = await svc.inbox.counts()
    try:
        version = await svc.client.server_version()
        synapse = Message("core.status.synapse_ok", {"version": version})
    except MatrixError:
        synapse = Message("core.status.synapse_down")
    return Reply(messages=[Message("core.status", {
        "uptime": _uptime(time.monotonic() - svc.started_at),
        "processed": counts.get("done", 0),
        "backlog": counts.get("pending", 0),
        "awaiting": counts.get("awaiting_plaintext", 0),
        "undecryptable": counts.get("undecryptable", 0),
        "rejected": counts.get("rejected", 0),
        "synapse": synapse,
    })])
