"""The retention: section — defaults, errors naming their key, and the S3 backend against moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appservice.core.configerror import ConfigError
from appservice.features.retention.config import RetentionSettings
from appservice.lib.archive import ArchiveStore, FsBackend, S3Backend, ensure_signing_key

from .test_archive_support import bucket_for, moto_endpoint
from .test_retention_support import fresh_logging  # noqa: F401  (autouse fixture)


def parse(data: Any, tmp: Path) -> RetentionSettings:
    return RetentionSettings.parse(data, data_dir=tmp / "data", base=tmp)


def test_defaults(tmp_path: Path) -> None:
    s = parse(None, tmp_path)
    assert not s.enabled and s.backend == "filesystem"
    assert s.root == tmp_path / "data" / "archive"
    assert s.key_path == tmp_path / "data" / "archive" / "keys" / "archive-ed25519.key"
    assert s.checkpoint_every == 1000 and s.make_backend() is None


def test_paths_resolve_against_the_config_dir(tmp_path: Path) -> None:
    (tmp_path / "staff.yaml").write_text("[]")
    s = parse({"enabled": True, "root": "arc", "directory": "staff.yaml", "signing_key": "/etc/k.key",
               "checkpoint_every": 50}, tmp_path)
    assert s.root == tmp_path / "arc" and s.directory == tmp_path / "staff.yaml"
    assert s.key_path == Path("/etc/k.key") and s.checkpoint_every == 50
    ensure_signing_key(tmp_path / "k.key")
    store = RetentionSettings(root=tmp_path / "arc", signing_key=tmp_path / "k.key",
                              checkpoint_every=7).make_store()
    assert isinstance(store, ArchiveStore) and isinstance(store.backend, FsBackend)
    assert store.checkpoint_every == 7


@pytest.mark.parametrize("data,key", [
    ("yes", "retention"),
    ({"enabled": "yes"}, "retention.enabled"),
    ({"backend": "ftp"}, "retention.backend"),
    ({"bakend": "s3"}, "retention.bakend"),
    ({"root": 5}, "retention.root"),
    ({"directory": "missing.csv"}, "retention.directory"),
    ({"checkpoint_every": 0}, "retention.checkpoint_every"),
    ({"checkpoint_every": True}, "retention.checkpoint_every"),
    ({"media_max_bytes": "big"}, "retention.media_max_bytes"),
    ({"backend": "s3"}, "retention.s3"),
    ({"backend": "s3", "s3": {}}, "retention.s3.bucket"),
    ({"backend": "s3", "s3": "bucket"}, "retention.s3"),
    ({"backend": "s3", "s3": {"bucket": "b", "lock_mode": "STRICT"}}, "retention.s3.lock_mode"),
    ({"backend": "s3", "s3": {"bucket": "b", "endpoint_url": "minio:9000"}}, "retention.s3.endpoint_url"),
    ({"backend": "s3", "s3": {"bucket": "b", "secret_access_key": "x"}}, "retention.s3.secret_access_key"),
])
def test_errors_name_the_key(tmp_path: Path, data: Any, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(data, tmp_path)
    assert exc.value.path == key


def test_s3_backend_against_moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The retention-level S3 settings build a working store (moto_server on loopback, an
    in-memory stand-in for S3 — not a real object store)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = bucket_for(tmp_path)
    ensure_signing_key(tmp_path / "k.key")
    s = parse({"enabled": True, "backend": "s3", "signing_key": str(tmp_path / "k.key"),
               "s3": {"bucket": bucket, "prefix": "city", "endpoint_url": moto_endpoint(),
                      "region": "us-east-1", "lock_mode": "GOVERNANCE"}}, tmp_path)
    store = s.make_store()
    assert isinstance(store.backend, S3Backend) and store.backend.lock_mode == "GOVERNANCE"
    room = "!r:city-a.localhost"
    store.append(room, [{"event_id": "$1", "kind": "message", "ts": 1_763_700_000_000, "body": "x"}])
    store.close()
    again = s.make_store()
    assert [r["event_id"] for r in again.read(room)] == ["$1"]
    assert again.verify(room).ok
    keys = [o["Key"] for o in again.backend.client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert all(k.startswith("city/") for k in keys)
