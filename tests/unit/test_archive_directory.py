"""Staff directory (所属) from CSV or YAML, reloaded when the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appservice.lib.archive import Affiliation, Directory


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_csv_with_japanese_headers_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "user_id,表示名,所属,役職\r\n"
        "@tanaka:city.example.jp,田中 太郎,総務部 総務課,主事\r\n"
        "@suzuki:city.example.jp,鈴木 花子,市民課,課長\r\n"
        ",,,\r\n",
        encoding="utf-8-sig",
    )
    d = Directory.load(path)
    assert len(d) == 2
    a = d.lookup("@tanaka:city.example.jp")
    assert a == Affiliation("@tanaka:city.example.jp", "田中 太郎", "総務部 総務課", "主事")
    assert a is not None and a.label == "総務部 総務課 主事"
    assert a.as_record() == {"department": "総務部 総務課", "title": "主事"}
    assert d.lookup("@nobody:city.example.jp") is None


def test_csv_saved_by_excel_as_shift_jis(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes("user_id,display_name,department,title\n"
                     "@sato:city.example.jp,佐藤,税務課,係長\n".encode("cp932"))
    a = Directory.load(path).lookup("@sato:city.example.jp")
    assert a is not None and a.department == "税務課" and a.title == "係長"


@pytest.mark.parametrize("text", [
    "- user_id: '@ito:city.example.jp'\n  display_name: 伊藤\n  department: 福祉課\n"
    "  title: 主査\n",
    "staff:\n  - {user_id: '@ito:city.example.jp', display_name: 伊藤, 所属: 福祉課, 役職: 主査}\n",
    "'@ito:city.example.jp': {display_name: 伊藤, department: 福祉課, title: 主査}\n",
])
def test_yaml_forms(tmp_path: Path, text: str) -> None:
    path = tmp_path / "staff.yaml"
    path.write_text(text, encoding="utf-8")
    a = Directory.load(path).lookup("@ito:city.example.jp")
    assert a == Affiliation("@ito:city.example.jp", "伊藤", "福祉課", "主査")


def test_reload_on_mtime_change(tmp_path: Path) -> None:
    path = tmp_path / "staff.yaml"
    path.write_text("- {user_id: '@a:x.jp', department: 総務課}\n", encoding="utf-8")
    d = Directory.load(path)
    assert d.lookup("@a:x.jp").department == "総務課"  # type: ignore[union-attr]
    path.write_text("- {user_id: '@a:x.jp', department: 企画課}\n", encoding="utf-8")
    _touch_later(path)
    assert d.lookup("@a:x.jp").department == "企画課"  # type: ignore[union-attr]


def test_broken_edit_keeps_last_good_data(tmp_path: Path) -> None:
    path = tmp_path / "staff.yaml"
    path.write_text("- {user_id: '@a:x.jp', department: 総務課}\n", encoding="utf-8")
    d = Directory.load(path)
    path.write_text("- {user_id: [unclosed\n", encoding="utf-8")
    _touch_later(path)
    assert d.lookup("@a:x.jp").department == "総務課"  # type: ignore[union-attr]
    path.unlink()
    assert d.lookup("@a:x.jp") is not None
