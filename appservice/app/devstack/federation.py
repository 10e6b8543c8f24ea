"""Federation for the local stacks (`make run-federation`, the federated tests): a TLS
certificate for loopback server names and the Synapse settings that let two or three local
Synapses federate — the partner part rendered by the federation feature from
`federation.partners`, exactly as for production, plus what only loopback needs.

Facts this relies on (../shared/notes/federation-facts.md): outbound federation is always
HTTPS, so the federation listener needs `tls: true`; loopback is in Synapse's default IP
blocklist (`ip_range_whitelist`); a certificate verifies for `city-b.localhost` only with that
name as an explicit SAN and CA:TRUE when it is its own CA; ports below 32768 bind reliably.
"""

from __future__ import annotations

import datetime as dt
import random
import socket
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appservice.core.config import FederationConfig, Partner
from appservice.features.federation.fragment import host_of, synapse_fragment
from appservice.lib.secret_files import write_secret_file


def low_port(taken: set[int] | None = None) -> int:
    """A free loopback port below the ephemeral range (TIME-WAIT there can refuse a bind)."""
    taken = taken if taken is not None else set()
    for _ in range(200):
        port = random.randint(20000, 32000)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free port below 32768")


def certificate(directory: Path, server_names: list[str]) -> tuple[Path, Path]:
    """One self-signed certificate (its own CA) for every local server's host name: each
    Synapse serves it and trusts it through `federation_custom_ca_list`, so certificate
    verification stays on, as in production. Written once; reused."""
    crt, key = directory / "federation.crt", directory / "federation.key"
    if crt.exists() and key.exists():
        return crt, key
    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yakuba local federation")])
    now = dt.datetime.now(dt.UTC)
    hosts = sorted({host_of(s) for s in server_names})
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(private, hashes.SHA256()))
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_secret_file(key, private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()).decode())
    return crt, key


def synapse_settings(fed_port: int, crt: Path, key: Path, partners: list[Partner]) -> dict[str, Any]:
    """What `synapse.generate(federation=…)` merges into homeserver.yaml."""
    settings = synapse_fragment(FederationConfig(partners=tuple(partners), ca_file=crt))
    settings.update({
        "listener": {"port": fed_port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": True,
                     "x_forwarded": False, "resources": [{"names": ["federation"], "compress": False}]},
        "tls_certificate_path": str(crt),
        "tls_private_key_path": str(key),
        "ip_range_whitelist": ["127.0.0.0/8"],   # loopback only: the peers are on this machine
    })
    return settings
