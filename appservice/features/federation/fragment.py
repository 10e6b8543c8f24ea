"""The Synapse settings that make Synapse's allow-list match `federation.partners` (pure).

Yakuba's config is the one place partners are listed; `yakuba federation` renders this
fragment for homeserver.yaml and `yakuba federation check` compares it with what Synapse runs.
"""

from __future__ import annotations

from typing import Any

import yaml

from appservice.core.config import FederationConfig
from appservice.core.i18n import t


def host_of(server: str) -> str:
    """The host of a server name, without the port ("[::1]:8448" → "::1")."""
    if server.startswith("["):
        return server[1:server.index("]")] if "]" in server else server
    return server.rsplit(":", 1)[0] if server.count(":") == 1 else server


def synapse_fragment(fed: FederationConfig) -> dict[str, Any]:
    frag: dict[str, Any] = {
        # Only these servers (the own name is not needed). An empty list: federate with no one.
        "federation_domain_whitelist": sorted(fed.servers),
        # Keys are fetched from each partner itself: a closed municipal network (LGWAN) does
        # not reach matrix.org, and a third party should not vouch for a partner's keys.
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
    }
    skip = sorted({host_of(p.server) for p in fed.partners if not p.tls_verify})
    if skip:
        frag["federation_certificate_verification_whitelist"] = skip
    if fed.ca_file is not None:
        frag["federation_custom_ca_list"] = [str(fed.ca_file)]
    return frag


def render_fragment(fed: FederationConfig, server_name: str, locale: str) -> str:
    header = t("federation.fragment.header", locale, server_name=server_name,
               partners=", ".join(f"{p.server} ({p.label(locale)})" for p in fed.partners) or "-")
    comment = "\n".join("# " + line if line else "#" for line in header.splitlines())
    body = yaml.safe_dump(synapse_fragment(fed), allow_unicode=True, sort_keys=False)
    return f"{comment}\n{body}"
