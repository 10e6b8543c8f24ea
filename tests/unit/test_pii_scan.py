"""Focused behaviour of appservice.lib.pii.scan: the notes' examples, keywords, offsets, negatives."""

from __future__ import annotations

import pytest
from stdnum import luhn
from stdnum.jp import cn, in_

from appservice.lib.pii import INFORMATIONAL, KINDS, REPORT_THRESHOLD, Finding, scan


def kinds(text: str) -> list[tuple[str, str]]:
    """(kind, exact original substring) of each finding."""
    return [(f.kind, text[f.start : f.end]) for f in scan(text)]


# --- the check digits in /work/shared/notes/jp-pii.md, pinned through python-stdnum --------

@pytest.mark.parametrize("number", ["123456789018", "621498320257", "983205673214",
                                    "111111111118"])
def test_notes_valid_my_numbers(number: str) -> None:
    assert in_.is_valid(number)
    assert kinds(f"マイナンバーは{number}です") == [("my_number", number)]


def test_notes_invalid_my_number_is_not_a_bare_or_formatted_finding() -> None:
    assert not in_.is_valid("123456789019")
    assert kinds("番号 123456789019") == []
    assert kinds("番号 1234-5678-9019") == []


@pytest.mark.parametrize("number", ["5835678256246", "1180301018771"])
def test_notes_corporate_numbers(number: str) -> None:
    assert cn.is_valid(number)
    assert kinds(f"法人番号 {number}") == [("corporate_number", number)]
    # 13 digits whose last 12 are a valid My Number would still be a corporate number.
    assert "my_number" not in {k for k, _ in kinds(f"マイナンバー {number}")}


@pytest.mark.parametrize("number", ["4111111111111111", "5555555555554444",
                                    "4111 1111 1111 1111", "5555-5555-5555-4444"])
def test_notes_card_test_numbers(number: str) -> None:
    assert luhn.is_valid(number.replace(" ", "").replace("-", ""))
    assert kinds(f"カード {number} で決済") == [("credit_card", number)]


def test_card_with_bad_luhn_is_ignored() -> None:
    assert kinds("カード 4111 1111 1111 1112 で決済") == []


# --- confidence and the threshold -----------------------------------------------------------

def test_bare_unformatted_my_number_is_below_threshold() -> None:
    assert kinds("123456789018") == []
    assert kinds("1234 5678 9018") == [("my_number", "1234 5678 9018")]
    [f] = scan("1234-5678-9018")
    assert REPORT_THRESHOLD <= f.confidence < 0.9
    [g] = scan("個人番号 1234-5678-9018")
    assert g.confidence > f.confidence


def test_keyword_with_mistyped_check_digit_still_reported_low() -> None:
    [f] = scan("マイナンバーは123456789019です")
    assert f.kind == "my_number" and f.confidence < 0.6


# --- keywords before and after ----------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "マイナンバーは123456789018です",
    "123456789018がマイナンバーです",
    "個人番号：123456789018",
    "123456789018（個人番号）",
])
def test_keyword_before_or_after(text: str) -> None:
    assert [k for k, _ in kinds(text)] == ["my_number"]


def test_each_number_takes_its_own_label() -> None:
    text = "マイナンバー 123456789018、免許証番号 301234567890"
    assert kinds(text) == [("my_number", "123456789018"), ("drivers_license", "301234567890")]
    text = "301234567890が免許番号です。123456789018がマイナンバーです。"
    assert kinds(text) == [("drivers_license", "301234567890"), ("my_number", "123456789018")]


def test_keyword_outside_window_does_not_count() -> None:
    far = "パスポート" + "。とても長い関係のない文章が続きます" * 3 + " TK1234567"
    assert kinds(far) == []
    assert kinds("パスポート TK1234567") == [("passport", "TK1234567")]


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("在留カード AB12345678CD", "residence_card", "AB12345678CD"),
    ("AB12345678CD", "residence_card", "AB12345678CD"),
    ("旅券番号：TK1234567", "passport", "TK1234567"),
    ("口座番号 1234567", "bank_account", "1234567"),
    ("振込先：みなと銀行 本店 普通 1234567", "bank_account", "1234567"),
    ("基礎年金番号 1234-567890", "pension_number", "1234-567890"),
    ("保険者番号 06123456", "health_insurance", "06123456"),
    ("運転免許証 301234567890", "drivers_license", "301234567890"),
    ("〒100-0001 東京都", "postal_code", "100-0001"),
    ("郵便番号は1000001です", "postal_code", "1000001"),
    ("連絡は tanaka.taro@city.example.lg.jp まで", "email", "tanaka.taro@city.example.lg.jp"),
])
def test_each_kind(text: str, kind: str, value: str) -> None:
    assert kinds(text) == [(kind, value)]


@pytest.mark.parametrize("text", ["TK1234567", "普通に考えると、参加者は延べ 1234567", "1234-567890",
                                  "06123456", "301234567890"])
def test_keyword_required_kinds_without_keyword(text: str) -> None:
    assert kinds(text) == []


# --- phone formats ----------------------------------------------------------------------------

@pytest.mark.parametrize("phone", [
    "090-1234-5678", "080 1234 5678", "07012345678", "03-1234-5678", "06-6123-4567",
    "045-123-4567", "0466-12-3456", "0120-123-456", "0570-123-456", "0800-123-4567",
    "050-1234-5678", "+81-90-1234-5678", "+81 3 1234 5678", "+819012345678",
    "(03)1234-5678", "03(1234)5678",
])
def test_phone_formats(phone: str) -> None:
    assert kinds(f"連絡先 {phone} まで") == [("phone", phone)]


@pytest.mark.parametrize("text", ["内線1234", "内線 12-3456 へ", "0012345678", "00-1234-5678"])
def test_not_phones(text: str) -> None:
    assert kinds(text) == []


# --- birth dates need their keyword -----------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("生年月日：昭和60年4月1日", "昭和60年4月1日"),
    ("1985年4月1日生まれです", "1985年4月1日"),
    ("誕生日 1985/04/01", "1985/04/01"),
    ("生年月日 H2.3.4", "H2.3.4"),
    ("生年月日 平成元年1月8日", "平成元年1月8日"),
    ("生年月日 ㍼60年4月1日", "㍼60年4月1日"),
    ("DOB: 1985-04-01", "1985-04-01"),
])
def test_birth_dates(text: str, value: str) -> None:
    assert kinds(text) == [("birth_date", value)]


def test_plain_dates_are_not_birth_dates() -> None:
    assert kinds("令和6年4月1日から受付、2024/04/01締切、1985年4月1日創立") == []


def test_birth_keyword_claims_only_the_nearest_date() -> None:
    text = "生年月日：昭和60年4月1日、申請日：令和6年5月1日"
    assert kinds(text) == [("birth_date", "昭和60年4月1日")]
    assert kinds("令和6年5月1日付け。誕生日会は8月9日です") == []


# --- hard negatives ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "注文番号 123456789019 の件",                        # wrong check digit
    "伝票番号：1234-5678-9018",                           # valid by chance, labelled as order no.
    "¥1,234,567 と 123,456円 と 1234567円",
    "内線1234にお願いします",
    "https://example.jp/item/123456789018?tel=09012345678",
    "$abc123456789018:example.org と !room09012345678:example.org",
    "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kfcl52H7Jo7E",
    "@u09012345678:city.example.lg.jp さん",
    "2024-01-15T09:30:00+09:00 / 1705280000 / 1705280000123 / 20240115093000",
    "v1.2.3, Python 3.11.7, 10.0.19045.3803",
    "192.168.100.200 からアクセス",
    "第2024-001234号の文書",
    "令和6年4月1日付けで 2024年4月1日 2024/04/01 に通知",
    "人口は123,456人です",
])
def test_hard_negatives(text: str) -> None:
    assert kinds(text) == []


def test_matrix_user_id_is_not_an_email() -> None:
    assert kinds("@tanaka:city.example.lg.jp さん、確認お願いします") == []


# --- offsets into the original text -----------------------------------------------------------

@pytest.mark.parametrize("value", [
    "０９０－１２３４－５６７８",       # full-width digits and dash
    "〇九〇‐一二三四‐五六七八",       # kanji digits, U+2010
    "090ー1234ー5678",                 # katakana prolonged sound mark as dash
    "090−1234−5678",                  # minus sign
    "０９０ｰ１２３４ｰ５６７８",        # half-width prolonged sound mark
    "090―1234―5678",                  # horizontal bar
])
def test_offsets_point_at_what_the_user_wrote(value: str) -> None:
    text = f"㈱みなと（ﾀﾅｶ）の携帯は{value}です"
    assert kinds(text) == [("phone", value)]


def test_offsets_after_length_changing_characters() -> None:
    text = "㈱㍻①ｶﾞｷﾞ マイナンバー：１２３４ ５６７８ ９０１８。"
    [f] = scan(text)
    assert text[f.start : f.end] == "１２３４ ５６７８ ９０１８"


def test_half_width_katakana_keyword() -> None:
    assert kinds("ﾏｲﾅﾝﾊﾞｰは123456789018です") == [("my_number", "123456789018")]


def test_fullwidth_email() -> None:
    text = "メール：ｔａｎａｋａ＠ｅｘａｍｐｌｅ．ｊｐ"
    assert kinds(text) == [("email", "ｔａｎａｋａ＠ｅｘａｍｐｌｅ．ｊｐ")]


# --- API shape --------------------------------------------------------------------------------

def test_findings_sorted_and_json() -> None:
    text = "TEL 03-1234-5678、メール a@example.jp、〒100-0001"
    findings = scan(text)
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    assert {f.kind for f in findings} == {"phone", "email", "postal_code"}
    for f in findings:
        assert isinstance(f, Finding)
        assert f.kind in KINDS
        assert 0.0 <= f.confidence <= 1.0
        assert f.to_json() == {"kind": f.kind, "start": f.start, "end": f.end,
                               "confidence": f.confidence}


def test_kinds_and_informational() -> None:
    assert len(KINDS) == 13 and len(set(KINDS)) == 13
    assert INFORMATIONAL == frozenset({"corporate_number", "postal_code"})
    assert INFORMATIONAL <= set(KINDS)


def test_findings_are_frozen() -> None:
    f = Finding("phone", 0, 1, 0.9)
    with pytest.raises(AttributeError):
        f.kind = "email"  # type: ignore[misc]
