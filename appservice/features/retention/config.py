"""The `retention:` section of yakuba.yaml, validated; every error names its key.

```yaml
retention:
  enabled: true
  backend: filesystem            # or s3
  root: /var/lib/yakuba/archive  # filesystem backend (default: <data_dir>/archive)
  directory: /etc/yakuba/staff.csv
  signing_key: /etc/yakuba/archive-ed25519.key
  checkpoint_every: 1000
  s3: {bucket: yakuba-archive, prefix: yakuba, endpoint_url: https://minio.example:9000}
```
S3 credentials come from the standard AWS chain (environment, ~/.aws, instance role), never
from yakuba.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appservice.core.configerror import ConfigError

if TYPE_CHECKING:
    from appservice.core.config import Config
    from appservice.lib.archive import ArchiveStore, Backend

KEYS = ("enabled", "backend", "root", "directory", "signing_key", "checkpoint_every", "s3",
        "media_max_bytes", "export_max_bytes")
S3_KEYS = ("bucket", "prefix", "endpoint_url", "region", "lock_mode")
BACKENDS = ("filesystem", "s3")
_MIB = 1024 * 1024


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str = "yakuba"
    endpoint_url: str | None = None
    region: str | None = None
    lock_mode: str = "COMPLIANCE"


@dataclass(frozen=True)
class RetentionSettings:
    enabled: bool = False
    backend: str = "filesystem"
    root: Path = Path("var/archive")
    directory: Path | None = None
    signing_key: Path | None = None  # None: <root>/keys/archive-ed25519.key
    checkpoint_every: int = 1000
    s3: S3Settings | None = None
    media_max_bytes: int = 50 * _MIB
    export_max_bytes: int = 45 * _MIB  # below Synapse's default max_upload_size (50M)

    @classmethod
    def parse(cls, data: Any, *, data_dir: Path, base: Path | None = None) -> RetentionSettings:
        """`base`: where relative paths are resolved (the config file's directory)."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError("retention", f"expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise ConfigError(f"retention.{unknown[0]}", f"unknown key (known: {', '.join(KEYS)})")
        base = base or Path.cwd()

        enabled = data.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError("retention.enabled", f"expected true or false, got {enabled!r}")
        backend = data.get("backend", "filesystem")
        if backend not in BACKENDS:
            raise ConfigError("retention.backend", f"expected one of {', '.join(BACKENDS)}, got {backend!r}")

        def path(key: str) -> Path | None:
            value = data.get(key)
            if value is None:
                return None
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"retention.{key}", f"expected a file path, got {value!r}")
            p = Path(value).expanduser()
            return p if p.is_absolute() else base / p

        root = path("root") or data_dir / "archive"
        directory = path("directory")
        if directory is not None and not directory.is_file():
            raise ConfigError("retention.directory", f"staff directory file not found: {directory}")
        signing_key = path("signing_key")
        checkpoint_every = _int(data, "checkpoint_every", 1000, 1, 1_000_000)
        media_max = _int(data, "media_max_bytes", 50 * _MIB, 1024, 2048 * _MIB)
        export_max = _int(data, "export_max_bytes", 45 * _MIB, 1024, 2048 * _MIB)

        s3 = None
        raw_s3 = data.get("s3")
        if backend == "s3" or raw_s3 is not None:
            s3 = _s3(raw_s3, required=backend == "s3")
        return cls(enabled=enabled, backend=backend, root=root, directory=directory,
                   signing_key=signing_key, checkpoint_every=checkpoint_every, s3=s3,
                   media_max_bytes=media_max, export_max_bytes=export_max)

    @classmethod
    def from_config(cls, config: Config) -> RetentionSettings:
        base = config.path.parent if config.path else None
        return cls.parse(config.feature("retention"), data_dir=config.data_dir, base=base)

    @property
    def key_path(self) -> Path:
        from appservice.lib.archive.store import DEFAULT_KEY_NAME

        return self.signing_key or self.root / "keys" / DEFAULT_KEY_NAME

    def make_backend(self, *, client: Any = None) -> Backend | None:
        """The S3 backend when configured; None means the store's default (filesystem at root)."""
        if self.backend != "s3":
            return None
        from appservice.lib.archive import S3Backend

        assert self.s3 is not None
        return S3Backend(self.s3.bucket, prefix=self.s3.prefix, client=client,
                         endpoint_url=self.s3.endpoint_url, region_name=self.s3.region,
                         lock_mode=self.s3.lock_mode)

    def make_store(self, *, client: Any = None) -> ArchiveStore:
        from appservice.lib.archive import ArchiveStore

        return ArchiveStore(self.root, backend=self.make_backend(client=client),
                            signing_key=self.key_path, checkpoint_every=self.checkpoint_every)


def _int(data: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"retention.{key}", f"expected an integer {lo}..{hi}, got {value!r}")
    return value


def _s3(raw: Any, *, required: bool) -> S3Settings:
    if raw is None:
        raise ConfigError("retention.s3", "missing section (backend: s3 needs s3.bucket)")
    if not isinstance(raw, dict):
        raise ConfigError("retention.s3", f"expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(S3_KEYS))
    if unknown:
        raise ConfigError(f"retention.s3.{unknown[0]}", f"unknown key (known: {', '.join(S3_KEYS)})")
    for key in S3_KEYS:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"retention.s3.{key}", f"expected a non-empty string, got {value!r}")
    bucket = raw.get("bucket")
    if not bucket:
        if required:
            raise ConfigError("retention.s3.bucket", "missing (a bucket name is required)")
        bucket = ""
    lock_mode = raw.get("lock_mode", "COMPLIANCE")
    if lock_mode not in ("COMPLIANCE", "GOVERNANCE"):
        raise ConfigError("retention.s3.lock_mode", f"expected COMPLIANCE or GOVERNANCE, got {lock_mode!r}")
    endpoint = raw.get("endpoint_url")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError("retention.s3.endpoint_url", f"expected an http(s) URL, got {endpoint!r}")
    return S3Settings(bucket=bucket, prefix=raw.get("prefix", "yakuba"), endpoint_url=endpoint,
                      region=raw.get("region"), lock_mode=lock_mode)
