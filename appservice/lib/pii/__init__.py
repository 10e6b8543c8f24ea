"""Japanese personal-data scanner: pure, no I/O.

    from appservice.lib.pii import scan, Finding, KINDS, INFORMATIONAL, mask_preview

See docs/pii.md for what is detected and how confident each finding is.
"""

from .finding import INFORMATIONAL, KINDS, Finding
from .mask import mask_preview
from .scanner import REPORT_THRESHOLD, scan

__all__ = ["INFORMATIONAL", "KINDS", "REPORT_THRESHOLD", "Finding", "mask_preview", "scan"]
