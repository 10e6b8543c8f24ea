"""`yakuba offboard …` on the command line, against the same database and Synapse as the service.

    yakuba offboard --csv FILE [--erase] [--yes]   dry run; with --yes also confirm and run what is due
    yakuba offboard confirm CODE                   confirm a plan (made here or in chat) and run what is due
    yakuba offboard audit [--user @u] [-o FILE]    the audit log as CSV (UTF-8 with BOM; stdout without -o)

Jobs due later stay in the database and are run by the service's scheduler at their time.
Jobs are claimed with a lease, so the CLI and a running service never run the same job twice.
With `offboarding.four_eyes`, the CLI cannot confirm: an admin confirms in the admin room
(`!yakuba confirm CODE`), and the service runs the jobs.
The CLI runs without the service but builds the same Services and an Executor over them, so its
audit rows are written (and anything it would post is sent) the way the service does it.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from appservice.core.clock import Clock, FileClock
from appservice.core.config import Config
from appservice.core.configerror import ConfigError
from appservice.core.db import Database
from appservice.core.decisions import Message
from appservice.core.executor import Executor, render
from appservice.core.inbox import Inbox
from appservice.core.metrics import Metrics
from appservice.core.services import Services
from appservice.core.state import StateStore
from appservice.features.offboarding import report
from appservice.features.offboarding.auditlog import audit_csv, audit_rows
from appservice.features.offboarding.config import load
from appservice.features.offboarding.csvfile import parse_csv
from appservice.features.offboarding.jobs import FINAL, TABLES
from appservice.features.offboarding.plan import ArgError, normalize_user
from appservice.features.offboarding.runtime import Offboarding
from appservice.matrix.client import MatrixClient, MatrixError
from appservice.matrix.sender import Sender


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yakuba offboard", description="Offboarding from the command line")
    p.add_argument("--csv", type=Path, help="CSV: user, leaving date-time, successor")
    p.add_argument("--erase", action="store_true", help="also erase profile data (Synapse's erase)")
    p.add_argument("--yes", action="store_true", help="confirm the dry run and run what is due now")
    sub = p.add_subparsers(dest="cmd")
    c = sub.add_parser("confirm", help="confirm a plan by its code and run what is due")
    c.add_argument("code")
    a = sub.add_parser("audit", help="export the audit log as CSV")
    a.add_argument("--user", help="only rows about (or by) this user")
    a.add_argument("--limit", type=int, default=1_000_000)
    a.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    return p


def offboard_main(argv: list[str], config: Config, *, stdout: TextIO | None = None,
                  stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    if args.cmd is None and args.csv is None:
        _parser().print_usage(err)
        return 2
    try:
        return asyncio.run(_main(args, config, out, err))
    except ConfigError as exc:
        print(f"config error: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        return 130


async def _main(args: argparse.Namespace, config: Config, out: TextIO, err: TextIO) -> int:
    cfg = load(config.feature("offboarding"))
    db = Database(config.db_path, (TABLES,))
    await db.open()
    state = StateStore(db)
    client = MatrixClient(config.homeserver.url, config.appservice.as_token, config.sender,
                          as_sender=config.as_user_id)
    clock = FileClock(config.clock_file) if config.clock_file else Clock()
    executor = Executor(Services(config, clock, client, state, Inbox(db, config.bot_user_ids), Metrics(),
                                 Sender(client, state)))
    locale = config.locale
    printed: set[str] = set()

    def say(messages: list[Message]) -> None:
        print("\n".join(render(m, locale) for m in messages), file=out, flush=True)

    async def notify(room_id: str | None, messages: list[Message], key: str) -> None:
        printed.add(key)
        say(messages)

    ob = Offboarding(config, cfg, client, state, clock, executor, notify, runner=f"cli:{os.getpid()}")
    operator = f"cli:{getpass.getuser()}"
    try:
        if args.cmd == "audit":
            user = normalize_user(args.user, config.homeserver.server_name) if args.user else None
            data = audit_csv(await audit_rows(db, user, args.limit), cfg.tzinfo)
            if args.output:
                args.output.write_bytes(data)
                print(f"wrote {args.output}", file=err)
            else:
                out.write(data.decode("utf-8"))
            await executor.audit("audit.export", actor=operator, target=user, details={"via": "cli"})
            return 0
        if args.cmd == "confirm":
            return await _confirm_and_run(ob, args.code, operator, say, printed, err)
        try:
            data = args.csv.read_bytes()
        except OSError as exc:
            print(f"cannot read {args.csv}: {exc.strerror}", file=err)
            return 2
        rows = parse_csv(data, server_name=config.homeserver.server_name, tz=cfg.tzinfo,
                         default_time=cfg.default_leave_time)
        entries = await ob.bulk_entries(rows, args.erase, clock.now())
        if not entries:
            print(f"{args.csv}: no data lines", file=err)
            return 1
        code = await ob.create_plan(kind="bulk", requester=operator, room_id=None, command_event_id=None,
                                    entries=entries, erase=args.erase)
        say(ob.plan_messages(code, "bulk", entries, erase=args.erase, source=args.csv.name))
        if not args.yes:
            print(f"\nto run it: yakuba offboard confirm {code}   (or `!yakuba confirm {code}` in the admin room)",
                  file=out)
            return 0
        return await _confirm_and_run(ob, code, operator, say, printed, err)
    except ArgError as exc:
        print(render(Message(exc.key, exc.params), locale), file=err)
        return 2
    except MatrixError as exc:
        print(f"Synapse call failed: {exc.status} {exc.errcode or ''}", file=err)
        return 1
    finally:
        await client.close()
        db.close()


async def _confirm_and_run(ob: Offboarding, code: str, operator: str, say: Callable[[list[Message]], None],
                           printed: set[str], err: TextIO) -> int:
    if ob.cfg.four_eyes:
        print(f"offboarding.four_eyes is on: an admin must confirm in the admin room with "
              f"`!yakuba confirm {code.upper()}`", file=err)
        return 3
    messages = await ob.confirm(code, operator, via="cli")
    say(messages)
    plan = await ob.jobs.plan(code)
    if plan is None or plan.status != "confirmed":
        return 1
    await ob.run_due(code=plan.code)
    # A running service may have taken some of the jobs: wait for them, then report what is due.
    now = ob.clock.now().timestamp()
    for _ in range(600):
        jobs = [j for j in await ob.jobs.batch_all(plan.code) if j.due_at <= now]
        if all(j.status in FINAL for j in jobs):
            break
        await asyncio.sleep(1)
    for due in sorted({j.due_at for j in jobs}):
        key = f"offboard_report:{plan.code}:{due}"
        if key not in printed:
            say(report.job_report(await ob.jobs.batch(plan.code, due), plan.code, ob.tz, plan.kind))
    later = [j for j in await ob.jobs.batch_all(plan.code) if j.status == "scheduled"]
    if later:
        print(f"{len(later)} offboardings are scheduled for later; the service runs them at their time.",
              file=err)
    failed = [j for j in jobs if j.status == "failed"]
    return 1 if failed else 0
