"""Ed25519 keys and signed checkpoints.

A checkpoint states "room R had seq N with hash H at time T", signed.  Because H commits to
every earlier record, a signed checkpoint fixes the whole prefix: rewriting history then needs
the private key, which should live outside the archive root (see docs/archive.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .record import canonical


def public_path(private_path: Path) -> Path:
    return private_path.with_name(private_path.name.removesuffix(".key") + ".pub")


def key_id(public: Ed25519PublicKey) -> str:
    """Full SHA-256 fingerprint of the raw public key; officers record it at setup."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def ensure_signing_key(path: Path | str) -> str:
    """Create the private key (mode 0600) and its ``.pub`` if missing; return the key id."""
    path = Path(path)
    if path.exists():
        return key_id(load_private_key(path).public_key())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL + explicit mode: the key is never world-readable, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    pub = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path(path).write_bytes(pub)
    return key_id(private.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for p in paths:
        if not p.is_file():
            continue
        key = serialization.load_pem_public_key(p.read_bytes())
        if isinstance(key, Ed25519PublicKey):
            keys[key_id(key)] = key
    return keys


def sign(private: Ed25519PrivateKey, payload: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(payload)
    body["key_id"] = key_id(private.public_key())
    body["sig"] = base64.b64encode(private.sign(canonical(body))).decode("ascii")
    return body


def check(keys: Mapping[str, Ed25519PublicKey], signed: Mapping[str, Any]) -> str | None:
    """None when the signature is good, else a short reason."""
    kid = signed.get("key_id")
    key = keys.get(str(kid))
    if key is None:
        return f"signed by unknown key {str(kid)[:16]}…"
    body = {k: v for k, v in signed.items() if k != "sig"}
    try:
        key.verify(base64.b64decode(str(signed.get("sig", ""))), canonical(body))
    except (InvalidSignature, ValueError):
        return "signature does not verify"
    return None
