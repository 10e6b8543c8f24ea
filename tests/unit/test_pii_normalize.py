"""Normalisation and the map from normalised offsets back to the original text."""

from __future__ import annotations

import pytest

from appservice.lib.pii.normalize import normalize


def test_ascii_is_untouched_and_needs_no_map() -> None:
    n = normalize("TEL 090-1234-5678")
    assert n.text == "TEL 090-1234-5678" and n.starts is None
    assert n.original_span(4, 17) == (4, 17)


@pytest.mark.parametrize(("raw", "norm"), [
    ("０９０－１２３４－５６７８", "090-1234-5678"),
    ("〇九〇‐一二三四‐五六七八", "090-1234-5678"),
    ("090ー1234ー5678", "090-1234-5678"),
    ("１２３４　５６７８", "1234 5678"),
    ("ＡＢ１２３４５６７８ＣＤ", "AB12345678CD"),
    ("ｔａｎａｋａ＠ｅｘａｍｐｌｅ．ｊｐ", "tanaka@example.jp"),
])
def test_folding(raw: str, norm: str) -> None:
    n = normalize(raw)
    assert n.text == norm
    assert len(n.text) == len(raw)  # all one-to-one: no map needed


def test_long_vowel_mark_in_words_is_kept() -> None:
    assert normalize("マイナンバー").text == "マイナンバー"
    assert normalize("ﾏｲﾅﾝﾊﾞｰ").text == "マイナンバー"


def test_single_kanji_digits_stay_words() -> None:
    assert normalize("一緒に三月に").text == "一緒に三月に"
    assert normalize("七五三の時期").text == "753の時期"
    # …but not when glued to another number or code.
    assert normalize("1662七五三").text == "1662七五三"


def test_length_changing_characters_keep_a_map() -> None:
    raw = "㈱A①ｶﾞ090"
    n = normalize(raw)
    assert n.text == "(株)A1ガ090"
    assert n.starts is not None
    s = n.text.index("090")
    assert raw[slice(*n.original_span(s, s + 3))] == "090"
    # A span inside the expansion of one character maps to that whole character.
    assert n.original_span(1, 2) == (0, 1)
    # ｶﾞ (two characters) became one: its span covers both.
    g = n.text.index("ガ")
    assert raw[slice(*n.original_span(g, g + 1))] == "ｶﾞ"


@pytest.mark.parametrize("raw", ["", "\ud800", "a\udfffb", "\U0001f600" * 3, "e\u0301" * 4,
                                 "\u3099\u309a", "\x00\x1f\x7f", "𝟎𝟏𝟐"])
def test_odd_unicode(raw: str) -> None:
    n = normalize(raw)
    assert isinstance(n.text, str)
    if n.starts is not None:
        assert len(n.starts) == len(n.text) == len(n.ends or [])
        assert all(0 <= s < e <= len(raw) for s, e in zip(n.starts, n.ends or [], strict=True))
