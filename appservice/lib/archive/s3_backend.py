"""S3 backend: S3 cannot append, so each append batch is its own object under the log's prefix.

``<prefix><log name>/<000000000001>.jsonl`` … in order.  When the bucket has Object Lock enabled,
every object is written with ``ObjectLockMode`` and ``ObjectLockRetainUntilDate`` = the end of
its records' retention period, so even the bucket owner cannot delete it early (COMPLIANCE).
boto3 is imported lazily: it is only needed when this backend is used (extra ``yakuba[s3]``).

Every object is written with ``If-None-Match: *``: a second writer fails instead of overwriting a
part of the chain. Some S3-compatible servers ignore that header (Ceph RADOS Gateway does on
versioned and Object Lock buckets: it stores a new version), so at start the backend writes a
probe key twice and refuses to run where the second write is accepted.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from .backend import LogLine

log = structlog.get_logger(__name__)

_PART = re.compile(r"/(\d{12})\.jsonl$")
# Never ask for a retain-until date that is already (nearly) past: S3 rejects it, and there is
# nothing left to protect anyway.
_MIN_LOCK = timedelta(minutes=5)
_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict")
PROBE_PREFIX = ".yakuba-probe/"


class ConditionalWritesNotEnforced(RuntimeError):
    """The server accepted a second ``If-None-Match: *`` write of the same key."""


class S3Backend:
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        lock_mode: str = "COMPLIANCE",
        conditional_writes: bool = True,
        **client_kwargs: Any,
    ) -> None:
        if lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ValueError("lock_mode must be COMPLIANCE or GOVERNANCE")
        if client is None:
            import boto3  # lazy: boto3 is an optional dependency

            client = boto3.client(
                "s3", endpoint_url=endpoint_url, region_name=region_name, **client_kwargs
            )
        from botocore.exceptions import ClientError

        self._ClientError = ClientError
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.lock_mode = lock_mode
        self.conditional_writes = conditional_writes
        self.object_lock = self._detect_object_lock()
        if conditional_writes:
            self.probe_conditional_writes()
        self.enforces_retention = self.object_lock
        self.description = f"s3://{bucket}/{self.prefix}" + (
            f" (Object Lock {lock_mode})" if self.object_lock else " (no Object Lock)"
        )
        self._next: dict[str, int] = {}
        self._mutex = threading.Lock()
        self._writer = threading.RLock()

    def _code(self, exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def _detect_object_lock(self) -> bool:
        try:
            conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except self._ClientError as exc:
            # Not configured, or an S3-compatible store without the API: run without locks.
            log.info("archive.s3_object_lock_unavailable", bucket=self.bucket, code=self._code(exc))
            return False
        enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        log.info("archive.s3_object_lock", bucket=self.bucket, enabled=enabled)
        return enabled

    def probe_conditional_writes(self) -> None:
        """Write a fresh probe key twice with ``If-None-Match: *``; the second write must be
        refused (412). Raises ConditionalWritesNotEnforced where the server accepts it."""
        key = f"{self.prefix}{PROBE_PREFIX}{uuid.uuid4().hex}"
        args = {"Bucket": self.bucket, "Key": key, "IfNoneMatch": "*"}
        try:
            self.client.put_object(Body=b"first", **args)
        except self._ClientError as exc:
            if self._code(exc) in ("AccessDenied", "Forbidden", "403"):
                raise  # the credentials may not write here: a permission problem, said as such
            raise ConditionalWritesNotEnforced(
                f"s3://{self.bucket}: the server refused a write with If-None-Match ({self._code(exc)}); "
                "Yakuba's archive needs conditional writes so that a second writer can never overwrite "
                "a record. Use an S3 server that supports them (AWS S3, SeaweedFS ≥ 4, MinIO).") from exc
        try:
            self.client.put_object(Body=b"second", **args)
        except self._ClientError as exc:
            if self._code(exc) not in _CONFLICT:
                raise
            log.info("archive.s3_conditional_writes", bucket=self.bucket, enforced=True)
            return
        finally:
            self._remove_probe(key)
        raise ConditionalWritesNotEnforced(
            f"s3://{self.bucket}: the server accepted a second write of the same key with "
            "If-None-Match: * (Ceph RADOS Gateway does this on versioned and Object Lock buckets). "
            "A second archive writer could then overwrite records unnoticed, so Yakuba refuses to "
            "run on this bucket. Use an S3 server that enforces conditional writes (AWS S3, "
            "SeaweedFS ≥ 4, MinIO).")

    def _remove_probe(self, key: str) -> None:
        """Best effort: the probe objects carry no retention of their own (a bucket default
        retention would keep them; they are a few bytes under .yakuba-probe/)."""
        try:
            versions = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
            for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                self.client.delete_object(Bucket=self.bucket, Key=v["Key"], VersionId=v["VersionId"])
        except self._ClientError as exc:
            log.info("archive.s3_probe_left", bucket=self.bucket, code=self._code(exc))

    def _lock_args(self, retain_until: datetime | None) -> dict[str, Any]:
        if not self.object_lock or retain_until is None:
            return {}
        if retain_until <= datetime.now(UTC) + _MIN_LOCK:
            return {}
        return {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": retain_until}

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    def _put(self, key: str, data: bytes, retain_until: datetime | None) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": data}
        if self.conditional_writes:
            args["IfNoneMatch"] = "*"  # a second writer must fail, never overwrite
        args.update(self._lock_args(retain_until))
        self.client.put_object(**args)

    # -- logs ------------------------------------------------------------------------------------
    def append_log(self, name: str, data: bytes, *, retain_until: datetime | None = None) -> str:
        with self._mutex:
            if name not in self._next:
                parts = [int(m.group(1)) for k in self._keys(name + "/") if (m := _PART.search(k))]
                self._next[name] = max(parts, default=0) + 1
            n = self._next[name]
            key = f"{self.prefix}{name}/{n:012d}.jsonl"
            try:
                self._put(key, data, retain_until)
            except Exception as exc:
                # Whatever failed, the write may still have landed (a lost answer): count the
                # parts again next time; the store reloads the log and finds its records there.
                self._next.pop(name, None)
                if isinstance(exc, self._ClientError) and self._code(exc) in _CONFLICT:
                    raise RuntimeError(f"{key} already exists: another archive writer?") from exc
                raise
            self._next[name] = n + 1
            return key

    def read_log(self, name: str) -> Iterator[LogLine]:
        for key in self._keys(name + "/"):
            if not _PART.search(key):
                continue
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            for i, line in enumerate(body.splitlines(keepends=True), 1):
                yield LogLine(key, i, line)

    def list_logs(self, prefix: str) -> list[str]:
        names = set()
        for key in self._keys(prefix):
            m = _PART.search(key)
            if m:
                names.add(key[len(self.prefix) : m.start()])
        return sorted(names)

    def _delete_all_versions(self, key_prefix: str, exact: bool) -> list[str]:
        removed: list[str] = []
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key_prefix):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if exact and v["Key"] != key_prefix:
                    continue
                # Deleting by VersionId removes the data itself, not just hides it behind a
                # delete marker; Object Lock refuses this until retain-until has passed.
                self.client.delete_object(
                    Bucket=self.bucket, Key=v["Key"], VersionId=v["VersionId"]
                )
                if v["Key"] not in removed:
                    removed.append(v["Key"])
        return removed

    def delete_log(self, name: str) -> list[str]:
        with self._mutex:
            self._next.pop(name, None)
        return self._delete_all_versions(f"{self.prefix}{name}/", exact=False)

    def repair_tail(self, name: str) -> str | None:
        return None  # objects are written atomically: there is no torn tail to repair

    # -- blobs -----------------------------------------------------------------------------------
    def put_blob(self, name: str, data: bytes, *, retain_until: datetime | None = None) -> bool:
        key = self.prefix + name
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return False
        except self._ClientError as exc:
            if self._code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise
        try:
            self._put(key, data, retain_until)
        except self._ClientError as exc:
            if self._code(exc) in _CONFLICT:
                return False  # same content raced in: content-addressed, so that is fine
            raise
        return True

    def get_blob(self, name: str) -> bytes | None:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except self._ClientError as exc:
            if self._code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return bytes(obj["Body"].read())

    def list_blobs(self, prefix: str) -> list[str]:
        return [k[len(self.prefix) :] for k in self._keys(prefix)]

    def delete_blob(self, name: str) -> None:
        self._delete_all_versions(self.prefix + name, exact=True)

    def extend_retention(self, name: str, until: datetime, *, blob: bool = False) -> None:
        if not self.object_lock or until <= datetime.now(UTC) + _MIN_LOCK:
            return
        keys = [self.prefix + name] if blob else self._keys(name + "/")
        for key in keys:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            current = head.get("ObjectLockRetainUntilDate")
            if current is not None and current >= until:
                continue  # retention can only be lengthened, never shortened
            self.client.put_object_retention(
                Bucket=self.bucket,
                Key=key,
                VersionId=head.get("VersionId"),
                Retention={"Mode": self.lock_mode, "RetainUntilDate": until},
            )

    def locked_until(self, name: str) -> datetime | None:
        if not self.object_lock:
            return None
        latest = None
        for key in self._keys(name + "/"):
            until = self.client.head_object(Bucket=self.bucket, Key=key).get(
                "ObjectLockRetainUntilDate")
            if until is not None and (latest is None or until > latest):
                latest = until
        return latest

    # -- coordination ----------------------------------------------------------------------------
    def lock(self) -> AbstractContextManager[Any]:
        # In-process only: one writer process (the bot) per bucket/prefix.  Conditional writes
        # (If-None-Match) make a second writer process fail loudly instead of overwriting.
        return self._writer

    def generation(self) -> object:
        return None

    def close(self) -> None:
        return None
