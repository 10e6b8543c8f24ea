"""`yakuba federation check`: does what Synapse runs match `federation.partners`?

1. Synapse's running allow-list, probed: a server that is on no list must be refused
   ("Federation denied"); if it is not, Synapse federates with everyone. Each partner must
   not be refused.
2. Synapse's config file (`federation.synapse_config`), compared key by key with the fragment
   `yakuba federation` renders.
3. Each partner answers directly: server version, signing keys signed by the partner.
4. Rooms with members from servers that are not partners (the split-room pitfall: servers
   in one room must admit each other, or messages stop flowing — docs/federation.md).

Findings are (level, Message); errors make the exit code 1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from appservice.core.config import Config, server_of
from appservice.core.decisions import Message
from appservice.features.federation import probe
from appservice.features.federation.fragment import synapse_fragment
from appservice.matrix.admin import SynapseAdmin
from appservice.matrix.client import MatrixClient, MatrixError

# Reserved by RFC 2606: never a real server, so Synapse must refuse it if it has an allow-list.
CANARY = "yakuba-allowlist-canary.invalid"


@dataclass(frozen=True)
class Finding:
    level: str   # "ok", "warn", "error"
    message: Message


async def running_allow_list(client: MatrixClient, config: Config) -> list[Finding]:
    out: list[Finding] = []
    canary = await probe.through_synapse(client, CANARY, timeout_s=10)
    if canary.state == probe.DENIED:
        out.append(Finding("ok", Message("federation.check.allowlist_on")))
    else:
        out.append(Finding("error", Message("federation.check.allowlist_off")))
    results = await asyncio.gather(*(probe.through_synapse(client, p.server, timeout_s=10)
                                     for p in config.federation.partners))
    for p, reach in zip(config.federation.partners, results, strict=True):
        params = {"name": p.name, "server": p.server, "detail": reach.detail or "-", "ms": reach.ms or 0}
        key = {probe.OK: "federation.check.partner_ok", probe.DENIED: "federation.check.partner_denied",
               probe.UNREACHABLE: "federation.check.partner_unreachable"}.get(reach.state,
                                                                             "federation.check.partner_error")
        out.append(Finding("ok" if reach.state == probe.OK else "error", Message(key, params)))
    return out


def config_file(config: Config) -> list[Finding]:
    path = config.federation.synapse_config
    if path is None:
        return [Finding("warn", Message("federation.check.no_synapse_config"))]
    try:
        hs = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return [Finding("error", Message("federation.check.synapse_config_unreadable",
                                         {"path": str(path), "error": type(exc).__name__}))]
    if not isinstance(hs, dict):
        return [Finding("error", Message("federation.check.synapse_config_unreadable",
                                         {"path": str(path), "error": "not a mapping"}))]
    out: list[Finding] = []
    for key, want in synapse_fragment(config.federation).items():
        have = hs.get(key)
        if key == "federation_domain_whitelist" and have is None:
            out.append(Finding("error", Message("federation.check.file_allowlist_missing", {"path": str(path)})))
            continue
        same = sorted(have) == sorted(want) if isinstance(have, list) and isinstance(want, list) else have == want
        if not same:
            out.append(Finding("error" if key == "federation_domain_whitelist" else "warn",
                               Message("federation.check.file_differs",
                                       {"key": key, "have": _short(have), "want": _short(want)})))
    if not out:
        out.append(Finding("ok", Message("federation.check.file_matches", {"path": str(path)})))
    return out


def _short(value: Any) -> str:
    return str(value)[:200]


async def direct_partners(config: Config) -> list[Finding]:
    partners = config.federation.partners
    results = await asyncio.gather(*(probe.direct(p, config.federation.ca_file) for p in partners))
    out = []
    for p, d in zip(partners, results, strict=True):
        params = {"name": p.name, "server": p.server, "url": probe.base_url(p), "version": d.version,
                  "detail": d.detail or "-"}
        out.append(Finding("ok", Message("federation.check.direct_ok", params)) if d.ok else
                   Finding("error", Message("federation.check.direct_failed", params)))
    return out


async def split_rooms(admin: SynapseAdmin, config: Config) -> list[Finding]:
    """Rooms with joined members from servers that are neither this one nor a partner."""
    allowed = set(config.federation.servers) | {config.homeserver.server_name}
    out: list[Finding] = []
    for room in await admin.list_rooms():
        joined, local = room.get("joined_members"), room.get("joined_local_members")
        if isinstance(joined, int) and isinstance(local, int) and joined <= local:
            continue  # only local members: nothing to check
        room_id = str(room.get("room_id"))
        try:
            members = await admin.room_members(room_id)
        except MatrixError:
            continue
        foreign = sorted({server_of(m) for m in members} - allowed)
        if foreign:
            out.append(Finding("warn", Message("federation.check.split_room", {
                "room": str(room.get("name") or room_id)[:80], "room_id": room_id,
                "servers": ", ".join(s[:80] for s in foreign[:10])})))
    if not out:
        out.append(Finding("ok", Message("federation.check.no_split_rooms")))
    return out


async def run_check(config: Config, client: MatrixClient) -> list[Finding]:
    findings = await running_allow_list(client, config)
    findings += config_file(config)
    findings += await direct_partners(config)
    findings += await split_rooms(SynapseAdmin(client), config)
    return findings
