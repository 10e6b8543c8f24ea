"""mask_preview never repeats a value: at most the last four digits survive."""

from __future__ import annotations

import re

import pytest

from appservice.lib.pii import Finding, mask_preview, scan
from tests.pii_corpus.generator import labelled_corpus


def preview(text: str) -> str:
    [f] = scan(text)
    return mask_preview(f.kind, text, f)


@pytest.mark.parametrize(("text", "expected"), [
    ("マイナンバー 1234-5678-9018", "****-****-9018"),
    ("個人番号：１２３４－５６７８－９０１８", "****-****-9018"),
    ("携帯 〇九〇‐一二三四‐五六七八", "***-****-5678"),
    ("メール tanaka@example.jp", "t***@example.jp"),
    ("カード 4111 1111 1111 1111", "**** **** **** 1111"),
    ("在留カード AB12345678CD", "******5678**"),
    ("生年月日 1985年4月1日", "****年*月*日"),
])
def test_examples(text: str, expected: str) -> None:
    assert preview(text) == expected


def test_short_values_keep_at_most_half_their_digits() -> None:
    f = Finding("bank_account", 0, 6, 0.9)
    assert mask_preview("bank_account", "123456", f) == "***456"


def _visible_digits(s: str) -> str:
    return "".join(re.findall(r"[0-9]", s))


def test_corpus_previews_never_reveal_more_than_four_digits() -> None:
    checked = 0
    for s in labelled_corpus(per_kind=40, pairs=40, forms=40, negatives=0, chatter=0):
        for f in scan(s.text):
            p = mask_preview(f.kind, s.text, f)
            value = s.text[f.start : f.end]
            assert p != value
            assert "*" in p
            if f.kind == "email":
                local = p.split("@")[0]
                assert local.endswith("***") and len(local) == 4
            else:
                assert len(_visible_digits(p)) <= 4, (f.kind, p)
            checked += 1
    assert checked > 500


def test_preview_of_empty_or_odd_span() -> None:
    assert mask_preview("phone", "abc", Finding("phone", 5, 9, 0.9)) == "***"
    assert mask_preview("phone", "\ud800" * 3, Finding("phone", 0, 3, 0.9)) == "***"
