"""The result type of the scanner and the list of kinds it reports."""

from __future__ import annotations

from dataclasses import dataclass

KINDS: tuple[str, ...] = (
    "my_number",
    "corporate_number",
    "phone",
    "email",
    "credit_card",
    "bank_account",
    "passport",
    "residence_card",
    "drivers_license",
    "pension_number",
    "health_insurance",
    "birth_date",
    "postal_code",
)

# Recognised so that they are not mistaken for something else, but not personal data:
# corporate numbers are published by the National Tax Agency, postal codes name an area.
INFORMATIONAL: frozenset[str] = frozenset({"corporate_number", "postal_code"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected identifier. Offsets index the ORIGINAL text given to scan()."""

    kind: str
    start: int
    end: int
    confidence: float

    def to_json(self) -> dict[str, object]:
        # Never carries the matched text: callers log and forward this dict.
        return {
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "confidence": self.confidence,
        }
