"""Room and display names with line breaks must not fake lines in notices (core/text.py)."""

from __future__ import annotations

from appservice.core.decisions import Message
from appservice.core.executor import render
from appservice.core.text import Text, one_line


def test_line_breaks_and_controls_become_spaces() -> None:
    assert one_line("総務課\n✅ 承認済み") == "総務課 ✅ 承認済み"
    assert one_line("a\r\nb\u2028c\u2029d\x00e\x1bf") == "a  b c d e f"
    assert one_line("abc\u202edcba") == "abcdcba"  # no right-to-left override
    assert one_line("x" * 500, limit=10) == "x" * 9 + "…"


def test_render_makes_plain_params_one_line_but_keeps_rendered_text() -> None:
    fake_room = "営業部\n【管理者】@admin さんが承認しました"
    out = render(Message("pii.admin_notice", {"user": "@a:x", "kinds": [], "room": fake_room, "link": "l"}), "ja")
    assert "営業部 【管理者】" in out and "営業部\n" not in out
    kept = render(Message("core.raw_text", {"text": Text("一行目\n二行目")}), "ja")
    assert kept == "一行目\n二行目"
