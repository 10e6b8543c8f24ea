"""Public-records archive: append-only, hash-chained, signed storage of chat records, with
verify, export (情報公開請求) and approved disposal (廃棄).  No Matrix code lives here."""

from .backend import Backend, LogLine
from .chain import GENESIS, record_hash
from .directory import Affiliation, Directory
from .disposal import DisposalRefused, DisposalResult, DueSegment, dispose, due
from .export import export, iter_export
from .fs_backend import FsBackend
from .record import KINDS, Record, canonical, dedup_key, make_record
from .retention import ALLOWED_YEARS, RetentionPolicy, fiscal_year, retention_expiry
from .s3_backend import S3Backend  # boto3 is imported lazily
from .signing import ensure_signing_key
from .store import ArchiveCorrupt, ArchiveError, ArchiveStore
from .verify import Problem, VerifyReport, verify

__all__ = [
    "ALLOWED_YEARS",
    "GENESIS",
    "KINDS",
    "Affiliation",
    "ArchiveCorrupt",
    "ArchiveError",
    "ArchiveStore",
    "Backend",
    "Directory",
    "DisposalRefused",
    "DisposalResult",
    "DueSegment",
    "FsBackend",
    "LogLine",
    "Problem",
    "Record",
    "RetentionPolicy",
    "S3Backend",
    "VerifyReport",
    "canonical",
    "dedup_key",
    "dispose",
    "due",
    "ensure_signing_key",
    "export",
    "fiscal_year",
    "iter_export",
    "make_record",
    "record_hash",
    "retention_expiry",
    "verify",
]
