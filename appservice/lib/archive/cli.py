"""``yakuba archive …`` subcommands.  The lead wires :func:`archive_main` into the console
script; everything here only parses arguments and prints — the work is in the other modules.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from .backend import Backend
from .disposal import DisposalRefused, dispose, due, unmanaged_rooms
from .export import FORMATS, export
from .record import JST
from .retention import ALLOWED_YEARS, RetentionPolicy
from .signing import ensure_signing_key
from .store import ArchiveError, ArchiveStore
from .verify import verify

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class _UsageError(Exception):
    pass


def _parser(stderr: IO[str]) -> argparse.ArgumentParser:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise _UsageError(f"{self.prog}: error: {message}")

        def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
            if message:
                stderr.write(message)

        def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
            if message:
                stderr.write(message)
            raise SystemExit(status)

    p = Parser(prog="yakuba archive", description="公文書アーカイブ / chat record archive")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    sub.add_parser("init", help="create the Ed25519 signing key (once, at setup)")
    v = sub.add_parser("verify", help="check hash chains, signatures and media")
    v.add_argument("--room")
    e = sub.add_parser("export", help="export a room for disclosure or printing")
    e.add_argument("--room", required=True)
    e.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    e.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--out", type=Path)
    d = sub.add_parser("due", help="list segments past retention")
    d.add_argument("--as-of", type=date.fromisoformat, help="plan ahead: due on this JST date")
    x = sub.add_parser("dispose", help="dispose of due segments (dry run without --yes)")
    x.add_argument("--room", required=True)
    x.add_argument("--approved-by", required=True)
    x.add_argument("--reason", required=True)
    x.add_argument("--yes", action="store_true")
    pol = sub.add_parser("policy", help="show or set a room's retention policy")
    pol.add_argument("--room", required=True)
    pol.add_argument("--years", type=int, choices=ALLOWED_YEARS)
    pol.add_argument("--category", default="")
    pol.add_argument("--department", default="")
    pol.add_argument("--set-by")
    return p


def archive_main(argv: list[str], *, root: Path, stdout: IO[str], stderr: IO[str],
                 backend: Backend | None = None, signing_key: Path | None = None) -> int:
    """Run one archive subcommand; returns the exit status (0 ok, 1 failed/refused, 2 usage)."""
    try:
        args = _parser(stderr).parse_args(argv)
    except _UsageError as exc:
        stderr.write(f"{exc}\n")
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    store = ArchiveStore(root, backend=backend, signing_key=signing_key)
    try:
        handler = _HANDLERS[args.cmd]
        return handler(store, args, stdout, stderr)
    except (ArchiveError, ValueError) as exc:
        stderr.write(f"error: {exc}\n")
        return 1


def _init(store: ArchiveStore, _args: Any, out: IO[str], _err: IO[str]) -> int:
    kid = ensure_signing_key(store.signing_key)
    out.write(f"signing key: {store.signing_key}\n")
    out.write(f"fingerprint (SHA-256, record this in the 文書管理 register): {kid}\n")
    return 0


def _verify(store: ArchiveStore, args: Any, out: IO[str], _err: IO[str]) -> int:
    report = verify(store, args.room)
    for p in report.problems:
        out.write(f"NG {p}\n")
    for w in report.warnings:
        out.write(f"warn {w}\n")
    out.write(report.summary() + "\n")
    return 0 if report.ok else 1


def _export(store: ArchiveStore, args: Any, out: IO[str], err: IO[str]) -> int:
    if args.out:
        with args.out.open("wb") as fh:
            n = export(store, args.room, args.start, args.end, args.format, fh)
        err.write(f"{n} records → {args.out}\n")
        return 0
    binary = getattr(out, "buffer", None)
    if binary is None:
        import io

        buf = io.BytesIO()
        export(store, args.room, args.start, args.end, args.format, buf)
        out.write(buf.getvalue().decode("utf-8"))
    else:
        out.flush()
        export(store, args.room, args.start, args.end, args.format, binary)
        binary.flush()
    return 0


def _as_of(day: date | None) -> datetime:
    if day is None:
        return datetime.now(UTC)
    return datetime.combine(day, time(0, 0), tzinfo=JST)


def _due(store: ArchiveStore, args: Any, out: IO[str], _err: IO[str]) -> int:
    items = due(store, _as_of(args.as_of))
    for d in items:
        out.write(f"{d.room_id}\t{d.segment}\tseq {d.first_seq}-{d.last_seq}\t{d.records}件\t"
                  f"{d.oldest}〜{d.newest}\t保存{d.policy.years}年\t廃棄可能日 {d.expires}\t"
                  f"{d.policy.category}\t{d.policy.department}\n")
    for room in unmanaged_rooms(store):
        out.write(f"{room}\t保存期間未設定 / no retention policy (never due)\n")
    out.write(f"due segments: {len(items)}\n")
    return 0


def _dispose(store: ArchiveStore, args: Any, out: IO[str], err: IO[str]) -> int:
    try:
        result = dispose(store, args.room, args.approved_by, args.reason, dry_run=not args.yes)
    except DisposalRefused as exc:
        err.write(f"refused: {exc}\n")
        return 1
    for d in result.segments:
        out.write(f"{'DISPOSED' if not result.dry_run else 'would dispose'}\t{d.segment}\t"
                  f"seq {d.first_seq}-{d.last_seq}\t{d.records}件\t{d.oldest}〜{d.newest}\n")
    for sha in result.media:
        out.write(f"{'DISPOSED' if not result.dry_run else 'would dispose'}\tmedia {sha}\n")
    for name in result.leftovers:
        out.write(f"finishing earlier disposal\t{name}\n")
    if result.dry_run:
        out.write("dry run: nothing removed. Re-run with --yes to dispose.\n")
    elif result.record is not None:
        out.write(f"disposal record seq {result.record.seq} hash {result.record.hash}\n")
    return 0


def _policy(store: ArchiveStore, args: Any, out: IO[str], err: IO[str]) -> int:
    if args.years is None:
        pol = store.policy(args.room)
        out.write(f"{args.room}\t{pol.as_dict() if pol else '未設定 / not set'}\n")
        return 0
    if not args.set_by:
        err.write("error: --set-by @user:server is required to change a policy\n")
        return 2
    store.set_policy(args.room, RetentionPolicy(args.years, args.category, args.department),
                     set_by=args.set_by)
    out.write(f"{args.room}\tpolicy set: {args.years} years\n")
    return 0


_HANDLERS = {"init": _init, "verify": _verify, "export": _export, "due": _due,
             "dispose": _dispose, "policy": _policy}


def main() -> int:  # convenience for `python -m appservice.lib.archive.cli`
    return archive_main(sys.argv[1:], root=Path("var/archive"), stdout=sys.stdout,
                        stderr=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
