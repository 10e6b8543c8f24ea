"""Random identifiers in real formats, with valid check digits where the format has one.

Every function takes a random.Random so that the corpus is reproducible from one seed.
Check digits come from python-stdnum, the same library the scanner uses; the notes'
examples (123456789018, 5835678256246, …) pin the algorithms in test_pii_unit.py.
"""

from __future__ import annotations

import random
import string

from stdnum import luhn
from stdnum.jp import cn, in_

DIGITS = string.digits


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n))


def my_number(rng: random.Random) -> str:
    base = digits(rng, 11)
    return base + in_.calc_check_digit(base)


def bad_my_number(rng: random.Random) -> str:
    """12 digits whose My Number check digit is wrong (order numbers, slips)."""
    good = my_number(rng)
    wrong = str((int(good[-1]) + rng.randint(1, 9)) % 10)
    return good[:-1] + wrong


def corporate_number(rng: random.Random) -> str:
    base = digits(rng, 12)
    return cn.calc_check_digit(base) + base


_CARD_PREFIXES = (("4", 16), ("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("35", 16),
                  ("37", 15), ("34", 15), ("6011", 16), ("62", 16), ("36", 14))


def credit_card(rng: random.Random) -> tuple[str, tuple[int, ...]]:
    prefix, n = rng.choice(_CARD_PREFIXES)
    if prefix == "35":
        prefix = f"35{rng.randint(28, 89)}"  # JCB range 3528-3589
    body = prefix + digits(rng, n - len(prefix) - 1)
    number = body + luhn.calc_check_digit(body)
    layout = {16: (4, 4, 4, 4), 15: (4, 6, 5), 14: (4, 6, 4)}[n]
    return number, layout


_AREA2 = ("03", "06")
_AREA3 = ("011", "022", "025", "045", "048", "052", "075", "078", "082", "092", "096", "098")
_AREA4 = ("0123", "0422", "0466", "0480", "0562", "0742", "0848", "0952", "0985", "0276")


def _sub(rng: random.Random, n: int) -> str:
    """Subscriber digits: the first is never 0 (that would be a new prefix)."""
    return str(rng.randint(1, 9)) + digits(rng, n - 1)


def phone(rng: random.Random) -> str:
    """A Japanese phone number written the way people write them."""
    kind = rng.choice(("mobile", "mobile", "mobile", "area2", "area2", "area3", "area4",
                       "free", "ip", "intl", "paren", "bare_mobile", "navi"))
    mob = rng.choice(("090", "080", "070"))
    if kind == "mobile":
        sep = rng.choice(("-", "-", "-", " ", "."))
        return f"{mob}{sep}{_sub(rng, 4)}{sep}{digits(rng, 4)}"
    if kind == "bare_mobile":
        return f"{mob}{_sub(rng, 8)}"
    if kind == "area2":
        return f"{rng.choice(_AREA2)}-{_sub(rng, 4)}-{digits(rng, 4)}"
    if kind == "area3":
        return f"{rng.choice(_AREA3)}-{_sub(rng, 3)}-{digits(rng, 4)}"
    if kind == "area4":
        return f"{rng.choice(_AREA4)}-{_sub(rng, 2)}-{digits(rng, 4)}"
    if kind == "free":
        return f"0120-{digits(rng, 3)}-{digits(rng, 3)}"
    if kind == "navi":
        return f"0570-{digits(rng, 3)}-{digits(rng, 3)}"
    if kind == "ip":
        return f"050-{_sub(rng, 4)}-{digits(rng, 4)}"
    if kind == "intl":
        sep = rng.choice(("-", " "))
        return f"+81{sep}{mob[1:]}{sep}{_sub(rng, 4)}{sep}{digits(rng, 4)}"
    return f"(03){_sub(rng, 4)}-{digits(rng, 4)}"


_LOCALS = ("Tanaka.Taro", "yamada+city", "tanaka", "suzuki", "sato", "yamada", "kobayashi",
           "watanabe", "ito", "nakamura", "kato", "yoshida", "taro", "hanako", "k.tanaka",
           "m_suzuki", "info", "s-ito")
_DOMAINS = ("city.example.lg.jp", "example.jp", "mail.example.com", "town.example.lg.jp",
            "gmail.com", "docomo.ne.jp", "ezweb.ne.jp", "example.co.jp")


def email(rng: random.Random) -> str:
    local = rng.choice(_LOCALS)
    if rng.random() < 0.4:
        local += str(rng.randint(1, 999))
    return f"{local}@{rng.choice(_DOMAINS)}"


def bank_account(rng: random.Random) -> str:
    return digits(rng, 7)


def passport(rng: random.Random) -> str:
    return rng.choice(("TK", "TR", "TZ", "MU", "MZ", "RE", "TH")) + digits(rng, 7)


def residence_card(rng: random.Random) -> str:
    letters = string.ascii_uppercase
    return (rng.choice(letters) + rng.choice(letters) + digits(rng, 8)
            + rng.choice(letters) + rng.choice(letters))


def drivers_license(rng: random.Random) -> str:
    # 2-digit issuing commission, 2-digit year, 6-digit serial, check-ish digit, reissues.
    return f"{rng.randint(10, 97)}{digits(rng, 2)}{digits(rng, 6)}{digits(rng, 1)}{rng.randint(0, 3)}"


def pension_number(rng: random.Random) -> str:
    return f"{digits(rng, 4)}-{digits(rng, 6)}" if rng.random() < 0.7 else digits(rng, 10)


def health_insurance(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(("01", "06", "31", "32", "34", "63", "39")) + digits(rng, 6)
    return rng.choice(("13", "27", "01", "40")) + digits(rng, 4)  # 国保: 6 digits


def birth_date(rng: random.Random) -> str:
    y = rng.randint(1940, 2010)
    m = rng.randint(1, 12)
    d = rng.randint(1, 28)
    style = rng.randrange(6)
    if style == 0:
        return f"{y}年{m}月{d}日"
    if style == 1:
        return f"{y}/{m:02d}/{d:02d}"
    if style == 2:
        return f"{y}-{m:02d}-{d:02d}"
    if style == 3:
        if y >= 1989:
            return f"平成{y - 1988 if y > 1989 else '元'}年{m}月{d}日"
        return f"昭和{y - 1925}年{m}月{d}日"
    if style == 4:
        return f"S{rng.randint(20, 63)}.{m}.{d}" if y < 1989 else f"H{y - 1988}.{m}.{d}"
    return f"{y}.{m}.{d}"


def postal_code(rng: random.Random) -> str:
    return f"{digits(rng, 3)}-{digits(rng, 4)}"
