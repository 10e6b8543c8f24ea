"""Export a room's records for a disclosure request (情報公開請求) or for printing.

Formats:
* ``csv``  — opens in Excel as-is: UTF-8 with BOM, CRLF, fixed Japanese headers, JST times,
  and formula injection guarded (cells starting with = + - @ TAB CR, or full-width ＝ ＋ － ＠,
  get a leading ').
* ``jsonl`` — the stored records, one per line, all fields including the chain hashes.
* ``html`` — a single self-contained printable transcript; images ≤ ``embed_limit`` are
  embedded as data: URIs so the one file is the whole export.

Everything streams: records are read, formatted and written one by one; chunks are yielded
every few hundred rows or ~1 MiB, so a caller can stop at a size limit without building it all.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

import structlog

from .record import Record, iso_jst

if TYPE_CHECKING:
    from .store import ArchiveStore

log = structlog.get_logger(__name__)

FORMATS = ("csv", "jsonl", "html")
CSV_HEADER = ("日時", "発信者", "表示名", "所属", "本文", "種別", "編集/削除")
KIND_LABELS = {
    "message": "メッセージ", "edit": "編集", "redaction": "削除", "membership": "入退室",
    "media": "ファイル", "notice": "通知", "disposal": "廃棄",
}
MEMBERSHIP_LABELS = {
    "join": "参加", "leave": "退出", "invite": "招待", "ban": "追放", "knock": "参加申請",
}
# ASCII and full-width (＝ ＋ － ＠): Excel in a Japanese locale reads the latter as the former.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_EMBED_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}  # never SVG (scripts)
_CHUNK_ROWS = 500
_CHUNK_CHARS = 1 << 20  # also yield once ~1 MiB is pending (HTML rows may embed images)


def guard_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (OWASP CSV injection): prefix with an apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def jst_text(rec: Mapping[str, Any]) -> str:
    ts = str(rec.get("ts_jst") or "")
    return f"{ts[:10]} {ts[11:19]}"


def affiliation_text(rec: Mapping[str, Any]) -> str:
    aff = rec.get("affiliation") or {}
    return " ".join(p for p in (aff.get("department"), aff.get("title")) if p)


def body_text(rec: Mapping[str, Any]) -> str:
    body = str(rec.get("body") or "")
    if rec.get("kind") == "membership" and not body:
        body = MEMBERSHIP_LABELS.get(str(rec.get("membership")), str(rec.get("membership") or ""))
    media = rec.get("media")
    if media:
        note = (f"[添付: {media.get('name')} ({media.get('mimetype')}, {media.get('size')} bytes, "
                f"sha256:{media.get('sha256')})]")
        body = f"{body}\n{note}" if body and body != media.get("name") else note
    return body


def _target(rec: Mapping[str, Any]) -> str | None:
    if rec.get("kind") == "redaction":
        return rec.get("redacts")
    if rec.get("kind") == "edit":
        return (rec.get("relates_to") or {}).get("event_id")
    return None


def _annotations(store: ArchiveStore, room_id: str) -> dict[str, list[str]]:
    """Pre-pass: which events were later edited or deleted (marked on the original row)."""
    marks: dict[str, list[str]] = {}
    for line in store.iter_lines(room_id):
        if b'"kind":"edit"' not in line.data and b'"kind":"redaction"' not in line.data:
            continue
        try:
            rec = json.loads(line.data)
        except ValueError:
            continue
        target = _target(rec)
        if target:
            word = "削除済み" if rec["kind"] == "redaction" else "編集あり"
            marks.setdefault(target, []).append(f"{word} {jst_text(rec)}")
    return marks


def change_text(rec: Mapping[str, Any], marks: Mapping[str, list[str]]) -> str:
    parts = []
    target = _target(rec)
    if target:
        parts.append(f"{KIND_LABELS[rec['kind']]}（対象: {target}）")
    parts.extend(marks.get(str(rec.get("event_id")), []))
    return "; ".join(parts)


def _records(store: ArchiveStore, room_id: str, start: date, end: date,
             stats: dict[str, int] | None = None) -> Iterator[Record]:
    lo, hi = start.isoformat(), end.isoformat()
    for rec in store.read(room_id):
        day = str(rec["ts_jst"])[:10]  # ISO dates compare correctly as strings
        if lo <= day <= hi:
            if stats is not None:
                stats["records"] = stats.get("records", 0) + 1
            yield rec


def iter_csv(store: ArchiveStore, room_id: str, start: date, end: date,
             stats: dict[str, int] | None = None) -> Iterator[bytes]:
    marks = _annotations(store, room_id)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield "\ufeff".encode() + buf.getvalue().encode("utf-8")
    buf.seek(0)
    buf.truncate()
    n = 0
    for rec in _records(store, room_id, start, end, stats):
        writer.writerow([guard_cell(v) for v in (
            jst_text(rec), str(rec.get("sender") or ""), str(rec.get("display_name") or ""),
            affiliation_text(rec), body_text(rec), KIND_LABELS.get(rec.kind, rec.kind),
            change_text(rec, marks))])
        n += 1
        if n % _CHUNK_ROWS == 0 or buf.tell() >= _CHUNK_CHARS:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def iter_jsonl(store: ArchiveStore, room_id: str, start: date, end: date,
             stats: dict[str, int] | None = None) -> Iterator[bytes]:
    for rec in _records(store, room_id, start, end, stats):
        yield json.dumps(rec, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"


_CSS = """
body{font-family:"Hiragino Kaku Gothic ProN","Yu Gothic","Meiryo",sans-serif;font-size:10.5pt;
margin:1.5em;color:#000}
h1{font-size:14pt;margin:0 0 .5em}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:0 0 1em}
dl.meta dt{font-weight:bold}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #999;padding:.25em .4em;vertical-align:top;text-align:left}
th{background:#eee}
td.body{white-space:pre-wrap;word-break:break-word}
td.time{white-space:nowrap}
tr.redaction td,tr.edit td{background:#f6f6f6}
img{max-width:60mm;max-height:60mm;display:block;margin-top:.3em}
footer{margin-top:1em;font-size:9pt;word-break:break-all}
@media print{
  @page{size:A4;margin:15mm}
  body{margin:0}
  thead{display:table-header-group}
  tr{break-inside:avoid}
}
"""


def iter_html(store: ArchiveStore, room_id: str, start: date, end: date,
              stats: dict[str, int] | None = None, *,
              embed_limit: int = 2 * 1024 * 1024) -> Iterator[bytes]:
    marks = _annotations(store, room_id)
    e = html.escape
    room_name = ""
    rows: list[str] = []
    count, last_hash, pending = 0, "", 0
    exported_at = iso_jst(datetime.now(UTC))[:19].replace("T", " ")
    head_done = False

    def head() -> bytes:
        title = f"チャット記録 {room_name or room_id}"
        return (
            '<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8">'
            f"<title>{e(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{e(title)}</h1>\n<dl class=\"meta\">"
            f"<dt>ルーム名</dt><dd>{e(room_name)}</dd>"
            f"<dt>ルームID</dt><dd>{e(room_id)}</dd>"
            f"<dt>対象期間</dt><dd>{start.isoformat()} 〜 {end.isoformat()}（日本時間）</dd>"
            f"<dt>出力日時</dt><dd>{exported_at}</dd></dl>\n"
            "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in CSV_HEADER)
            + "</tr></thead><tbody>\n"
        ).encode("utf-8")

    for rec in _records(store, room_id, start, end, stats):
        if not head_done:
            room_name = str(rec.get("room_name") or "")
            yield head()
            head_done = True
        count += 1
        last_hash = rec.hash
        rows.append(_html_row(store, rec, marks, embed_limit))
        pending += len(rows[-1])
        if len(rows) >= _CHUNK_ROWS or pending >= _CHUNK_CHARS:
            yield "".join(rows).encode("utf-8")
            rows.clear()
            pending = 0
    if not head_done:
        yield head()
    yield ("".join(rows) + "</tbody></table>\n<footer>"
           f"<p>件数: {count} 件</p>"
           f"<p>最終レコードのハッシュ (SHA-256 chain): {e(last_hash) or '-'}</p>"
           "<p>本文は保存時の平文を表示しています（HTML書式は表示しません）。"
           "改ざん検知は <code>yakuba archive verify</code> で確認できます。</p>"
           "</footer>\n</body></html>\n").encode("utf-8")


def _html_row(store: ArchiveStore, rec: Record, marks: Mapping[str, list[str]],
              embed_limit: int) -> str:
    e = html.escape
    body = e(body_text(rec))
    media = rec.get("media")
    if media and media.get("mimetype") in _EMBED_TYPES and (media.get("size") or 0) <= embed_limit:
        data = store.get_media(str(media["sha256"]))
        if data is not None:
            b64 = base64.b64encode(data).decode("ascii")
            body += (f'<img alt="{e(str(media.get("name") or ""))}" '
                     f'src="data:{e(str(media["mimetype"]))};base64,{b64}">')
    cells = (
        f'<td class="time">{e(jst_text(rec))}</td>',
        f"<td>{e(str(rec.get('sender') or ''))}</td>",
        f"<td>{e(str(rec.get('display_name') or ''))}</td>",
        f"<td>{e(affiliation_text(rec))}</td>",
        f'<td class="body">{body}</td>',
        f"<td>{e(KIND_LABELS.get(rec.kind, rec.kind))}</td>",
        f"<td>{e(change_text(rec, marks))}</td>",
    )
    return (f'<tr class="{e(rec.kind)}" data-seq="{rec.seq}" '
            f'data-event-id="{e(rec.event_id)}">' + "".join(cells) + "</tr>\n")


def iter_export(store: ArchiveStore, room_id: str, start: date, end: date, fmt: str,
                stats: dict[str, int] | None = None, **kwargs: Any) -> Iterator[bytes]:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if start > end:
        raise ValueError("start date is after end date")
    if fmt == "csv":
        return iter_csv(store, room_id, start, end, stats)
    if fmt == "jsonl":
        return iter_jsonl(store, room_id, start, end, stats)
    return iter_html(store, room_id, start, end, stats, **kwargs)


def export(store: ArchiveStore, room_id: str, start: date, end: date, fmt: str,
           out: BinaryIO, **kwargs: Any) -> int:
    """Write the export to a binary stream; returns the number of records exported."""
    stats: dict[str, int] = {}
    written = 0
    for chunk in iter_export(store, room_id, start, end, fmt, stats, **kwargs):
        out.write(chunk)
        written += len(chunk)
    records = stats.get("records", 0)
    # Who exported what is worth an audit line; the content itself never goes to the log.
    log.info("archive.exported", room_id=room_id, start=start.isoformat(), end=end.isoformat(),
             format=fmt, records=records, bytes=written)
    return records
