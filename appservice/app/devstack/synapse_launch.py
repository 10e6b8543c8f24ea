"""Start Synapse with names under `.localhost` resolving to loopback (dev and tests only).

RFC 6761 reserves `.localhost` for loopback, but this machine's resolver (nsswitch `files
dns`) does not resolve `city-b.localhost`, so two local Synapses named city-a.localhost:PORT
and city-b.localhost:PORT could not find each other. Twisted binds `socket.getaddrinfo` when
it is imported, so the patch must come first; then Synapse runs exactly as
`python -m synapse.app.homeserver`. Production never uses this module.
"""

from __future__ import annotations

import runpy
import socket
import sys
from typing import Any

_getaddrinfo = socket.getaddrinfo


def _loopback_for_localhost(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


def main() -> None:
    socket.getaddrinfo = _loopback_for_localhost
    sys.argv[0] = "synapse.app.homeserver"
    runpy.run_module("synapse.app.homeserver", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
