"""Evasion and copy-paste artefacts must not hide personal data from the scanner.

Invisible characters between digits, line breaks inside a number, odd separators, one digit
per space, non-ASCII decimal digits and HTML tags or entities in formatted_body are read
through; findings still point at the original text. Every evasion form has a same-shape
negative with a wrong check digit (My Number) or a failing Luhn check (cards) that stays quiet.
"""

from __future__ import annotations

import pytest
from stdnum import luhn
from stdnum.jp import in_

from appservice.lib.pii import scan

MN, MN_BAD = "123456789018", "123456789019"
MN2, MN2_BAD = "621498320257", "621498320258"
CARD, CARD_BAD = "4111111111111111", "4111111111111112"
PHONE = "09012345678"


def test_fixtures_check_digits() -> None:
    assert in_.is_valid(MN) and in_.is_valid(MN2)
    assert not in_.is_valid(MN_BAD) and not in_.is_valid(MN2_BAD)
    assert luhn.is_valid(CARD) and not luhn.is_valid(CARD_BAD)


def grouped(s: str, layout: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for n in layout:
        out.append(s[i : i + n])
        i += n
    return sep.join(out)


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in scan(text)]


def assert_found(text: str, kind: str, value: str) -> None:
    """Exactly one finding, of `kind`, whose span is `value` in the original text."""
    assert found(text) == [(kind, value)], (text, found(text))


def assert_quiet(text: str) -> None:
    assert found(text) == [], (text, found(text))


# --- invisible format characters (Unicode category Cf) ------------------------------------

CF = ["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff"]


def every_digit(s: str, ch: str) -> str:
    return ch.join(s)


@pytest.mark.parametrize("cf", CF)
def test_format_characters_between_every_digit(cf: str) -> None:
    v = every_digit(grouped(MN, (4, 4, 4), "-"), cf)
    assert_found(f"番号は{v}です", "my_number", v)
    v = every_digit(MN2, cf)
    assert_found(f"マイナンバーは{v}です", "my_number", v)
    v = every_digit(grouped(CARD, (4, 4, 4, 4), " "), cf)
    assert_found(f"カード {v} で決済", "credit_card", v)
    v = every_digit(grouped(PHONE, (3, 4, 4), "-"), cf)
    assert_found(f"携帯 {v} まで", "phone", v)


@pytest.mark.parametrize("cf", CF)
def test_format_characters_between_groups(cf: str) -> None:
    v = grouped(MN, (4, 4, 4), cf)
    assert_found(f"マイナンバー：{v}。", "my_number", v)
    v = grouped(MN, (4, 4, 4), f"-{cf}")
    assert_found(f"番号は{v}です", "my_number", v)


@pytest.mark.parametrize("cf", CF)
def test_format_characters_wrong_check_digit_stays_quiet(cf: str) -> None:
    assert_quiet(f"番号は{every_digit(grouped(MN_BAD, (4, 4, 4), '-'), cf)}です")
    assert_quiet(f"番号は{every_digit(MN2_BAD, cf)}です")
    assert_quiet(f"カード {every_digit(grouped(CARD_BAD, (4, 4, 4, 4), ' '), cf)} で決済")


def test_format_characters_inside_keyword() -> None:
    v = every_digit(MN2, "\u200b")
    assert_found(f"マイ\u200bナン\u00adバーは{v}です", "my_number", v)


def test_tag_characters_and_bidi_controls_are_dropped() -> None:
    v = every_digit(grouped(MN, (4, 4, 4), "-"), "\U000e0020")  # astral Cf (tag space)
    assert_found(f"番号は{v}です", "my_number", v)
    v = every_digit(grouped(MN, (4, 4, 4), "-"), "\u202d")  # left-to-right override
    assert_found(f"番号は{v}です", "my_number", v)


# --- line breaks inside the number -----------------------------------------------------------

@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
def test_line_breaks_inside_the_number(nl: str) -> None:
    v = grouped(MN, (4, 4, 4), nl)
    assert_found(f"番号は\n{v}\nです", "my_number", v)
    v = grouped(MN2, (6, 6), nl)
    assert_found(f"マイナンバーは{v}です", "my_number", v)
    v = grouped(CARD, (4, 4, 4, 4), nl)
    assert_found(f"カード番号\n{v}\nです", "credit_card", v)
    v = grouped(PHONE, (3, 4, 4), nl)
    assert_found(f"携帯\n{v}\nまで", "phone", v)


@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
def test_line_breaks_wrong_check_digit_stays_quiet(nl: str) -> None:
    assert_quiet(f"番号は\n{grouped(MN_BAD, (4, 4, 4), nl)}\nです")
    assert_quiet(f"番号は{grouped(MN2_BAD, (6, 6), nl)}です")
    assert_quiet(f"カード番号\n{grouped(CARD_BAD, (4, 4, 4, 4), nl)}\nです")


# --- separators: / . ・ ー and their full-width / half-width forms ----------------------------

SEPARATORS = ["/", ".", "・", "ー", "／", "．", "･", "ｰ"]


@pytest.mark.parametrize("sep", SEPARATORS)
def test_separators_like_dashes(sep: str) -> None:
    v = grouped(MN, (4, 4, 4), sep)
    assert_found(f"番号は{v}です", "my_number", v)
    v = grouped(CARD, (4, 4, 4, 4), sep)
    assert_found(f"カード {v} で決済", "credit_card", v)
    v = grouped(PHONE, (3, 4, 4), sep)
    assert_found(f"携帯 {v} まで", "phone", v)


@pytest.mark.parametrize("sep", SEPARATORS)
def test_separators_wrong_check_digit_stays_quiet(sep: str) -> None:
    assert_quiet(f"番号は{grouped(MN_BAD, (4, 4, 4), sep)}です")
    assert_quiet(f"番号は{grouped(MN2_BAD, (4, 4, 4), sep)}です")
    assert_quiet(f"カード {grouped(CARD_BAD, (4, 4, 4, 4), sep)} で決済")


def test_separator_dates_and_versions_stay_quiet() -> None:
    for text in ("期限は2024/04/01です", "2024．04．01から", "v10.0.19045.3803", "1・2・3・4・5・6の順",
                 "192.168.100.200 からアクセス", "2024/04/01 10:00 から 2024/04/02 まで"):
        assert_quiet(text)


# --- one digit per space --------------------------------------------------------------------

@pytest.mark.parametrize("space", [" ", "\u3000", "  "])
def test_one_digit_per_space(space: str) -> None:
    v = space.join(MN2)
    assert_found(f"マイナンバーは {v} です", "my_number", v)
    v = space.join(CARD)
    assert_found(f"カード {v} で決済", "credit_card", v)
    v = space.join(PHONE)
    assert_found(f"携帯 {v} まで", "phone", v)


def test_one_digit_per_space_keeps_its_groups() -> None:
    v = " - ".join(" ".join(g) for g in grouped(MN, (4, 4, 4), "-").split("-"))
    assert_found(f"番号は {v} です", "my_number", v)


@pytest.mark.parametrize("space", [" ", "\u3000"])
def test_one_digit_per_space_wrong_check_digit_stays_quiet(space: str) -> None:
    assert_quiet(f"番号は {space.join(MN2_BAD)} です")
    assert_quiet(f"カード {space.join(CARD_BAD)} で決済")
    assert_quiet("1 2 3 4 5 6 7 8 9 10 11 12 13 14")  # a calendar row
    assert_quiet("順位 1 2 3 4 5 6 7")


# --- any character with a Unicode decimal value ------------------------------------------------

SCRIPTS = {
    "arabic-indic": 0x0660,
    "extended arabic-indic": 0x06F0,
    "devanagari": 0x0966,
    "bengali": 0x09E6,
    "thai": 0x0E50,
    "fullwidth": 0xFF10,
    "math bold": 0x1D7CE,
    "math double-struck": 0x1D7D8,
    "math monospace": 0x1D7F6,
    "osmanya": 0x104A0,
    "adlam": 0x1E950,
}


def script(s: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in s)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_decimal_digits_of_any_script(name: str) -> None:
    zero = SCRIPTS[name]
    v = script(grouped(MN, (4, 4, 4), "-"), zero)
    assert_found(f"番号は{v}です", "my_number", v)
    v = script(MN2, zero)
    assert_found(f"マイナンバーは{v}です", "my_number", v)
    v = script(grouped(CARD, (4, 4, 4, 4), " "), zero)
    assert_found(f"カード {v} で決済", "credit_card", v)
    v = script(grouped(PHONE, (3, 4, 4), "-"), zero)
    assert_found(f"携帯 {v} まで", "phone", v)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_decimal_digits_wrong_check_digit_stays_quiet(name: str) -> None:
    zero = SCRIPTS[name]
    assert_quiet(f"番号は{script(grouped(MN_BAD, (4, 4, 4), '-'), zero)}です")
    assert_quiet(f"番号は{script(MN2_BAD, zero)}です")
    assert_quiet(f"カード {script(grouped(CARD_BAD, (4, 4, 4, 4), ' '), zero)} で決済")


def test_mixed_scripts_in_one_number() -> None:
    v = "١٢٣٤-5678-९०१८"
    assert_found(f"番号は{v}です", "my_number", v)


# --- HTML (formatted_body) ----------------------------------------------------------------------

@pytest.mark.parametrize(("html", "kind", "value"), [
    ("マイナンバー 1234<b>5678</b>9018", "my_number", "1234<b>5678</b>9018"),
    ("個人番号：<span>1234</span><span>5678</span><span>9018</span>",
     "my_number", "1234</span><span>5678</span><span>9018"),
    ("<p>番号は 1234-<span data-mx-spoiler>5678</span>-9018 です</p>",
     "my_number", "1234-<span data-mx-spoiler>5678</span>-9018"),
    ("マイナンバー &#49;&#50;&#51;&#52;5678<i>9018</i>", "my_number",
     "&#49;&#50;&#51;&#52;5678<i>9018"),
    ("番号 &#x31;234-5678-9018", "my_number", "&#x31;234-5678-9018"),
    ("<p>マイナンバー</p><p>621498<em>320257</em></p>", "my_number", "621498<em>320257"),
    ("カード <b>4111</b> <i>1111</i> 1111&nbsp;1111 で", "credit_card",
     "4111</b> <i>1111</i> 1111&nbsp;1111"),
    ("携帯 090-<code>1234</code>-5678", "phone", "090-<code>1234</code>-5678"),
    ("携帯 090<!-- x -->1234<!-- y -->5678", "phone", "090<!-- x -->1234<!-- y -->5678"),
])
def test_numbers_split_by_html(html: str, kind: str, value: str) -> None:
    assert_found(html, kind, value)


@pytest.mark.parametrize("html", [
    "番号 1234<b>5678</b>9019",
    "番号：<span>1234</span><span>5678</span><span>9019</span>",
    "番号 &#49;&#50;&#51;&#52;5678<i>9019</i>",
    "<p>番号</p><p>621498<em>320258</em></p>",
    "カード <b>4111</b> <i>1111</i> 1111&nbsp;1112 で",
    '<a href="https://example.jp/item/123456789018">1234</a> と <span data-n="4111111111111111">x</span>',
])
def test_html_wrong_check_digit_stays_quiet(html: str) -> None:
    assert_quiet(html)


def test_html_attributes_are_not_text() -> None:
    assert_quiet('<span data-mx-color="#123456">マイナンバー</span><font color="090-1234-5678">x</font>')


def test_paragraphs_split_a_number_like_a_line_break() -> None:
    html = "<p>マイナンバー 621498</p>\n<p>320257</p>"
    assert_found(html, "my_number", "621498</p>\n<p>320257")
    assert_quiet("<p>番号 621498</p>\n<p>320258</p>")


def test_plain_text_with_angle_brackets_is_unharmed() -> None:
    text = "1<2 かつ 3>2、電話 <090-1234-5678>"
    assert found(text) == [("phone", "090-1234-5678")]
    text = "AT&T の 090-1234-5678"
    assert found(text) == [("phone", "090-1234-5678")]


# --- combinations and offsets ---------------------------------------------------------------

def test_everything_at_once_points_at_the_original() -> None:
    v = "١\u200b٢٣٤<b>/</b>５\u00ad678／9&#48;1\u20608"
    text = f"㈱①ｶﾞ マイナンバー {v} です"
    [f] = scan(text)
    assert f.kind == "my_number"
    assert text[f.start : f.end] == v


def test_two_evasive_numbers_in_one_message() -> None:
    a = every_digit(grouped(MN, (4, 4, 4), "-"), "\u200b")
    b = script(grouped(PHONE, (3, 4, 4), "・"), 0x0660)
    text = f"番号は{a}、携帯は{b}です"
    assert found(text) == [("my_number", a), ("phone", b)]


def test_keycap_digits() -> None:
    v = "".join(f"{c}\ufe0f\u20e3" if c.isdigit() else c for c in grouped(MN, (4, 4, 4), "-"))
    [f] = scan(f"番号は{v}です")
    assert f.kind == "my_number"
