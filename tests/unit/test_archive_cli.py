"""`yakuba archive …` subcommands through archive_main (fs backend)."""

from __future__ import annotations

import io
from pathlib import Path

from appservice.lib.archive import ArchiveStore, RetentionPolicy
from appservice.lib.archive.cli import archive_main

from .test_archive_support import ROOM, edit_lines, find_line, rec

ADMIN = "@records-officer:city.example.jp"


def run(root: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = archive_main(list(argv), root=root, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _setup(tmp_path: Path) -> tuple[Path, ArchiveStore]:
    root = tmp_path / "archive"
    code, out, _ = run(root, "init")
    assert code == 0 and "fingerprint" in out
    store = ArchiveStore(root)
    store.append(ROOM, [rec(1), rec(2), rec(3)])
    store.close()
    return root, store


def test_verify_exit_codes(tmp_path: Path) -> None:
    root, store = _setup(tmp_path)
    code, out, _ = run(root, "verify")
    assert code == 0 and "OK" in out
    loc, _ = find_line(store, 2)
    edit_lines(store, loc, lambda ls: ls[:1] + ls[2:])
    code, out, _ = run(root, "verify", "--room", ROOM)
    assert code == 1
    assert "NG [removed]" in out and "seq=2" in out and loc in out


def test_export_to_file_and_stdout(tmp_path: Path) -> None:
    root, _ = _setup(tmp_path)
    target = tmp_path / "開示.csv"
    code, _, err = run(root, "export", "--room", ROOM, "--from", "2020-06-01", "--to",
                       "2020-06-01", "--format", "csv", "--out", str(target))
    assert code == 0 and "3 records" in err
    assert target.read_bytes().startswith("\ufeff日時".encode())
    code, out, _ = run(root, "export", "--room", ROOM, "--from", "2020-06-01", "--to",
                       "2020-06-01", "--format", "jsonl")
    assert code == 0 and len(out.splitlines()) == 3


def test_usage_errors(tmp_path: Path) -> None:
    root, _ = _setup(tmp_path)
    assert run(root, "export", "--room", ROOM, "--from", "x", "--to", "2020-01-01",
               "--format", "csv")[0] == 2
    code, _, err = run(root, "dispose", "--room", ROOM, "--reason", "満了")
    assert code == 2 and "--approved-by" in err
    assert run(root, "nonsense")[0] == 2


def test_due_and_dispose(tmp_path: Path) -> None:
    root, _ = _setup(tmp_path)
    code, out, _ = run(root, "due")
    assert code == 0 and "no retention policy" in out and "due segments: 0" in out
    code, out, _ = run(root, "policy", "--room", ROOM, "--years", "1", "--category", "庶務",
                       "--department", "総務課", "--set-by", ADMIN)
    assert code == 0
    assert ArchiveStore(root).policy(ROOM) == RetentionPolicy(1, "庶務", "総務課")
    code, out, _ = run(root, "due", "--as-of", "2022-03-31")
    assert "due segments: 0" in out
    code, out, _ = run(root, "due", "--as-of", "2022-04-01")
    assert "due segments: 1" in out and "廃棄可能日 2022-04-01" in out
    code, out, _ = run(root, "dispose", "--room", ROOM, "--approved-by", "nobody",
                       "--reason", "満了", "--yes")
    assert code == 1
    code, out, _ = run(root, "dispose", "--room", ROOM, "--approved-by", ADMIN,
                       "--reason", "保存期間満了")
    assert code == 0 and "dry run" in out and "would dispose" in out
    assert len(list(ArchiveStore(root).read(ROOM))) == 3
    code, out, _ = run(root, "dispose", "--room", ROOM, "--approved-by", ADMIN,
                       "--reason", "保存期間満了", "--yes")
    assert code == 0 and "DISPOSED" in out and "disposal record seq 1" in out
    assert list(ArchiveStore(root).read(ROOM)) == []
    assert run(root, "verify")[0] == 0
