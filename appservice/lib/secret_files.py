"""Files only Yakuba's own user may read: folders 0700, files 0600 — tokens, sessions, key
stores, passwords, the database. Folders an older version left looser are tightened."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """`path` and its missing parents as 0700 folders; an existing `path` is tightened (a folder
    we do not own is left as it is)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
        os.chmod(p, 0o700)
    with contextlib.suppress(PermissionError):
        os.chmod(path, 0o700)
    return path


def private_tree(path: Path) -> None:
    """Every folder under `path` 0700 and every file 0600 (for stores a library created under
    the umask, such as nio's olm/megolm store)."""
    for root, dirs, files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o700)
        for f in files:
            os.chmod(os.path.join(root, f), 0o600)


def write_secret_file(path: Path, text: str) -> None:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
