"""Offboarding: lost phones and leavers (docs/offboarding.md).

- plan.py      pure rules: room admins (v12 creators), refusals, argument and date parsing
- csvfile.py   the bulk CSV (Excel-friendly)
- jobs.py      plans, jobs and uploads in SQLite; leases for running jobs
- execute.py   the Synapse side: dry-run inspection, hand-over, deactivation, lock/logout/suspend
- runtime.py   plans → confirmation → jobs → scheduler with progress and reports
- report.py    dry-run, progress and report texts (catalog messages)
- commands.py  the admin-room commands; policy.py the ✅ approvals and CSV uploads
- cli.py       `yakuba offboard …`; auditlog.py the audit view and CSV export
"""
