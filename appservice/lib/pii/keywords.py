"""Context keywords and the proximity index the detectors consult.

Keywords are matched on the NORMALISED text (so ＴＥＬ, ﾏｲﾅﾝﾊﾞｰ and ㍼ are found too).
A keyword counts BEFORE a number within its `before` window and AFTER it within its `after`
window, in characters of normalised text between the keyword and the number. Japanese puts
labels before values (マイナンバー：1234…) but also after (…がマイナンバーです), so both count;
a keyword after the number scores worse (2·d + 5) so that in
「個人番号 123456789018、免許証番号 301234567890」 each number takes the label before it.

Windows: 40 before / 30 after for specific terms (口座番号, 基礎年金番号); 12 / 6 for generic
ones (普通, 支店, 年金, 記号) that appear in ordinary sentences; 〒 must touch the number.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right

STRONG = (40, 30)
WEAK = (12, 6)
TOUCH = (2, 0)
NEG = (12, 0)  # labels of non-personal numbers, only directly before
SUFFIX = (12, 30)  # 生まれ follows its date: no penalty after, the penalty goes before
_SUFFIXES = frozenset({"生まれ", "born"})

# kind -> ((keyword, (before, after)), ...). ASCII keywords match case-insensitively on word
# boundaries. "neg" = numbers that look like identifiers but are order numbers etc.
KEYWORDS: dict[str, tuple[tuple[str, tuple[int, int]], ...]] = {
    "my_number": tuple(
        (k, STRONG)
        for k in (
            "マイナンバー", "マイナンバーカード", "個人番号", "個人番号カード", "通知カード",
            "個人識別番号", "my number", "mynumber", "individual number",
        )
    ),
    "drivers_license": tuple(
        (k, STRONG)
        for k in (
            "運転免許証", "運転免許", "免許証番号", "免許番号", "免許証", "運転経歴証明書",
            "driver's license", "drivers license", "driver license", "driving licence",
        )
    ),
    "passport": tuple(
        (k, STRONG) for k in ("パスポート", "旅券番号", "旅券", "passport")
    ),
    "residence_card": tuple(
        (k, STRONG)
        for k in ("在留カード", "在留カード番号", "特別永住者証明書", "residence card")
    ),
    # Not 年金 alone: department names (保険年金課) would put it next to any number.
    "pension_number": tuple(
        (k, STRONG) for k in ("基礎年金番号", "年金番号", "年金手帳", "年金証書")
    ),
    "health_insurance": (
        *(
            (k, STRONG)
            for k in (
                "保険者番号", "被保険者番号", "被保険者証", "被保険者", "保険証", "健康保険証",
                "健康保険", "国民健康保険", "国保", "資格確認書", "後期高齢者医療",
                "介護保険", "health insurance",
            )
        ),
        ("記号", WEAK),
    ),
    "bank_account": (
        *(
            (k, STRONG)
            for k in (
                "口座番号", "口座", "預金口座", "普通預金", "当座預金", "振込先", "振込口座",
                "振り込み先", "支店番号", "店番", "ゆうちょ", "account number", "account no",
                "bank account",
            )
        ),
        *((k, WEAK) for k in ("普通", "当座", "支店", "銀行", "信用金庫", "信金", "預金", "貯金")),
    ),
    "phone": tuple(
        (k, STRONG)
        for k in (
            "電話番号", "電話", "携帯番号", "携帯", "ケータイ", "スマホ", "連絡先", "固定電話",
            "ファックス", "ファクス", "tel", "phone", "fax", "mobile",
        )
    ),
    "credit_card": tuple(
        (k, STRONG)
        for k in (
            "クレジットカード", "クレカ", "カード番号", "デビットカード", "credit card", "card no",
            "card number", "visa", "mastercard", "jcb", "amex",
        )
    ),
    "postal_code": (
        *((k, STRONG) for k in ("郵便番号", "postal code", "zip code", "zip")),
        ("〒", TOUCH),
    ),
    "corporate_number": tuple(
        (k, STRONG)
        for k in (
            "法人番号", "法人", "株式会社", "(株)", "有限会社", "合同会社", "社団法人",
            "財団法人", "corporate number",
        )
    ),
    "birth_date": tuple(
        (k, STRONG)
        for k in (
            "生年月日", "誕生日", "生年", "出生", "date of birth", "birthday", "birth", "dob",
        )
    ) + tuple((k, SUFFIX) for k in _SUFFIXES),
    "neg": tuple(
        (k, NEG)
        for k in (
            "注文番号", "注文", "受注番号", "発注番号", "伝票番号", "問い合わせ番号", "問合せ番号",
            "受付番号", "管理番号", "整理番号", "予約番号", "請求番号", "請求書番号", "契約番号",
            "会員番号", "追跡番号", "文書番号", "案件番号", "品番", "型番", "製造番号",
            "シリアル", "内線", "order", "invoice", "ticket", "serial", "tracking", "id",
        )
    ),
}

# keyword (lower-cased) -> (kind, before window, after window, is a suffix)
_INFO: dict[str, tuple[str, int, int, bool]] = {}
for _kind, _entries in KEYWORDS.items():
    for _kw, (_before, _after) in _entries:
        _INFO[_kw.lower()] = (_kind, _before, _after, _kw in _SUFFIXES)

MAX_BEFORE = max(v[1] for v in _INFO.values())
MAX_AFTER = max(v[2] for v in _INFO.values())
MAX_KW_LEN = max(len(k) for k in _INFO)


# Japanese keywords: one alternation of literals, longest first (マイナンバーカード before
# マイナンバー; finditer then skips the consumed text). Literal-only alternations let re skip
# quickly to the positions where a keyword can start.
_JA_RE = re.compile(
    "|".join(re.escape(k) for k in sorted((k for k in _INFO if not k.isascii()),
                                          key=len, reverse=True))
)
# ASCII keywords are matched as word sequences, case-insensitively: "tel" must not fire
# inside "hotel", and a case-insensitive alternation with look-arounds would cost ~100 µs.
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_ASCII_KW: dict[tuple[str, ...], str] = {tuple(k.split()): k for k in _INFO if k.isascii()}
_ASCII_MAX_WORDS = max(len(t) for t in _ASCII_KW)
_ASCII_FIRST = frozenset(t[0] for t in _ASCII_KW)
BIRTH_KEYWORDS = tuple(k for k, _ in KEYWORDS["birth_date"])


def _ascii_hits(text: str) -> list[tuple[int, int, str]]:
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(words):
        if words[i][2] not in _ASCII_FIRST:
            i += 1
            continue
        for n in range(min(_ASCII_MAX_WORDS, len(words) - i), 0, -1):
            seq = words[i : i + n]
            if any(not text[a[1] : b[0]].isspace() for a, b in itertools.pairwise(seq)):
                continue
            kw = _ASCII_KW.get(tuple(w[2] for w in seq))
            if kw is not None:
                out.append((seq[0][0], seq[-1][1], kw))
                i += n
                break
        else:
            i += 1
    return out


Hit = tuple[int, int, int, int, bool]  # start, end, before window, after window, is suffix

_LABEL_TAIL = re.compile(r"(?:番号)?[ :(「は]{0,2}[0-9]")
_SENTENCE_END = re.compile(r"[。．!?！？\n]")
SENTENCE_PENALTY = 20.0


class KeywordIndex:
    """All keyword hits of one normalised text, queried by distance to a span."""

    __slots__ = ("_hits", "_starts", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        hits = [(m.start(), m.end(), _INFO[m.group()]) for m in _JA_RE.finditer(text)]
        latin = _ascii_hits(text)
        if latin:
            hits.extend((s, e, _INFO[k]) for s, e, k in latin)
            hits.sort()
        self._hits = hits
        self._starts = [h[0] for h in self._hits]

    def hits(self, kind: str) -> list[Hit]:
        return [(s, e, *info[1:]) for s, e, info in self._hits if info[0] == kind]

    def scores(self, start: int, end: int) -> dict[str, float]:
        """Best (lowest) proximity score per kind for a span; kinds with no hit are absent."""
        out: dict[str, float] = {}
        if not self._hits:
            return out
        lo = bisect_left(self._starts, start - MAX_BEFORE - MAX_KW_LEN)
        hi = bisect_right(self._starts, end + MAX_AFTER)
        for ks, ke, (kind, before, after, suffix) in self._hits[lo:hi]:
            score = self.proximity((ks, ke, before, after, suffix), start, end)
            if score is not None and score < out.get(kind, 1e9):
                out[kind] = score
        return out

    def proximity(self, hit: Hit, start: int, end: int) -> float | None:
        """Score of a keyword hit for span [start, end): lower is closer; None = too far.

        Distance in characters; the keyword's unusual side costs 2·d + 5 (after the value
        for labels, before it for suffixes such as 生まれ); crossing a sentence end costs 20
        more, so that in 「Aが免許番号です。Bがマイナンバーです。」 B takes マイナンバー.
        """
        ks, ke, before, after, suffix = hit
        if ke <= start:
            d = start - ke
            if d > before:
                return None
            score = 2.0 * d + 5.0 if suffix else float(d)
            gap = (ke, start)
        elif ks >= end:
            d = ks - end
            if d > after:
                return None
            if not suffix and _LABEL_TAIL.match(self._text, ke) is not None:
                return None  # 「…、運転免許証（7302…」: the label of the next number
            score = float(d) if suffix else 2.0 * d + 5.0
            gap = (end, ks)
        else:
            return 0.0  # overlapping
        if _SENTENCE_END.search(self._text, *gap) is not None:
            score += SENTENCE_PENALTY
        return score
