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
from appservice.core.schema import Bool, Choice, Custom, Int, Schema, Str

if TYPE_CHECKING:
    from appservice.core.config import Config
    from appservice.lib.archive import ArchiveStore, Backend

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
        v = SCHEMA.validate(data)
        base = base or Path.cwd()

        def under_base(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        root = under_base(v["root"]) or data_dir / "archive"
        directory = under_base(v["directory"])
        if directory is not None and not directory.is_file():
            raise ConfigError("retention.directory", f"staff directory file not found: {directory}")
        s3 = v["s3"]
        if v["backend"] == "s3":
            if s3 is None:
                raise ConfigError("retention.s3", "missing section (backend: s3 needs s3.bucket)")
            if not s3["bucket"]:
                raise ConfigError("retention.s3.bucket", "missing (a bucket name is required)")
        return cls(enabled=v["enabled"], backend=v["backend"], root=root, directory=directory,
                   signing_key=under_base(v["signing_key"]), checkpoint_every=v["checkpoint_every"],
                   s3=None if s3 is None else S3Settings(**{**s3, "bucket": s3["bucket"] or ""}),
                   media_max_bytes=v["media_max_bytes"], export_max_bytes=v["export_max_bytes"])

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


def _path(value: Any, path: str) -> Path:
    """A file path; relative ones are resolved against the config file's directory in parse()."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"expected a file path, got {value!r}")
    return Path(value).expanduser()


def _url(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError(path, f"expected an http(s) URL, got {value!r}")
    return value


S3 = Schema("s3", {
    "bucket": Str(None),  # required with backend: s3 (checked in parse)
    "prefix": Str("yakuba"),
    "endpoint_url": Custom(_url, None),
    "region": Str(None),
    "lock_mode": Choice("COMPLIANCE", ("COMPLIANCE", "GOVERNANCE")),
}, default=None)

SCHEMA = Schema("retention", {
    "enabled": Bool(False),
    "backend": Choice("filesystem", BACKENDS),
    "root": Custom(_path, None),            # default: <data_dir>/archive
    "directory": Custom(_path, None),       # the staff directory CSV (must exist)
    "signing_key": Custom(_path, None),     # default: <root>/keys/archive-ed25519.key
    "checkpoint_every": Int(1000, lo=1, hi=1_000_000),
    "s3": S3,                               # read whenever given; required with backend: s3
    "media_max_bytes": Int(50 * _MIB, lo=1024, hi=2048 * _MIB),
    "export_max_bytes": Int(45 * _MIB, lo=1024, hi=2048 * _MIB),
})
KEYS = tuple(SCHEMA.fields)
S3_KEYS = tuple(S3.fields)
