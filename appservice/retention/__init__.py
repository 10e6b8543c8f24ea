"""Retention bot: mirror flagged rooms into the tamper-evident archive (appservice/archive).

config    — the `retention:` section of yakuba.yaml
tables    — Yakuba-side state: flags, display names, retries, pending disposals
records   — Matrix event → archive record (pure)
policy    — ArchivePolicy (pure): events of flagged rooms become Effect("archive")
runtime   — the effect handler, flag/unflag in Matrix, retries
commands  — `!yakuba archive …`
upload    — exports uploaded to the (encrypted) admin room
See docs/retention.md (operators) and docs/archive.md (the storage layer).
"""
