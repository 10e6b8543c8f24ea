"""Shared helpers for the archive tests (no tests here).

Backends are parametrised: every store-level case runs against the filesystem backend and
against the S3 backend talking to a real ``moto_server`` subprocess on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from appservice.lib.archive import ArchiveStore, FsBackend, S3Backend, ensure_signing_key

BACKENDS = ["fs", "s3"]
ROOM = "!RoomA:city.example.jp"
OTHER_ROOM = "!RoomB:city.example.jp"
MS_2020_06_01 = 1590969600000  # 2020-06-01T00:00:00Z (FY2020)

_moto: dict[str, Any] = {}


def moto_endpoint() -> str:
    """Start one moto_server for the whole test run (in-memory S3 stand-in)."""
    if "url" in _moto:
        return str(_moto["url"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

    atexit.register(stop)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.05)
    _moto["url"] = f"http://127.0.0.1:{port}"
    _moto["proc"] = proc
    return str(_moto["url"])


def s3_client() -> Any:
    import boto3

    return boto3.client(
        "s3", endpoint_url=moto_endpoint(), region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )


def bucket_for(tmp_path: Path, lock: bool = True) -> str:
    """One bucket per test (derived from tmp_path so a reopened store finds it again)."""
    name = "arc-" + hashlib.sha256(f"{tmp_path}{lock}".encode()).hexdigest()[:20]
    client = s3_client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if name not in existing:
        client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=lock)
    return name


def make_backend(kind: str, tmp_path: Path, *, lock: bool = True) -> Any:
    if kind == "fs":
        return FsBackend(tmp_path / "archive")
    return S3Backend(bucket_for(tmp_path, lock), client=s3_client(), prefix="yakuba")


def make_store(kind: str, tmp_path: Path, **kwargs: Any) -> ArchiveStore:
    key = tmp_path / "keys" / "archive-ed25519.key"
    ensure_signing_key(key)
    lock = kwargs.pop("lock", True)
    return ArchiveStore(
        tmp_path / "archive", backend=make_backend(kind, tmp_path, lock=lock),
        signing_key=key, **kwargs,
    )


def rec(i: int, *, ts: int | None = None, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"$ev{i}",
        "kind": "message",
        "ts": ts if ts is not None else MS_2020_06_01 + i * 60_000,
        "sender": "@tanaka:city.example.jp",
        "display_name": "田中 太郎",
        "affiliation": {"department": "総務課", "title": "主事"},
        "room_name": "総務課連絡",
        "msgtype": "m.text",
        "body": f"本日の会議は{i}時からです",
    }
    base.update(kw)
    return base


# -- raw access for tampering ---------------------------------------------------------------------
def locations(store: ArchiveStore, room_id: str = ROOM) -> list[str]:
    """Files (fs) or objects (s3) holding the room's records, in order."""
    seen: list[str] = []
    for line in store.iter_lines(room_id):
        if line.location not in seen:
            seen.append(line.location)
    return seen


def read_raw(store: ArchiveStore, location: str) -> bytes:
    backend = store.backend
    if isinstance(backend, FsBackend):
        return (backend.root / location).read_bytes()
    return bytes(backend.client.get_object(Bucket=backend.bucket, Key=location)["Body"].read())


def write_raw(store: ArchiveStore, location: str, data: bytes) -> None:
    """Overwrite in place (on a versioned S3 bucket this adds a new current version)."""
    backend = store.backend
    if isinstance(backend, FsBackend):
        (backend.root / location).write_bytes(data)
    else:
        backend.client.put_object(Bucket=backend.bucket, Key=location, Body=data)


def delete_raw(store: ArchiveStore, location: str) -> None:
    backend = store.backend
    if isinstance(backend, FsBackend):
        (backend.root / location).unlink()
    else:
        backend.client.delete_object(Bucket=backend.bucket, Key=location)  # delete marker


def find_line(store: ArchiveStore, seq: int, room_id: str = ROOM) -> tuple[str, int]:
    for line in store.iter_lines(room_id):
        if f'"seq":{seq},'.encode() in line.data:
            return line.location, line.line_no
    raise AssertionError(f"seq {seq} not found")


def edit_lines(store: ArchiveStore, location: str, fn: Any) -> None:
    lines = read_raw(store, location).splitlines(keepends=True)
    write_raw(store, location, b"".join(fn(lines)))
