"""The bulk CSV: one leaver per line — user, leaving date-time, successor.

    user,leaving,successor
    @tanaka:city-a.example,2027-03-31 17:15,@suzuki:city-a.example
    sato,2027/3/31,            ← a bare localpart; a date alone means offboarding.default_leave_time
    @kato:city-a.example,,     ← no date: as soon as the batch is confirmed

Excel-friendly: UTF-8 with or without BOM, UTF-16 ("Unicode text"), and Shift_JIS (cp932,
Excel's default "CSV" on Japanese Windows); comma, semicolon or tab; the header row is
optional (recognised by its names, English or Japanese); blank lines and lines starting with
`#` are skipped. Every problem is reported per line — nothing is guessed silently.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, tzinfo

from appservice.features.offboarding.plan import ArgError, normalize_user, parse_when

MAX_ROWS = 5000
HEADER_NAMES = {
    "user", "users", "user_id", "userid", "user id", "mxid", "matrix id", "matrix_id", "account",
    "ユーザー", "ユーザ", "ユーザーid", "ユーザid", "アカウント", "利用者", "職員", "退職者", "対象者",
}


@dataclass(frozen=True)
class CsvRow:
    line: int
    user: str | None
    when: datetime | None
    successor: str | None
    error: ArgError | None = None
    raw_user: str = ""


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ArgError("offboarding.err.csv_encoding") from None
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ArgError("offboarding.err.csv_encoding")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _is_header(cells: list[str], tz: tzinfo, default_time: time) -> bool:
    first = unicodedata.normalize("NFKC", cells[0]).strip().lower() if cells else ""
    if first in HEADER_NAMES:
        return True
    if len(cells) > 1 and cells[1].strip():
        try:
            parse_when(cells[1], tz, default_time)
        except ArgError:
            return True
    return False


def parse_csv(data: bytes | str, *, server_name: str, tz: tzinfo, default_time: time) -> list[CsvRow]:
    text = decode(data) if isinstance(data, bytes) else data
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(first))
    rows: list[CsvRow] = []
    seen: dict[str, int] = {}
    header_checked = False
    for cells in reader:
        line = reader.line_num
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not header_checked:
            header_checked = True
            if _is_header(cells, tz, default_time):
                continue
        if len(rows) >= MAX_ROWS:
            raise ArgError("offboarding.err.csv_too_many", limit=MAX_ROWS)
        cells += [""] * (3 - len(cells))
        raw_user, raw_when, raw_succ = cells[0], cells[1], cells[2]
        try:
            if len([c for c in cells[3:] if c]):
                raise ArgError("offboarding.err.csv_columns")
            user = normalize_user(raw_user, server_name, allow_bare=True)
            when = parse_when(raw_when, tz, default_time) if raw_when else None
            successor = normalize_user(raw_succ, server_name, allow_bare=True) if raw_succ else None
            if successor == user:
                raise ArgError("offboarding.err.successor_is_user")
            if user in seen:
                raise ArgError("offboarding.err.csv_duplicate", line=seen[user])
        except ArgError as exc:
            rows.append(CsvRow(line, None, None, None, exc, raw_user[:80]))
            continue
        seen[user] = line
        rows.append(CsvRow(line, user, when, successor, None, raw_user[:80]))
    return rows
