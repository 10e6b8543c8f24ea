"""S3-only behaviour: Object Lock retention, lazy boto3, buckets without Object Lock."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from appservice.lib.archive import RetentionPolicy, S3Backend
from appservice.lib.archive.retention import expiry_datetime, jst_date

from .test_archive_support import ROOM, locations, make_store, rec, s3_client

ADMIN = "@records-officer:city.example.jp"


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def test_import_does_not_need_boto3() -> None:
    code = ("import sys, appservice.lib.archive as a; "
            "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_object_lock_detected_and_applied(tmp_path: Path) -> None:
    store = make_store("s3", tmp_path)
    assert store.backend.enforces_retention
    store.append(ROOM, [rec(1, ts=_now_ms())])
    store.checkpoint(ROOM)
    client = store.backend.client
    (key,) = locations(store)
    head = client.head_object(Bucket=store.backend.bucket, Key=key)
    expected = expiry_datetime(jst_date(datetime.now(UTC)), 1)  # no policy: legal minimum
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] == expected
    # the object store itself refuses to delete the record data early
    with pytest.raises(ClientError) as exc:
        client.delete_object(Bucket=store.backend.bucket, Key=key, VersionId=head["VersionId"])
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_policy_extends_object_lock(tmp_path: Path) -> None:
    store = make_store("s3", tmp_path)
    media = store.put_media(b"scan", "scan.pdf", "application/pdf")
    store.append(ROOM, [rec(1, ts=_now_ms(), kind="media", media=media)])
    store.set_policy(ROOM, RetentionPolicy(10), set_by=ADMIN)
    client, bucket = store.backend.client, store.backend.bucket
    want = expiry_datetime(jst_date(datetime.now(UTC)), 10)
    (key,) = locations(store)
    assert client.head_object(Bucket=bucket, Key=key)["ObjectLockRetainUntilDate"] == want
    blob = f"yakuba/media/{media['sha256'][:2]}/{media['sha256'][2:4]}/{media['sha256']}"
    assert client.head_object(Bucket=bucket, Key=blob)["ObjectLockRetainUntilDate"] == want


def test_old_records_are_not_locked(tmp_path: Path) -> None:
    store = make_store("s3", tmp_path)
    store.append(ROOM, [rec(1)])  # June 2020: retention already over, nothing to lock
    (key,) = locations(store)
    head = store.backend.client.head_object(Bucket=store.backend.bucket, Key=key)
    assert "ObjectLockMode" not in head


def test_governance_mode(tmp_path: Path) -> None:
    store = make_store("s3", tmp_path)
    backend = S3Backend(store.backend.bucket, client=s3_client(), prefix="gov",
                        lock_mode="GOVERNANCE")
    store.backend = backend
    store.append(ROOM, [rec(1, ts=_now_ms())])
    (key,) = locations(store)
    head = backend.client.head_object(Bucket=backend.bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"


def test_bucket_without_object_lock(tmp_path: Path) -> None:
    store = make_store("s3", tmp_path, lock=False)
    assert not store.backend.enforces_retention
    assert "no Object Lock" in store.backend.description
    store.append(ROOM, [rec(1, ts=_now_ms())])
    store.checkpoint(ROOM)
    assert store.verify().ok


def test_second_writer_cannot_overwrite(tmp_path: Path) -> None:
    store = make_store("s3", tmp_path)
    store.append(ROOM, [rec(1)])
    other = make_store("s3", tmp_path)
    other.append(ROOM, [rec(2)])  # takes the next object key of the segment
    with pytest.raises(RuntimeError, match="another archive writer"):
        store.append(ROOM, [rec(3)])  # If-None-Match: fails instead of overwriting
    assert [r["event_id"] for r in store.read(ROOM)] == ["$ev1", "$ev2"]


def test_retain_until_never_in_the_past(tmp_path: Path) -> None:
    store = make_store("s3", tmp_path)
    past = datetime.now(UTC) - timedelta(days=1)
    assert store.backend._lock_args(past) == {}


def test_dispose_refused_while_object_lock_holds(tmp_path: Path) -> None:
    from appservice.lib.archive import DisposalRefused

    store = make_store("s3", tmp_path)
    store.append(ROOM, [rec(1)])  # 2020: due under 1 year …
    store.set_policy(ROOM, RetentionPolicy(1), set_by=ADMIN)
    (key,) = locations(store)
    client = store.backend.client
    until = datetime.now(UTC) + timedelta(days=30)
    client.put_object_retention(  # … but someone locked it longer (e.g. 訴訟 hold)
        Bucket=store.backend.bucket, Key=key,
        VersionId=client.head_object(Bucket=store.backend.bucket, Key=key)["VersionId"],
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
    with pytest.raises(DisposalRefused, match="Object Lock"):
        store.dispose(ROOM, ADMIN, "保存期間満了")
    assert store.disposal_records() == [] and len(list(store.read(ROOM))) == 1
