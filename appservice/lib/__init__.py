"""Pure libraries that know nothing of Matrix: the PII scanner (pii), the image analyser
(screenshots), the work calendar (workcal) and the archive storage (archive).

May touch: their own inputs and, for the archive, its own storage backend. Never imports
appservice.core, appservice.matrix or a feature (except the catalogs, for calendar texts).
"""
