"""`yakuba usage …` from the shell, against the same database (and Synapse, for the account
numbers) as the service; works with the service running or stopped.

    yakuba usage [week|month] [--date YYYY-MM-DD] [--department NAME] [--csv] [--png FILE]
                  [-o FILE] [--no-accounts]

Without --csv it prints the numbers as text; --csv writes the CSV (UTF-8 with BOM, CRLF: Excel
opens it as it is) to -o FILE or standard output; --png also writes the chart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import BinaryIO, TextIO

from appservice.core.clock import Clock, FileClock
from appservice.core.config import Config
from appservice.core.db import Database
from appservice.core.decisions import Message
from appservice.core.executor import render
from appservice.features.usage.config import UsageSettings
from appservice.features.usage.report import MONTH, WEEK, UnknownGroup
from appservice.features.usage.runtime import Usage
from appservice.features.usage.tables import TABLES
from appservice.matrix.client import MatrixClient


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yakuba usage", description="Usage report (counts only)")
    p.add_argument("kind", nargs="?", choices=(WEEK, MONTH), default=WEEK)
    p.add_argument("--date", type=date.fromisoformat, help="a day in the week or month (default: today)")
    p.add_argument("--department", help="one department (or その他 / Other)")
    p.add_argument("--csv", action="store_true", help="write the CSV instead of the text")
    p.add_argument("--png", type=Path, help="also write the chart to this file")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    p.add_argument("--no-accounts", action="store_true", help="do not ask Synapse for the account numbers")
    return p


def report_main(argv: list[str], config: Config, *, stdout: TextIO | None = None,
                stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    settings = UsageSettings.from_config(config)
    try:
        return asyncio.run(_main(args, config, settings, out, err))
    except KeyboardInterrupt:
        return 130


async def _main(args: argparse.Namespace, config: Config, settings: UsageSettings, out: TextIO,
                err: TextIO) -> int:
    db = Database(config.db_path, (TABLES,))
    await db.open()
    client = None if args.no_accounts else MatrixClient(
        config.homeserver.url, config.appservice.as_token, config.sender, as_sender=config.as_user_id)
    clock = FileClock(config.clock_file) if config.clock_file else Clock()
    usage = Usage(config, settings, db, clock, client=client)
    try:
        try:
            report = await usage.build_report(args.kind, args.date, args.department)
        except UnknownGroup as exc:
            key = "usage.report.merged_group" if exc.merged_into_other else "usage.report.unknown_group"
            print(render(Message(key, {"asked": exc.asked, "groups": exc.groups or ["—"],
                                       "n": settings.min_group_size}), config.locale), file=err)
            return 1
        if args.png is not None:
            png = await usage.png(report)
            if png is None:
                print("no CJK font for the chart (pip install matplotlib-fontja)", file=err)
                return 1
            args.png.write_bytes(png)
        data = usage.csv(report) if args.csv else (usage.text(report) + "\n").encode("utf-8")
        if args.output is not None:
            args.output.write_bytes(data)
        elif args.csv:
            sink: BinaryIO = getattr(out, "buffer", None) or sys.stdout.buffer
            out.flush()
            sink.write(data)
            sink.flush()
        else:
            out.write(data.decode("utf-8"))
        return 0
    finally:
        if client is not None:
            await client.close()
        db.close()
