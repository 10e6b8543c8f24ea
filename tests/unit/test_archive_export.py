"""Export for disclosure requests: CSV for Excel, JSONL, printable HTML."""

from __future__ import annotations

import csv
import html.parser
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from appservice.lib.archive import ArchiveStore
from appservice.lib.archive.export import CSV_HEADER, guard_cell, iter_export

from .test_archive_support import BACKENDS, ROOM, make_store, rec

D = date(2020, 6, 1)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArchiveStore:
    s = make_store(str(request.param), tmp_path)
    png = b"\x89PNG\r\n\x1a\n0000"
    media = s.put_media(png, "庁舎.png", "image/png")
    s.append(ROOM, [
        rec(1, body="明日の会議は10時から。\n資料は共有フォルダ"),
        rec(2, body="=HYPERLINK(\"http://evil.example\",\"click\")", display_name="+81 田中"),
        rec(3, kind="edit", body="明日の会議は11時から", relates_to={
            "rel_type": "m.replace", "event_id": "$ev1"}),
        rec(4, kind="redaction", redacts="$ev2", body=None),
        rec(5, kind="media", msgtype="m.image", body="庁舎.png", media=media),
        rec(6, body="<script>alert('x')</script> & 〒100-0001"),
        rec(7, kind="membership", membership="join", body=None, sender="@suzuki:city.example.jp",
            affiliation=None, display_name="鈴木"),
        rec(8, ts=1622505600000),  # 2021-06-01: outside the range below
    ])
    return s


def _export(store: ArchiveStore, fmt: str, start: date = D, end: date = D) -> bytes:
    out = io.BytesIO()
    store.export(ROOM, start, end, fmt, out)
    return out.getvalue()


def test_csv_opens_in_excel(store: ArchiveStore) -> None:
    raw = _export(store, "csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel detects the encoding
    text = raw[3:].decode("utf-8")
    assert text.split("\r\n", 1)[0] == "日時,発信者,表示名,所属,本文,種別,編集/削除"
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "").replace(
        "会議は10時から。\n資料", "")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_HEADER
    body = rows[1:]
    assert len(body) == 7  # seq 8 is outside the date range
    first = dict(zip(CSV_HEADER, body[0], strict=True))
    assert first["日時"] == "2020-06-01 09:01:00"  # JST
    assert first["発信者"] == "'@tanaka:city.example.jp"  # @ starts a formula in Excel
    assert first["表示名"] == "田中 太郎"
    assert first["所属"] == "総務課 主事"
    assert first["本文"] == "明日の会議は10時から。\n資料は共有フォルダ"
    assert first["種別"] == "メッセージ"
    assert first["編集/削除"].startswith("編集あり 2020-06-01 09:03:00")


def test_csv_guards_formulas(store: ArchiveStore) -> None:
    rows = list(csv.reader(io.StringIO(_export(store, "csv")[3:].decode(), newline="")))
    second = dict(zip(CSV_HEADER, rows[2], strict=True))
    assert second["本文"].startswith("'=HYPERLINK(")
    assert second["表示名"] == "'+81 田中"
    assert second["編集/削除"].startswith("削除済み")
    edit = dict(zip(CSV_HEADER, rows[3], strict=True))
    assert edit["種別"] == "編集" and "$ev1" in edit["編集/削除"]
    media = dict(zip(CSV_HEADER, rows[5], strict=True))
    assert "庁舎.png" in media["本文"] and "sha256:" in media["本文"]
    join = dict(zip(CSV_HEADER, rows[7], strict=True))
    assert join["本文"] == "参加" and join["種別"] == "入退室" and join["所属"] == ""
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert guard_cell(cell) == "'" + cell
    assert guard_cell("普通の文") == "普通の文"


def test_jsonl_round_trip(store: ArchiveStore) -> None:
    lines = _export(store, "jsonl", D, date(2021, 12, 31)).decode("utf-8").splitlines()
    assert [json.loads(x) for x in lines] == list(store.read(ROOM))


class _Rows(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.cell: list[str] | None = None
        self.imgs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and "data-seq" in a:
            self.rows.append({"seq": int(a["data-seq"] or 0), "event_id": a["data-event-id"],
                              "cells": []})
        elif tag == "td" and self.rows:
            self.cell = []
        elif tag == "img":
            self.imgs.append(a.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            self.rows[-1]["cells"].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_html_transcript(store: ArchiveStore) -> None:
    page = _export(store, "html").decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'lang="ja"' in page
    assert "@media print" in page and "チャット記録 総務課連絡" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    parser = _Rows()
    parser.feed(page)
    stored = [r for r in store.read(ROOM) if r["ts_jst"].startswith("2020-06-01")]
    assert [(r["seq"], r["event_id"]) for r in parser.rows] == [
        (r["seq"], r["event_id"]) for r in stored]
    by_seq = {r["seq"]: r["cells"] for r in parser.rows}
    assert by_seq[1][4] == stored[0]["body"]
    assert by_seq[6][4] == "<script>alert('x')</script> & 〒100-0001"
    assert by_seq[1][0] == "2020-06-01 09:01:00"
    assert parser.imgs and parser.imgs[0].startswith("data:image/png;base64,")
    assert "件数: 7 件" in page


def test_export_streams_in_chunks(tmp_path: Path) -> None:
    s = make_store("fs", tmp_path)
    s.append(ROOM, [rec(i) for i in range(1500)])
    chunks = list(iter_export(s, ROOM, D, date(2020, 6, 2), "csv"))
    assert len(chunks) > 3
    assert b"".join(chunks).count(b"\r\n") == 1501


def test_bad_arguments(store: ArchiveStore) -> None:
    with pytest.raises(ValueError):
        _export(store, "xlsx")
    with pytest.raises(ValueError):
        _export(store, "csv", date(2021, 1, 1), date(2020, 1, 1))


@pytest.mark.parametrize("cell", ["＝1+1", "＋81 田中", "－1", "＠SUM(A1)", "＝HYPERLINK(\"http://x\")"])
def test_full_width_formula_starts_are_guarded(cell: str) -> None:
    # Excel in a Japanese locale reads full-width ＝ ＋ － ＠ as their ASCII twins.
    assert guard_cell(cell) == "'" + cell


def test_full_width_characters_elsewhere_are_left_alone() -> None:
    assert guard_cell("1＝1") == "1＝1" and guard_cell("ＡＢＣ") == "ＡＢＣ"
