"""What a run of digit groups could be, judged by shape and check digit alone.

Each rule returns Options: a kind, the confidence it has without any keyword (0 = a keyword
is required) and the confidence with a keyword of that kind nearby. Keyword resolution is
the scanner's job; this module never looks at context beyond the characters touching the
number. Check digits come from python-stdnum.
"""

from __future__ import annotations

from dataclasses import dataclass

from stdnum import luhn
from stdnum.jp import cn as corporate
from stdnum.jp import in_ as mynumber


@dataclass(frozen=True, slots=True)
class Option:
    kind: str
    base: float  # without a keyword; 0.0 means "needs a keyword"
    with_kw: float


class Digits:
    """A candidate number: its digit groups and the separators between them."""

    __slots__ = ("digits", "groups", "lengths", "plus", "seps")

    def __init__(self, groups: tuple[str, ...], seps: tuple[str, ...], plus: bool = False):
        self.groups = groups
        self.seps = seps  # len(groups) - 1 entries, raw ("-", " ", ") ", ...)
        self.plus = plus  # written with a leading '+' (international phone form)
        self.digits = "".join(groups)
        self.lengths = tuple(len(g) for g in groups)

    def sep_set(self) -> set[str]:
        return {s.strip() or " " for s in self.seps}


def _uniform(d: Digits, allowed: str) -> bool:
    """All separators are the same single kind, one of `allowed` (' ' for whitespace)."""
    kinds = d.sep_set()
    return len(kinds) <= 1 and all(k in allowed for k in kinds)


def _looks_like_date(s: str) -> bool:
    """YYYYMMDD in 1900-2099: far more often a date than an account or insurer number."""
    if len(s) != 8 or s[:2] not in ("19", "20"):
        return False
    m, d = int(s[4:6]), int(s[6:8])
    return 1 <= m <= 12 and 1 <= d <= 31


def my_number(d: Digits) -> list[Option]:
    lengths = d.lengths
    if lengths == (12,):
        grouped = False
    elif lengths == (4, 4, 4) and _uniform(d, "- ."):
        grouped = True
    else:
        return []
    opts = [Option("drivers_license", 0.0, 0.9)]
    if mynumber.is_valid(d.digits):
        # ~10% of random 12-digit strings pass the check: alone that is weak evidence,
        # the card's 4-4-4 layout is much stronger.
        opts.append(Option("my_number", 0.8 if grouped else 0.4, 0.97))
    else:
        # Labelled as a My Number but one digit mistyped: still 11 real digits leaked.
        opts.append(Option("my_number", 0.0, 0.55))
    return opts


def corporate_number(d: Digits) -> list[Option]:
    if d.lengths not in ((13,), (1, 4, 4, 4)) or not _uniform(d, "- "):
        return []
    s = d.digits
    if not corporate.is_valid(s):
        return []
    # A bare 13-digit value in the epoch-milliseconds range is more likely a timestamp.
    if len(d.groups) == 1 and 1_000_000_000_000 <= int(s) < 2_100_000_000_000:
        return [Option("corporate_number", 0.0, 0.98)]
    return [Option("corporate_number", 0.9, 0.98)]


def _card_brand_ok(s: str) -> bool:
    n = len(s)
    p2, p4 = int(s[:2]), int(s[:4])
    if s[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard
    if p2 in (34, 37):
        return n == 15  # American Express
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19  # JCB
    if p2 in (36, 38, 39) or 300 <= int(s[:3]) <= 305:
        return 14 <= n <= 16  # Diners Club
    if s.startswith("6011") or p2 in (62, 65) or 644 <= int(s[:3]) <= 649:
        return 16 <= n <= 19  # Discover, UnionPay
    return False


def credit_card(d: Digits) -> list[Option]:
    s = d.digits
    if not 13 <= len(s) <= 19 or not _uniform(d, "- "):
        return []
    lengths = d.lengths
    if len(lengths) > 1:
        fours = all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4
        if not fours and lengths not in ((4, 6, 5), (4, 6, 4)):
            return []
    if not _card_brand_ok(s) or not luhn.is_valid(s):
        return []
    return [Option("credit_card", 0.9, 0.98)]


# National prefixes that need 11 digits: mobile 060/070/080/090, IP phone 050, M2M 020,
# free dial 0800. Free dial 0120 and navi-dial 0570/0990 have 10.
_ELEVEN = ("060", "070", "080", "090", "050", "020", "0800")
_TEN_SERVICE = ("0120", "0570", "0990")


def phone(d: Digits) -> list[Option]:
    if not d.sep_set() <= {"-", " ", ".", "(", ")", ")-", "-(", ") (", ")("}:
        return []
    groups = list(d.groups)
    if d.plus:
        if not groups[0].startswith("81"):
            return []
        groups[0] = groups[0][2:]
        if not groups[0]:
            groups.pop(0)
        if not groups or groups[0].startswith("0"):
            return []
        groups[0] = "0" + groups[0]
    if len(groups) > 3:
        return []
    n = "".join(groups)
    if len(n) < 10 or n[0] != "0" or n[1] == "0":
        return []
    lengths = tuple(len(g) for g in groups)
    # 06-0xxx-xxxx is Osaka written with its 2-digit area code, not the 060 prefix.
    eleven = n.startswith(_ELEVEN) and not (len(groups) > 1 and lengths[0] == 2)
    if len(n) != (11 if eleven else 10):
        return []
    if len(groups) == 3:
        if eleven:
            ok = lengths in ((3, 4, 4), (4, 3, 4))
        elif n.startswith(_TEN_SERVICE):
            ok = lengths in ((4, 3, 3), (4, 2, 4), (3, 3, 4))
        else:
            ok = 2 <= lengths[0] <= 5 and lengths[2] == 4
        if not ok:
            return []
    elif len(groups) == 2 and not 2 <= lengths[0] <= 5:
        return []
    if len(groups) > 1 or d.plus:
        base = 0.85
    elif eleven:
        base = 0.8
    else:
        base = 0.6  # ten bare digits starting with 0: a phone number, or something else
    return [Option("phone", base, 0.95)]


def postal_code(d: Digits) -> list[Option]:
    if d.lengths == (3, 4) and d.seps == ("-",):
        return [Option("postal_code", 0.45, 0.95)]
    if d.lengths == (7,):
        return [Option("postal_code", 0.0, 0.9)]
    return []


def bank_account(d: Digits) -> list[Option]:
    lengths = d.lengths
    if lengths == (7,) or (lengths == (8,) and not _looks_like_date(d.digits)):
        return [Option("bank_account", 0.0, 0.85)]
    # branch-account (123-1234567), bank-branch-account, Japan Post 記号-番号 (12345-12345678)
    if lengths in ((3, 7), (4, 3, 7), (5, 8), (5, 7)) and _uniform(d, "- "):
        return [Option("bank_account", 0.0, 0.85)]
    return []


def pension_number(d: Digits) -> list[Option]:
    if d.lengths == (10,) or (d.lengths == (4, 6) and _uniform(d, "- ")):
        return [Option("pension_number", 0.0, 0.9)]
    return []


def health_insurance(d: Digits) -> list[Option]:
    # Insurer numbers have 6 or 8 digits, insured-person numbers up to 8, long-term care
    # insurance 10.
    lengths = d.lengths
    if lengths in ((6,), (7,), (10,)) or (lengths == (8,) and not _looks_like_date(d.digits)):
        return [Option("health_insurance", 0.0, 0.8)]
    return []


RULES = (my_number, corporate_number, credit_card, phone, postal_code, bank_account,
         pension_number, health_insurance)


def numeric_options(d: Digits) -> list[Option]:
    """Every kind the digits could be, by shape and check digit."""
    if d.plus:
        return phone(d)
    if any(("(" in s or ")" in s) for s in d.seps):
        return phone(d)
    out: list[Option] = []
    for rule in RULES:
        out.extend(rule(d))
    return out
