"""scan() never raises, stays linear on hostile input, and honours max_chars."""

from __future__ import annotations

import random
import time

import pytest

from appservice.lib.pii import scan


def _random_text(rng: random.Random, n: int) -> str:
    pools = [
        "0123456789", "０１２３４５６７８９", "〇一二三四五六七八九", "-‐ー－ .()+@:/,",
        "マイナンバー電話口座番号生年月日〒年月日昭和", "ABCDEFGHTKxyz", "㈱①⑫㍼ｶﾞﾞ\u3099\u0301",
    ]
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.85:
            out.append(rng.choice(rng.choice(pools)))
        elif r < 0.95:
            out.append(chr(rng.randrange(0x20, 0x3000)))
        else:
            out.append(chr(rng.choice((0xD800, 0xDFFF, 0xFFFF, 0x1F600, 0x1D7CE, 0x10FFFF, 0))))
    return "".join(out)


def test_fuzz_never_raises_and_offsets_are_valid() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        text = _random_text(rng, rng.randrange(0, 120))
        findings = scan(text)
        assert [f.start for f in findings] == sorted(f.start for f in findings)
        for f in findings:
            assert 0 <= f.start < f.end <= len(text)
            assert 0.5 <= f.confidence <= 1.0


@pytest.mark.parametrize("text", ["", " ", "\ud800", "\udfff\ud800", "\x00" * 50, "\U0010ffff",
                                  "@", "@@@", "a@", "@b.jp", "〒", "生年月日", "+", "(", ")("])
def test_edge_inputs(text: str) -> None:
    assert scan(text) == []


def test_surrogates_around_a_number() -> None:
    text = "\ud800電話 090-1234-5678\udfff"
    [f] = scan(text)
    assert text[f.start : f.end] == "090-1234-5678"


def test_max_chars_truncates() -> None:
    text = "あ" * 200 + "電話 090-1234-5678"
    assert scan(text, max_chars=100) == []
    assert len(scan(text, max_chars=1000)) == 1
    assert scan(text, max_chars=0) == []


def _mb(unit: str) -> str:
    """One million characters of a repeated unit."""
    return (unit * (1_000_000 // len(unit) + 1))[:1_000_000]


HOSTILE = {
    "spaced digits": _mb("1 "),
    "dashed digits": _mb("1-"),
    "12-digit blocks": _mb("123456789018 "),
    "at signs": _mb("a@"),
    "long domain": "x@" + _mb("a."),
    "birth dates": _mb("生年月日1985年4月1日"),
    "kanji digits": _mb("一二三四五六七八九〇"),
    "phones": _mb("電話090-1234-5678、"),
    "length-changing": _mb("㈱①"),
    "digits": _mb("8"),
}


# CPU time of this process, not wall-clock: a hostile input must not make the scanner do
# unbounded work (backtracking), and a busy CI machine must not make that look so.
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_one_megabyte_in_bounded_time(name: str) -> None:
    text = HOSTILE[name]
    t0 = time.process_time()
    scan(text)  # default max_chars: the first 100 000 characters
    assert time.process_time() - t0 < 2.0
    t0 = time.process_time()
    scan(text, max_chars=len(text))  # all of it
    assert time.process_time() - t0 < 10.0  # ~1 s on one core; generous for slow CI


@pytest.mark.parametrize("unit", ["<b>1</b>", "&#49;", "<", "&", "<!--", "1\u200b", "١ "])
def test_hostile_markup_and_evasion_in_bounded_time(unit: str) -> None:
    text = _mb(unit)
    t0 = time.process_time()
    scan(text)
    assert time.process_time() - t0 < 5.0
