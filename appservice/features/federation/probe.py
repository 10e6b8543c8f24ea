"""Is a partner reachable? Two ways, each saying something different.

- Through our own Synapse (what matters for chat): ask it for a profile on the partner's
  server. Synapse makes a federation request; any answer from the partner (a profile, or "no
  such user") means the path works; `403 Federation denied` means Synapse's running allow-list
  refuses that server; 5xx means Synapse could not reach it (DNS, TLS, firewall — the cause is
  in homeserver.log).
- Directly, as another server would (`yakuba federation check` only): the partner's
  `/_matrix/federation/v1/version` and its signing keys `/_matrix/key/v2/server`, checked to be
  signed by the server they name.

Every probe has a deadline: an unreachable partner must not hold up a command.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from appservice.core.config import Partner
from appservice.features.federation.fragment import host_of
from appservice.matrix.client import MatrixClient, MatrixError, q

OK, DENIED, UNREACHABLE, ERROR = "ok", "denied", "unreachable", "error"
# A user nobody has: the partner answers "not found", which is enough — it answered.
PROBE_LOCALPART = "yakuba-federation-check"


@dataclass(frozen=True)
class Reach:
    state: str          # OK, DENIED, UNREACHABLE, ERROR
    detail: str = ""
    ms: int | None = None


async def through_synapse(client: MatrixClient, server: str, timeout_s: float = 5.0) -> Reach:
    started = time.monotonic()
    path = f"/_matrix/client/v3/profile/{q(f'@{PROBE_LOCALPART}:{server}')}"
    try:
        await asyncio.wait_for(client.request("GET", path, retries=0), timeout_s)
        state, detail = OK, ""
    except TimeoutError:
        state, detail = UNREACHABLE, f"no answer within {timeout_s:.0f} s"
    except MatrixError as exc:
        text = (exc.error or "")[:200]
        if exc.status == 403 and "federation denied" in text.lower():
            state, detail = DENIED, text
        elif exc.status in (403, 404):
            state, detail = OK, ""   # the partner answered (no such user / not shared)
        elif exc.transient:
            state, detail = UNREACHABLE, f"{exc.status} {text}".strip()
        else:
            state, detail = ERROR, f"{exc.status} {exc.errcode or ''} {text}".strip()
    return Reach(state, detail, int((time.monotonic() - started) * 1000))


@dataclass(frozen=True)
class Direct:
    ok: bool
    version: str = ""
    keys: str = ""      # "signed" when the keys are signed by the server they name
    detail: str = ""


def base_url(partner: Partner) -> str:
    """Where the partner's federation API is: its `address`, else the server name itself when
    it carries a port, else the default port 8448 (SRV and .well-known delegation are not
    followed here: give `address` for those)."""
    if partner.address:
        return f"https://{partner.address}"
    server = partner.server
    has_port = server.rsplit("]", 1)[-1].count(":") == 1
    return f"https://{server}" if has_port else f"https://{server}:8448"


def ssl_context(partner: Partner, ca_file: Path | None) -> ssl.SSLContext | bool:
    if not partner.tls_verify:
        return False
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    return ctx


async def direct(partner: Partner, ca_file: Path | None, timeout_s: float = 10.0) -> Direct:
    url = base_url(partner)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as sess:
            ssl_arg = ssl_context(partner, ca_file)
            # Through `address`, the certificate is still checked against the server's name.
            host = host_of(partner.server) if partner.address else None
            async with sess.get(url + "/_matrix/federation/v1/version", ssl=ssl_arg, server_hostname=host) as resp:
                body = await resp.json(content_type=None)
            server = body.get("server", {}) if isinstance(body, dict) else {}
            version = f"{server.get('name', '?')} {server.get('version', '?')}"[:80]
            async with sess.get(url + "/_matrix/key/v2/server", ssl=ssl_arg, server_hostname=host) as resp:
                keys = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError, ssl.SSLError, OSError) as exc:
        return Direct(False, detail=f"{type(exc).__name__}: {str(exc)[:200]}")
    verdict = check_keys(keys, partner.server)
    return Direct(verdict == "signed", version=version, keys=verdict,
                  detail="" if verdict == "signed" else verdict)


def check_keys(keys: Any, server: str) -> str:
    """"signed" if the key document names `server`, is still valid and is signed by one of the
    keys it lists; otherwise what is wrong."""
    from signedjson.key import decode_verify_key_bytes  # Synapse's own library (a dependency of it)
    from signedjson.sign import SignatureVerifyException, verify_signed_json
    from unpaddedbase64 import decode_base64

    if not isinstance(keys, dict):
        return "no key document"
    if keys.get("server_name") != server:
        return f"keys name another server: {str(keys.get('server_name'))[:80]}"
    valid_until = keys.get("valid_until_ts")
    if not isinstance(valid_until, int) or valid_until < time.time() * 1000:
        return "keys expired"
    verify_keys = keys.get("verify_keys")
    if not isinstance(verify_keys, dict) or not verify_keys:
        return "no verify keys"
    for key_id, entry in verify_keys.items():
        try:
            vk = decode_verify_key_bytes(key_id, decode_base64(entry["key"]))
            verify_signed_json(keys, server, vk)
            return "signed"
        except (SignatureVerifyException, KeyError, TypeError, ValueError):
            continue
    return "signature does not verify"
