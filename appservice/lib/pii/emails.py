"""E-mail addresses in normalised text (full-width ＠ and letters are already ASCII)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .detectors import Candidate
from .shapes import Option

_AT = re.compile(r"@(?<=[A-Za-z0-9._%+\-]@)(?=[A-Za-z0-9])")
_LOCAL_TAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}\Z")
_DOMAIN = re.compile(r"[A-Za-z0-9\-.]{1,253}")


def emails(text: str) -> Iterator[Candidate]:
    """Addresses around each '@' that has an address character on both sides, expanded
    with a bounded look-back (64) and look-ahead (253)."""
    for m in _AT.finditer(text):
        at = m.start()
        lm = _LOCAL_TAIL.search(text, max(0, at - 64), at)
        dm = _DOMAIN.match(text, at + 1)
        if lm is not None and dm is not None:
            local = lm.group().lstrip(".")
            domain = dm.group().rstrip(".-")
            # "example.jp2024年度": digits glued after the address are not part of the TLD.
            if "." in domain:
                head, _, tld = domain.rpartition(".")
                domain = f"{head}.{tld.rstrip('0123456789')}"
            labels = domain.split(".")
            tld = labels[-1]
            if (
                local
                and len(labels) >= 2
                and all(labels)
                and 2 <= len(tld) <= 24
                and tld.isalpha()
            ):
                start = at - len(local)
                yield Candidate(start, at + 1 + len(domain), (Option("email", 0.95, 0.95),), False)
