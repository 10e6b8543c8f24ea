"""The archive on a real S3 server with Object Lock: SeaweedFS (tests/s3_server.py), a bucket in
COMPLIANCE mode. What moto (the unit tests' stand-in) cannot prove: that the server itself
refuses to delete or shorten a locked record, that disposal works only once retain-until has
passed, that `yakuba archive verify` reads the S3 copy, that a restart of the S3 server in the
middle of a stream of writes loses nothing, and that the start-up probe refuses a server which
ignores `If-None-Match: *` (as Ceph RADOS Gateway does on locked buckets).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError, EndpointConnectionError

from appservice.lib.archive import (
    ArchiveStore,
    DisposalRefused,
    RetentionPolicy,
    S3Backend,
    ensure_signing_key,
    layout,
)
from appservice.lib.archive.retention import expiry_datetime, jst_date
from appservice.lib.archive.s3_backend import ConditionalWritesNotEnforced
from tests.s3_server import SeaweedS3
from tests.unit.test_archive_support import ROOM, locations, rec

pytestmark = pytest.mark.integration
ADMIN = "@records-officer:city.example.jp"


@pytest.fixture(scope="module")
def seaweed() -> Iterator[SeaweedS3]:
    s3 = SeaweedS3.start()
    try:
        yield s3
    finally:
        s3.stop()


@pytest.fixture
def bucket(seaweed: SeaweedS3) -> str:
    return seaweed.create_locked_bucket("arc-" + uuid.uuid4().hex[:12])


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def open_store(seaweed: SeaweedS3, bucket: str, tmp_path: Path, client: Any = None) -> ArchiveStore:
    key = tmp_path / "keys" / "archive-ed25519.key"
    ensure_signing_key(key)
    backend = S3Backend(bucket, prefix="yakuba", client=client or seaweed.client())
    return ArchiveStore(tmp_path / "archive", backend=backend, signing_key=key, checkpoint_every=5)


def versions(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    listing = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in listing.get("Versions", []) if v["Key"] == key]


def test_records_and_checkpoints_are_written_under_compliance_lock(seaweed, bucket, tmp_path):
    store = open_store(seaweed, bucket, tmp_path)
    assert store.backend.enforces_retention and "COMPLIANCE" in store.backend.description
    store.append(ROOM, [rec(i, ts=now_ms()) for i in range(1, 8)])  # checkpoint_every=5
    store.checkpoint(ROOM)
    client = store.backend.client
    expected = expiry_datetime(jst_date(datetime.now(UTC)), 1)  # no policy yet: the legal minimum
    record_keys = locations(store)
    checkpoint_keys = [k["Key"] for k in client.list_objects_v2(
        Bucket=bucket, Prefix="yakuba/" + layout.CHECKPOINTS).get("Contents", [])]
    assert record_keys and checkpoint_keys
    for key in record_keys + checkpoint_keys:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
        assert head["ObjectLockRetainUntilDate"] >= expected, key
    # a longer policy lengthens the lock on what is already stored, on the server
    store.set_policy(ROOM, RetentionPolicy(10), set_by=ADMIN)
    want = expiry_datetime(jst_date(datetime.now(UTC)), 10)
    for key in record_keys:
        assert client.head_object(Bucket=bucket, Key=key)["ObjectLockRetainUntilDate"] == want
    report = store.verify()
    assert report.ok, report.problems
    assert report.records == 7 and report.checkpoints >= 1


def test_the_server_refuses_to_delete_overwrite_or_shorten_a_locked_record(seaweed, bucket, tmp_path):
    store = open_store(seaweed, bucket, tmp_path)
    store.append(ROOM, [rec(1, ts=now_ms())])
    store.checkpoint(ROOM)
    client = store.backend.client
    (key,) = locations(store)
    original = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    head = client.head_object(Bucket=bucket, Key=key)
    version = head["VersionId"]
    # delete the data (by version): refused
    with pytest.raises(ClientError) as exc:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    # shorten the lock, or switch it to GOVERNANCE: refused
    for retention in ({"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(days=2)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": head["ObjectLockRetainUntilDate"]}):
        with pytest.raises(ClientError):
            client.put_object_retention(Bucket=bucket, Key=key, VersionId=version, Retention=retention)
    assert client.head_object(Bucket=bucket, Key=key)["ObjectLockRetainUntilDate"] == head["ObjectLockRetainUntilDate"]
    # overwrite as the archive writes (If-None-Match): refused
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key=key, Body=b"forged\n", IfNoneMatch="*")
    assert exc.value.response["Error"]["Code"] == "PreconditionFailed"
    # a plain overwrite only stacks a new version on top: the locked one is still there, intact,
    # and verify reports the forged current version
    client.put_object(Bucket=bucket, Key=key, Body=b'{"forged": true}\n')
    kept = [v for v in versions(client, bucket, key) if v["VersionId"] == version]
    assert kept, "the locked version disappeared"
    assert client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read() == original
    assert not store.verify().ok


def test_disposal_only_after_retain_until(seaweed, bucket, tmp_path):
    store = open_store(seaweed, bucket, tmp_path)
    store.append(ROOM, [rec(1), rec(2)])  # June 2020: past a 1-year retention long ago …
    store.set_policy(ROOM, RetentionPolicy(1), set_by=ADMIN)
    client = store.backend.client
    (key,) = locations(store)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    client.put_object_retention(  # … but the server holds it a few seconds more (e.g. a 訴訟 hold)
        Bucket=bucket, Key=key, VersionId=client.head_object(Bucket=bucket, Key=key)["VersionId"],
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
    assert [d.room_id for d in store.due()] == [ROOM]
    with pytest.raises(DisposalRefused, match="Object Lock"):
        store.dispose(ROOM, ADMIN, "保存期間満了")
    assert len(list(store.read(ROOM))) == 2 and store.disposal_records() == []
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.5)
    result = store.dispose(ROOM, ADMIN, "保存期間満了")
    assert sum(s.records for s in result.segments) == 2 and not result.leftovers
    assert versions(client, bucket, key) == []  # the data itself is gone, not hidden
    assert list(store.read(ROOM)) == []
    assert [r["kind"] for r in store.disposal_records()] == ["disposal"]
    assert store.verify().ok


def test_yakuba_archive_verify_reads_the_s3_copy(seaweed, bucket, tmp_path):
    store = open_store(seaweed, bucket, tmp_path)
    store.append(ROOM, [rec(i, ts=now_ms()) for i in range(1, 4)])
    store.close()
    cfg = {
        "homeserver": {"url": "http://127.0.0.1:9", "server_name": "city-a.localhost"},
        "appservice": {"registration": str(tmp_path / "registration.yaml")},
        "data_dir": str(tmp_path),
        "retention": {"enabled": True, "backend": "s3", "root": str(tmp_path / "archive"),
                      "signing_key": str(tmp_path / "keys" / "archive-ed25519.key"),
                      "s3": {"bucket": bucket, "prefix": "yakuba", "endpoint_url": seaweed.endpoint,
                             "region": "us-east-1"}},
    }
    (tmp_path / "registration.yaml").write_text(yaml.safe_dump(
        {"id": "yakuba", "as_token": "a" * 32, "hs_token": "h" * 32, "sender_localpart": "_yakuba_appservice",
         "url": "http://127.0.0.1:9", "namespaces": {"users": [], "rooms": [], "aliases": []}}))
    (tmp_path / "yakuba.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, **seaweed.env()}
    res = subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(tmp_path / "yakuba.yaml"),
                          "archive", "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "records=3" in res.stdout and "OK" in res.stdout
    # tamper with the S3 copy: the same command now fails
    client = seaweed.client()
    (key,) = locations(open_store(seaweed, bucket, tmp_path))
    client.put_object(Bucket=bucket, Key=key, Body=b'{"seq":1}\n')
    res = subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(tmp_path / "yakuba.yaml"),
                          "archive", "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode != 0 and "NG" in res.stdout, res.stdout + res.stderr


class _DropsIfNoneMatch:
    """A client that behaves like Ceph RADOS Gateway on a locked bucket: If-None-Match is ignored."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_object(self, **kwargs: Any) -> Any:
        kwargs.pop("IfNoneMatch", None)
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_start_refuses_a_server_that_ignores_conditional_writes(seaweed, bucket):
    S3Backend(bucket, prefix="yakuba", client=seaweed.client())  # the real server: accepted
    with pytest.raises(ConditionalWritesNotEnforced, match="If-None-Match"):
        S3Backend(bucket, prefix="yakuba", client=_DropsIfNoneMatch(seaweed.client()))
    # the probe cleans up after itself (its objects carry no lock)
    left = seaweed.client().list_object_versions(Bucket=bucket, Prefix="yakuba/.yakuba-probe/")
    assert not left.get("Versions") and not left.get("DeleteMarkers")


class _LosesFirstAnswer:
    """The write lands on the server, then the connection drops before the answer arrives."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.armed = False

    def put_object(self, **kwargs: Any) -> Any:
        answer = self._client.put_object(**kwargs)
        if self.armed and kwargs["Key"].endswith(".jsonl"):
            self.armed = False
            raise EndpointConnectionError(endpoint_url="lost answer")
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_write_whose_answer_was_lost_is_not_taken_for_a_second_writer(seaweed, bucket, tmp_path):
    client = _LosesFirstAnswer(seaweed.client())
    store = open_store(seaweed, bucket, tmp_path, client=client)
    store.append(ROOM, [rec(1, ts=now_ms())])
    client.armed = True
    second = rec(2, ts=now_ms())  # the retry re-reads the same event (the inbox keeps it)
    with pytest.raises(EndpointConnectionError):
        store.append(ROOM, [second])
    store.append(ROOM, [second])  # the retry finds its own bytes there: done
    store.append(ROOM, [rec(3, ts=now_ms())])
    assert [r["event_id"] for r in store.read(ROOM)] == ["$ev1", "$ev2", "$ev3"]
    assert store.verify().ok


def test_s3_server_restart_mid_stream_loses_nothing(seaweed, bucket, tmp_path):
    """A writer appends one record at a time and retries failures (as the retention feature's
    retry table does); SeaweedFS is SIGKILLed after the 20th record and started again. Every
    record is there exactly once, in order, and the chain verifies."""
    store = open_store(seaweed, bucket, tmp_path, client=seaweed.client(retries=0))
    total, failures = 60, []
    stop_at = threading.Event()

    def writer() -> None:
        for i in range(1, total + 1):
            while True:
                try:
                    store.append(ROOM, [rec(i, ts=now_ms())])
                    break
                except Exception as exc:  # the server is down: keep the record, try again
                    failures.append(type(exc).__name__)
                    time.sleep(0.2)
            if i == 20:
                stop_at.set()

    t = threading.Thread(target=writer)
    t.start()
    assert stop_at.wait(60)
    seaweed.kill()
    time.sleep(1.0)
    seaweed.run()
    t.join(180)
    assert not t.is_alive()
    assert failures, "the writer never noticed the S3 server was gone"
    ids = [r["event_id"] for r in store.read(ROOM)]
    assert ids == [f"$ev{i}" for i in range(1, total + 1)]
    fresh = open_store(seaweed, bucket, tmp_path)  # what another process reads back
    assert [r["seq"] for r in fresh.read(ROOM)] == list(range(1, total + 1))
    assert fresh.verify().ok
